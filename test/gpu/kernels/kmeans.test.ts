import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KMeansJob } from '../../../src/core/backend.js';
import { bookIteration, planKMeans, unpackKMeans, type KMeansProgress } from '../../../src/gpu/kernels/kmeans.js';

const dim = 3; // padded to a stride of 8
const job = (n: number, count: number, base: number): KMeansJob => ({
  points: Float32Array.from({ length: n * dim }, (_, i) => base + i),
  n,
  init: Float32Array.from({ length: count * dim }, (_, i) => -base - i),
  count,
});

describe('k-means planner', () => {
  it('pads rows, records each point\'s job and places each start at its job\'s k rows', () => {
    const jobs = [job(2, 2, 100), job(3, 1, 200)];
    const plan = planKMeans(jobs, dim, 4);
    assert.equal(plan.stride, 8);
    assert.equal(plan.total, 5);
    assert.deepEqual(plan.params, { total: 5, item_count: 2, k: 4, row_vec4: 2 });
    assert.deepEqual(Array.from(plan.points.subarray(8, 16)), [103, 104, 105, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(plan.pointItem), [0, 0, 1, 1, 1]);
    assert.deepEqual(Array.from(plan.items), [2, 0, 2, 1, 1, 2, 3, 1]);
    assert.equal(plan.centroids.length, 2 * 4 * 8);
    assert.deepEqual(Array.from(plan.centroids.subarray(4 * 8, 4 * 8 + 3)), [-200, -201, -202]);
    assert.throws(() => planKMeans([job(2, 5, 0)], dim, 4), /job 0: 5 starting centroids, the model's k is 4/);
  });

  it('books iterations: converges on few changes after an update, stops at the cap, leaves stopped jobs alone', () => {
    const jobs = [job(10, 2, 0), job(10, 2, 0), job(10, 2, 0)];
    const items = planKMeans(jobs, dim, 2).items;
    const progress: KMeansProgress = { iterations: new Uint32Array(3), converged: new Uint8Array(3) };
    // The first submission only assigns: nothing can converge yet.
    assert.equal(bookIteration(jobs, items, progress, Uint32Array.from([10, 10, 10]), false, 2, 0.1), 3);
    assert.deepEqual(Array.from(progress.iterations), [0, 0, 0]);
    // Job 0 changed 1 ≤ 0.1 · 10 assignments: converged.
    assert.equal(bookIteration(jobs, items, progress, Uint32Array.from([1, 5, 5]), true, 2, 0.1), 2);
    assert.deepEqual([items[3], items[7], items[11]], [0, 1, 1]);
    // The cap: jobs 1 and 2 stop unconverged; job 0 is not counted again.
    assert.equal(bookIteration(jobs, items, progress, Uint32Array.from([0, 5, 0]), true, 2, 0.1), 0);
    assert.deepEqual(Array.from(progress.iterations), [1, 2, 2]);
    assert.deepEqual(Array.from(progress.converged), [1, 0, 1]);
  });

  it('unpacks centroids to compact rows and assignments per job', () => {
    const jobs = [job(2, 1, 0), job(1, 2, 0)];
    const plan = planKMeans(jobs, dim, 2);
    const centroids = Float32Array.from({ length: plan.centroids.length }, (_, i) => i);
    const runs = unpackKMeans(jobs, centroids, Uint32Array.from([1, 0, 1]), plan, dim, 2, { iterations: Uint32Array.from([3, 4]), converged: Uint8Array.from([1, 0]) });
    assert.deepEqual(Array.from(runs[0].centroids), [0, 1, 2]);
    assert.deepEqual(Array.from(runs[1].centroids), [16, 17, 18, 24, 25, 26]);
    assert.deepEqual(Array.from(runs[0].assignments), [1, 0]);
    assert.deepEqual(Array.from(runs[1].assignments), [1]);
    assert.deepEqual([runs[0].iterations, runs[0].converged, runs[1].converged], [3, true, false]);
  });
});
