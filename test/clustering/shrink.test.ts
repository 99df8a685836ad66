import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { shrinkCentroids } from '../../src/clustering/shrink.js';

describe('shrinkCentroids', () => {
  // Two centroids of width 2: the first the mean of one point, the second of three.
  const c = { centroids: Float32Array.from([1, 0, 0, 1, 9, 9]), count: 2, assignments: Uint32Array.from([0, 1, 1, 1]) };
  const prior = Float32Array.from([0, 0]);

  it('moves each centroid toward the prior by λ / (n_j + λ)', () => {
    assert.deepEqual(Array.from(shrinkCentroids(c, 2, prior, 1)), [0.5, 0, 0, 0.75]);
    assert.deepEqual(Array.from(shrinkCentroids(c, 2, Float32Array.from([1, 1]), 3)), [1, 0.75, 0.5, 1]);
  });

  it('λ = 0 returns the valid rows unchanged, as a copy', () => {
    const out = shrinkCentroids(c, 2, prior, 0);
    assert.deepEqual(Array.from(out), [1, 0, 0, 1]);
    out[0] = 7;
    assert.equal(c.centroids[0], 1);
  });

  it('rejects a prior of the wrong width and a negative strength', () => {
    assert.throws(() => shrinkCentroids(c, 2, Float32Array.from([0]), 1), RangeError);
    assert.throws(() => shrinkCentroids(c, 2, prior, -1), RangeError);
  });
});
