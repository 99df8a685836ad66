import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { packHalfPairs, slotRuns } from '../../src/gpu/item-mirror.js';
import { floatToHalfBits } from '../../src/util/half.js';

describe('item mirror', () => {
  it('coalesces consecutive slots of one page into runs, never across a page boundary', () => {
    assert.deepEqual(slotRuns([12, 3, 4, 9, 10, 5, 11, 30], 10), [
      { page: 0, first: 3, count: 3 },
      { page: 0, first: 9, count: 1 },
      { page: 1, first: 0, count: 3 },
      { page: 3, first: 0, count: 1 },
    ]);
    assert.deepEqual(slotRuns([], 10), []);
  });

  it('packs float pairs into halves, low half first (unpack2x16float\'s order)', () => {
    const packed = packHalfPairs(Float32Array.from([1, -2, 0.5, 65504]));
    assert.deepEqual(Array.from(packed), [(0x3c00 | (0xc000 << 16)) >>> 0, (0x3800 | (0x7bff << 16)) >>> 0]);
    assert.equal(packed[1] & 0xffff, floatToHalfBits(0.5));
  });
});
