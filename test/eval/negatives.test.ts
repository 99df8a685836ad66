import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cumulativeWeights, exposureNegatives, uniformNegatives } from '../../src/eval/negatives.js';
import { Rng } from '../../src/util/rng.js';

describe('AUC negatives', () => {
  it('uniform: distinct, never excluded, ascending; all of them when few are free', () => {
    const excluded = new Set([0, 3, 5]);
    const few = uniformNegatives(8, excluded, 10, new Rng(1));
    assert.deepEqual(Array.from(few), [1, 2, 4, 6, 7]);
    const some = uniformNegatives(1000, excluded, 50, new Rng(2));
    assert.equal(new Set(some).size, 50);
    assert.ok(some.every((c, i) => !excluded.has(c) && (i === 0 || c > some[i - 1])));
  });

  it('exposure: in proportion to the weights, distinct, never excluded or of zero weight', () => {
    const w = [0, 1, 2, 3, 4, 0, 10];
    const cum = cumulativeWeights(w);
    const seen = new Float64Array(w.length);
    const rng = new Rng(3);
    const n = 20_000;
    for (let t = 0; t < n; t++) for (const c of exposureNegatives(cum, new Set([6]), 1, rng)) seen[c]++;
    assert.equal(seen[0] + seen[5] + seen[6], 0);
    for (const c of [1, 2, 3, 4]) assert.ok(Math.abs(seen[c] / n - w[c] / 10) < 0.015, `position ${c}: ${seen[c] / n}`);
    const all = exposureNegatives(cum, new Set([1]), 10, new Rng(4));
    assert.deepEqual(Array.from(all), [2, 3, 4, 6], 'every free position of positive weight, once');
  });
});
