/**
 * The CPU backend: the same operations as the WGSL kernels, in TypeScript over typed arrays.
 * It is the fallback when no adapter exists (or the device is lost) and the oracle the GPU
 * results are checked against. The scoring loop allocates nothing per candidate.
 *
 * Local attention runs in one pass over each item's rows: because the logits are tanh-bounded
 * to [-1, 1], exp() cannot overflow and the softmax needs no running maximum, so each row is
 * read once for both dot products (with q and with e) and accumulated into the unnormalised
 * local vector L = Σ w_j C_j while it is still in cache. The normaliser Σ w_j cancels in the
 * cosine: cos(e, L/Σw) = (Σ w_j e·C_j) / (|e| |L|).
 */
import type { Backend, PreparedRequest, ScoredRows } from '../engine/backend.js';
import type { ItemTable } from '../engine/item-table.js';
import type { RalmModel } from '../model/model.js';
import { ZERO_NORM } from '../model/reference.js';
import { selectTopK } from './top-k.js';

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapterName = 'cpu';
  private readonly model: RalmModel;
  private acc = new Float64Array(0);

  constructor(model: RalmModel) {
    this.model = model;
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
    if (req.topK === 0) {
      const index = new Uint32Array(n);
      for (let i = 0; i < n; i++) index[i] = i;
      return { index, score, cosGlobal, cosLocal };
    }
    const index = selectTopK(score, req.topK);
    return {
      index,
      score: Float32Array.from(index, (i) => score[i]),
      cosGlobal: Float32Array.from(index, (i) => cosGlobal[i]),
      cosLocal: Float32Array.from(index, (i) => cosLocal[i]),
    };
  }

  /** The hot loop. */
  scoreInto(req: PreparedRequest, table: ItemTable, score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array): void {
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
      let eDotL = 0;
      for (let j = 0; j < count; j++) {
        const row = base + j * stride;
        let dq = 0;
        let de = 0;
        for (let i = 0; i < h; i++) {
          const v = C[row + i];
          dq += v * q[i];
          de += v * e[i];
        }
        const w = Math.exp(Math.tanh(dq));
        sumW += w;
        eDotL += w * de;
        if (j === 0) for (let i = 0; i < h; i++) acc[i] = w * C[row + i];
        else for (let i = 0; i < h; i++) acc[i] += w * C[row + i];
      }
      let ll = 0;
      for (let i = 0; i < h; i++) ll += acc[i] * acc[i];
      const lNorm = Math.sqrt(ll) / sumW;
      const cl = eZero || lNorm < ZERO_NORM ? 0 : eDotL / sumW / (eNorm * lNorm);
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
    return transformCpu(this.model, x, count);
  }

  syncSlots(): void {
    // The host table is the CPU backend's storage.
  }

  destroy(): void {
    // Nothing to release.
  }
}

/** PReLU(W_t x + b_t) for `count` row vectors of width m. */
export function transformCpu(model: RalmModel, x: Float32Array, count: number): Float32Array {
  const { h, m } = model.manifest;
  const { transformWeight: W, transformBias: b, transformPrelu: p } = model.weights;
  const out = new Float32Array(count * h);
  for (let v = 0; v < count; v++) {
    const xb = v * m;
    for (let o = 0; o < h; o++) {
      let z = b[o];
      const wr = o * m;
      for (let i = 0; i < m; i++) z += W[wr + i] * x[xb + i];
      out[v * h + o] = z >= 0 ? z : p[o] * z;
    }
  }
  return out;
}
