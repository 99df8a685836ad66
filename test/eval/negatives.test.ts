import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniformNegatives, weightedAuc } from '../../src/eval/negatives.js';
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

  it('exposure: the AUC against every negative weighted by its exposure, exactly', () => {
    // One positive at 0.5; negatives 0.1 (weight 1), 0.5 (weight 2, a tie), 0.9 (weight 1).
    assert.equal(weightedAuc([0.5], [0.1, 0.5, 0.9], [1, 2, 1]), (1 + 0.5 * 2) / 4);
    assert.equal(weightedAuc([0.2, 1], [0.1, 0.5], [3, 1]), (3 / 4 + 1) / 2);
    assert.ok(Number.isNaN(weightedAuc([1], [0.5], [0])));
    assert.ok(Number.isNaN(weightedAuc([], [0.5], [1])));
  });
});
