/**
 * `ralm bench cluster`: the shared store measured. (1) Durable ingest, events/s, into Valkey
 * (under the durability rule it resolves, normally `appendfsync always`) beside LMDB in the same
 * run, with the same synthetic click stream, one call after another (as one client) and with
 * several calls in flight (as several clients); (2) publication → served: real `ralm serve`
 * replicas on that Valkey, events and a re-cluster on one, time from the re-cluster request until
 * every other replica serves the new item (an upper bound: it includes the run); (3) recommend throughput with 1, 2, … replicas behind a round-robin client.
 *
 * Without `--store` it starts a private `valkey-server` (AOF, appendfsync always) in a temporary
 * directory, as the tests do, and measures the same ingest on a private 3-primary Valkey Cluster
 * too (one ingest script per primary a call touches). A store given with `--store` must be empty (the replicas load the
 * demo world, whose users the measurements click and recommend for).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../src/store/lmdb-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import { primaries } from '../src/store/redis-connection.js';
import type { ClickEvent, RalmStore } from '../src/store/store.js';
import { packageRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';
import { withDefaults } from '../src/util/options.js';
import { CLUSTER_BENCH_DEFAULTS } from './defaults.js';
import { startValkey, startValkeyCluster } from './local-valkey.js';
import { quantile } from './stats.js';
import { basicMachineInfo } from './machine.js';

export interface ClusterBenchOptions {
  /** A Valkey/Redis address to measure (default: a private valkey-server started here). */
  store?: string;
  events?: number;
  /** Events per ingest call (the seed service's chunk). */
  batch?: number;
  /** Ingest calls in flight in the concurrent run. */
  inflight?: number;
  replicas?: number;
  /** Publications measured. */
  rounds?: number;
  /** Seconds of recommend load per replica count. */
  seconds?: number;
  /** Concurrent recommend requests. */
  connections?: number;
  log?: (line: string) => void;
}

interface IngestFigure {
  store: string; mode: string; events: number; seconds: number; eventsPerSec: number;
  /** Valkey only: the server's CPU time (user + system) and the AOF bytes it wrote during the run — the server's work per event, which load on a shared machine hardly moves. */
  server?: { cpuSeconds: number; aofBytes: number; cpuUsPerEvent: number; aofBytesPerEvent: number };
}

/** The server's CPU seconds and AOF size so far, summed over its primaries (INFO cpu, persistence). */
async function serverCounters(store: RedisStore): Promise<{ cpu: number; aof: number }> {
  const field = (text: string, key: string): number => Number(new RegExp(`^${key}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  let cpu = 0;
  let aof = 0;
  for (const node of primaries(store.client)) {
    const [c, p] = [await node.info('cpu'), await node.info('persistence')];
    cpu += field(c, 'used_cpu_user') + field(c, 'used_cpu_sys');
    aof += field(p, 'aof_current_size');
  }
  return { cpu, aof };
}

export interface ClusterBenchResult {
  kind: 'ralm-bench-cluster';
  createdAt: string;
  machine: ReturnType<typeof basicMachineInfo>;
  valkey: { address: string; durability: string; startedHere: boolean };
  ingest: IngestFigure[];
  publication: { rounds: number; replicas: number; samples: number; p50Ms: number; p99Ms: number; maxMs: number };
  recommend: Array<{ replicas: number; requests: number; seconds: number; perSec: number; errors: number }>;
}

function clickStream(n: number, seed: number): ClickEvent[] {
  const rng = new Rng(seed);
  const now = Date.now();
  // Skewed item popularity (a few hot items, a long tail), as in news clicks.
  return Array.from({ length: n }, (_, i) => ({ user: `u${rng.int(100_000)}`, item: `i${Math.floor(20_000 * rng.next() ** 3)}`, ts: now + i, id: `e${seed}-${i}` }));
}

/** One run of the stream into `store` (a fresh id range: every event new), with the server's work when it is Valkey. */
async function measureIngest(store: RalmStore, name: string, events: ClickEvent[], batch: number, inflight: number, log: (line: string) => void): Promise<IngestFigure> {
  const valkey = store instanceof RedisStore ? store : undefined;
  const run = events.map((e) => ({ ...e, id: `${e.id}-${inflight}` }));
  const before = valkey ? await serverCounters(valkey) : undefined;
  const seconds = await ingestRun(store, run, batch, inflight);
  const after = valkey ? await serverCounters(valkey) : undefined;
  const server = before && after ? { cpuSeconds: after.cpu - before.cpu, aofBytes: after.aof - before.aof, cpuUsPerEvent: ((after.cpu - before.cpu) / run.length) * 1e6, aofBytesPerEvent: (after.aof - before.aof) / run.length } : undefined;
  log(`ingest ${name}, ${inflight} in flight: ${Math.round(run.length / seconds)} events/s${server ? ` (server ${server.cpuUsPerEvent.toFixed(1)} µs CPU and ${Math.round(server.aofBytesPerEvent)} B of AOF per event)` : ''}`);
  return { store: name, mode: `${batch}-event calls, ${inflight} in flight`, events: run.length, seconds, eventsPerSec: run.length / seconds, ...(server ? { server } : {}) };
}

/** The same ingest on a private 3-primary Valkey Cluster (AOF, appendfsync always); skipped, saying why, where one cannot start. */
async function clusterIngest(events: ClickEvent[], batch: number, inflight: number, out: IngestFigure[], log: (line: string) => void): Promise<void> {
  let cluster;
  try {
    cluster = await startValkeyCluster('valkey-server', 'valkey-cli', ['--auto-aof-rewrite-percentage', '0']);
  } catch (err) {
    log(`ingest on a Valkey Cluster not measured: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  try {
    const { store } = await RedisStore.open(cluster.url, { prefix: `ralm-bench-${Date.now()}` });
    for (const n of [1, inflight]) out.push(await measureIngest(store, `Valkey Cluster, 3 primaries (${store.durability})`, events, batch, n, log));
    await store.close();
  } finally {
    await cluster.stop();
  }
}

async function ingestRun(store: RalmStore, events: ClickEvent[], batch: number, inflight: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < events.length) {
      const from = next;
      next += batch;
      await store.ingest(events.slice(from, from + batch));
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return (performance.now() - t0) / 1000;
}

interface Replica { url: string; child: ChildProcess }

async function startReplica(store: string): Promise<Replica> {
  const child = spawn(process.execPath, [join(packageRoot, 'bin', 'ralm.js'), 'serve', '--port', '0', '--backend', 'cpu', '--store', store, '--min-seeds', '1', '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RALM_API_TOKEN: '' },
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`a replica exited with ${code}:\n${log}`)));
  });
  return { url, child };
}

async function post(url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export async function runClusterBench(options: ClusterBenchOptions = {}): Promise<ClusterBenchResult> {
  const o = withDefaults(CLUSTER_BENCH_DEFAULTS, options);
  const log = options.log ?? (() => undefined);
  const scratch = mkdtempSync(join(tmpdir(), 'ralm-bench-cluster-'));
  // No AOF rewrite during the runs: the AOF bytes each run wrote are read from its size.
  const own = options.store ? undefined : await startValkey('valkey-server', ['--auto-aof-rewrite-percentage', '0'], undefined, scratch);
  const address = options.store ?? (own as { url: string }).url;
  const replicas: Replica[] = [];
  try {
    const events = clickStream(o.events, 7);
    const ingest: IngestFigure[] = [];
    const { store: valkey } = await RedisStore.open(address, { prefix: `ralm-bench-${Date.now()}` });
    const lmdb = LmdbStore.open(join(scratch, 'lmdb'));
    for (const [name, store] of [['LMDB', lmdb], [`Valkey (${valkey.durability})`, valkey]] as const) {
      for (const inflight of [1, o.inflight]) ingest.push(await measureIngest(store, name, events, o.batch, inflight, log));
    }
    const durability = valkey.durability;
    await lmdb.close();
    await valkey.close();
    if (!options.store) await clusterIngest(events, o.batch, o.inflight, ingest, log);

    for (let i = 0; i < o.replicas; i++) replicas.push(await startReplica(address));
    const lags: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const item = `bench-fresh-${Date.now()}-${r}`;
      const at = replicas[r % replicas.length];
      await post(`${at.url}/v1/events`, { events: Array.from({ length: 5 }, (_, i) => ({ user: `demo-music-${i}`, item, ts: Date.now(), id: `${item}-${i}` })) });
      // From before the re-cluster request: an upper bound of publication → served (it includes the run itself).
      const t0 = performance.now();
      await post(`${at.url}/v1/admin/recluster`);
      await Promise.all(replicas.filter((x) => x !== at).map(async (x) => {
        for (;;) {
          const res = await fetch(`${x.url}/v1/items/${item}`);
          if (res.status === 200 && ((await res.json()) as { served?: boolean }).served) break;
          if (performance.now() - t0 > 10_000) throw new Error(`${item} not served on ${x.url} within 10 s`);
          await new Promise((res2) => setTimeout(res2, 2));
        }
        lags.push(performance.now() - t0);
      }));
    }
    lags.sort((a, b) => a - b);
    log(`publication → served: p50 ${quantile(lags, 0.5).toFixed(1)} ms, p99 ${quantile(lags, 0.99).toFixed(1)} ms`);

    const recommend: ClusterBenchResult['recommend'] = [];
    for (let n = 1; n <= replicas.length; n++) {
      let requests = 0;
      let errors = 0;
      let turn = 0;
      const end = performance.now() + o.seconds * 1000;
      const worker = async (w: number): Promise<void> => {
        while (performance.now() < end) {
          const target = replicas[turn++ % n];
          const res = await fetch(`${target.url}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: `demo-sports-${(w * 7 + requests) % 150}` }, k: 10 }) });
          await res.arrayBuffer();
          if (res.status === 200) requests++; else errors++;
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: o.connections }, (_, w) => worker(w)));
      const seconds = (performance.now() - t0) / 1000;
      recommend.push({ replicas: n, requests, seconds, perSec: requests / seconds, errors });
      log(`recommend, ${n} replica(s): ${Math.round(requests / seconds)}/s`);
    }
    return {
      kind: 'ralm-bench-cluster', createdAt: new Date().toISOString(), machine: basicMachineInfo(),
      valkey: { address, durability, startedHere: own !== undefined },
      ingest,
      publication: { rounds: o.rounds, replicas: replicas.length, samples: lags.length, p50Ms: quantile(lags, 0.5), p99Ms: quantile(lags, 0.99), maxMs: lags[lags.length - 1] ?? 0 },
      recommend,
    };
  } finally {
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.once('exit', res)))));
    await own?.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
}
