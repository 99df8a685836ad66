import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kmeans, distinctRows } from '../../src/clustering/kmeans.js';
import { Rng } from '../../src/util/rng.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { smallModel, targetsUnderTest, assertClose } from '../helpers/fixtures.js';

/** Gaussian blobs around `centers` random centres. */
function blobs(n: number, dim: number, centers: number, seed: number, spread = 0.05): Float32Array {
  const rng = new Rng(seed);
  const c = rng.normals(centers * dim, 1);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const m = rng.int(centers);
    for (let d = 0; d < dim; d++) out[i * dim + d] = c[m * dim + d] + rng.normal() * spread;
  }
  return out;
}

describe('k-means (CPU)', () => {
  it('4 points, k = 2: the known answer whatever the seed', () => {
    const pts = Float32Array.of(0, 0, 0, 1, 10, 0, 10, 1);
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = kmeans(pts, 4, 2, { k: 2, seed });
      const cs = [Array.from(r.centroids.subarray(0, 2)), Array.from(r.centroids.subarray(2, 4))].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(cs, [[0, 0.5], [10, 0.5]]);
      assert.equal(r.assignments[0], r.assignments[1]);
      assert.notEqual(r.assignments[1], r.assignments[2]);
      assert.ok(r.converged);
    }
  });

  it('k or fewer distinct points: one centroid per distinct point', () => {
    const pts = Float32Array.of(1, 2, 1, 2, 3, 4, 1, 2);
    const r = kmeans(pts, 4, 2, { k: 3 });
    assert.equal(r.count, 2);
    assert.deepEqual(Array.from(r.centroids), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(r.assignments), [0, 0, 1, 0]);
    assert.equal(distinctRows(Float32Array.of(0, -0), 2, 1).count, 2); // bit patterns, not values
  });

  it('many points but at most k distinct ones: exactly the distinct points become centroids', () => {
    const rows = [Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(-1, -1)];
    const pts = new Float32Array(200 * 2);
    for (let i = 0; i < 200; i++) pts.set(rows[(i * 7) % 3], i * 2);
    const r = kmeans(pts, 200, 2, { k: 5, seed: 2 });
    assert.equal(r.count, 3);
    const got = [0, 1, 2].map((c) => Array.from(r.centroids.subarray(c * 2, c * 2 + 2)).join(',')).sort();
    assert.deepEqual(got, ['-1,-1', '0,1', '1,0']);
    for (let i = 0; i < 200; i++) assert.deepEqual(Array.from(r.centroids.subarray(r.assignments[i] * 2, r.assignments[i] * 2 + 2)), Array.from(rows[(i * 7) % 3]));
  });

  it('invariants on random data: centroids are the means of their points, inertia never increases', () => {
    const dim = 8;
    const n = 500;
    const pts = blobs(n, dim, 6, 3, 0.5);
    const r = kmeans(pts, n, dim, { k: 5, seed: 9, maxIterations: 100 });
    assert.ok(r.converged);
    for (let i = 1; i < r.inertia.length; i++) assert.ok(r.inertia[i] <= r.inertia[i - 1] * (1 + 1e-9), `inertia rose at ${i}`);
    for (let c = 0; c < r.count; c++) {
      const mean = new Float64Array(dim);
      let size = 0;
      for (let i = 0; i < n; i++) {
        if (r.assignments[i] !== c) continue;
        size++;
        for (let d = 0; d < dim; d++) mean[d] += pts[i * dim + d];
      }
      assert.ok(size > 0);
      assertClose(r.centroids.subarray(c * dim, (c + 1) * dim), Array.from(mean, (v) => v / size), `centroid ${c}`, 1e-5, 1e-5);
    }
  });

  it('a warm start from converged centroids converges after one update, to the same answer', () => {
    const dim = 4;
    const pts = blobs(300, dim, 4, 5, 0.2);
    const a = kmeans(pts, 300, dim, { k: 4, seed: 1, maxIterations: 100 });
    const b = kmeans(pts, 300, dim, { k: 4, init: a.centroids, initCount: a.count });
    assert.equal(b.iterations, 1);
    assert.deepEqual(Array.from(b.assignments), Array.from(a.assignments));
  });

  it('is deterministic for a seed, and the iteration cap holds', () => {
    const pts = blobs(200, 3, 10, 7, 1);
    assert.deepEqual(Array.from(kmeans(pts, 200, 3, { k: 6, seed: 4 }).assignments), Array.from(kmeans(pts, 200, 3, { k: 6, seed: 4 }).assignments));
    const capped = kmeans(pts, 200, 3, { k: 6, seed: 4, maxIterations: 1 });
    assert.ok(capped.iterations <= 1);
  });
});

for (const target of await targetsUnderTest()) {
  describe(`engine.clusterPoints on ${target.label}`, () => {
    it('matches the CPU k-means from the same start: same assignments, close centroids', async () => {
      const model = smallModel({ seed: 91 });
      const { h, k } = model.manifest;
      const engine = await RalmEngine.create(model, { recoverDevice: false, ...target.options });
      const sizes = [1, 3, 5, 6, 40, 257, 1000];
      const items = sizes.map((n, i) => ({ points: blobs(n, h, 7, 100 + i, 0.1), n }));
      // One item warm-started from a previous (perturbed) solution.
      const prev = kmeans(items[5].points, items[5].n, h, { k, seed: 2 });
      const warm = { ...items[5], init: prev.centroids.map((v) => v + 0.01), initCount: prev.count };
      const got = await engine.clusterPoints([...items, warm], { seed: 3, maxIterations: 30 });
      const want = [...items, warm].map((it) => kmeans(it.points, it.n, h, { k, seed: 3, maxIterations: 30, init: (it as typeof warm).init ?? null, initCount: (it as typeof warm).initCount ?? 0 }));
      got.forEach((g, i) => {
        assert.equal(g.count, want[i].count, `item ${i} count`);
        assert.deepEqual(Array.from(g.assignments), Array.from(want[i].assignments), `item ${i} assignments`);
        assertClose(g.centroids, want[i].centroids, `item ${i} centroids`, 1e-5, 1e-4);
        assert.equal(g.converged, want[i].converged);
      });
      assert.deepEqual(engine.gpuErrors, []);
      await engine.close();
    });
  });
}
