/**
 * The server side of `ralm bench http`, run as a child process so that the load generator does
 * not share its event loop. It serves the real service plugin (`buildApp`, with the service's
 * default settings) twice — request coalescing on (the defaults) and off (batches of one) — and a
 * bare Fastify app whose one route reads the same request body and answers a fixed body of the
 * same size and type as the real reply: the framework's ceiling on this machine.
 *
 * Protocol: the parent forks this file with a JSON argument; once listening, the child sends
 * `{ type: 'ready', urls, requests }` and serves until it receives `{ type: 'stop' }`. To
 * `{ type: 'cpu' }` it answers `{ type: 'cpu', ms }`: its processor time so far (every thread);
 * between `{ type: 'trace-start' }` and `{ type: 'trace-stop' }` it samples the coalescing app's
 * admission (answered `{ type: 'trace', samples }`).
 */
import Fastify from 'fastify';
import { Packr } from 'msgpackr';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { RalmEngine } from '../src/engine/engine.js';
import { LmdbStore } from '../src/store/lmdb-store.js';
import { SeedService } from '../src/seeds/seed-service.js';
import { benchModel, engineItems, makeWorkload, userBatch } from './workload.js';
import { Rng } from '../src/util/rng.js';

export interface HttpServerArgs {
  backend: 'cpu' | 'webgpu';
  sizes: number[];
  k: number;
  h: number;
  topK: number;
  /** Distinct users (request bodies) per case; the load generator cycles through them. */
  users: number;
  /** Users put in the coalescing app's user table (u0, u1, …) for the long-work case; 0: none. */
  jobsUsers?: number;
  /** CPU offload (RalmEngine's cpuOffload); default: the service's setting. */
  cpuOffload?: boolean;
  /** Nice steps of the CPU worker threads below the event loop; default: the service's setting. */
  cpuWorkerNice?: number;
  admissionLagMs?: number;
  /** Centroid storage; default: the service's setting. */
  storage?: 'f32' | 'f16' | 'int8';
  /** `off`: the served apps refuse nothing (no load shedding, waits and deadlines of a minute). Default `on`: the service's settings. */
  admission?: 'on' | 'off';
}

export type Encoding = 'json' | 'msgpack';

export interface PreparedCase {
  n: number;
  encoding: Encoding;
  /** Request bodies (one per user). */
  bodies: Uint8Array[];
  headers: Record<string, string>;
  requestBytes: number;
  responseBytes: number;
}

export interface ReadyMessage {
  type: 'ready';
  urls: { batched: string; unbatched: string; bare: string };
  adapter: string;
  cases: PreparedCase[];
  /** The service's deadline for a recommend request, ms. */
  deadlineMs: number;
}

const MSGPACK = 'application/msgpack';

/** The coalescing app's admission, sampled every 50 ms during an overload run. */
export interface GovernorSample {
  atMs: number;
  /** The worst event-loop lag of the governor's last control period, ms. */
  lagMs: number;
  /** The expected wait it allowed a ranking request, ms. */
  allowedMs: number;
  /** Ranking requests admitted and not yet answered. */
  inflight: number;
  /** Admission's time per ranking request while busy, ms. */
  msPerRequest: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as HttpServerArgs;
  const send = (m: unknown): void => void process.send?.(m);
  const model = benchModel(args.k, args.h);
  const maxN = Math.max(...args.sizes);
  const w = makeWorkload(maxN, args.k, args.h, model);
  // The engine as `ralm serve` makes it (the service's storage and CPU offload).
  const config = loadConfig({});
  const engine = await RalmEngine.create(model, { backend: args.backend, recoverDevice: false, storage: args.storage ?? config.storage, cpuOffload: args.cpuOffload ?? config.cpuOffload, cpuWorkerNice: args.cpuWorkerNice ?? config.cpuWorkerNice });
  for (let i = 0; i < maxN; i += 5000) await engine.upsertItems(engineItems(w, i, Math.min(maxN, i + 5000)));
  const dir = await mkdtemp(join(tmpdir(), 'ralm-bench-http-'));
  const store = LmdbStore.open(dir);
  const seeds = new SeedService(store, engine, {});
  const common = {
    engine, store, seeds, apiToken: null, bodyLimit: config.bodyLimit, requestTimeoutMs: config.requestTimeoutMs, maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    audience: { storage: config.audienceStorage },
    limits: { admissionLagMs: args.admissionLagMs ?? config.admissionLagMs },
    ...(args.admission === 'off' ? { maxEventLoopDelayMs: 0, requestTimeoutMs: 60_000, limits: { maxQueueWaitMs: 60_000 } } : {}),
  };
  const built = buildApp({ ...common, batching: { maxBatch: config.maxBatch, maxWaitMs: config.maxWaitMs, maxQueue: config.maxQueue } });
  const batched = built.app;
  if (args.jobsUsers) {
    const { audience } = built.serving();
    await audience.load();
    const rng = new Rng(21);
    for (let b = 0; b < args.jobsUsers; b += 100_000) {
      const n = Math.min(100_000, args.jobsUsers - b);
      audience.addUsers(Array.from({ length: n }, (_, i) => `u${b + i}`), rng.normals(n * args.h, 0.3));
    }
  }
  const unbatched = buildApp({ ...common, batching: { maxBatch: 1, maxWaitMs: 0, maxQueue: config.maxQueue } }).app;

  const packr = new Packr({ useRecords: false, moreTypes: true });
  const users = userBatch(args.users, args.h, 11);
  const cases: PreparedCase[] = [];
  const fixed = new Map<string, { body: Buffer; type: string }>();
  for (const n of args.sizes) {
    const candidates = w.ids.slice(0, n);
    for (const encoding of ['json', 'msgpack'] as const) {
      const bodies: Uint8Array[] = [];
      for (let u = 0; u < args.users; u++) {
        const embedding = users.slice(u * args.h, (u + 1) * args.h);
        const req = { user: { embedding: encoding === 'json' ? Array.from(embedding) : embedding }, candidates, k: args.topK };
        bodies.push(encoding === 'json' ? Buffer.from(JSON.stringify(req)) : packr.pack(req));
      }
      const headers: Record<string, string> = encoding === 'json' ? { 'content-type': 'application/json' } : { 'content-type': MSGPACK, accept: MSGPACK };
      // The real reply for this case is what the bare route answers, byte for byte in size.
      // A shared, busy machine may have the server shedding load (503) right after the set-up work: wait that out.
      let probe = await batched.inject({ method: 'POST', url: '/v1/recommend', headers, payload: Buffer.from(bodies[0]) });
      for (let tries = 0; probe.statusCode === 503 && tries < 60; tries++) {
        await new Promise((r) => setTimeout(r, 500));
        probe = await batched.inject({ method: 'POST', url: '/v1/recommend', headers, payload: Buffer.from(bodies[0]) });
      }
      if (probe.statusCode !== 200) throw new Error(`probe request failed: ${probe.statusCode} ${probe.body.slice(0, 200)}`);
      fixed.set(`${n}-${encoding}`, { body: probe.rawPayload, type: String(probe.headers['content-type']) });
      cases.push({ n, encoding, bodies, headers, requestBytes: bodies[0].byteLength, responseBytes: probe.rawPayload.byteLength });
    }
  }

  const bare = Fastify({ logger: false, bodyLimit: config.bodyLimit });
  bare.removeAllContentTypeParsers();
  bare.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  bare.post<{ Params: { key: string } }>('/bare/:key', async (req, reply) => {
    const f = fixed.get(req.params.key);
    if (!f) return reply.status(404).send();
    return reply.type(f.type).send(f.body);
  });

  const listen = { host: '127.0.0.1', port: 0 };
  const urls = { batched: await batched.listen(listen), unbatched: await unbatched.listen(listen), bare: await bare.listen(listen) };
  const ready: ReadyMessage = { type: 'ready', urls, adapter: `${engine.adapterName}, ${args.storage ?? config.storage} centroids`, cases, deadlineMs: common.requestTimeoutMs };
  send(ready);
  let trace: { timer: NodeJS.Timeout; samples: GovernorSample[] } | undefined;
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'trace-start') {
      const state = built.admission();
      const t0 = performance.now();
      const samples: GovernorSample[] = [];
      // Every control period (50 ms): what the governor last saw and allowed, and the demand.
      const timer = setInterval(() => {
        if (state) samples.push({ atMs: Math.round(performance.now() - t0), lagMs: state.governor.lagMs, allowedMs: state.governor.allowedMs, inflight: state.ranking.inflight, msPerRequest: state.ranking.msPerRequest });
      }, 50);
      trace = { timer, samples };
      send({ type: 'trace-started' });
      return;
    }
    if (m?.type === 'trace-stop') {
      if (trace) clearInterval(trace.timer);
      send({ type: 'trace', samples: trace?.samples ?? [] });
      trace = undefined;
      return;
    }
    if (m?.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', ms: (u.user + u.system) / 1000, mainMs: mainThreadMs() });
      return;
    }
    if (m?.type !== 'stop') return;
    void (async () => {
      await built.audienceJobs.stop();
      await Promise.all([batched.close(), unbatched.close(), bare.close()]);
      await engine.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
      process.disconnect?.();
    })();
  });
}

/** The main thread's processor time, ms, from Linux's scheduler statistics (null elsewhere). */
function mainThreadMs(): number | null {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench http server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
