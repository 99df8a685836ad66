/**
 * `ralm bench kernel`: ranks N candidates for one request (top-10, with upload of the request and
 * readback of the results) on each backend present, for N ∈ {1,000, 10,000, 100,000},
 * k ∈ {20, 100}, h = 128, and beside each row the time to merely read the same bytes from
 * memory in this process (the roofline). Also measures what f16 centroid storage does to scores.
 */
import os from 'node:os';
import { randomModel } from '../src/model/model.js';
import { RalmEngine, type ItemCentroids } from '../src/engine/engine.js';
import { probeBackends } from '../src/engine/probe.js';
import { paddedStride } from '../src/engine/item-table.js';
import { Rng } from '../src/util/rng.js';
import { measure, RooflineProbe, type Timing } from './stats.js';

export interface KernelBenchOptions {
  backends?: Array<'cpu' | 'webgpu'>;
  sizes?: number[];
  ks?: number[];
  h?: number;
  topK?: number;
  storage?: 'f32' | 'f16';
  minMs?: number;
  log?: (line: string) => void;
}

export interface KernelRow {
  backend: 'cpu' | 'webgpu';
  adapter: string;
  storage: 'f32' | 'f16';
  n: number;
  k: number;
  h: number;
  /** Bytes of item data one request reads (centroid rows, global vectors, metadata). */
  bytes: number;
  timing: Timing;
  candidatesPerSec: number;
  roofline: Timing;
  /** median time / roofline median. */
  rooflineRatio: number;
}

export interface F16Effect {
  n: number;
  k: number;
  maxAbsScoreDiff: number;
  meanAbsScoreDiff: number;
  top10Overlap: number;
}

export interface KernelBenchResult {
  kind: 'ralm-bench-kernel';
  createdAt: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string };
  rows: KernelRow[];
  f16Effect: F16Effect | null;
}

/** Items built from one random pool at varied offsets: realistic values without generating GBs of normals. */
function* itemChunks(n: number, k: number, h: number, seed: number, chunk = 2000): Generator<ItemCentroids[]> {
  const rng = new Rng(seed);
  const poolLen = 1 << 20;
  const pool = rng.normals(poolLen, 0.3);
  for (let start = 0; start < n; start += chunk) {
    const items: ItemCentroids[] = [];
    for (let i = start; i < Math.min(n, start + chunk); i++) {
      const off = rng.int(poolLen - k * h - h);
      items.push({ id: `i${i}`, centroids: pool.subarray(off, off + k * h), global: pool.subarray(off + k * h, off + k * h + h) });
    }
    yield items;
  }
}

export function machineInfo(): KernelBenchResult['machine'] {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export async function runKernelBench(options: KernelBenchOptions = {}): Promise<KernelBenchResult> {
  const log = options.log ?? (() => undefined);
  const backends = options.backends ?? (await probeBackends());
  const sizes = options.sizes ?? [1000, 10_000, 100_000];
  const ks = options.ks ?? [20, 100];
  const h = options.h ?? 128;
  const topK = options.topK ?? 10;
  const storage = options.storage ?? 'f32';
  const minMs = options.minMs ?? 1500;
  const rows: KernelRow[] = [];
  const roof = new RooflineProbe();
  for (const k of ks) {
    const model = randomModel({ h, m: h, k, attentionSize: 64, seed: 1 });
    for (const backend of backends) {
      const engine = await RalmEngine.create(model, { backend, storage, recoverDevice: false });
      let loaded = 0;
      const chunks = itemChunks(Math.max(...sizes), k, h, 2);
      const e = new Rng(3).normals(h);
      for (const n of [...sizes].sort((a, b) => a - b)) {
        while (loaded < n) {
          const { value } = chunks.next();
          if (!value) break;
          await engine.upsertItems(value);
          loaded += value.length;
        }
        const candidates = Array.from({ length: n }, (_, i) => `i${i}`);
        const timing = await measure(() => engine.rank([{ user: { embedding: e }, candidates, k: topK }]), { minMs, minRuns: 7, warmup: 2 });
        const stride = paddedStride(h);
        const bytes = n * (k * stride * (storage === 'f16' ? 2 : 4) + stride * 4 + 8);
        const roofline = await roof.time(bytes);
        const row: KernelRow = {
          backend, adapter: engine.adapterName, storage, n, k, h, bytes, timing,
          candidatesPerSec: n / (timing.medianMs / 1000), roofline, rooflineRatio: timing.medianMs / roofline.medianMs,
        };
        rows.push(row);
        log(formatRow(row));
      }
      await engine.close();
    }
  }
  roof.release();
  const f16Effect = await measureF16Effect(Math.min(10_000, Math.max(...sizes)), 20, h);
  return { kind: 'ralm-bench-kernel', createdAt: new Date().toISOString(), machine: machineInfo(), rows, f16Effect };
}

/** Scores the same items with f32 and f16 storage on the CPU and compares. */
async function measureF16Effect(n: number, k: number, h: number): Promise<F16Effect> {
  const model = randomModel({ h, m: h, k, attentionSize: 64, seed: 1 });
  const [a, b] = await Promise.all([
    RalmEngine.create(model, { backend: 'cpu', storage: 'f32' }),
    RalmEngine.create(model, { backend: 'cpu', storage: 'f16' }),
  ]);
  for (const chunk of itemChunks(n, k, h, 2)) {
    await a.upsertItems(chunk);
    await b.upsertItems(chunk);
  }
  const ids = Array.from({ length: n }, (_, i) => `i${i}`);
  const rng = new Rng(4);
  let maxAbs = 0;
  let sumAbs = 0;
  let overlap = 0;
  const users = 20;
  for (let u = 0; u < users; u++) {
    const e = rng.normals(h);
    const [sa] = await a.score([{ user: { embedding: e }, items: ids }]);
    const [sb] = await b.score([{ user: { embedding: e }, items: ids }]);
    for (let i = 0; i < n; i++) {
      const d = Math.abs(sa.scores[i] - sb.scores[i]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
    }
    const [ra] = await a.rank([{ user: { embedding: e }, candidates: ids, k: 10 }]);
    const [rb] = await b.rank([{ user: { embedding: e }, candidates: ids, k: 10 }]);
    const set = new Set(ra.items.map((x) => x.id));
    overlap += rb.items.filter((x) => set.has(x.id)).length / 10;
  }
  await a.close();
  await b.close();
  return { n, k, maxAbsScoreDiff: maxAbs, meanAbsScoreDiff: sumAbs / (users * n), top10Overlap: overlap / users };
}

export function formatRow(r: KernelRow): string {
  const f = (x: number): string => x.toFixed(x < 10 ? 3 : 1);
  return [
    r.backend.padEnd(7), r.storage, `N=${String(r.n).padStart(7)}`, `k=${String(r.k).padStart(3)}`, `h=${r.h}`,
    `median ${f(r.timing.medianMs).padStart(8)} ms`, `p99 ${f(r.timing.p99Ms).padStart(8)} ms`,
    `${(r.candidatesPerSec / 1e6).toFixed(2).padStart(6)} M cand/s`,
    `roofline ${f(r.roofline.medianMs).padStart(7)} ms`, `ratio ${r.rooflineRatio.toFixed(1).padStart(5)}×`,
    r.timing.spread > 0.3 ? `(noisy: spread ${r.timing.spread.toFixed(2)})` : '',
  ].join('  ');
}
