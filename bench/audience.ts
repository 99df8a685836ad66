/**
 * `ralm bench audience`: the time to score every user of a table (default 1,000,000 users,
 * h = 128) against one seed set, per backend, with the top 1,000 kept — the scan behind
 * POST /v1/audiences. Beside each row:
 *   - the memory-read roofline: reading the same bytes (user rows and norms) in this process;
 *   - the in-cache rate: the same scan over a table small enough to stay in cache, scaled to
 *     the row count — what the kernel's arithmetic alone costs. When the scan runs near its
 *     in-cache rate and far above the memory roofline, it is compute-bound, not memory-bound.
 * Seed clustering (k-means of the seeds, global attention) is timed separately.
 */
import { availableParallelism } from 'node:os';
import { randomModel } from '../src/model/random.js';
import { RalmEngine } from '../src/engine/engine.js';
import { probeBackends } from '../src/engine/probe.js';
import { scratchLayout, UserTable } from '../src/core/user-table.js';
import { kernelModule } from '../src/cpu/wasm-kernel.js';
import { ZERO_NORM } from '../src/model/reference.js';
import { prepareSeedSet, type PreparedSeedSet } from '../src/core/seed-set.js';
import type { ScanSet } from '../src/core/scan.js';
import { Rng } from '../src/util/rng.js';
import { withDefaults } from '../src/util/options.js';
import { measure, RooflineProbe, type Timing } from './stats.js';
import { finishMachineInfo, machineInfo, type MachineInfo } from './machine.js';

export interface AudienceBenchOptions {
  users?: number;
  h?: number;
  ks?: number[];
  seeds?: number;
  topN?: number;
  /** Seed sets scored in the same scan (the multi-set kernel). */
  sets?: number[];
  targets?: Array<'wasm' | 'scalar' | 'webgpu'>;
  minMs?: number;
  log?: (line: string) => void;
}

/** runAudienceBench's defaults (targets without a WebGPU adapter drop webgpu). */
export const AUDIENCE_BENCH_DEFAULTS: Readonly<Required<Omit<AudienceBenchOptions, 'log'>>> = {
  users: 1_000_000, h: 128, ks: [5, 20], seeds: 2000, topN: 1000, sets: [1], targets: ['wasm', 'scalar', 'webgpu'], minMs: 3000,
};

export interface AudienceRow {
  target: 'wasm' | 'scalar' | 'webgpu';
  adapter: string;
  users: number;
  h: number;
  k: number;
  sets: number;
  topN: number;
  /** Bytes the scan reads: user rows (padded stride) and norms. */
  bytes: number;
  timing: Timing;
  usersPerSec: number;
  /** Multiply-adds per second: (2k + 1)·h per user and set for the dot products. */
  gmacPerSec: number;
  roofline: Timing;
  rooflineRatio: number;
  /** The WebAssembly kernel on one thread with its data in cache, GMAC/s (null for other targets). */
  inCacheGmacPerThread: number | null;
  threads: number;
  clusterMs: number;
}

export interface AudienceBenchResult {
  kind: 'ralm-bench-audience';
  createdAt: string;
  machine: MachineInfo;
  seeds: number;
  rows: AudienceRow[];
}

/** A table of n users from one random pool at random offsets (realistic values, fast to build). */
function fillTable(table: UserTable, n: number, h: number, seed: number): void {
  const rng = new Rng(seed);
  const poolLen = 1 << 20;
  const pool = rng.normals(poolLen, 0.5);
  const BATCH = 8192;
  const rows = new Float32Array(BATCH * h);
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const off = rng.int(poolLen - h);
      rows.set(pool.subarray(off, off + h), i * h);
      ids.push(`u${start + i}`);
    }
    table.upsert(ids, rows.subarray(0, count * h));
  }
}

export async function runAudienceBench(options: AudienceBenchOptions = {}): Promise<AudienceBenchResult> {
  const log = options.log ?? (() => undefined);
  const { users: n, h, ks, seeds: seedCount, topN, sets: setCounts, minMs } = withDefaults(AUDIENCE_BENCH_DEFAULTS, options);
  const present = await probeBackends();
  const machine = await machineInfo({ probeWebGpu: present.includes('webgpu') });
  const targets = (options.targets ?? AUDIENCE_BENCH_DEFAULTS.targets).filter((t) => t !== 'webgpu' || present.includes('webgpu'));
  const rows: AudienceRow[] = [];
  const roof = new RooflineProbe();
  const maxK = Math.max(...ks);
  log(`building a table of ${n} users (h = ${h})`);
  const table = new UserTable({ h, maxCentroids: maxK, rowsPerPage: Math.min(1 << 18, Math.floor((128 * 2 ** 20) / (Math.ceil(h / 8) * 8 * 4))) });
  fillTable(table, n, h, 5);
  const bytes = n * (table.stride * 4 + 4);
  const roofline = await roof.time(bytes);
  roof.release();
  log(`memory-read roofline for ${(bytes / 2 ** 20).toFixed(0)} MiB: ${roofline.medianMs.toFixed(1)} ms (${(bytes / roofline.medianMs / 1e6).toFixed(1)} GB/s)`);
  const rng = new Rng(7);
  for (const k of ks) {
    const model = randomModel({ h, m: h, k, attentionSize: 64, seed: 1 });
    const { alpha, beta } = model.manifest;
    for (const target of targets) {
      const engine = await RalmEngine.create(model, target === 'webgpu'
        ? { backend: 'webgpu', recoverDevice: false }
        : { backend: 'cpu', cpuKernel: target, cpuThreads: availableParallelism(), recoverDevice: false });
      try {
        // The seed sets: random users, clustered on this backend.
        const maxSets = Math.max(...setCounts);
        const prepared: PreparedSeedSet[] = [];
        let clusterMs = 0;
        for (let s = 0; s < maxSets; s++) {
          const points = new Float32Array(seedCount * h);
          for (let i = 0; i < seedCount; i++) points.set(table.embedding(`u${rng.int(n)}`) as Float32Array, i * h);
          const t0 = performance.now();
          const [c] = await engine.clusterPoints([{ points, n: seedCount }], { seed: 1 });
          const g = await engine.globalVectors([{ centroids: c.centroids, count: c.count }]);
          clusterMs += performance.now() - t0;
          prepared.push(prepareSeedSet(model, c.centroids, c.count, g.globals));
        }
        clusterMs /= maxSets;
        for (const S of setCounts) {
          const sets: ScanSet[] = prepared.slice(0, S).map((set) => ({ set, topN, threshold: -Infinity }));
          const scan = async (t: UserTable): Promise<void> => {
            const snapshot = t.acquire();
            try {
              await engine.scanUsers({ table: t, snapshot, sets, alpha, beta });
            } finally {
              snapshot.release();
            }
          };
          const slow = target === 'scalar';
          const timing = await measure(() => scan(table), { warmup: 1, minRuns: slow ? 2 : 5, maxRuns: slow ? 3 : 50, minMs: slow ? 0 : minMs });
          const inCache = target === 'wasm' ? inCacheRate(prepared[0], h) : null;
          const row: AudienceRow = {
            target, adapter: engine.adapterName, users: n, h, k, sets: S, topN, bytes, timing,
            usersPerSec: n / (timing.medianMs / 1000),
            gmacPerSec: (n * S * (2 * k + 1) * h) / (timing.medianMs / 1000) / 1e9,
            roofline, rooflineRatio: timing.medianMs / roofline.medianMs, inCacheGmacPerThread: inCache, clusterMs,
            threads: target === 'webgpu' ? 0 : target === 'scalar' ? 1 : Math.min(4, availableParallelism()),
          };
          rows.push(row);
          log(formatAudienceRow(row));
        }
      } finally {
        await engine.close();
      }
    }
  }
  return { kind: 'ralm-bench-audience', createdAt: new Date().toISOString(), machine: finishMachineInfo(machine), seeds: seedCount, rows };
}

/** GMAC/s of the WebAssembly scan kernel on this thread over 2,048 users held in cache. */
function inCacheRate(set: PreparedSeedSet, h: number): number {
  const mod = kernelModule();
  if (!mod) return NaN;
  const n = 2048;
  const t = new UserTable({ h, maxCentroids: set.count, rowsPerPage: n });
  fillTable(t, n, h, 6);
  const page = t.pages[0];
  const scan = new WebAssembly.Instance(mod, { env: { memory: page.memory } }).exports.scan_users as (...a: number[]) => void;
  const L = t.layout;
  const S = scratchLayout(t.stride, set.count);
  const base = L.scratchOffset;
  const f32 = new Float32Array(page.memory.buffer);
  f32.set(set.d, (base + S.d) / 4);
  f32.set(set.gram, (base + S.gram) / 4);
  const run = (): void => scan(n, L.rowsOffset, t.stride * 4, L.normsOffset, base + S.d, set.rows, set.count, base + S.gram, set.kPad, base + S.dots, base + S.w, base + S.out, 0.3, 0.7, ZERO_NORM);
  for (let i = 0; i < 20; i++) run();
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 500) {
    run();
    reps++;
  }
  const ms = (performance.now() - t0) / reps;
  return (n * (2 * set.count + 1) * h) / ms / 1e6;
}

export function formatAudienceRow(r: AudienceRow): string {
  const f = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
  return [
    r.target.padEnd(6), `users=${r.users}`, `k=${String(r.k).padStart(3)}`, `h=${r.h}`, `sets=${r.sets}`,
    `median ${f(r.timing.medianMs).padStart(7)} ms`, `p99 ${f(r.timing.p99Ms).padStart(7)} ms`,
    `${(r.usersPerSec / 1e6).toFixed(2).padStart(6)} M users/s`, `${r.gmacPerSec.toFixed(1).padStart(5)} GMAC/s`,
    `roofline ${f(r.roofline.medianMs).padStart(6)} ms`, `ratio ${r.rooflineRatio.toFixed(1).padStart(5)}×`,
    r.inCacheGmacPerThread === null ? '' : `kernel in cache ${r.inCacheGmacPerThread.toFixed(1)} GMAC/s/thread (${r.threads} threads)`,
    `cluster ${f(r.clusterMs)} ms`,
    r.timing.spread > 0.3 ? `(noisy: spread ${r.timing.spread.toFixed(2)})` : '',
  ].join('  ');
}
