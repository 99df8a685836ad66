import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  auc, catalogCoverage, categoryDiversity, headItems, hitRateAtK, hitsAtK, listCategories, longTailShare, meanSpread, precisionAtK, recallAtK,
} from '../../src/eval/metrics.js';
import { Rng } from '../../src/util/rng.js';

const close = (actual: number, expected: number, tol = 1e-12): void => assert.ok(Math.abs(actual - expected) <= tol, `${actual} ≠ ${expected}`);

/** AUC by definition: every (positive, negative) pair, ties ½. */
function pairwiseAuc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

describe('auc', () => {
  it('is 1 for perfect separation, 0 reversed, ½ for all-equal scores', () => {
    assert.equal(auc([3, 4], [1, 2]), 1);
    assert.equal(auc([1, 2], [3, 4]), 0);
    assert.equal(auc([5, 5], [5, 5, 5]), 0.5);
  });

  it('counts ties as half (hand-computed)', () => {
    // pos 2 vs neg {1, 2, 3}: 1 + ½ + 0; pos 3 vs neg: 1 + 1 + ½. Total 4 of 6 pairs.
    close(auc([2, 3], [1, 2, 3]), 4 / 6);
    // Repeated positives tied with repeated negatives.
    close(auc([1, 1, 2], [1, 1]), (0.5 * 2 + 0.5 * 2 + 2) / 6);
    close(auc(new Float32Array([0.5]), new Float32Array([0.5, 0.25, 0.75, 0.5])), (0.5 + 1 + 0 + 0.5) / 4);
  });

  it('takes ±Infinity as extreme scores and rejects NaN naming the side and index', () => {
    assert.equal(auc([Infinity], [1e300, -Infinity]), 1);
    assert.equal(auc([-Infinity], [-Infinity]), 0.5);
    assert.throws(() => auc([1, NaN], [0]), /positive score at index 1 is NaN/);
    assert.throws(() => auc([1], [0, 0, NaN]), /negative score at index 2 is NaN/);
  });

  it('is undefined (NaN) without positives or without negatives', () => {
    assert.ok(Number.isNaN(auc([], [1])));
    assert.ok(Number.isNaN(auc([1], [])));
  });

  it('matches the pairwise definition on random scores with many ties', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 50; t++) {
      const pos = Array.from({ length: 1 + rng.int(30) }, () => rng.int(8));
      const neg = Array.from({ length: 1 + rng.int(30) }, () => rng.int(8));
      close(auc(pos, neg), pairwiseAuc(pos, neg), 1e-12);
    }
  });
});

describe('precision, recall and hit rate at K', () => {
  const ranked = [10, 11, 12, 13, 14];
  const clicked = new Set([11, 14, 99]);

  it('uses the paper\'s min(K, |clicked|) denominator for precision', () => {
    // top-2 = {10, 11}: 1 hit; min(2, 3) = 2.
    assert.equal(precisionAtK(ranked, clicked, 2), 1 / 2);
    // top-5: 2 hits; min(5, 3) = 3.
    assert.equal(precisionAtK(ranked, clicked, 5), 2 / 3);
    assert.equal(recallAtK(ranked, clicked, 2), 1 / 3);
    assert.equal(recallAtK(ranked, clicked, 5), 2 / 3);
    assert.equal(hitRateAtK(ranked, clicked, 1), 0);
    assert.equal(hitRateAtK(ranked, clicked, 2), 1);
  });

  it('takes the whole list when K is larger than it', () => {
    assert.equal(hitsAtK(ranked, clicked, 100), 2);
    assert.equal(precisionAtK(ranked, clicked, 100), 2 / 3);
    assert.equal(recallAtK(ranked, clicked, 100), 2 / 3);
    assert.equal(precisionAtK([], clicked, 10), 0);
  });

  it('reaches 1 when every clicked item leads the list, whatever K', () => {
    const one = new Set([12]);
    assert.equal(precisionAtK([12, 1, 2], one, 10), 1);
    assert.equal(recallAtK([12, 1, 2], one, 1), 1);
  });

  it('counts a repeated item once', () => {
    assert.equal(hitsAtK([11, 11, 11], clicked, 3), 1);
    assert.equal(precisionAtK([11, 11, 14], clicked, 3), 2 / 3);
  });

  it('is undefined (NaN) for an empty clicked set and rejects a K that is not a positive integer', () => {
    const none = new Set<number>();
    assert.ok(Number.isNaN(precisionAtK(ranked, none, 3)));
    assert.ok(Number.isNaN(recallAtK(ranked, none, 3)));
    assert.ok(Number.isNaN(hitRateAtK(ranked, none, 3)));
    assert.throws(() => precisionAtK(ranked, clicked, 0), /K: expected a positive integer, got 0/);
    assert.throws(() => recallAtK(ranked, clicked, 2.5), /K: expected a positive integer/);
  });
});

describe('long tail, coverage, diversity', () => {
  it('takes the fewest most-clicked items reaching the share as the head, ties by index', () => {
    // Total 20; 80 % = 16: item 2 (10) + item 0 (5) = 15 < 16, then items 1 and 3 tie at 2 → 1.
    const counts = [5, 2, 10, 2, 1, 0];
    assert.deepEqual(Array.from(headItems(counts, 0.8)), [1, 1, 1, 0, 0, 0]);
    assert.deepEqual(Array.from(headItems(counts, 0.5)), [0, 0, 1, 0, 0, 0], 'exactly half is enough');
    assert.deepEqual(Array.from(headItems(counts, 1)), [1, 1, 1, 1, 1, 0], 'never-clicked items stay in the tail');
    assert.deepEqual(Array.from(headItems(counts, 0)), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(headItems([0, 0], 0.8)), [0, 0]);
    assert.throws(() => headItems(counts, 1.5), /share: expected a number in \[0, 1\]/);
    assert.throws(() => headItems([1, -1]), /item 1 has count -1/);
  });

  it('pools long-tail slots over lists and counts distinct items for coverage', () => {
    const head = Uint8Array.from([1, 1, 0, 0, 0]);
    const lists = [[0, 2, 3], [1, 0], [4]];
    assert.equal(longTailShare(lists, head), 3 / 6);
    assert.ok(Number.isNaN(longTailShare([], head)));
    assert.equal(catalogCoverage(lists, 10), 5 / 10);
    assert.equal(catalogCoverage([[1, 1], [1]], 4), 1 / 4);
    assert.throws(() => catalogCoverage(lists, 0), /candidateCount: expected a positive integer/);
  });

  it('counts distinct categories per list and the entropy with multi-category items split evenly', () => {
    // Item 0: {a}; item 1: {a, b}; item 2: {c}; item 3: none; item 4: only a missing id.
    const cats = { offsets: Uint32Array.from([0, 1, 3, 4, 4, 5]), ids: Int32Array.from([0, 0, 1, 2, -1]) };
    const one = listCategories([0, 1, 2, 3, 4], cats);
    assert.equal(one.categories, 3);
    // Mass: a = 1 + ½, b = ½, c = 1 over 3 categorized items.
    const p = [1.5 / 3, 0.5 / 3, 1 / 3];
    close(one.entropy, -p.reduce((s, x) => s + x * Math.log2(x), 0));
    assert.deepEqual(listCategories([0, 0], cats), { categories: 1, entropy: 0 });
    assert.deepEqual(listCategories([3, 4], cats), { categories: 0, entropy: NaN });
    const d = categoryDiversity([[0, 2], [0], [3]], cats);
    assert.equal(d.categories, (2 + 1 + 0) / 3);
    assert.equal(d.entropy, (1 + 0) / 2, 'the uncategorized list is left out of the entropy mean');
    assert.ok(Number.isNaN(categoryDiversity([], cats).categories));
  });
});

describe('meanSpread', () => {
  it('gives mean, sample SD, min and max', () => {
    const s = meanSpread([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(s.mean, 5);
    close(s.sd, Math.sqrt(32 / 7));
    assert.deepEqual([s.min, s.max, s.n], [2, 9, 8]);
    assert.deepEqual(meanSpread([3]), { mean: 3, sd: 0, min: 3, max: 3, n: 1 });
    assert.deepEqual(meanSpread([]), { mean: NaN, sd: NaN, min: NaN, max: NaN, n: 0 });
    assert.throws(() => meanSpread([1, NaN]), /value at index 1 is NaN/);
  });
});
