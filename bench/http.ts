/**
 * `ralm bench http`: the real service on loopback under load. For /v1/recommend with each
 * candidate count, JSON and MessagePack, request coalescing on and off: the maximum throughput
 * under autocannon (closed loop, fixed connections), then fixed request rates below it from an
 * open-loop generator here. autocannon's own rate option is not open-loop: each connection sends
 * its per-second quota as fast as replies allow, then waits for the next one-second tick
 * (autocannon lib/httpClient.js), so requests arrive in bursts. The generator below sends each
 * request at its scheduled time whatever the state of earlier ones, and measures latency from
 * that scheduled time, so queueing in the server is never hidden (no coordinated omission).
 * Beside each case: a bare Fastify route answering a fixed body of the same size (the
 * framework's ceiling here), at maximum throughput under autocannon like the service; and, with
 * coalescing on, demand at a multiple of the maximum, whose excess must be refused quickly
 * (overload.ts); and, asked for, /healthz through long work on a large user table (jobs.ts).
 *
 * The server runs in a child process; autocannon runs in this one. On a 2-core machine they
 * share the cores, which caps the ceiling too: the figures are for the pair, on this machine.
 */
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { quantile } from './stats.js';
import { withDefaults } from '../src/util/options.js';
import { HTTP_BENCH_DEFAULTS } from './defaults.js';
import type { Encoding, PreparedCase } from './http-server.js';
import { startServer } from './http-child.js';
import { finishMachineInfo, machineInfo, type MachineInfo } from './machine.js';
import { formatOverload, overloadRun, type OverloadRun } from './overload.js';
import { formatJobs, jobsRun, type JobsRun } from './jobs.js';

export interface HttpBenchOptions {
  backend?: 'cpu' | 'webgpu';
  sizes?: number[];
  /** Seconds per load run. Default 5. */
  durationSec?: number;
  /** Connections of the maximum-throughput runs. Default 16. */
  connections?: number;
  /** Fixed rates as fractions of each case's measured maximum. Default [0.5, 0.8]. */
  rateFractions?: number[];
  encodings?: Encoding[];
  batching?: Array<'on' | 'off'>;
  /** Open-loop demand at this multiple of each case's maximum (coalescing on); 0 skips it. Default 4. */
  overloadFactor?: number;
  /**
   * Open-loop demand at this many requests a second instead (when > 0 and overloadFactor > 0), so
   * that two builds, or two settings, can be offered the same rate rather than each a multiple of
   * its own maximum. Default 0: the multiple.
   */
  overloadRate?: number;
  /** Users for the long-work case (jobs.ts): /healthz through audience jobs and big ingests; 0 skips it. Default 0. */
  jobsUsers?: number;
  /** The engine's CPU offload (ranking on the worker threads); default: the service's setting (on). */
  cpuOffload?: boolean;
  /** Nice steps of the engine's CPU worker threads below the event loop; default: the service's setting. */
  cpuWorkerNice?: number;
  /** The service's admission lag target, ms (serve --admission-lag-ms). */
  admissionLagMs?: number;
  /** The item table's centroid storage; default: the service's setting (int8). */
  storage?: 'f32' | 'f16' | 'int8';
  /**
   * `off`: the served apps refuse nothing (http-server.ts), so that on a machine running other
   * work a maximum run reads what the service serves rather than how it sheds load. Default `on`.
   */
  admission?: 'on' | 'off';
  log?: (line: string) => void;
}

export interface LoadRun {
  target: 'ralm' | 'bare-fastify';
  n: number;
  encoding: Encoding;
  batching: 'on' | 'off' | null;
  /** null: maximum throughput (closed loop, autocannon); else the scheduled requests per second (open loop). */
  rate: number | null;
  /** Connections (closed loop), or the most requests in flight at once (open loop). */
  connections: number;
  durationSec: number;
  /** Accepted (2xx) replies per second. */
  requestsPerSec: number;
  candidatesPerSec: number;
  /** Admission refusals (429 and 503 replies) per second: requests the service turned away rather than served. */
  refusedPerSec: number;
  /**
   * Refusals were at least as many as accepted replies: the run says how the service sheds load
   * (a closed loop sends the next request the moment one is refused, and a busy host makes the
   * event loop lag), not what it can serve; the processor time spent refusing counts against the
   * accepted requests.
   */
  refusalsDominate: boolean;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  ok: number;
  non2xx: number;
  /** Of non2xx: admission refusals (429, 503). */
  refused: number;
  errors: number;
  /** A fixed-rate run whose replies fell behind its schedule (or failed): the rate was not sustained. */
  saturated: boolean;
  /**
   * The server's processor time (every thread) per accepted (2xx) reply, ms. Steadier than req/s
   * on a shared machine; the server's capacity on c free cores is about c × 1000 / this. In a
   * maximum run it includes the time spent refusing; a fixed-rate run below capacity refuses
   * nothing, but coalesces fewer requests per batch, so there it is a served request's cost at
   * that rate's batch sizes.
   */
  serverCpuMsPerOk?: number;
  /** Of serverCpuMsPerOk: the main thread's (the event loop: HTTP, parsing, validation, id lookup, replies); the rest is the scoring workers and the collector's threads. Linux only. */
  mainCpuMsPerOk?: number;
  /** This process's processor time (the load generator) per accepted reply, ms: maximum runs. */
  clientCpuMsPerOk?: number;
  /** Requests per engine call over the run, from the service's metrics: maximum runs with coalescing on. */
  meanBatch?: number;
  /**
   * Share of the run during which a batch was in the engine (the engine's batch seconds over the
   * run's length): below 1, the scoring threads had no work while requests were in the service —
   * waiting for the event loop to read, resolve and answer them. Maximum runs with coalescing on.
   */
  engineBusy?: number;
}

export interface HttpBenchResult {
  kind: 'ralm-bench-http';
  formatVersion: 2;
  createdAt: string;
  machine: MachineInfo;
  settings: {
    backend: string; adapter: string; sizes: number[]; durationSec: number; connections: number; rateFractions: number[];
    overloadFactor: number; jobsUsers: number; k: number; h: number; topK: number;
    /** Absent in results written before the option existed: 0 (each case's maximum times overloadFactor). */
    overloadRate?: number;
    /** Absent in results written before the option existed: on. */
    admission?: 'on' | 'off';
    /** Absent in results written before the option existed: 0. */
    cpuWorkerNice?: number;
    /** Absent in results written before the option existed: 50. */
    admissionLagMs?: number;
  };
  cases: Array<{ n: number; encoding: Encoding; requestBytes: number; responseBytes: number }>;
  runs: LoadRun[];
  /** Demand above capacity (format 2). */
  overload: OverloadRun[];
  /** Long work beside health probes (format 2; null when not run). */
  jobs: JobsRun | null;
}

type Autocannon = typeof import('autocannon');
type AutocannonResult = import('autocannon').Result;

async function loadAutocannon(): Promise<Autocannon> {
  try {
    const specifier = 'autocannon';
    const mod = (await import(specifier)) as { default: Autocannon };
    return mod.default;
  } catch {
    throw new Error('autocannon is not installed (it is a development dependency): run `npm install` in the project checkout');
  }
}


/** The batch-size histogram's sum and count, and the engine's batch seconds, in a Prometheus text page. */
async function batchTotals(metricsUrl: string): Promise<{ sum: number; count: number; engineSeconds: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sum: read('ralm_batch_size_sum'), count: read('ralm_batch_size_count'), engineSeconds: read('ralm_engine_batch_seconds_sum') };
}

/** Admission refusals among a run's replies, by status. */
const REFUSAL_STATUSES = ['429', '503'] as const;

function summarizeRun(r: AutocannonResult, base: Omit<LoadRun, 'requestsPerSec' | 'candidatesPerSec' | 'refusedPerSec' | 'refusalsDominate' | 'latencyMs' | 'ok' | 'non2xx' | 'refused' | 'errors' | 'saturated'>): LoadRun {
  const ok = r['2xx'];
  const requestsPerSec = ok / r.duration;
  const byStatus = (r as AutocannonResult & { statusCodeStats?: Record<string, { count?: number }> }).statusCodeStats ?? {};
  const refused = REFUSAL_STATUSES.reduce((a, code) => a + (byStatus[code]?.count ?? 0), 0);
  return {
    ...base,
    requestsPerSec,
    candidatesPerSec: requestsPerSec * base.n,
    refusedPerSec: refused / r.duration,
    refusalsDominate: refused > 0 && refused >= ok,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.mean },
    ok, non2xx: r.non2xx, refused, errors: r.errors,
    saturated: false,
  };
}

export function formatRun(r: LoadRun): string {
  const what = r.target === 'ralm' ? `ralm batching ${r.batching}` : 'bare fastify';
  return [
    what.padEnd(18), `N=${String(r.n).padStart(6)}`, r.encoding.padEnd(7), (r.rate === null ? 'max' : `${r.rate}/s`).padStart(8),
    `${r.requestsPerSec.toFixed(0).padStart(6)} req/s accepted`, r.refused > 0 ? `${r.refusedPerSec.toFixed(0)} req/s refused` : '', `p50 ${r.latencyMs.p50.toFixed(1).padStart(7)} ms`, `p99 ${r.latencyMs.p99.toFixed(1).padStart(7)} ms`,
    `${(r.candidatesPerSec / 1e6).toFixed(2).padStart(6)} M cand/s`,
    r.serverCpuMsPerOk !== undefined ? `server cpu ${r.serverCpuMsPerOk.toFixed(2)} ms/accepted${r.mainCpuMsPerOk !== undefined ? ` (event loop ${r.mainCpuMsPerOk.toFixed(2)})` : ''}` : '',
    r.clientCpuMsPerOk !== undefined ? `load generator ${r.clientCpuMsPerOk.toFixed(2)} ms` : '',
    r.meanBatch !== undefined ? `batch ${r.meanBatch.toFixed(1)}` : '',
    r.engineBusy !== undefined ? `engine busy ${(100 * r.engineBusy).toFixed(0)}%` : '',
    r.non2xx + r.errors > 0 ? `(${r.non2xx} non-2xx of which ${r.refused} refused, ${r.errors} errors)` : '',
    r.saturated ? '(saturated: rate not sustained)' : '',
    r.refusalsDominate ? '(mostly refused: the accepted rate is what was left after refusing the excess, not the service\'s capacity)' : '',
  ].filter((x) => x !== '').join('  ');
}

export async function runHttpBench(options: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const log = options.log ?? (() => undefined);
  const autocannon = await loadAutocannon();
  const o = { ...withDefaults(HTTP_BENCH_DEFAULTS, options), k: 20, h: 128, topK: 10 };
  const machine = await machineInfo({ probeWebGpu: o.backend === 'webgpu' });
  const { ready, stop, cpuMs, traceStart, traceStop } = await startServer({ backend: o.backend, sizes: o.sizes, k: o.k, h: o.h, topK: o.topK, users: 8, jobsUsers: o.jobsUsers, cpuOffload: o.cpuOffload, cpuWorkerNice: o.cpuWorkerNice, admissionLagMs: o.admissionLagMs, storage: o.storage, admission: o.admission });
  const runs: LoadRun[] = [];
  const overload: OverloadRun[] = [];
  let jobs: JobsRun | null = null;
  try {
    if (o.jobsUsers > 0) {
      jobs = await jobsRun(ready.urls.batched, o.jobsUsers);
      for (const line of formatJobs(jobs)) log(line);
    }
    const load = async (url: string, c: PreparedCase, connections: number, durationSec: number): Promise<AutocannonResult> =>
      autocannon({
        url, method: 'POST', headers: c.headers, connections, duration: durationSec,
        requests: c.bodies.map((b) => ({ method: 'POST' as const, body: Buffer.from(b.buffer, b.byteOffset, b.byteLength) })),
      });
    for (const c of ready.cases.filter((x) => o.encodings.includes(x.encoding))) {
      const bareRes = await load(`${ready.urls.bare}/bare/${c.n}-${c.encoding}`, c, o.connections, o.durationSec);
      const bare = summarizeRun(bareRes, { target: 'bare-fastify', n: c.n, encoding: c.encoding, batching: null, rate: null, connections: o.connections, durationSec: o.durationSec });
      runs.push(bare);
      log(formatRun(bare));
      for (const batching of o.batching) {
        const url = `${batching === 'on' ? ready.urls.batched : ready.urls.unbatched}/v1/recommend`;
        await load(url, c, o.connections, Math.min(1, o.durationSec)); // warm-up
        const metricsUrl = `${ready.urls.batched}/metrics`;
        const batches0 = batching === 'on' ? await batchTotals(metricsUrl) : null;
        const cpu0 = await cpuMs();
        const client0 = process.cpuUsage();
        const max = summarizeRun(await load(url, c, o.connections, o.durationSec), { target: 'ralm', n: c.n, encoding: c.encoding, batching, rate: null, connections: o.connections, durationSec: o.durationSec });
        const client = process.cpuUsage(client0);
        const cpu1 = await cpuMs();
        if (max.ok > 0) {
          max.serverCpuMsPerOk = (cpu1.ms - cpu0.ms) / max.ok;
          if (cpu0.mainMs !== null && cpu1.mainMs !== null) max.mainCpuMsPerOk = (cpu1.mainMs - cpu0.mainMs) / max.ok;
          max.clientCpuMsPerOk = (client.user + client.system) / 1000 / max.ok;
        }
        if (batches0) {
          const batches1 = await batchTotals(metricsUrl);
          const mean = (batches1.sum - batches0.sum) / (batches1.count - batches0.count);
          if (Number.isFinite(mean)) max.meanBatch = mean;
          const busy = (batches1.engineSeconds - batches0.engineSeconds) / o.durationSec;
          if (Number.isFinite(busy)) max.engineBusy = busy;
        }
        runs.push(max);
        log(formatRun(max));
        if (batching === 'on' && o.overloadFactor > 0) {
          const offered = o.overloadRate > 0 ? o.overloadRate : max.requestsPerSec * o.overloadFactor;
          await traceStart();
          const cpuAt = await cpuMs();
          const run = await overloadRun(url, `${ready.urls.batched}/healthz`, c, max.requestsPerSec, offered, o.durationSec, ready.deadlineMs);
          const cpuEnd = await cpuMs();
          run.governor = await traceStop();
          run.serverCpuMs = cpuEnd.ms - cpuAt.ms;
          if (cpuAt.mainMs !== null && cpuEnd.mainMs !== null) run.mainCpuMs = cpuEnd.mainMs - cpuAt.mainMs;
          overload.push(run);
          log(formatOverload(run));
        }
        for (const f of o.rateFractions) {
          const rate = Math.max(1, Math.round(max.requestsPerSec * f));
          const cpuAt = await cpuMs();
          const run = await openLoop(url, c, rate, o.durationSec, batching);
          if (run.ok > 0) run.serverCpuMsPerOk = ((await cpuMs()).ms - cpuAt.ms) / run.ok;
          runs.push(run);
          log(formatRun(run));
        }
      }
    }
    for (const line of onOffLines(runs)) log(line);
    for (const line of boundLines(runs, availableParallelism())) log(line);
  } finally {
    await stop();
  }
  return {
    kind: 'ralm-bench-http',
    formatVersion: 2,
    createdAt: new Date().toISOString(),
    machine: finishMachineInfo(machine),
    settings: {
      backend: o.backend, adapter: ready.adapter, sizes: o.sizes, durationSec: o.durationSec, connections: o.connections, rateFractions: o.rateFractions,
      overloadFactor: o.overloadFactor, overloadRate: o.overloadRate, jobsUsers: o.jobsUsers, k: o.k, h: o.h, topK: o.topK, admission: o.admission, cpuWorkerNice: o.cpuWorkerNice, admissionLagMs: o.admissionLagMs,
    },
    cases: ready.cases.map((c) => ({ n: c.n, encoding: c.encoding, requestBytes: c.requestBytes, responseBytes: c.responseBytes })),
    runs,
    overload,
    jobs,
  };
}

/** Per case with both maximum runs: coalescing on against off, in accepted req/s and in the server's processor time per accepted request. */
export function onOffLines(runs: readonly LoadRun[]): string[] {
  const max = runs.filter((r) => r.target === 'ralm' && r.rate === null);
  return max.filter((r) => r.batching === 'on').flatMap((on) => {
    const off = max.find((r) => r.batching === 'off' && r.n === on.n && r.encoding === on.encoding);
    if (!off) return [];
    const cpu = on.serverCpuMsPerOk !== undefined && off.serverCpuMsPerOk !== undefined ? `, server cpu per accepted ${on.serverCpuMsPerOk.toFixed(2)} vs ${off.serverCpuMsPerOk.toFixed(2)} ms (${(off.serverCpuMsPerOk / on.serverCpuMsPerOk).toFixed(2)}× less)` : '';
    const unread = on.refusalsDominate || off.refusalsDominate ? ' (not readable: refusals dominate a run)' : '';
    return [`N=${on.n} ${on.encoding}: batching on / off ${(on.requestsPerSec / Math.max(1e-9, off.requestsPerSec)).toFixed(2)}× accepted req/s${cpu}${unread}`];
  });
}

/**
 * Per maximum run with coalescing on: the processor time one accepted request costs the server
 * and the load generator together, and the most requests per second `cores` cores could then
 * serve if every one of them were busy with this work alone — what the run would reach on a
 * machine running nothing else, with no core ever idle.
 */
export function boundLines(runs: readonly LoadRun[], cores: number): string[] {
  return runs.filter((r) => r.target === 'ralm' && r.rate === null && r.batching === 'on' && r.serverCpuMsPerOk !== undefined && r.clientCpuMsPerOk !== undefined).map((r) => {
    const ms = (r.serverCpuMsPerOk as number) + (r.clientCpuMsPerOk as number);
    return `N=${r.n} ${r.encoding}, batching on: ${ms.toFixed(2)} ms of processor time per accepted request (server and load generator): at most ${(cores * 1000 / ms).toFixed(0)} req/s on ${cores} cores kept busy`;
  });
}

/**
 * Open-loop load at a fixed rate: request i is sent at start + i/rate on a keep-alive pool with no
 * connection limit, and its latency runs from that scheduled time to the end of its reply.
 * Requests still unanswered 5 s after the last send count as errors.
 */
export async function openLoop(url: string, c: PreparedCase, rate: number, durationSec: number, batching: 'on' | 'off' | null): Promise<LoadRun> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const target = new URL(url);
  const total = Math.max(1, Math.round(rate * durationSec));
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let refused = 0;
  let errors = 0;
  let inflight = 0;
  let maxInflight = 0;
  const pending: Array<Promise<void>> = [];
  const send = (body: Uint8Array, scheduled: number): Promise<void> => new Promise((resolve) => {
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...c.headers, 'content-length': body.byteLength } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => {
        inflight--;
        latencies.push(performance.now() - scheduled);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) ok++;
        else non2xx++;
        if ((REFUSAL_STATUSES as readonly string[]).includes(String(status))) refused++;
        resolve();
      });
    });
    req.on('error', () => {
      inflight--;
      errors++;
      resolve();
    });
    req.end(body);
  });
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const at = start + (i * 1000) / rate;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(c.bodies[i % c.bodies.length], at));
  }
  const lastSend = performance.now();
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5000).unref())]);
  const drainMs = performance.now() - lastSend;
  const unanswered = total - ok - non2xx - errors;
  errors += unanswered;
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const s = [...latencies].sort((a, b) => a - b);
  const requestsPerSec = ok / elapsed;
  return {
    target: 'ralm', n: c.n, encoding: c.encoding, batching, rate, connections: maxInflight, durationSec,
    requestsPerSec, candidatesPerSec: requestsPerSec * c.n, refusedPerSec: refused / elapsed, refusalsDominate: refused > 0 && refused >= ok,
    latencyMs: { p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, x) => a + x, 0) / Math.max(1, s.length) },
    ok, non2xx, refused, errors,
    // Replies that trail the last send by much mean a queue built up: the rate was not sustained.
    saturated: errors > 0 || drainMs > Math.max(1000, 0.2 * durationSec * 1000),
  };
}
