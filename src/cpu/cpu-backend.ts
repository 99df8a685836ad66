/**
 * The CPU backend: the same operations as the WGSL kernels, in TypeScript over typed arrays.
 * It is the fallback when no adapter exists (or the device is lost) and the oracle the GPU
 * results are checked against. The scoring loop allocates nothing per candidate.
 *
 * Local attention needs no running maximum: the logits are tanh-bounded to [-1, 1], so exp()
 * cannot overflow. Each row's logit C_j·q gives its weight w_j, the row is accumulated into the
 * unnormalised local vector L = Σ w_j C_j while still in cache, and the cosine is taken from L:
 * the normaliser Σ w_j cancels, cos(e, L/Σw) = e·L / (|e| |L|) (zero-norm rule on |L|/Σw).
 */
import type { Backend, KMeansJob, KMeansRun, PreparedRequest, ScoredRows } from '../core/backend.js';
import { CPU_DEFAULTS } from './defaults.js';
import { runKMeansJobs } from './kmeans.js';
import type { ItemTable } from '../core/item-table.js';
import type { RalmModel } from '../model/model.js';
import { transformCpu } from '../model/transform.js';
import { ZERO_NORM } from '../model/reference.js';
import { rowsFromScores } from '../core/top-k.js';
import { kernelModule, mainPageKernel, type KernelArgs } from './wasm-kernel.js';
import { CpuWorkerPool } from './workers/pool.js';
import type { Segment } from './workers/messages.js';
import type { ScanHits, ScanJob } from '../core/scan.js';
import { SCAN_THREADS } from '../core/user-table.js';
import { scanScalar } from './scan-scalar.js';
import { yieldToEventLoop } from '../util/time-slice.js';

/** `wasm`: the WebAssembly SIMD kernel over wasm-memory pages; `scalar`: the plain TypeScript loop. */
export type CpuKernel = 'wasm' | 'scalar';

/** The fastest kernel this runtime can run. */
export function defaultCpuKernel(): CpuKernel {
  return kernelModule() ? 'wasm' : 'scalar';
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapterName: string;
  readonly kernel: CpuKernel;
  private readonly model: RalmModel;
  private acc = new Float64Array(0);
  private pageCounts = new Uint32Array(0);
  private order = new Uint32Array(0);
  private localSlots = new Uint32Array(0);
  /** Worker threads (wasm kernel only): scans use all of them, a large ranking request one beside the caller. */
  private pool: CpuWorkerPool | null = null;
  private readonly threads: number;

  /** `threads` 2 lets a large request use a worker thread beside the caller (wasm kernel only). */
  constructor(model: RalmModel, kernel: CpuKernel = 'scalar', threads = 1) {
    this.model = model;
    this.kernel = kernel;
    this.threads = threads;
    // Started at once when requests will use it, so the first large request does not wait for a thread to boot.
    if (kernel === 'wasm' && threads > 1) this.workers();
    this.adapterName = kernel === 'wasm' ? `cpu (wasm simd, ${threads > 1 ? 2 : 1} thread${threads > 1 ? 's' : ''})` : 'cpu (scalar)';
  }

  private workers(): CpuWorkerPool {
    this.pool ??= new CpuWorkerPool(Math.min(SCAN_THREADS, this.threads));
    return this.pool;
  }

  async run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    return requests.map((r) => this.runOne(r, table));
  }

  private runOne(req: PreparedRequest, table: ItemTable): ScoredRows {
    const n = req.slots.length;
    const score = new Float32Array(n);
    const cosGlobal = new Float32Array(n);
    const cosLocal = new Float32Array(n);
    this.scoreInto(req, table, score, cosGlobal, cosLocal);
    return rowsFromScores(score, cosGlobal, cosLocal, req.topK);
  }

  /** Scores every candidate of `req` into the output arrays, in candidate order. */
  scoreInto(req: PreparedRequest, table: ItemTable, score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array): void {
    if (this.kernel === 'scalar' || !table.pages[0]?.memory) {
      this.scoreScalar(req, table, score, cosGlobal, cosLocal);
      return;
    }
    const { alpha, beta } = this.model.manifest;
    const args: KernelArgs = { k: table.k, stride: table.stride, alpha, beta, zeroNorm: ZERO_NORM };
    const spp = table.slotsPerPage;
    const n = req.slots.length;
    const P = table.pages.length;
    // Candidates ordered by page (a counting sort; skipped for a one-page table): page runs of
    // local slots, and for each its position in the request.
    let localSlots = req.slots;
    let order: Uint32Array | null = null;
    const runs: Segment[] = [];
    if (P === 1) {
      runs.push({ page: 0, from: 0, count: n });
    } else {
      if (this.pageCounts.length < P + 1) this.pageCounts = new Uint32Array(P + 1);
      if (this.order.length < n) {
        this.order = new Uint32Array(n);
        this.localSlots = new Uint32Array(n);
      }
      const counts = this.pageCounts;
      counts.fill(0);
      for (let c = 0; c < n; c++) counts[((req.slots[c] / spp) | 0) + 1]++;
      for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
      const fill = counts.slice(0, P);
      for (let c = 0; c < n; c++) {
        const slot = req.slots[c];
        const p = (slot / spp) | 0;
        const at = fill[p]++;
        this.order[at] = c;
        this.localSlots[at] = slot - p * spp;
      }
      localSlots = this.localSlots;
      order = this.order;
      for (let p = 0; p < P; p++) if (counts[p + 1] > counts[p]) runs.push({ page: p, from: counts[p], count: counts[p + 1] - counts[p] });
    }
    const emit = (i: number, s: number, g: number, l: number): void => {
      const pos = order ? order[i] : i;
      score[pos] = s;
      cosGlobal[pos] = g;
      cosLocal[pos] = l;
    };
    const runRange = (lo: number, hi: number): void => {
      for (const r of runs) {
        const a = Math.max(lo, r.from);
        const b = Math.min(hi, r.from + r.count);
        if (a < b) mainPageKernel(table.pages[r.page], table.layout, table.stride, table.k).run(args, req.q, req.e, req.eNorm, localSlots, a, b - a, emit);
      }
    };

    const pool = this.threads > 1 ? this.pool : null;
    if (!pool || !pool.canScore || n < CPU_DEFAULTS.parallelMinCandidates) {
      runRange(0, n);
      return;
    }
    // The worker takes the second half, the calling thread the first.
    const mid = n >> 1;
    const module = kernelModule() as WebAssembly.Module;
    pool.syncItemPages(module, table.pages.map((p) => p.memory as WebAssembly.Memory), table.layout, table.stride, table.k);
    const jobSlots = pool.slotsFor(n - mid);
    jobSlots.set(localSlots.subarray(mid, n));
    const segments: Segment[] = [];
    for (const r of runs) {
      const a = Math.max(mid, r.from);
      const b = Math.min(n, r.from + r.count);
      if (a < b) segments.push({ page: r.page, from: a - mid, count: b - a });
    }
    const seq = pool.startScore(segments, req.q, req.e, req.eNorm, args);
    runRange(0, mid);
    const out = pool.finishScore(seq, n - mid);
    if (!out) {
      runRange(mid, n);
      return;
    }
    for (let i = 0; i < n - mid; i++) emit(mid + i, out[i * 3], out[i * 3 + 1], out[i * 3 + 2]);
  }

  /** The plain TypeScript loop: the fallback where WebAssembly SIMD is unavailable. */
  scoreScalar(req: PreparedRequest, table: ItemTable, score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array): void {
    const { h, k, stride, slotsPerPage, pages } = table;
    const { alpha, beta } = this.model.manifest;
    if (this.acc.length < h) this.acc = new Float64Array(h);
    const acc = this.acc;
    const q = req.q;
    const e = req.e;
    const eNorm = req.eNorm;
    const eZero = eNorm < ZERO_NORM;
    const slots = req.slots;
    for (let c = 0; c < slots.length; c++) {
      const slot = slots[c];
      const page = pages[(slot / slotsPerPage) | 0];
      const local = slot % slotsPerPage;
      const count = page.meta[local * 2];
      const gNorm = page.metaF32[local * 2 + 1];
      const G = page.globals;
      const gBase = local * stride;
      let dg = 0;
      for (let i = 0; i < h; i++) dg += G[gBase + i] * e[i];
      const cg = eZero || gNorm < ZERO_NORM ? 0 : dg / (eNorm * gNorm);

      const C = page.centroids;
      const base = local * k * stride;
      let sumW = 0;
      for (let j = 0; j < count; j++) {
        const row = base + j * stride;
        let dq = 0;
        for (let i = 0; i < h; i++) dq += C[row + i] * q[i];
        const w = Math.exp(Math.tanh(dq));
        sumW += w;
        if (j === 0) for (let i = 0; i < h; i++) acc[i] = w * C[row + i];
        else for (let i = 0; i < h; i++) acc[i] += w * C[row + i];
      }
      let ll = 0;
      let eDotL = 0;
      for (let i = 0; i < h; i++) {
        ll += acc[i] * acc[i];
        eDotL += acc[i] * e[i];
      }
      const lNorm = Math.sqrt(ll) / sumW;
      const cl = count === 0 || eZero || lNorm < ZERO_NORM ? 0 : eDotL / sumW / (eNorm * lNorm);
      cosGlobal[c] = cg;
      cosLocal[c] = cl;
      score[c] = alpha * cg + beta * cl;
    }
  }

  async globalAttention(centroids: Float32Array, counts: Uint32Array): Promise<{ globals: Float32Array; norms: Float32Array }> {
    const { h, k, attentionSize: s } = this.model.manifest;
    const { globalWeight: Wg, globalVector: wg } = this.model.weights;
    const items = counts.length;
    const globals = new Float32Array(items * h);
    const norms = new Float32Array(items);
    const logits = new Float64Array(k);
    for (let it = 0; it < items; it++) {
      if (it % 16 === 15) await yieldToEventLoop();
      const n = counts[it];
      const base = it * k * h;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const row = base + j * h;
        let logit = 0;
        for (let a = 0; a < s; a++) {
          let z = 0;
          const wRow = a * h;
          for (let i = 0; i < h; i++) z += Wg[wRow + i] * centroids[row + i];
          logit += wg[a] * Math.tanh(z);
        }
        logits[j] = logit;
        if (logit > max) max = logit;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        logits[j] = Math.exp(logits[j] - max);
        sum += logits[j];
      }
      let nn = 0;
      for (let i = 0; i < h; i++) {
        let v = 0;
        for (let j = 0; j < n; j++) v += logits[j] * centroids[base + j * h + i];
        v /= sum;
        globals[it * h + i] = v;
        nn += v * v;
      }
      norms[it] = Math.sqrt(nn);
    }
    return { globals, norms };
  }

  async transform(x: Float32Array, count: number): Promise<Float32Array> {
    const { m, h } = this.model.manifest;
    if (count <= 1024) return transformCpu(this.model, x, count);
    const out = new Float32Array(count * h);
    for (let v = 0; v < count; v += 1024) {
      await yieldToEventLoop();
      const n = Math.min(1024, count - v);
      out.set(transformCpu(this.model, x.subarray(v * m, (v + n) * m), n), v * h);
    }
    return out;
  }

  /** Re-clustering work: yields between items, so serving on the same thread waits at most one item. */
  kmeans(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]> {
    return runKMeansJobs(jobs, dim, maxIterations, tolerance);
  }

  syncSlots(): void {
    // The host table is the CPU backend's storage.
  }

  /**
   * Audience scans run on worker threads (the wasm kernel; `threads` of them) so the event loop
   * stays free, or on this thread with the scalar loop, yielding between blocks.
   */
  scanUsers(job: ScanJob): Promise<ScanHits[]> {
    if (this.kernel === 'scalar') return scanScalar(job);
    return this.workers().scan(job);
  }

  destroy(): void {
    this.pool?.destroy();
  }
}
