/**
 * Shrinkage of an item's centroids toward a prior: centroid j, the mean of its n_j seeds, becomes
 * (n_j c_j + λ p) / (n_j + λ) — the posterior mean of a cluster centre under a prior centred on
 * p worth λ pseudo-seeds. A centroid built from one or two seeds is one or two users' taste, far
 * noisier than a centroid of fifty, and a cosine against it is lower for everyone; shrinking it
 * toward the population's mean embedding (p) puts few-seed items on the scale of many-seed ones
 * while a well-supported centroid barely moves.
 */
export interface ShrinkInput {
  centroids: Float32Array;
  count: number;
  /** Per point: its centroid. */
  assignments: Uint32Array;
}

/** The shrunk centroids (count × dim, a new array); λ = 0 returns a copy. */
export function shrinkCentroids(c: ShrinkInput, dim: number, prior: Float32Array, strength: number): Float32Array {
  if (prior.length !== dim) throw new RangeError(`shrinkCentroids: prior has ${prior.length} values, expected ${dim}`);
  if (!(strength >= 0)) throw new RangeError(`shrinkCentroids: strength must be ≥ 0, got ${strength}`);
  const out = c.centroids.slice(0, c.count * dim);
  if (strength === 0) return out;
  const sizes = new Uint32Array(c.count);
  for (const a of c.assignments) if (a < c.count) sizes[a]++;
  for (let j = 0; j < c.count; j++) {
    const w = sizes[j] / (sizes[j] + strength);
    for (let d = 0; d < dim; d++) out[j * dim + d] = w * out[j * dim + d] + (1 - w) * prior[d];
  }
  return out;
}
