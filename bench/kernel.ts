/**
 * `ralm bench kernel`: ranking N candidates (top-K, with upload of the requests and readback of
 * the results) for batches of B requests, per backend present and, with peers, per alternative
 * on the same inputs and the same math. Beside every row: the time to merely read the same bytes
 * from memory in this process (the roofline) and the ratio. Every subject's top-K is checked
 * against this engine's CPU scores before its time counts.
 *
 * The default plan is a star around N = 10,000, k = 20, h = 128, B = 1, f32: N over
 * {1,000, 10,000, 100,000, 1,000,000} at the centre (the last needs 10.3 GiB of item data, more
 * than the default 4 GiB budget, so it is listed as skipped unless --max-item-gib allows it), and one parameter at a time varied at N = 10,000
 * (k ∈ {5, 100}, h ∈ {64, 256}, B ∈ {4, 16}, f16 and int8 storage). `full` is the whole grid up to
 * N = 1,000,000, less configurations whose item data exceeds a memory budget.
 */
import { RalmEngine } from '../src/engine/engine.js';
import { probeBackends } from '../src/engine/probe.js';
import { paddedStride, type CentroidStorage } from '../src/core/item-table.js';
import { gramBlockFloats, gramSide, int8RowBytes } from '../src/core/quantize.js';
import { measure, RooflineProbe, type MeasureOptions, type Timing } from './stats.js';
import { ParallelRooflineProbe } from './parallel-roofline.js';
import { benchModel, engineItems, itemBytesF32, makeWorkload, prefix, userBatch, type Workload } from './workload.js';
import { loadPeers, type MissingPeer, type Peer, type PeerName, type PeerOutput } from './peers/peer.js';
import { verifyTopK, type Verification } from './verify.js';
import { withDefaults } from '../src/util/options.js';
import { KERNEL_BENCH_DEFAULTS, NOISY_SPREAD } from './defaults.js';
import { finishMachineInfo, machineInfo, type MachineInfo } from './machine.js';
import { analyseScaling, type ScalingReport } from './scaling.js';
import { knownPeakBandwidth } from './gpu-peaks.js';

export type RalmSubject = 'ralm-cpu' | 'ralm-cpu-simd' | 'ralm-cpu-scalar' | 'ralm-webgpu';
/** `cpu`: the CPU path with its default kernel (fused multiply-adds where the runtime has them); `cpu-simd`: plain SIMD. */
export type BackendName = 'cpu' | 'cpu-simd' | 'cpu-scalar' | 'webgpu';

export interface Config {
  n: number;
  k: number;
  h: number;
  batch: number;
  storage: CentroidStorage;
}

export interface KernelBenchOptions {
  backends?: BackendName[];
  /** Peers to run beside the engine; none by default. */
  peers?: readonly PeerName[];
  plan?: 'default' | 'full' | { sizes: number[]; ks: number[]; hs: number[]; batches: number[]; storages: CentroidStorage[] };
  topK?: number;
  /** Minimum measuring time per row. Default 1000 ms. */
  minMs?: number;
  /** A row stops after this long once it has 3 runs. Default 20,000 ms. */
  maxMs?: number;
  /** Configurations whose f32 item data exceed this are skipped (and listed). Default 4 GiB. */
  maxItemGiB?: number;
  /** The WebGPU scorer (engine option gpuScorer). Default: the engine's (by adapter). */
  gpuScorer?: 'auto' | 'cooperative' | 'per-item';
  log?: (line: string) => void;
}

export interface KernelRow extends Config {
  subject: RalmSubject | PeerName;
  kind: 'ralm' | 'peer';
  /** Backend and threading in words (adapter name for WebGPU). */
  label: string;
  /** Bytes of item data one batch reads at least (the engine's stored layout; f32 for peers). */
  bytes: number;
  timing: Timing;
  /** batch × N / median. */
  candidatesPerSec: number;
  roofline: Timing;
  /** median / roofline median: 1 means as fast as reading the bytes once. */
  rooflineRatio: number;
  /**
   * median / the time to read the same items stored as f32 (measured beside the row; equal to
   * rooflineRatio for f32 rows): below 1, faster than any f32 implementation could be here.
   * Absent in results written before it existed.
   */
  f32RooflineRatio?: number;
  /** median / `rooflineThreads` threads (every core) reading the f32 bytes together (parallel-roofline.ts); absent above 2 GiB. */
  f32RooflineAllThreadsRatio?: number;
  rooflineThreads?: number;
  /** Against the engine's CPU scores (null for the reference itself). */
  verified: Verification | null;
  /**
   * WebGPU with timestamp queries: the median GPU time of the scorer and top-K pass, the bytes it
   * moves per call (B × (item data + 32 bytes of work list and results per candidate): no reuse
   * across requests), their rate, and its fraction of the adapter family's datasheet bandwidth
   * (null for a family not listed in bench/gpu-peaks.ts, e.g. a software adapter).
   */
  gpu?: { kernelMs: number; bytesPerCall: number; gbPerSec: number; peakGbPerSec: number | null; bandwidthShare: number | null };
  /** The subject failed on this configuration (e.g. out of memory); no timing then. */
  error?: string;
}

/** What a storage does to the scores against f32 on the same items and users (synthetic clusters). */
export interface StorageEffect {
  storage: CentroidStorage;
  n: number;
  k: number;
  maxAbsScoreDiff: number;
  meanAbsScoreDiff: number;
  top10Overlap: number;
}

export interface KernelBenchResult {
  kind: 'ralm-bench-kernel';
  formatVersion: 2;
  createdAt: string;
  machine: MachineInfo;
  settings: { plan: string; topK: number; minMs: number; maxMs: number; maxItemGiB: number; backends: BackendName[]; peers: string[] };
  rows: KernelRow[];
  missingPeers: MissingPeer[];
  skipped: Array<Config & { reason: string }>;
  scaling: ScalingReport;
  /** One entry per storage other than f32 in the plan. */
  storageEffects: StorageEffect[];
  /** Rows whose spread (p90 − p10) / median exceeded 0.3: the machine was busy while they ran. */
  noisyRows: number;
}

const CENTRE = { n: 10_000, k: 20, h: 128, batch: 1, storage: 'f32' as const };

export function planConfigs(plan: NonNullable<KernelBenchOptions['plan']>): Config[] {
  if (plan === 'default') {
    const out: Config[] = [1000, 10_000, 100_000, 1_000_000].map((n) => ({ ...CENTRE, n }));
    for (const k of [5, 100]) out.push({ ...CENTRE, k });
    for (const h of [64, 256]) out.push({ ...CENTRE, h });
    for (const batch of [4, 16]) out.push({ ...CENTRE, batch });
    out.push({ ...CENTRE, storage: 'f16' }, { ...CENTRE, storage: 'int8' });
    return out;
  }
  const g = plan === 'full'
    ? { sizes: [1000, 10_000, 100_000, 1_000_000], ks: [5, 20, 100], hs: [64, 128, 256], batches: [1, 4, 16], storages: ['f32', 'f16', 'int8'] as CentroidStorage[] }
    : plan;
  const out: Config[] = [];
  for (const storage of g.storages) for (const k of g.ks) for (const h of g.hs) for (const n of g.sizes) for (const batch of g.batches) out.push({ n, k, h, batch, storage });
  return out;
}

/**
 * Bytes of item data a batch reads at least. f16: the centroids at half width (what the WebGPU
 * backend reads; the CPU kernel reads the table's float32 copy). int8: the codes, the row scales
 * and the Gram matrix the CPU kernel reads for a single request (WebGPU reads codes and scales only:
 * KernelRow.gpu).
 */
function engineBytes(c: Config): number {
  const stride = paddedStride(c.h);
  const perItem = c.storage === 'int8'
    ? c.k * int8RowBytes(c.h) + gramSide(c.k) * 4 + gramBlockFloats(gramSide(c.k)) * 4
    : c.k * stride * (c.storage === 'f16' ? 2 : 4);
  return c.n * (perItem + stride * 4 + 8);
}

const fmt = (x: number): string => (x < 10 ? x.toFixed(3) : x.toFixed(1));

export function formatRow(r: KernelRow): string {
  const head = [r.subject.padEnd(16), r.storage, `N=${String(r.n).padStart(7)}`, `k=${String(r.k).padStart(3)}`, `h=${String(r.h).padStart(3)}`, `B=${String(r.batch).padStart(2)}`];
  if (r.error) return [...head, `failed: ${r.error}`].join('  ');
  return [
    ...head,
    `median ${fmt(r.timing.medianMs).padStart(8)} ms`, `p90 ${fmt(r.timing.p90Ms).padStart(8)}`, `p99 ${fmt(r.timing.p99Ms).padStart(8)}`,
    `cpu ${r.timing.cpuMs === undefined ? '–' : fmt(r.timing.cpuMs).padStart(8)} ms`,
    `${(r.candidatesPerSec / 1e6).toFixed(2).padStart(6)} M cand/s`,
    `roofline ${fmt(r.roofline.medianMs).padStart(7)} ms`, `ratio ${r.rooflineRatio.toFixed(1).padStart(5)}×`,
    `f32 ratio ${(r.f32RooflineRatio ?? r.rooflineRatio).toFixed(2).padStart(5)}×`,
    r.f32RooflineAllThreadsRatio === undefined ? '' : `(${r.rooflineThreads} threads' read ${r.f32RooflineAllThreadsRatio.toFixed(2).padStart(5)}×)`,
    r.verified ? (r.verified.ok ? 'checked' : `MISMATCH: ${r.verified.detail}`) : 'reference',
    r.gpu ? `kernel ${fmt(r.gpu.kernelMs)} ms, ${(r.gpu.bytesPerCall / 1e6).toFixed(0)} MB, ${r.gpu.gbPerSec.toFixed(1)} GB/s${r.gpu.bandwidthShare === null ? '' : ` = ${(r.gpu.bandwidthShare * 100).toFixed(0)}% of ${r.gpu.peakGbPerSec} GB/s`}` : '',
    r.timing.spread > NOISY_SPREAD ? `(noisy: spread ${r.timing.spread.toFixed(2)}, ${r.timing.runs} runs)` : '',
  ].join('  ');
}

export const TABLE_HEADER = 'subject           store  N          k      h      B     median            p90           p99           cpu (all threads)  throughput       roofline (memory read)  ratio  f32 ratio  check';

const BACKEND_SUBJECT: Record<BackendName, RalmSubject> = { cpu: 'ralm-cpu', 'cpu-simd': 'ralm-cpu-simd', 'cpu-scalar': 'ralm-cpu-scalar', webgpu: 'ralm-webgpu' };

export async function defaultBackends(): Promise<BackendName[]> {
  const present = await probeBackends();
  return present.includes('webgpu') ? ['cpu', 'cpu-scalar', 'webgpu'] : ['cpu', 'cpu-scalar'];
}

function requestsFor(w: Workload, users: Float32Array, batch: number, topK: number): Array<{ user: { embedding: Float32Array }; candidates: string[]; k: number }> {
  return Array.from({ length: batch }, (_, r) => ({ user: { embedding: users.subarray(r * w.h, (r + 1) * w.h) }, candidates: w.ids, k: topK }));
}

export async function runKernelBench(options: KernelBenchOptions = {}): Promise<KernelBenchResult> {
  const log = options.log ?? (() => undefined);
  const backends = options.backends ?? (await defaultBackends());
  const { plan, topK, minMs, maxMs, maxItemGiB } = withDefaults(KERNEL_BENCH_DEFAULTS, options);
  const machine = await machineInfo({ probeWebGpu: true });
  const { peers, missing } = options.peers && options.peers.length > 0 ? await loadPeers(options.peers) : { peers: [] as Peer[], missing: [] };
  for (const m of missing) log(`peer ${m.name} unavailable: ${m.reason} (${m.fix})`);

  const skipped: KernelBenchResult['skipped'] = [];
  const configs: Config[] = [];
  for (const c of planConfigs(plan)) {
    if (itemBytesF32(c.n, c.k, c.h) > maxItemGiB * 2 ** 30) skipped.push({ ...c, reason: `item data ${(itemBytesF32(c.n, c.k, c.h) / 2 ** 30).toFixed(1)} GiB exceeds the ${maxItemGiB} GiB budget (--max-item-gib)` });
    else configs.push(c);
  }
  for (const s of skipped) log(`skipped N=${s.n} k=${s.k} h=${s.h} B=${s.batch} ${s.storage}: ${s.reason}`);

  // One workload per (k, h, storage): engines load it once and grow N in ascending order.
  const groups = new Map<string, Config[]>();
  for (const c of configs) {
    const key = `${c.k}/${c.h}/${c.storage}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const rows: KernelRow[] = [];
  const roof = new RooflineProbe();
  const allThreads = new ParallelRooflineProbe();
  const measureOpts = { warmup: 2, minRuns: 7, minMs, maxMs };
  for (const group of groups.values()) {
    const { k, h, storage } = group[0];
    const sizes = [...new Set(group.map((c) => c.n))].sort((a, b) => a - b);
    const maxBatch = Math.max(...group.map((c) => c.batch));
    const model = benchModel(k, h);
    const full = makeWorkload(sizes[sizes.length - 1], k, h, model);
    const users = userBatch(maxBatch, h);
    // Reference scores: this engine on the CPU, same storage, every user of the largest batch.
    const reference = new Map<number, Float32Array[]>();
    const order: BackendName[] = ['cpu', ...backends.filter((b) => b !== 'cpu')];
    for (const backend of order) {
      const timed = backends.includes(backend);
      const engine = await RalmEngine.create(model, {
        backend: backend === 'webgpu' ? 'webgpu' : 'cpu', cpuKernel: backend === 'cpu-scalar' ? 'scalar' : backend === 'cpu-simd' ? 'wasm' : undefined, storage, recoverDevice: false,
        gpuScorer: options.gpuScorer,
      });
      const forced = backend === 'webgpu' && options.gpuScorer && options.gpuScorer !== 'auto' ? ` (${options.gpuScorer} scorer)` : '';
      const label = `${engine.adapterName}${forced}`;
      try {
        let loaded = 0;
        for (const n of sizes) {
          for (; loaded < n; loaded = Math.min(n, loaded + 5000)) await engine.upsertItems(engineItems(full, loaded, Math.min(n, loaded + 5000)));
          const w = prefix(full, n);
          if (backend === 'cpu') {
            const scores: Float32Array[] = [];
            for (let r = 0; r < maxBatch; r++) scores.push((await engine.score([{ user: { embedding: users.subarray(r * h, (r + 1) * h) }, items: w.ids }]))[0].scores);
            reference.set(n, scores);
          }
          if (!timed) continue;
          for (const c of group.filter((x) => x.n === n)) {
            const reqs = requestsFor(w, users, c.batch, topK);
            const subject = BACKEND_SUBJECT[backend];
            const check = async (): Promise<PeerOutput> => {
              const res = await engine.rank(reqs);
              // ids are "i<position>"
              return { index: res.flatMap((r) => r.items.map((it) => Number(it.id.slice(1)))), score: Float32Array.from(res.flatMap((r) => r.items.map((it) => it.score))) };
            };
            const kernelMs: number[] = [];
            const run = async (): Promise<void> => {
              await engine.rank(reqs);
              if (engine.lastGpuKernelMs !== undefined) kernelMs.push(engine.lastGpuKernelMs);
            };
            const row = await timeRow(c, subject, 'ralm', label, engineBytes(c), roof, allThreads, measureOpts, check, run,
              backend === 'cpu' ? null : (reference.get(n) as Float32Array[]).slice(0, c.batch), topK)
              .catch((err: unknown) => failedRow(c, subject, 'ralm', label, engineBytes(c), err));
            if (backend === 'webgpu' && kernelMs.length > 0 && !row.error) row.gpu = gpuTiming(c, kernelMs, engine.adapterName);
            rows.push(row);
            log(formatRow(row));
          }
        }
      } finally {
        await engine.close();
      }
    }
    for (const peer of peers.filter((p) => (p.storage ?? 'f32') === storage)) {
      for (const n of sizes) {
        const w = prefix(full, n);
        const cs = group.filter((x) => x.n === n);
        if (peer.maxItemBytes !== undefined && itemBytesF32(n, k, h) > peer.maxItemBytes) {
          for (const c of cs) skipped.push({ ...c, reason: `${peer.name}: item data exceeds what it can hold (${(peer.maxItemBytes / 2 ** 30).toFixed(1)} GiB)` });
          continue;
        }
        let session;
        try {
          session = await peer.open(w, topK);
        } catch (err) {
          for (const c of cs) rows.push(failedRow(c, peer.name as PeerName, 'peer', peer.label, itemBytesF32(n, k, h), err));
          log(`${peer.name} N=${n} k=${k} h=${h}: failed to open: ${(err as Error).message}`);
          continue;
        }
        try {
          for (const c of cs) {
            const s = session;
            const row = await timeRow(c, peer.name as PeerName, 'peer', peer.label, itemBytesF32(n, k, h), roof, allThreads, measureOpts,
              () => s.run(users, c.batch), () => s.run(users, c.batch), (reference.get(n) as Float32Array[]).slice(0, c.batch), topK, peer.tolerance)
              .catch((err: unknown) => failedRow(c, peer.name as PeerName, 'peer', peer.label, itemBytesF32(n, k, h), err));
            rows.push(row);
            log(formatRow(row));
          }
        } finally {
          await session.close();
        }
      }
    }
  }
  roof.release();
  await allThreads.release();
  const storageEffects: StorageEffect[] = [];
  for (const storage of ['f16', 'int8'] as const) {
    const c = configs.find((x) => x.storage === storage);
    if (c) storageEffects.push(await measureStorageEffect(storage, Math.min(10_000, c.n), c.k, c.h));
  }
  return {
    kind: 'ralm-bench-kernel',
    formatVersion: 2,
    createdAt: new Date().toISOString(),
    machine: finishMachineInfo(machine),
    settings: { plan: typeof plan === 'string' ? plan : 'custom', topK, minMs, maxMs, maxItemGiB, backends, peers: peers.map((p) => p.name) },
    rows,
    missingPeers: missing,
    skipped,
    scaling: analyseScaling(rows),
    storageEffects,
    noisyRows: rows.filter((r) => !r.error && r.timing.spread > NOISY_SPREAD).length,
  };
}

/** Kernel time, bytes and bandwidth of a WebGPU row (see KernelRow.gpu). int8 there: codes and row scales, no Gram. */
function gpuTiming(c: Config, kernelMs: number[], adapter: string): NonNullable<KernelRow['gpu']> {
  const sorted = [...kernelMs].sort((a, b) => a - b);
  const ms = sorted[Math.floor(sorted.length / 2)];
  const items = c.storage === 'int8' ? c.n * (c.k * (int8RowBytes(c.h) + 4) + paddedStride(c.h) * 4 + 8) : engineBytes(c);
  const bytesPerCall = c.batch * (items + 32 * c.n);
  const gbPerSec = bytesPerCall / (ms / 1000) / 1e9;
  const peak = knownPeakBandwidth(adapter);
  return { kernelMs: ms, bytesPerCall, gbPerSec, peakGbPerSec: peak?.gbPerSec ?? null, bandwidthShare: peak ? gbPerSec / peak.gbPerSec : null };
}

const NO_TIMING: Timing = { runs: 0, medianMs: NaN, p90Ms: NaN, p99Ms: NaN, minMs: NaN, maxMs: NaN, spread: NaN };

function failedRow(c: Config, subject: RalmSubject | PeerName, kind: 'ralm' | 'peer', label: string, bytes: number, err: unknown): KernelRow {
  return { ...c, subject, kind, label, bytes, timing: NO_TIMING, candidatesPerSec: NaN, roofline: NO_TIMING, rooflineRatio: NaN, f32RooflineRatio: NaN, verified: null, error: (err as Error).message };
}

/** Checks one output against the reference first (a wrong answer is not timed), then times it and the roofline. */
async function timeRow(
  c: Config, subject: RalmSubject | PeerName, kind: 'ralm' | 'peer', label: string, bytes: number, roof: RooflineProbe, allThreads: ParallelRooflineProbe,
  measureOpts: MeasureOptions, check: () => Promise<PeerOutput>, run: () => Promise<unknown>,
  reference: Float32Array[] | null, topK: number, tolerance?: { abs: number; rel: number },
): Promise<KernelRow> {
  const verified = reference ? verifyTopK(reference, await check(), topK, tolerance) : null;
  if (verified && !verified.ok) {
    return { ...failedRow(c, subject, kind, label, bytes, new Error(`results differ from the reference: ${verified.detail}`)), verified };
  }
  const timing = await measure(run, measureOpts);
  const roofline = await roof.time(bytes);
  const f32Bytes = engineBytes({ ...c, storage: 'f32' });
  const f32Roofline = f32Bytes === bytes ? roofline : await roof.time(f32Bytes);
  const f32AllThreads = await allThreads.timeUpTo(f32Bytes);
  return {
    ...c, subject, kind, label, bytes, timing, candidatesPerSec: (c.batch * c.n) / (timing.medianMs / 1000),
    roofline, rooflineRatio: timing.medianMs / roofline.medianMs, f32RooflineRatio: timing.medianMs / f32Roofline.medianMs,
    ...(f32AllThreads ? { f32RooflineAllThreadsRatio: timing.medianMs / f32AllThreads.medianMs, rooflineThreads: allThreads.threads } : {}),
    verified,
  };
}

/** Scores the same items with f32 and `storage` on the CPU and compares. */
async function measureStorageEffect(storage: CentroidStorage, n: number, k: number, h: number): Promise<StorageEffect> {
  const model = benchModel(k, h);
  const w = makeWorkload(n, k, h, model);
  const [a, b] = await Promise.all([
    RalmEngine.create(model, { backend: 'cpu', storage: 'f32' }),
    RalmEngine.create(model, { backend: 'cpu', storage }),
  ]);
  for (let i = 0; i < n; i += 5000) {
    await a.upsertItems(engineItems(w, i, Math.min(n, i + 5000)));
    await b.upsertItems(engineItems(w, i, Math.min(n, i + 5000)));
  }
  const users = userBatch(20, h, 4);
  let maxAbs = 0;
  let sumAbs = 0;
  let overlap = 0;
  for (let u = 0; u < 20; u++) {
    const e = users.subarray(u * h, (u + 1) * h);
    const [sa] = await a.score([{ user: { embedding: e }, items: w.ids }]);
    const [sb] = await b.score([{ user: { embedding: e }, items: w.ids }]);
    for (let i = 0; i < n; i++) {
      const d = Math.abs(sa.scores[i] - sb.scores[i]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
    }
    const [ra] = await a.rank([{ user: { embedding: e }, candidates: w.ids, k: 10 }]);
    const [rb] = await b.rank([{ user: { embedding: e }, candidates: w.ids, k: 10 }]);
    const set = new Set(ra.items.map((x) => x.id));
    overlap += rb.items.filter((x) => set.has(x.id)).length / Math.max(1, ra.items.length);
  }
  await a.close();
  await b.close();
  return { storage, n, k, maxAbsScoreDiff: maxAbs, meanAbsScoreDiff: sumAbs / (20 * n), top10Overlap: overlap / 20 };
}
