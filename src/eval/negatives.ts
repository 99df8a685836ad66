/**
 * Negatives for AUC: which candidates a user's clicked items are compared with.
 *
 *   uniform:  every candidate the user never clicked is equally likely — the usual offline AUC,
 *             which rewards knowing what is popular (a popular item is rarely a negative, often
 *             a positive);
 *   exposure: candidates drawn in proportion to their clicks, as an impression log would show
 *             them — the comparison a deployed ranker faces, where the items a user saw and
 *             passed over are mostly the popular ones. Popularity alone scores about 0.5 here.
 *
 * Both draw distinct candidates without replacement from a stream seeded by (seed, user) only,
 * so every method meets the same negatives, and return positions, ascending.
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

/** Cumulative sums of non-negative weights, for `exposureNegatives`. */
export function cumulativeWeights(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) out[i] = acc += Math.max(0, weights[i]);
  return out;
}

/**
 * Up to `count` distinct positions outside `excluded`, each draw in proportion to its weight
 * (`cumulative` from cumulativeWeights) among those not yet drawn: successive draws without
 * replacement. Positions of zero weight are never drawn.
 */
export function exposureNegatives(cumulative: Float64Array, excluded: ReadonlySet<number>, count: number, rng: Rng): Uint32Array {
  const C = cumulative.length;
  const total = C ? cumulative[C - 1] : 0;
  const weight = (c: number): number => cumulative[c] - (c > 0 ? cumulative[c - 1] : 0);
  let freeMass = total;
  let freeCount = 0;
  for (let c = 0; c < C; c++) if (weight(c) > 0) freeCount++;
  for (const c of excluded) if (c < C && weight(c) > 0) { freeMass -= weight(c); freeCount--; }
  const picked = new Set<number>();
  const n = Math.min(count, freeCount);
  // Rejection while the free mass is a fair share of the total; otherwise walk the free positions.
  while (picked.size < n && freeMass > 0.25 * total) {
    const x = rng.next() * total;
    let lo = 0;
    let hi = C - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    if (excluded.has(lo) || picked.has(lo) || weight(lo) <= 0) continue;
    picked.add(lo);
    freeMass -= weight(lo);
  }
  while (picked.size < n) {
    let x = rng.next() * freeMass;
    let chosen = -1;
    for (let c = 0; c < C; c++) {
      if (excluded.has(c) || picked.has(c) || weight(c) <= 0) continue;
      chosen = c;
      x -= weight(c);
      if (x < 0) break;
    }
    if (chosen < 0) break;
    picked.add(chosen);
    freeMass -= weight(chosen);
  }
  return Uint32Array.from(picked).sort();
}
