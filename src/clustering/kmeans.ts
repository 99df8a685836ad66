/**
 * k-means (Lloyd's algorithm) for clustering an item's seed users into k centroids. Every backend
 * follows the same rules — the CPU's (src/cpu/kmeans.ts, also the test oracle) and the WGSL one
 * (`shaders/kmeans.wgsl`) — so that, from the same start, both make the same assignments:
 * - the start is computed on the host (warm start from the previous centroids, topped up by
 *   k-means++ with a seeded RNG);
 * - a point goes to the nearest centroid, ties to the lower index;
 * - an empty cluster keeps its previous centroid;
 * - the run stops when at most `tolerance · n` assignments changed, or at the iteration cap.
 */
import { Rng } from '../util/rng.js';
import { lloyd, sqDist } from '../cpu/kmeans.js';

export interface KMeansOptions {
  k: number;
  /** Iteration cap. Default 25. */
  maxIterations?: number;
  /** Converged when at most this fraction of the points changed cluster. Default 0 (none). */
  tolerance?: number;
  /** Seed of the k-means++ start. Default 1. */
  seed?: number;
  /** Warm start: previous centroids (rows of width dim); topped up with k-means++ when fewer than k. */
  init?: Float32Array | null;
  initCount?: number;
}

export interface KMeansResult {
  /** `count` rows of width dim. */
  centroids: Float32Array;
  count: number;
  assignments: Uint32Array;
  iterations: number;
  converged: boolean;
  /** Sum of squared distances to the assigned centroid, after each assignment step. */
  inertia: number[];
}

/**
 * The distinct rows when there are at most k of them, else null. The exact scan runs only for
 * small n: with more points, k-means++ picks every distinct point at most once (its distance
 * drops to 0) and stops when all coincide with a centroid, which yields the same centroids.
 */
export function fewDistinct(points: Float32Array, n: number, dim: number, k: number): ReturnType<typeof distinctRows> | null {
  if (n > 4 * k) return null;
  const d = distinctRows(points, n, dim);
  return d.count <= k ? d : null;
}

/** Removes exact duplicate rows (first occurrence kept). */
export function distinctRows(points: Float32Array, n: number, dim: number): { rows: Float32Array; count: number; index: Uint32Array } {
  const seen = new Map<string, number>();
  const keep: number[] = [];
  const index = new Uint32Array(n);
  const bytes = Buffer.from(points.buffer, points.byteOffset, n * dim * 4);
  for (let i = 0; i < n; i++) {
    // latin1 maps each byte to one code point: equal keys ⇔ equal bit patterns.
    const key = bytes.toString('latin1', i * dim * 4, (i + 1) * dim * 4);
    const at = seen.get(key);
    if (at === undefined) {
      seen.set(key, keep.length);
      index[i] = keep.length;
      keep.push(i);
    } else {
      index[i] = at;
    }
  }
  const rows = new Float32Array(keep.length * dim);
  keep.forEach((src, j) => rows.set(points.subarray(src * dim, (src + 1) * dim), j * dim));
  return { rows, count: keep.length, index };
}

/** k-means++ seeding, continuing from `have` existing centroids already in `centroids`. */
export function kmeansPlusPlus(points: Float32Array, n: number, dim: number, k: number, rng: Rng, centroids: Float32Array, have: number): number {
  let count = have;
  const best = new Float64Array(n).fill(Infinity);
  for (let c = 0; c < count; c++) for (let i = 0; i < n; i++) best[i] = Math.min(best[i], sqDist(points, i * dim, centroids, c * dim, dim));
  if (count === 0) {
    const first = rng.int(n);
    centroids.set(points.subarray(first * dim, (first + 1) * dim), 0);
    count = 1;
    for (let i = 0; i < n; i++) best[i] = sqDist(points, i * dim, centroids, 0, dim);
  }
  while (count < k) {
    let total = 0;
    for (let i = 0; i < n; i++) total += best[i];
    if (total === 0) break; // every point already coincides with a centroid
    let r = rng.next() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= best[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
    centroids.set(points.subarray(pick * dim, (pick + 1) * dim), count * dim);
    for (let i = 0; i < n; i++) best[i] = Math.min(best[i], sqDist(points, i * dim, centroids, count * dim, dim));
    count++;
  }
  return count;
}

/** The starting centroids for `points` (warm start and/or k-means++), as the GPU path also uses. */
export function initialCentroids(points: Float32Array, n: number, dim: number, o: KMeansOptions): { centroids: Float32Array; count: number } {
  const k = Math.min(o.k, n);
  const centroids = new Float32Array(o.k * dim);
  let have = 0;
  if (o.init && (o.initCount ?? 0) > 0) {
    have = Math.min(o.initCount ?? 0, k);
    centroids.set(o.init.subarray(0, have * dim));
  }
  const count = have < k ? kmeansPlusPlus(points, n, dim, k, new Rng(o.seed ?? 1), centroids, have) : have;
  return { centroids, count };
}

/**
 * Clusters n points of width dim into at most k centroids. With k or fewer distinct points, the
 * distinct points themselves are the centroids (one per distinct seed).
 */
export function kmeans(points: Float32Array, n: number, dim: number, options: KMeansOptions): KMeansResult {
  if (n === 0) return { centroids: new Float32Array(0), count: 0, assignments: new Uint32Array(0), iterations: 0, converged: true, inertia: [] };
  const distinct = fewDistinct(points, n, dim, options.k);
  if (distinct) {
    return { centroids: distinct.rows, count: distinct.count, assignments: distinct.index, iterations: 0, converged: true, inertia: [0] };
  }
  const { centroids, count } = initialCentroids(points, n, dim, options);
  const r = lloyd(points, n, dim, centroids, count, options.maxIterations ?? 25, options.tolerance ?? 0);
  return { centroids: centroids.slice(0, count * dim), count, ...r };
}
