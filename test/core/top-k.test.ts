import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selectTopK } from '../../src/core/top-k.js';
import { Rng } from '../../src/util/rng.js';

describe('selectTopK', () => {
  it('returns the best k, best first, ties by lower position', () => {
    const s = Float32Array.from([0.1, 0.9, 0.5, 0.9, -1, 0.5]);
    assert.deepEqual(Array.from(selectTopK(s, 4)), [1, 3, 2, 5]);
  });
  it('k above n returns everything; k = 0 returns nothing; empty input', () => {
    assert.deepEqual(Array.from(selectTopK(Float32Array.from([2, 3]), 10)), [1, 0]);
    assert.deepEqual(Array.from(selectTopK(Float32Array.from([2, 3]), 0)), []);
    assert.deepEqual(Array.from(selectTopK(new Float32Array(0), 3)), []);
  });
  it('matches a full sort on random input with many ties', () => {
    const rng = new Rng(1);
    const s = Float32Array.from({ length: 5000 }, () => Math.round(rng.normal() * 20) / 20);
    const want = Array.from(s.keys()).sort((a, b) => s[b] - s[a] || a - b).slice(0, 100);
    assert.deepEqual(Array.from(selectTopK(s, 100)), want);
  });
});
