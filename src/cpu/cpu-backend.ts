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
import { addPriors, rowsFromScores, TopSelector } from '../core/top-k.js';
import { kernelModule, mainPageKernel, type KernelArgs, type KernelVariant } from './wasm-kernel.js';
import { CpuWorkerPool } from './workers/pool.js';
import type { Segment } from './workers/messages.js';
import { claimChunk, newClaim, runClaimed } from './workers/claim.js';
import { PageOrder } from './page-order.js';
import type { ScanHits, ScanJob } from '../core/scan.js';
import { SCAN_THREADS } from '../core/user-table.js';
import { scanScalar } from './scan-scalar.js';
import { yieldToEventLoop } from '../util/time-slice.js';
import { sameCandidates } from '../core/same-candidates.js';

export { sameCandidates } from '../core/same-candidates.js';

/**
 * `wasm-fma`: the WebAssembly kernel with fused multiply-adds (relaxed SIMD); `wasm`: the
 * WebAssembly SIMD kernel over wasm-memory pages; `scalar`: the plain TypeScript loop.
 */
export type CpuKernel = 'wasm-fma' | 'wasm' | 'scalar';

/** The WebAssembly module variant of a kernel choice (null for the scalar loop). */
export function kernelVariant(kernel: CpuKernel): KernelVariant | null {
  return kernel === 'wasm-fma' ? 'fma' : kernel === 'wasm' ? 'simd' : null;
}

/** The fastest kernel this runtime can run (fused multiply-adds measured 10–15% faster: docs/benchmarks.md). */
export function defaultCpuKernel(): CpuKernel {
  return kernelModule('fma') ? 'wasm-fma' : kernelModule('simd') ? 'wasm' : 'scalar';
}

/** One request's output arrays, in candidate order. */
export interface ScoreOutputs {
  readonly score: Float32Array;
  readonly cosGlobal: Float32Array;
  readonly cosLocal: Float32Array;
}

/**
 * Request `b`'s rows from a batch's outputs (3 floats per page-ordered slot position, per
 * request; `order` maps a position back to the candidate's, identity when null): the best `topK`
 * picked straight from them, or, for every candidate (`topK` 0), all three arrays in candidate
 * order. The same rows as rowsFromScores over arrays filled in candidate order: ties rank by
 * candidate position, whatever order they are offered in. `priors` (per table slot, null for
 * none) are added to the scores of the candidates `slots` (in candidate order) before selection.
 */
export function rowsFromBatch(out: Float32Array, order: Uint32Array | null, B: number, b: number, n: number, topK: number, slots?: Uint32Array, priors: Float32Array | null = null): ScoredRows {
  if (topK === 0) {
    const score = new Float32Array(n);
    const cosGlobal = new Float32Array(n);
    const cosLocal = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const pos = order ? order[i] : i;
      const o = (i * B + b) * 3;
      score[pos] = out[o];
      cosGlobal[pos] = out[o + 1];
      cosLocal[pos] = out[o + 2];
    }
    if (slots) addPriors(score, slots, priors);
    return rowsFromScores(score, cosGlobal, cosLocal, 0);
  }
  const sel = new TopSelector(Math.min(topK, n));
  for (let i = 0; i < n; i++) {
    const o = (i * B + b) * 3;
    const pos = order ? order[i] : i;
    // The float32 sum, as addPriors forms it.
    const s = priors && slots ? Math.fround(out[o] + priors[slots[pos]]) : out[o];
    sel.offer(s, pos, out[o + 1], out[o + 2]);
  }
  const r = sel.result();
  return { index: r.position, score: r.score, cosGlobal: r.cosGlobal, cosLocal: r.cosLocal };
}

/** Candidates per claimed chunk of a job of B requests (workers/claim.ts). */
function chunkFor(B: number, table: ItemTable): number {
  return claimChunk(B, table.k, table.stride, CPU_DEFAULTS.claimChunkWork, CPU_DEFAULTS.claimChunkMin);
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapterName: string;
  readonly kernel: CpuKernel;
  private readonly variant: KernelVariant | null;
  private readonly model: RalmModel;
  private acc = new Float64Array(0);
  private readonly pageOrder = new PageOrder();
  /** Worker threads (wasm kernel only): scans use all of them, a large ranking request one beside the caller. */
  private pool: CpuWorkerPool | null = null;
  private readonly threads: number;
  private readonly offload: boolean;
  private readonly workerNice: number;

  /**
   * `threads` > 1 starts worker threads: scans use up to SCAN_THREADS, a large request one beside
   * the caller (wasm kernel only). With `offload`, ranking runs on the scoring workers while the
   * caller awaits them, so a server's event loop is never held by a batch (see workers/pool.ts).
   * The worker threads run `workerNice` steps below the caller's CPU priority (Linux).
   */
  constructor(model: RalmModel, kernel: CpuKernel = 'scalar', threads = 1, offload = false, workerNice = 0) {
    this.model = model;
    this.workerNice = workerNice;
    this.kernel = kernel;
    this.variant = kernelVariant(kernel);
    this.threads = threads;
    this.offload = offload && threads > 1 && this.variant !== null;
    // Started at once when requests will use it, so the first large request does not wait for a thread to boot.
    if (this.variant && threads > 1) this.workers();
    this.adapterName = this.variant
      ? `cpu (wasm simd${this.variant === 'fma' ? '+fma' : ''}, ${threads} thread${threads > 1 ? 's' : ''}${this.offload ? ', offloaded' : ''})`
      : 'cpu (scalar)';
  }

  private workers(): CpuWorkerPool {
    this.pool ??= new CpuWorkerPool(Math.min(SCAN_THREADS, this.threads), this.variant ?? 'simd', this.workerNice);
    return this.pool;
  }

  /**
   * Requests with the same candidate list (every item, or equal lists) are scored together by the
   * batched kernel, which reads each candidate's rows once for the whole group.
   */
  async run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    const out: ScoredRows[] = new Array(requests.length);
    for (const group of sameCandidates(requests, this.variant ? CPU_DEFAULTS.batchMinCandidates : Infinity)) {
      const reqs = group.map((i) => requests[i]);
      const offloaded = await this.scoreOffloaded(reqs, table);
      if (offloaded) {
        group.forEach((ri, j) => (out[ri] = offloaded[j]));
        continue;
      }
      const n = reqs[0].slots.length;
      const outs = reqs.map(() => ({ score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n) }));
      this.scoreBatchInto(reqs, table, outs);
      outs.forEach((o, j) => addPriors(o.score, reqs[0].slots, table.priorsFor(reqs[j].levels !== false)));
      group.forEach((ri, j) => (out[ri] = rowsFromScores(outs[j].score, outs[j].cosGlobal, outs[j].cosLocal, reqs[j].topK)));
    }
    return out;
  }

  /** Scores every candidate of `req` into the output arrays, in candidate order. */
  scoreInto(req: PreparedRequest, table: ItemTable, score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array): void {
    this.scoreBatchInto([req], table, [{ score, cosGlobal, cosLocal }]);
  }

  /**
   * Scores requests that share one candidate list on the scoring workers, awaiting them, and
   * returns each request's rows; null when this backend does not offload, the job is too small
   * to be worth a hand-off, or the workers cannot take it (a scan holds them, or one failed) —
   * the caller then scores inline.
   */
  private async scoreOffloaded(reqs: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[] | null> {
    const variant = this.variant;
    const pool = this.pool;
    const n = reqs[0].slots.length;
    const B = reqs.length;
    if (!this.offload || !variant || !pool || !table.pages[0]?.memory || n * B < CPU_DEFAULTS.offloadMinScores) return null;
    const available = pool.offloadWorkers;
    if (available === 0) return null;
    const workers = Math.min(available, Math.max(1, Math.floor((n * B * table.k * table.stride) / CPU_DEFAULTS.offloadMinWorkPerWorker)));
    const { localSlots, order, runs } = this.pageOrder.of(reqs[0].slots, table, true);
    const { alpha, beta } = this.model.manifest;
    const args: KernelArgs = { k: table.k, stride: table.stride, alpha, beta, zeroNorm: ZERO_NORM };
    pool.syncItemPages(kernelModule(variant) as WebAssembly.Module, table.pages.map((p) => p.memory as WebAssembly.Memory), table.layout, table.stride, table.k);
    const segments: Segment[] = runs.map((r) => ({ page: r.page, from: r.from, count: r.count }));
    const out = await pool.scoreOffloaded(localSlots, segments, workers, reqs.map((r) => ({ q: r.q, e: r.e, eNorm: r.eNorm })), args, chunkFor(B, table));
    if (!out) return null;
    // Read at once: the outputs stay valid only until the next offloaded job.
    return reqs.map((r, b) => rowsFromBatch(out, order, B, b, n, r.topK, r.slots, table.priorsFor(r.levels !== false)));
  }

  /** Scores requests that share one candidate list (`reqs[0].slots`) into their outputs, in candidate order. */
  scoreBatchInto(reqs: readonly PreparedRequest[], table: ItemTable, outs: readonly ScoreOutputs[]): void {
    const req = reqs[0];
    const variant = this.variant;
    if (!variant || !table.pages[0]?.memory) {
      reqs.forEach((r, b) => this.scoreScalar(r, table, outs[b].score, outs[b].cosGlobal, outs[b].cosLocal));
      return;
    }
    const B = reqs.length;
    const { alpha, beta } = this.model.manifest;
    const args: KernelArgs = { k: table.k, stride: table.stride, alpha, beta, zeroNorm: ZERO_NORM };
    const n = req.slots.length;
    const { localSlots, order, runs } = this.pageOrder.of(req.slots, table, false);
    const emitTo = (b: number, i: number, s: number, g: number, l: number): void => {
      const pos = order ? order[i] : i;
      const o = outs[b];
      o.score[pos] = s;
      o.cosGlobal[pos] = g;
      o.cosLocal[pos] = l;
    };
    const emit = (i: number, s: number, g: number, l: number): void => emitTo(0, i, s, g, l);
    const runRange = (lo: number, hi: number): void => {
      for (const r of runs) {
        const a = Math.max(lo, r.from);
        const b = Math.min(hi, r.from + r.count);
        if (a >= b) continue;
        const pk = mainPageKernel(table.pages[r.page], table.layout, table.stride, table.k, variant);
        if (B === 1) pk.run(args, req.q, req.e, req.eNorm, localSlots, a, b - a, emit);
        else pk.runBatch(args, reqs, localSlots, a, b - a, emitTo);
      }
    };

    const pool = this.threads > 1 ? this.pool : null;
    if (!pool || !pool.canScore || n < CPU_DEFAULTS.parallelMinCandidates) {
      runRange(0, n);
      return;
    }
    // This thread and the worker claim chunks of the candidates until none is left (workers/claim.ts).
    const module = kernelModule(variant) as WebAssembly.Module;
    pool.syncItemPages(module, table.pages.map((p) => p.memory as WebAssembly.Memory), table.layout, table.stride, table.k);
    // The job's output area holds (candidate × B + user) triples: room for n × B.
    pool.slotsFor(n, B).set(localSlots.subarray(0, n));
    const segments: Segment[] = runs.map((r) => ({ page: r.page, from: r.from, count: r.count }));
    const claim = newClaim();
    const chunk = chunkFor(B, table);
    pool.startScore(segments, reqs.map((r) => ({ q: r.q, e: r.e, eNorm: r.eNorm })), args, claim, chunk, n);
    const taken: number[] = [];
    runClaimed(claim, chunk, n, segments, (_page, from, count) => runRange(from, from + count), taken);
    const out = pool.finishScore(claim, n, B);
    // The chunks this thread did not take were the worker's: read its outputs, or score them here if it failed.
    for (let t = 0, at = 0; at < n; t += 2) {
      const end = t < taken.length ? taken[t] : n;
      if (at < end) {
        if (!out) runRange(at, end);
        else {
          for (let i = at; i < end; i++) {
            for (let b = 0; b < B; b++) {
              const o = (i * B + b) * 3;
              emitTo(b, i, out[o], out[o + 1], out[o + 2]);
            }
          }
        }
      }
      at = t < taken.length ? taken[t + 1] : n;
    }
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
