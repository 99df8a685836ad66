/**
 * A seed set turned into what the user scan needs. Scoring user u against seed set S (centroids
 * C_j, j < c, global vector g) is the item score with the roles of the table swapped, and most of
 * it can be folded into the seed set once:
 *
 *   C_j · q_u = C_j · (W_l e_u) = (W_lᵀ C_j) · e_u = A_j · e_u          (A_j computed once per set)
 *   w_j       = exp(tanh(A_j · e_u))
 *   e_u · L   = Σ_j w_j (C_j · e_u)
 *   |L|²      = wᵀ G w,  G_ij = C_i · C_j                            (the Gram matrix, once per set)
 *   cos_g     = (ĝ · e_u) / |e_u|,  ĝ = g / |g|
 *
 * so a user costs 2c + 1 dot products of width h (the rows of D = [A; C; ĝ]) and a c × c
 * quadratic form, reads only e_u (and its norm), and needs no q_u stored beside it.
 * The zero rule is the engine's: |e_u|, |g| or |L|/Σw below ZERO_NORM gives a cosine of 0.
 */
import type { RalmModel } from '../model/model.js';
import { ZERO_NORM } from '../model/reference.js';
import { paddedStride } from './item-table.js';

export interface PreparedSeedSet {
  /** Centroids c (1 ≤ c ≤ k). */
  readonly count: number;
  /** Rows of D: 2c + 1 rounded up to a multiple of 4 (padding rows are zero). */
  readonly rows: number;
  /** D = [A (c rows); C (c rows); ĝ (1 row); zero rows], rows × stride. */
  readonly d: Float32Array;
  /** G, kPad × kPad (kPad = c rounded up to a multiple of 4; padding is zero). */
  readonly gram: Float32Array;
  readonly kPad: number;
  readonly stride: number;
}

/** Folds a seed set's centroids (count rows of width h) and global vector into D and G. */
export function prepareSeedSet(model: RalmModel, centroids: Float32Array, count: number, global: Float32Array): PreparedSeedSet {
  const { h } = model.manifest;
  const stride = paddedStride(h);
  const rows = Math.ceil((2 * count + 1) / 4) * 4;
  const kPad = Math.ceil(count / 4) * 4;
  const d = new Float32Array(rows * stride);
  const W = model.weights.localWeight;
  const acc = new Float64Array(h);
  for (let j = 0; j < count; j++) {
    acc.fill(0);
    for (let o = 0; o < h; o++) {
      const c = centroids[j * h + o];
      if (c === 0) continue;
      for (let i = 0; i < h; i++) acc[i] += c * W[o * h + i];
    }
    for (let i = 0; i < h; i++) d[j * stride + i] = acc[i];
    for (let i = 0; i < h; i++) d[(count + j) * stride + i] = centroids[j * h + i];
  }
  let gg = 0;
  for (let i = 0; i < h; i++) gg += global[i] * global[i];
  const gn = Math.sqrt(gg);
  if (gn >= ZERO_NORM) for (let i = 0; i < h; i++) d[2 * count * stride + i] = global[i] / gn;
  const gram = new Float32Array(kPad * kPad);
  for (let a = 0; a < count; a++) {
    for (let b = a; b < count; b++) {
      let s = 0;
      for (let i = 0; i < h; i++) s += centroids[a * h + i] * centroids[b * h + i];
      gram[a * kPad + b] = s;
      gram[b * kPad + a] = s;
    }
  }
  return { count, rows, d, gram, kPad, stride };
}
