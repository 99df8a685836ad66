/**
 * Clustering several items' points at once, on whichever backend runs Lloyd's iterations: the
 * one path the engine (re-clustering seeds), audience expansion and stage-2 training share.
 * The start of every item is computed here on the host (see ./kmeans.ts for the rules); items
 * with k or fewer distinct points keep one centroid per distinct point and never reach the backend.
 */
import type { KMeansJob, KMeansRun } from '../core/backend.js';
import { RalmError } from '../util/errors.js';
import { fewDistinct, initialCentroids } from './kmeans.js';

/** One item's points to cluster: n rows of width dim, and optionally its previous centroids. */
export interface ClusterInput {
  points: Float32Array;
  n: number;
  init?: Float32Array | null;
  initCount?: number;
}

export interface ClusterOptions {
  /** Iteration cap. Default 25. */
  maxIterations?: number;
  /** Converged when at most this fraction of points changed cluster. Default 0. */
  tolerance?: number;
  /** Seed of k-means++. Default 1. */
  seed?: number;
}

export const CLUSTER_DEFAULTS: Required<ClusterOptions> = { maxIterations: 25, tolerance: 0, seed: 1 };

export interface ClusterResult {
  /** `count` rows of width dim (the buffer may hold more rows; only `count` are valid). */
  centroids: Float32Array;
  count: number;
  assignments: Uint32Array;
  iterations: number;
  converged: boolean;
}

/** Runs Lloyd's iterations for a batch of started items (a backend's `kmeans`). */
export type KMeansRunner = (jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number) => Promise<KMeansRun[]>;

/** Clusters each item's points into at most `k` centroids of width `dim`. */
export async function clusterBatch(run: KMeansRunner, items: readonly ClusterInput[], dim: number, k: number, options: ClusterOptions = {}): Promise<ClusterResult[]> {
  const o = { ...CLUSTER_DEFAULTS, ...options };
  const out: ClusterResult[] = new Array(items.length);
  const jobs: KMeansJob[] = [];
  const jobOf: number[] = [];
  items.forEach((it, i) => {
    if (it.points.length !== it.n * dim) throw new RalmError('RALM_ERR_DIMENSION', `items[${i}].points: expected ${it.n} rows of ${dim} values, got ${it.points.length} values`);
    const d = fewDistinct(it.points, it.n, dim, k);
    if (d) {
      out[i] = { centroids: d.rows, count: d.count, assignments: d.index, iterations: 0, converged: true };
      return;
    }
    const start = initialCentroids(it.points, it.n, dim, { k, seed: o.seed, init: it.init ?? null, initCount: it.initCount ?? 0 });
    jobs.push({ points: it.points, n: it.n, init: start.centroids, count: start.count });
    jobOf.push(i);
  });
  if (jobs.length > 0) {
    const runs = await run(jobs, dim, o.maxIterations, o.tolerance);
    runs.forEach((r, j) => {
      out[jobOf[j]] = { centroids: r.centroids, count: jobs[j].count, assignments: r.assignments, iterations: r.iterations, converged: r.converged };
    });
  }
  return out;
}
