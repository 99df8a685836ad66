/**
 * Stage 2's listwise objective (`objective: 'full'`): the task the ranking validation and
 * `ralm eval` measure, trained on directly. Each example row is a target user and one item it
 * clicked (a positive; the epoch's seed/target split of stage2-data.ts, so the user is never
 * among that item's seeds). The row's user, embedded without that item, is scored against every
 * item of the epoch's list at once (scoreMatrix), and the loss is the full softmax
 *
 *   −log( exp(z_pos) / (exp(z_pos) + Σ_{j not clicked by the user} exp(z_j)) ),
 *   z_j = scale · (score_j + offset_j),
 *
 * with the user's other clicked items (training clicks, other positives and seed items alike)
 * left out of the denominator: they are not wrong answers, and pushing them down is what the
 * sampled softmax could only do by chance. `offset` is the served prior λ·ln(1 + clickers)
 * (stage2-loss.ts explains why the served score belongs in the loss).
 *
 * Why the full softmax: the sampled softmax over the target's item and 20 popularity-drawn items
 * was learned (its loss fell) while prec@10 over every candidate with the prior did not move
 * (docs/quality.md, "What makes stage 2 improve on its start"): a sampled softmax is a biased
 * estimate of the full one, its negatives weighting items by how they were drawn (Bengio &
 * Senécal, IEEE TNN 2008, https://doi.org/10.1109/TNN.2007.912312). With ≈ 1,000 candidates the
 * exact softmax is affordable: one score matrix of a batch's rows against every candidate.
 *
 * Rows are grouped by user (a user's rows are consecutive, users in a seeded order), so a batch
 * holds few users and each user's denominator mask is built once a batch (softmaxMask). Each row's user
 * is embedded without the row's item (the leakage rule), so x is per row, not per user.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { clicked, shuffleFromEnd, type TrainItem } from './stage2-data.js';
import type { Csr } from './click-factors.js';
import { candidateTensors, disposeCandidates, globalUnits, scoreMatrix, type Centroids, type Params } from './stage2-model.js';

/**
 * The mean listwise loss of rows of scores [R, I] (tf, differentiable): row r's positive is
 * candidate `pos[r]`, `inSoftmax` ([R, I], row-major) is 1 for the candidates in its denominator
 * (its positive included), 0 for those left out. `offset` (one value a candidate, or null) is
 * added to every row's scores before the scale, times `offsetWeight` (a learned λ, or 1).
 */
export function listwiseLoss(scores: tf.Tensor2D, scale: tf.Tensor | number, pos: Int32Array, inSoftmax: Float32Array, offset: Float32Array | null, offsetWeight: tf.Tensor | number = 1): tf.Scalar {
  const [R, I] = scores.shape;
  const served = offset ? tf.add(scores, tf.mul(tf.tensor1d(offset), offsetWeight)) : scores;
  const logits = tf.mul(served, scale);
  // Built here rather than by tf.oneHot: the WebAssembly backend's float32 oneHot writes the
  // integer 1's bits (1.4e-45), which the unit test caught.
  const onehot = new Float32Array(R * I);
  pos.forEach((j, r) => { onehot[r * I + j] = 1; });
  const zPos = tf.sum(tf.mul(logits, tf.tensor2d(onehot, [R, I])), 1);
  // Left-out candidates are pushed far below before logSumExp (its max shift keeps it exact); their
  // share of the softmax, and so their gradient, is exp(−1e9): none.
  const masked = tf.add(logits, tf.mul(tf.sub(tf.tensor2d(inSoftmax, [R, I]), 1), 1e9));
  return tf.mean(tf.sub(tf.logSumExp(masked, 1), zPos)) as tf.Scalar;
}

/** Per row (user, positive position), 1 for the candidates in its softmax: the positive and every item of `list` the user never clicked. */
export function softmaxMask(byUser: Csr, list: readonly TrainItem[], users: ArrayLike<number>, pos: ArrayLike<number>): Float32Array {
  const I = list.length;
  const out = new Float32Array(users.length * I);
  let last = -1;
  let row = new Float32Array(I);
  for (let r = 0; r < users.length; r++) {
    if (users[r] !== last) {
      last = users[r];
      row = Float32Array.from(list, (t) => (clicked(byUser, last, t.item) ? 0 : 1));
    }
    out.set(row, r * I);
    out[r * I + pos[r]] = 1;
  }
  return out;
}

/** Row order for an epoch: rows grouped by user, the users in a seeded random order, each user's rows in their given order. */
export function rowsByUser(users: Int32Array, rng: Rng): Int32Array {
  const byUser = new Map<number, number[]>();
  users.forEach((u, r) => {
    const l = byUser.get(u);
    if (l) l.push(r);
    else byUser.set(u, [r]);
  });
  const order = shuffleFromEnd([...byUser.keys()].sort((a, b) => a - b), rng);
  return Int32Array.from(order.flatMap((u) => byUser.get(u) ?? []));
}

export interface ListwiseEpoch {
  p: Params;
  optimizer: tf.Optimizer;
  vars: tf.Variable[];
  /** The epoch's items (candidates) and their centroids from this epoch's seeds. */
  list: readonly TrainItem[];
  cent: Centroids;
  k: number;
  h: number;
  m: number;
  /** Rows: target user and positive's position in `list`. */
  users: Int32Array;
  items: Int32Array;
  byUser: Csr;
  /** Scaled x of rows, each user without the row's item (dataset id). */
  xRows: (users: Int32Array, leaveOut: Int32Array) => Promise<Float32Array>;
  offset: Float32Array | null;
  /** A learned weight of the offset (the prior's λ, trained beside the attention units; then also in `vars`), or null. */
  offsetWeight: tf.Variable | null;
  alpha: number;
  beta: number;
  dropout: number;
  /** Seeds the row order and each batch's dropout. */
  seed: number;
  /** L2 pull toward these values of the first `vars` (same order), with weight `pull`; null: none. */
  anchor: tf.Tensor[] | null;
  pull: number;
  onBatch?: (done: number, lossSum: number, batches: number) => void;
}

/**
 * One epoch of the listwise objective: batches of rows (rows × candidates × k ≈ 2M, so the
 * [rows, I, k] attention tensors and their gradients stay bounded whatever I), one Adam step each.
 * Returns the summed batch losses and the batch count.
 */
export async function listwiseEpoch(o: ListwiseEpoch): Promise<{ lossSum: number; batches: number }> {
  const I = o.list.length;
  const perBatch = Math.max(1, Math.floor(2_000_000 / Math.max(1, I * o.k)));
  const order = rowsByUser(o.users, new Rng(o.seed));
  const t = candidateTensors(o.cent, I, o.k, o.h);
  let lossSum = 0;
  let batches = 0;
  try {
    for (let r0 = 0; r0 < order.length; r0 += perBatch) {
      const idx = order.subarray(r0, r0 + perBatch);
      const users = Int32Array.from(idx, (r) => o.users[r]);
      const pos = Int32Array.from(idx, (r) => o.items[r]);
      const leaveOut = Int32Array.from(pos, (j) => o.list[j].item);
      const xb = tf.tensor2d(await o.xRows(users, leaveOut), [idx.length, o.m]);
      const inSoftmax = softmaxMask(o.byUser, o.list, users, pos);
      const dropoutSeed = o.seed * 1_000_003 + batches;
      const loss = o.optimizer.minimize(() => {
        const s = scoreMatrix(o.p, xb, t, globalUnits(o.p, t), o.alpha, o.beta, o.dropout, dropoutSeed);
        const l = listwiseLoss(s, o.p.scale, pos, inSoftmax, o.offset, o.offsetWeight ?? 1);
        return o.anchor && o.pull > 0 ? tf.add(l, tf.mul(o.pull, pullToward(o.vars.slice(0, o.anchor.length), o.anchor))) as tf.Scalar : l;
      }, true, o.vars);
      lossSum += (loss as tf.Scalar).dataSync()[0];
      batches++;
      loss?.dispose();
      xb.dispose();
      o.onBatch?.(Math.min(order.length, r0 + perBatch), lossSum, batches);
    }
  } finally {
    disposeCandidates(t);
  }
  return { lossSum, batches };
}

/** Σ ‖v − v₀‖² over the variables: a pull toward where training started (weight decay toward the start, not toward 0). */
export function pullToward(vars: readonly tf.Variable[], start: readonly tf.Tensor[]): tf.Scalar {
  let s: tf.Scalar = tf.scalar(0);
  vars.forEach((v, j) => { s = tf.add(s, tf.sum(tf.square(tf.sub(v, start[j])))) as tf.Scalar; });
  return s;
}
