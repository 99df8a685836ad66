/**
 * Negatives for AUC: which candidates a user's clicked items are compared with.
 *
 *   uniform:  every candidate the user never clicked is equally likely — the usual offline AUC,
 *             which rewards knowing what is popular (a popular item is rarely a negative, often
 *             a positive);
 *   exposure: every candidate the user never clicked, weighted by its clicks, as an impression
 *             log would show them — the comparison a deployed ranker faces, where the items a
 *             user saw and passed over are mostly the popular ones. Popularity alone scores
 *             about 0.5 here. Computed exactly (`weightedAuc`), not sampled.
 *
 * Uniform negatives are distinct candidates drawn without replacement from a stream seeded by
 * (seed, user) only, so every method meets the same negatives.
 */
import { Rng } from '../util/rng.js';

/** A seed for (seed, user): murmur3's finalizer, so neighbouring users get unrelated streams. */
export function userSeed(seed: number, u: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ (u >>> 0);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Up to `count` distinct positions in [0, C) outside `excluded`, uniformly. */
export function uniformNegatives(C: number, excluded: ReadonlySet<number>, count: number, rng: Rng): Uint32Array {
  const free = C - excluded.size;
  if (free <= 2 * count) {
    // Few to choose from: list them and take a seeded sample (or all).
    const pool: number[] = [];
    for (let c = 0; c < C; c++) if (!excluded.has(c)) pool.push(c);
    const n = Math.min(count, pool.length);
    return Uint32Array.from(rng.shuffle(pool, n).slice(0, n)).sort();
  }
  // Many: rejection sampling touches only O(count) candidates.
  const picked = new Set<number>();
  while (picked.size < count) {
    const c = rng.int(C);
    if (!excluded.has(c)) picked.add(c);
  }
  return Uint32Array.from(picked).sort();
}

/**
 * AUC against weighted negatives: the probability that a positive outscores a negative drawn in
 * proportion to `weights` (ties count ½), averaged over the positives — the expectation of the
 * sampled AUC, without the sampling. NaN with no positive or no weight.
 */
export function weightedAuc(pos: ArrayLike<number>, neg: ArrayLike<number>, weights: ArrayLike<number>): number {
  let total = 0;
  for (let j = 0; j < neg.length; j++) total += weights[j];
  if (pos.length === 0 || !(total > 0)) return NaN;
  let sum = 0;
  for (let i = 0; i < pos.length; i++) {
    let below = 0;
    for (let j = 0; j < neg.length; j++) below += neg[j] < pos[i] ? weights[j] : neg[j] === pos[i] ? 0.5 * weights[j] : 0;
    sum += below / total;
  }
  return sum / pos.length;
}
