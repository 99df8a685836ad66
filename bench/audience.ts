/**
 * `ralm bench audience`: the time to score every user of a table (default 1,000,000 users,
 * h = 128) against one seed set, per backend, with the top 1,000 kept — the scan behind
 * POST /v1/audiences. Beside each row:
 *   - the memory-read roofline: reading the same bytes (user rows and norms) in this process;
 *   - the in-cache rate: the same scan over a table small enough to stay in cache, scaled to
 *     the row count — what the kernel's arithmetic alone costs. When the scan runs near its
 *     in-cache rate and far above the memory roofline, it is compute-bound, not memory-bound.
 * Seed clustering (k-means of the seeds, global attention) is timed separately.
 *
 * Storages: the same users in an f32 table and in an int8 table (core/quantize.ts); the int8
 * rows report the time against the f32 roofline too, and recall@N: the share of the f32 scan's
 * top N (same backend, same seed set) that the int8 scan also returns.
 *
 * Scans: `exact` scores every user exactly; `two-pass` (core/two-pass.ts) scores every user
 * against a one-centroid summary of the seed set, keeps factor × N candidates and scores those
 * exactly. Its rows report recall@N against the exact f32 scan the same way, and multiply-adds
 * as the two passes do them (3·h per user, then (2k + 1)·h per candidate).
 */
import { availableParallelism } from 'node:os';
import { randomModel } from '../src/model/random.js';
import { RalmEngine } from '../src/engine/engine.js';
import { probeBackends } from '../src/engine/probe.js';
import { scratchLayout, UserTable, type UserStorage } from '../src/core/user-table.js';
import { int8RowBytes } from '../src/core/quantize.js';
import { kernelModule } from '../src/cpu/wasm-kernel.js';
import { ZERO_NORM } from '../src/model/reference.js';
import { prepareSeedSet, type PreparedSeedSet } from '../src/core/seed-set.js';
import type { ScanHits, ScanJob, ScanSet } from '../src/core/scan.js';
import { candidateCount, scanTwoPass, TWO_PASS_DEFAULTS, type AudienceScanMode } from '../src/core/two-pass.js';
import { Rng } from '../src/util/rng.js';
import { withDefaults } from '../src/util/options.js';
import { AUDIENCE_BENCH_DEFAULTS } from './defaults.js';
import { measure, RooflineProbe, type Timing } from './stats.js';
import { ParallelRooflineProbe } from './parallel-roofline.js';
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
  /** User-table storages measured (the same users in each). */
  storages?: UserStorage[];
  /** Scans measured: exact, and the two-pass scan with `factor` × N candidates. */
  scans?: AudienceScanMode[];
  factor?: number;
  minMs?: number;
  log?: (line: string) => void;
}

export interface AudienceRow {
  target: 'wasm' | 'scalar' | 'webgpu';
  /** The user table's storage (absent in results written before int8 storage existed: f32). */
  storage?: UserStorage;
  /** The scan (absent in results written before the two-pass scan existed: exact). */
  scan?: AudienceScanMode;
  /** Two-pass rows: candidates per set. */
  candidates?: number;
  adapter: string;
  users: number;
  h: number;
  k: number;
  sets: number;
  topN: number;
  /** Bytes the scan reads: user rows (padded stride; int8: codes and scales) and norms. */
  bytes: number;
  timing: Timing;
  usersPerSec: number;
  /** Multiply-adds per second: (2k + 1)·h per user and set for the dot products (two-pass: as above). */
  gmacPerSec: number;
  roofline: Timing;
  rooflineRatio: number;
  /** median / the time to read the same users stored as f32 (the roofline the f32 rows use). */
  f32RooflineRatio?: number;
  /**
   * median / the time for `rooflineThreads` threads (every core) to read the f32 users together
   * (parallel-roofline.ts): the scan runs on every core, so one thread's read flatters it when
   * that read is bound by one core rather than by memory. Absent above 2 GiB and in older results.
   */
  f32RooflineAllThreadsRatio?: number;
  rooflineThreads?: number;
  /** Rows other than f32 exact: the share of the exact f32 scan's top N (same backend and seed set) this scan returns. */
  recallVsF32?: number;
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
  const { users: n, h, ks, seeds: seedCount, topN, sets: setCounts, minMs, storages, scans, factor } = withDefaults(AUDIENCE_BENCH_DEFAULTS, options);
  const twoPass = { ...TWO_PASS_DEFAULTS, factor };
  const present = await probeBackends();
  const machine = await machineInfo({ probeWebGpu: present.includes('webgpu') });
  const targets = (options.targets ?? AUDIENCE_BENCH_DEFAULTS.targets).filter((t) => t !== 'webgpu' || present.includes('webgpu'));
  const rows: AudienceRow[] = [];
  const roof = new RooflineProbe();
  const maxK = Math.max(...ks);
  log(`building a table of ${n} users (h = ${h})`);
  const rowsPerPage = Math.min(1 << 18, Math.floor((128 * 2 ** 20) / (Math.ceil(h / 8) * 8 * 4)));
  const table = new UserTable({ h, maxCentroids: maxK, rowsPerPage });
  fillTable(table, n, h, 5);
  const tables = new Map<UserStorage, UserTable>([['f32', table]]);
  for (const st of storages) {
    if (st === 'f32') continue;
    const t = new UserTable({ h, maxCentroids: maxK, rowsPerPage, storage: st });
    fillTable(t, n, h, 5);
    tables.set(st, t);
  }
  const bytesOf = (st: UserStorage): number => n * (st === 'int8' ? int8RowBytes(h) + 8 : table.stride * 4 + 4);
  const rooflines = new Map<UserStorage, Timing>();
  for (const st of new Set<UserStorage>(['f32', ...storages])) {
    const roofline = await roof.time(bytesOf(st));
    rooflines.set(st, roofline);
    log(`memory-read roofline for ${(bytesOf(st) / 2 ** 20).toFixed(0)} MiB (${st}): ${roofline.medianMs.toFixed(1)} ms (${(bytesOf(st) / roofline.medianMs / 1e6).toFixed(1)} GB/s)`);
  }
  roof.release();
  const f32Roofline = rooflines.get('f32') as Timing;
  const allThreads = new ParallelRooflineProbe();
  const f32AllThreads = await allThreads.timeUpTo(bytesOf('f32'));
  await allThreads.release();
  if (f32AllThreads) log(`memory-read roofline for the f32 users read by ${allThreads.threads} threads together: ${f32AllThreads.medianMs.toFixed(1)} ms (${(bytesOf('f32') / f32AllThreads.medianMs / 1e6).toFixed(1)} GB/s)`);
  for (const k of ks) {
    const model = randomModel({ h, m: h, k, attentionSize: 64, seed: 1 });
    const { alpha, beta } = model.manifest;
    for (const target of targets) {
      // Every target draws the same seed users (a generator of its own), so their rows score the
      // same audiences and their recalls compare.
      const rng = new Rng(7 + k);
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
        // The f32 scan's top N of the first set, per S: what the other storages' recall is taken against.
        const f32Top = new Map<number, Set<number>>();
        for (const storage of [...new Set<UserStorage>(['f32', ...storages])]) {
          const st = tables.get(storage) as UserTable;
          for (const S of setCounts) {
            const sets: ScanSet[] = prepared.slice(0, S).map((set) => ({ set, topN, threshold: -Infinity }));
            const run = async (job: ScanJob): Promise<ScanHits[]> => (await engine.scanUsers(job)).hits;
            const scan = async (t: UserTable, mode: AudienceScanMode): Promise<Set<number>> => {
              const snapshot = t.acquire();
              try {
                const job: ScanJob = { table: t, snapshot, sets, alpha, beta };
                return new Set((mode === 'exact' ? await run(job) : await scanTwoPass(run, job, twoPass))[0].position);
              } finally {
                snapshot.release();
              }
            };
            for (const mode of [...new Set<AudienceScanMode>(storage === 'f32' ? ['exact', ...scans] : scans)]) {
              const top = await scan(st, mode);
              if (storage === 'f32' && mode === 'exact') f32Top.set(S, top);
              const want = f32Top.get(S);
              const recall = (storage !== 'f32' || mode !== 'exact') && want ? [...want].filter((p) => top.has(p)).length / Math.max(1, want.size) : undefined;
              if (!storages.includes(storage) || !scans.includes(mode)) continue;
              const slow = target === 'scalar';
              const timing = await measure(() => scan(st, mode), { warmup: 1, minRuns: slow ? 2 : 5, maxRuns: slow ? 3 : 50, minMs: slow ? 0 : minMs });
              const inCache = target === 'wasm' && storage === 'f32' && mode === 'exact' ? inCacheRate(prepared[0], h) : null;
              const roofline = rooflines.get(storage) as Timing;
              const candidates = mode === 'two-pass' && candidateCount(topN, twoPass) * 2 <= n ? candidateCount(topN, twoPass) : undefined;
              const macs = candidates === undefined ? n * S * (2 * k + 1) * h : S * (n * 3 * h + candidates * (2 * k + 1) * h);
              const row: AudienceRow = {
                target, storage, scan: mode, candidates, adapter: engine.adapterName, users: n, h, k, sets: S, topN, bytes: bytesOf(storage), timing,
                usersPerSec: n / (timing.medianMs / 1000),
                gmacPerSec: macs / (timing.medianMs / 1000) / 1e9,
                roofline, rooflineRatio: timing.medianMs / roofline.medianMs, f32RooflineRatio: timing.medianMs / f32Roofline.medianMs,
                ...(f32AllThreads ? { f32RooflineAllThreadsRatio: timing.medianMs / f32AllThreads.medianMs, rooflineThreads: allThreads.threads } : {}),
                recallVsF32: recall, inCacheGmacPerThread: inCache, clusterMs,
                threads: target === 'webgpu' ? 0 : target === 'scalar' ? 1 : Math.min(4, availableParallelism()),
              };
              rows.push(row);
              log(formatAudienceRow(row));
            }
          }
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
    r.target.padEnd(6), (r.storage ?? 'f32').padEnd(4), (r.scan ?? 'exact').padEnd(8), `users=${r.users}`, `k=${String(r.k).padStart(3)}`, `h=${r.h}`, `sets=${r.sets}`,
    `median ${f(r.timing.medianMs).padStart(7)} ms`, `p99 ${f(r.timing.p99Ms).padStart(7)} ms`,
    `${(r.usersPerSec / 1e6).toFixed(2).padStart(6)} M users/s`, `${r.gmacPerSec.toFixed(1).padStart(5)} GMAC/s`,
    `roofline ${f(r.roofline.medianMs).padStart(6)} ms`, `ratio ${r.rooflineRatio.toFixed(1).padStart(5)}×`,
    `f32 ratio ${(r.f32RooflineRatio ?? r.rooflineRatio).toFixed(1).padStart(5)}×`,
    r.f32RooflineAllThreadsRatio === undefined ? '' : `(${r.rooflineThreads} threads' read ${r.f32RooflineAllThreadsRatio.toFixed(1).padStart(5)}×)`,
    r.recallVsF32 === undefined ? '' : `recall@${r.topN} vs f32 ${r.recallVsF32.toFixed(4)}`,
    r.inCacheGmacPerThread === null ? '' : `kernel in cache ${r.inCacheGmacPerThread.toFixed(1)} GMAC/s/thread (${r.threads} threads)`,
    `cluster ${f(r.clusterMs)} ms`,
    r.timing.spread > 0.3 ? `(noisy: spread ${r.timing.spread.toFixed(2)})` : '',
  ].join('  ');
}
