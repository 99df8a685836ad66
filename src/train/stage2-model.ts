/**
 * Stage 2's model on TensorFlow.js: the parameters (T, W_l, W_g, w_g, the calibration), the
 * forward pass that scores users against items' centroids exactly as the engine does (local and
 * global attention, two cosines, the blend), the input scaling folded into T on export, and the
 * trainer's own scorer for parity checks. The training loop is stage2.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { RalmModel } from '../model/model.js';
import { randomModel } from '../model/random.js';
import { tfReady, variableFrom } from './tf-kernels.js';

export interface Centroids {
  /** [items, k, h] */
  c: Float32Array;
  /**
   * [items, k]: each row's weight in the attention softmaxes — 0 for an empty slot, 1 for a valid
   * centroid (what the engine serves); a cluster's seed count weighs the softmax by cluster size
   * (the size diagnostic, Stage2Options.sizeDiagnostic).
   */
  mask: Float32Array;
}

/**
 * The trainable parameters. `blend` is θ when the blend is learned: α = σ(θ), β = 1 − α (the
 * ranking depends only on α / (α + β)); null when α and β are fixed.
 */
export interface Params {
  wt: tf.Variable; bt: tf.Variable; pt: tf.Variable; wl: tf.Variable; wg: tf.Variable; vg: tf.Variable; scale: tf.Variable; bias: tf.Variable;
  blend: tf.Variable | null;
}

/** The variables the optimiser updates, in a fixed order (the order of `weightsOf`). */
export function paramList(p: Params): tf.Variable[] {
  return [p.wt, p.bt, p.pt, p.wl, p.wg, p.vg, p.scale, p.bias, ...(p.blend ? [p.blend] : [])];
}

/** θ with σ(θ) = α / (α + β). */
export function blendLogit(alpha: number, beta: number): number {
  const a = Math.min(1 - 1e-4, Math.max(1e-4, alpha / (alpha + beta)));
  return Math.log(a / (1 - a));
}

/** α and β of a parameter set (the learned blend's, or the fixed ones). */
export function blendOf(p: Params, alpha: number, beta: number): { alpha: number; beta: number } {
  if (!p.blend) return { alpha, beta };
  const a = 1 / (1 + Math.exp(-p.blend.dataSync()[0]));
  return { alpha: a, beta: 1 - a };
}

/**
 * The starting weights: `random` (a seeded random model, as before training) or `identity` —
 * T = identity on the (scaled) input, W_l = I / zz (zz: the mean squared length of the scaled
 * inputs, so the local logits start inside tanh's range), W_g random and w_g = 0 (the global
 * vector is the centroids' mean). W_g is random rather than 0 because with both at 0 neither
 * has a gradient (each one's is proportional to the other), and the global attention could never
 * leave the mean; with w_g = 0 the scores are the same either way. `identity` needs h = m.
 * `scale` is where the learned logit scale starts (the cosines are in [−1, 1]).
 */
export function initParams(m: number, h: number, s: number, seed: number, init: 'random' | 'identity' = 'random', zz = 1, blend: number | null = null, scale = 5): Params {
  const r = randomModel({ h, m, k: 1, attentionSize: s, seed }).weights;
  // Unnamed: tfjs names must be unique per process, and a run holds the identity configuration beside its own weights.
  const v = (a: Float32Array, shape: number[], _name: string): tf.Variable => variableFrom(a, shape, true);
  const eye = (n: number, d: number): Float32Array => {
    const a = new Float32Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = d;
    return a;
  };
  const id = init === 'identity';
  return {
    wt: v(id ? eye(m, 1) : r.transformWeight, [h, m], 'wt'), bt: v(new Float32Array(h), [h], 'bt'), pt: v(new Float32Array(h).fill(id ? 1 : 0.25), [h], 'pt'),
    wl: v(id ? eye(h, 1 / Math.max(zz, 1e-6)) : r.localWeight, [h, h], 'wl'), wg: v(r.globalWeight, [s, h], 'wg'),
    vg: v(id ? new Float32Array(s) : r.globalVector, [s], 'vg'),
    scale: v(Float32Array.of(scale), [], 'scale'), bias: v(Float32Array.of(0), [], 'bias'),
    blend: blend === null ? null : v(Float32Array.of(blend), [], 'blend'),
  };
}

/** Which of stage 2's weights train (stage2-model.ts trainableParams). */
export type Trainable = 'all' | 'attention' | 'bias';

/**
 * The variables a step updates: every one; (`attention`) all but the transform T, which then
 * stays where it started — with the identity start, the attention units and the calibration
 * learn on top of the identity configuration's geometry; or (`bias`) those and T's bias b_t, a
 * direction every user shares: centroids that average many seeds lean to it more than
 * single-seed ones, so b_t is how a cosine score can learn to favour items with many clickers.
 */
export function trainableParams(p: Params, train: Trainable): tf.Variable[] {
  if (train === 'all') return paramList(p);
  return paramList(p).filter((v) => v !== p.wt && v !== p.pt && (train === 'bias' || v !== p.bt));
}

/** e = PReLU(x W_tᵀ + b_t). */
export function transform(p: Params, x: tf.Tensor2D): tf.Tensor2D {
  const z = tf.add(tf.matMul(x, p.wt, false, true), p.bt) as tf.Tensor2D;
  return tf.prelu(z, p.pt as unknown as tf.Tensor2D); // alpha [h] broadcasts over the batch
}

/**
 * Masked softmax over the last axis of logits that are already bounded (tanh / finite); the mask
 * broadcasts to the logits and weighs each term (0: left out; 1: as is; w: w·e^logit).
 */
export function maskedSoftmax<T extends tf.Tensor>(logits: T, mask: tf.Tensor): T {
  const last = logits.shape.length - 1;
  // Invalid slots are pushed far down before the max (no branch: a boolean op has no gradient).
  const max = tf.max(tf.add(logits, tf.mul(tf.sub(tf.minimum(mask, 1), 1), 1e9)), last, true);
  const ex = tf.mul(tf.exp(tf.sub(logits, max)), mask);
  return tf.div(ex, tf.add(tf.sum(ex, last, true), 1e-12)) as T;
}

export function cosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  const dot = tf.sum(tf.mul(a, b), 1);
  const na = tf.sqrt(tf.add(tf.sum(tf.square(a), 1), 1e-12));
  const nb = tf.sqrt(tf.add(tf.sum(tf.square(b), 1), 1e-12));
  return tf.div(dot, tf.mul(na, nb)) as tf.Tensor1D;
}

/** RALM's score for a batch: users x [B, m], their items' centroids c [B, k, h] and mask [B, k]. */
export function forwardScore(p: Params, x: tf.Tensor2D, c: tf.Tensor3D, mask: tf.Tensor2D, alpha: number, beta: number, dropout = 0, dropoutSeed = 0): tf.Tensor1D {
  let e = transform(p, x);
  // Seeded, so that training is deterministic given its seed.
  if (dropout > 0) e = tf.dropout(e, dropout, undefined, dropoutSeed) as tf.Tensor2D;
  const [B, k, h] = c.shape;
  const q = tf.matMul(e, p.wl, false, true); // [B, h]
  const logits = tf.squeeze(tf.matMul(c, tf.reshape(q, [B, h, 1])), [2]) as tf.Tensor2D; // [B, k]
  const a = maskedSoftmax(tf.tanh(logits), mask);
  const local = tf.squeeze(tf.matMul(tf.reshape(a, [B, 1, k]), c), [1]) as tf.Tensor2D;
  const act = tf.tanh(tf.matMul(tf.reshape(c, [B * k, h]), p.wg, false, true)); // [B·k, s]
  const gl = tf.reshape(tf.matMul(act, tf.reshape(p.vg, [-1, 1])), [B, k]) as tf.Tensor2D;
  const g = maskedSoftmax(gl, mask);
  const global = tf.squeeze(tf.matMul(tf.reshape(g, [B, 1, k]), c), [1]) as tf.Tensor2D;
  if (p.blend) {
    const a = tf.sigmoid(p.blend);
    return tf.add(tf.mul(cosine(e, global), a), tf.mul(cosine(e, local), tf.sub(1, a))) as tf.Tensor1D;
  }
  return tf.add(tf.mul(cosine(e, global), alpha), tf.mul(cosine(e, local), beta)) as tf.Tensor1D;
}

/**
 * Every candidate item's tensors for scoring users against all of them at once (scoreMatrix):
 * centroids [I, k, h], flattened [I·k, h] and transposed [h, I·k] (users multiply it as is: a
 * transposed operand costs a transpose per product, tf-kernels.ts), mask [I, k] and each item's
 * centroid Gram matrix [I, k, k]. None depends on a trained weight (the centroids are fixed
 * between re-clusterings), so one set serves every batch of an epoch. Dispose with
 * disposeCandidates.
 */
export interface CandidateTensors {
  c: tf.Tensor3D;
  flat: tf.Tensor2D;
  flatT: tf.Tensor2D;
  mask: tf.Tensor2D;
  gram: tf.Tensor3D;
}

export function candidateTensors(cent: Centroids, I: number, k: number, h: number): CandidateTensors {
  return tf.tidy(() => {
    const c = tf.tensor3d(cent.c, [I, k, h]);
    const flat = tf.reshape(c, [I * k, h]) as tf.Tensor2D;
    return { c, flat, flatT: tf.transpose(flat), mask: tf.tensor2d(cent.mask, [I, k]), gram: tf.matMul(c, c, false, true) as tf.Tensor3D };
  });
}

export function disposeCandidates(t: CandidateTensors): void {
  for (const v of [t.c, t.flat, t.flatT, t.mask, t.gram]) v.dispose();
}

/** Every candidate's global vector (global attention over its centroids), at unit length: [I, h]. It depends on W_g and w_g only, not on the user. */
export function globalUnits(p: Params, t: CandidateTensors): tf.Tensor2D {
  const [I, k, h] = t.c.shape;
  const gl = tf.reshape(tf.matMul(tf.tanh(tf.matMul(t.flat, p.wg, false, true)), tf.reshape(p.vg, [-1, 1])), [I, k]);
  const g = maskedSoftmax(gl, t.mask);
  const gv = tf.reshape(tf.matMul(tf.reshape(g, [I, 1, k]), t.c), [I, h]);
  return tf.div(gv, tf.sqrt(tf.add(tf.sum(tf.square(gv), 1, true), 1e-12))) as tf.Tensor2D;
}

/**
 * RALM's scores of users x [n, m] against every candidate, [n, I]: forwardScore on every (user,
 * item) pair without copying centroids per pair — the local vector's length comes from the
 * item's Gram matrix (|Σ a_j C_j|² = aᵀ G a). Differentiable, so the listwise objective
 * (stage2-listwise.ts) trains through it; `gUnit` is globalUnits(p, t).
 */
export function scoreMatrix(p: Params, x: tf.Tensor2D, t: CandidateTensors, gUnit: tf.Tensor2D, alpha: number, beta: number, dropout = 0, dropoutSeed = 0): tf.Tensor2D {
  const n = x.shape[0];
  const [I, k] = t.mask.shape;
  let e = transform(p, x);
  if (dropout > 0) e = tf.dropout(e, dropout, undefined, dropoutSeed) as tf.Tensor2D;
  const en = tf.sqrt(tf.add(tf.sum(tf.square(e), 1, true), 1e-12)); // [n, 1]
  const q = tf.matMul(e, p.wl, false, true);
  const att = maskedSoftmax(tf.tanh(tf.reshape(tf.matMul(q, t.flatT), [n, I, k])), t.mask); // [n, I, k]
  const dots = tf.reshape(tf.matMul(e, t.flatT), [n, I, k]);
  const num = tf.sum(tf.mul(att, dots), 2); // [n, I]
  const at = tf.transpose(att, [1, 0, 2]); // [I, n, k]
  const len2 = tf.transpose(tf.sum(tf.mul(tf.matMul(at, t.gram), at), 2)); // [n, I]
  const cosL = tf.div(num, tf.mul(en, tf.sqrt(tf.add(len2, 1e-12))));
  const cosG = tf.div(tf.matMul(e, gUnit, false, true), en);
  if (p.blend) {
    const a = tf.sigmoid(p.blend);
    return tf.add(tf.mul(cosG, a), tf.mul(cosL, tf.sub(1, a))) as tf.Tensor2D;
  }
  return tf.add(tf.mul(cosG, alpha), tf.mul(cosL, beta)) as tf.Tensor2D;
}

/** A linear input scaling z = P (x − μ) (P is m × m, row-major), and its fold into the transform. */
export interface InputScaling {
  mu: Float64Array;
  p: Float64Array;
  apply(x: Float32Array): Float32Array;
  /** W' = W P and b' = b − W' μ: T applied to raw x equals the trained T applied to z. */
  fold(w: Float32Array, b: Float32Array, h: number): { transformWeight: Float32Array; transformBias: Float32Array };
}

export function inputScaling(x: Float32Array, n: number, m: number, kind: 'whiten' | 'standardize' | 'none'): InputScaling {
  const mu = new Float64Array(m);
  const p = new Float64Array(m * m);
  if (kind === 'none') {
    for (let d = 0; d < m; d++) p[d * m + d] = 1;
  } else {
    for (let u = 0; u < n; u++) for (let d = 0; d < m; d++) mu[d] += x[u * m + d] / n;
    const cov = new Matrix(m, m);
    for (let u = 0; u < n; u++) {
      for (let a = 0; a < m; a++) {
        const va = x[u * m + a] - mu[a];
        if (kind === 'standardize') cov.set(a, a, cov.get(a, a) + (va * va) / n);
        else for (let b = a; b < m; b++) cov.set(a, b, cov.get(a, b) + (va * (x[u * m + b] - mu[b])) / n);
      }
    }
    if (kind === 'standardize') {
      for (let d = 0; d < m; d++) p[d * m + d] = cov.get(d, d) > 1e-12 ? 1 / Math.sqrt(cov.get(d, d)) : 1;
    } else {
      for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) cov.set(a, b, cov.get(b, a));
      const eig = new EigenvalueDecomposition(cov, { assumeSymmetric: true });
      const lam = eig.realEigenvalues;
      const vecs = eig.eigenvectorMatrix;
      const floor = Math.max(1e-12, 1e-6 * Math.max(...lam));
      for (let j = 0; j < m; j++) {
        const s = 1 / Math.sqrt(Math.max(lam[j], floor));
        for (let d = 0; d < m; d++) p[j * m + d] = vecs.get(d, j) * s;
      }
    }
  }
  return {
    mu, p,
    apply(xs: Float32Array): Float32Array {
      if (kind === 'none') return xs;
      const rows = xs.length / m;
      const z = new Float32Array(xs.length);
      const c = new Float64Array(m);
      for (let u = 0; u < rows; u++) {
        for (let d = 0; d < m; d++) c[d] = xs[u * m + d] - mu[d];
        for (let j = 0; j < m; j++) {
          let s = 0;
          for (let d = 0; d < m; d++) s += p[j * m + d] * c[d];
          z[u * m + j] = s;
        }
      }
      return z;
    },
    fold(w: Float32Array, b: Float32Array, h: number) {
      const transformWeight = new Float32Array(h * m);
      const transformBias = new Float32Array(h);
      for (let r = 0; r < h; r++) {
        let shift = 0;
        for (let d = 0; d < m; d++) {
          let v = 0;
          for (let j = 0; j < m; j++) v += w[r * m + j] * p[j * m + d];
          transformWeight[r * m + d] = v;
          shift += v * mu[d];
        }
        transformBias[r] = b[r] - shift;
      }
      return { transformWeight, transformBias };
    },
  };
}

/** The trainer's own score (no dropout) for users x [n, m] against centroids [n, k, h] — for parity checks. */
export async function scoreWithWeights(model: RalmModel, x: Float32Array, c: Float32Array, mask: Float32Array, n: number): Promise<Float32Array> {
  await tfReady();
  const { h, m, k, attentionSize: s, alpha, beta } = model.manifest;
  const w = model.weights;
  const p: Params = {
    wt: variableFrom(w.transformWeight, [h, m], false), bt: variableFrom(w.transformBias, [h], false),
    pt: variableFrom(w.transformPrelu.length === 1 ? new Float32Array(h).fill(w.transformPrelu[0]) : w.transformPrelu, [h], false),
    wl: variableFrom(w.localWeight, [h, h], false), wg: variableFrom(w.globalWeight, [s, h], false),
    vg: variableFrom(w.globalVector, [s], false), scale: variableFrom(Float32Array.of(1), [], false), bias: variableFrom(Float32Array.of(0), [], false),
    blend: null,
  };
  try {
    const out = tf.tidy(() => forwardScore(p, tf.tensor2d(x, [n, m]), tf.tensor3d(c, [n, k, h]), tf.tensor2d(mask, [n, k]), alpha, beta));
    const r = out.dataSync().slice() as Float32Array;
    out.dispose();
    return r;
  } finally {
    for (const v of paramList(p)) v.dispose();
  }
}
