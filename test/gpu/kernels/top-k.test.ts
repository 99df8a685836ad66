/**
 * The top-K pass planner, checked by running its plan through a CPU model of top-k.wgsl (sort a
 * tile best-first, keep the first `keep`; gather the survivors into rows).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planTopK, unpackRows, type TopKPlan, type TopKSource } from '../../../src/gpu/kernels/top-k.js';
import { GPU_LIMITS } from '../../../src/gpu/limits.js';
import { Rng } from '../../../src/util/rng.js';

type Pair = [score: number, position: number];
const better = (a: Pair, b: Pair): number => b[0] - a[0] || a[1] - b[1];

/** What the select and gather entry points compute for `plan`; results hold one (score, cos_g, cos_l, 0) per position. */
function runPlan(plan: TopKPlan, results: Float32Array): Array<Array<[position: number, score: number, cosGlobal: number]>> {
  const d = plan.descs;
  let src: Pair[] = [];
  for (const pass of plan.passes) {
    const dst: Pair[] = [];
    for (let t = 0; t < pass.tiles; t++) {
      const at = (Number(pass.params.desc_offset) + 2 * t) * 4;
      const [start, count, dstStart, posBase, keepAll] = [d[at], d[at + 1], d[at + 2], d[at + 3], d[at + 4]];
      const tile: Pair[] = Array.from({ length: count }, (_, e) => (pass.params.first_pass ? [results[(start + e) * 4], posBase + e] : src[start + e]));
      tile.sort(better);
      for (let e = 0; e < Math.min(keepAll, count); e++) dst[dstStart + e] = tile[e];
    }
    src = dst;
  }
  return Array.from({ length: plan.gather.lists }, (_, r) => {
    const at = (Number(plan.gather.params.desc_offset) + r) * 4;
    const [start, count, resultsOffset] = [d[at], d[at + 1], d[at + 2]];
    return Array.from({ length: count }, (_, e) => {
      const [score, pos] = src[start + e];
      return [pos, score, results[(resultsOffset + pos) * 4 + 1]];
    });
  });
}

function expected(results: Float32Array, sources: readonly TopKSource[], offsets: Uint32Array): Array<Array<[number, number, number]>> {
  return sources.map((s, r) => {
    const pairs: Pair[] = Array.from({ length: s.count }, (_, i) => [results[(offsets[r] + i) * 4], i]);
    return pairs.sort(better).slice(0, Math.min(s.keep, s.count)).map(([score, pos]) => [pos, score, results[(offsets[r] + pos) * 4 + 1]]);
  });
}

function scores(total: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const f = new Float32Array(total * 4);
  // Rounded scores: many ties, which must break by lower position.
  for (let i = 0; i < total; i++) f.set([Math.round(rng.normal() * 8) / 8, rng.normal(), rng.normal(), 0], i * 4);
  return f;
}

function offsetsOf(sources: readonly TopKSource[]): Uint32Array {
  const o = new Uint32Array(sources.length + 1);
  sources.forEach((s, i) => (o[i + 1] = o[i] + s.count));
  return o;
}

describe('top-K planner', () => {
  it('one select pass when every list fits a tile', () => {
    const sources = [{ count: 5, keep: 3 }, { count: 1024, keep: 10 }, { count: 0, keep: 4 }];
    const plan = planTopK(sources, offsetsOf(sources));
    assert.equal(plan.passes.length, 1);
    assert.equal(plan.passes[0].tiles, 3);
    assert.deepEqual(plan.kept, [3, 10, 0]);
    assert.equal(plan.rowCount, 13);
    assert.deepEqual(plan.gather.params, { tile_count: 3, desc_offset: 6, first_pass: 0, _pad: 0 });
  });

  it('re-tiles survivors until each list fits one tile, and selects like a full sort', () => {
    const tile = 8;
    for (const sources of [
      [{ count: 20, keep: 3 }],
      [{ count: 200, keep: 4 }, { count: 7, keep: 4 }, { count: 9, keep: 1 }, { count: 1, keep: 4 }],
      [{ count: 64, keep: 4 }, { count: 65, keep: 2 }, { count: 0, keep: 3 }],
    ]) {
      const offsets = offsetsOf(sources);
      const results = scores(offsets[sources.length], sources.length);
      const plan = planTopK(sources, offsets, tile);
      assert.ok(plan.passes.length > 1);
      assert.equal(plan.passes[0].params.first_pass, 1);
      assert.ok(plan.passes.slice(1).every((p) => p.params.first_pass === 0));
      assert.deepEqual(runPlan(plan, results), expected(results, sources, offsets));
      assert.ok(plan.pairs <= offsets[sources.length]);
    }
  });

  it('at the GPU limits: K = maxTopK over several full tiles', () => {
    const sources = [{ count: 3001, keep: GPU_LIMITS.maxTopK }, { count: 1025, keep: 10 }];
    const offsets = offsetsOf(sources);
    const results = scores(offsets[2], 5);
    const plan = planTopK(sources, offsets);
    assert.equal(plan.passes.length, 3);
    assert.deepEqual(runPlan(plan, results), expected(results, sources, offsets));
  });

  it('unpacks gathered rows into one result per list', () => {
    const raw = new ArrayBuffer(3 * 16);
    const u = new Uint32Array(raw);
    const f = new Float32Array(raw);
    [[4, 0.5, 0.25, 0.75], [9, 0.25, 0.5, 0.125], [2, -1, 0, 1]].forEach(([p, s, g, l], i) => {
      u[i * 4] = p;
      f.set([s, g, l], i * 4 + 1);
    });
    const [a, b] = unpackRows(raw, [2, 1]);
    assert.deepEqual(Array.from(a.index), [4, 9]);
    assert.deepEqual(Array.from(a.score), [0.5, 0.25]);
    assert.deepEqual(Array.from(a.cosLocal), [0.75, 0.125]);
    assert.deepEqual(Array.from(b.index), [2]);
    assert.deepEqual(Array.from(b.cosGlobal), [0]);
  });
});
