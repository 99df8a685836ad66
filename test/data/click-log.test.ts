import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset } from '../../src/data/dataset.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

describe('the evaluation click log', () => {
  it('keeps clicks only and leaves out users and items without one, in vocabulary order', () => {
    const ds = new Dataset({
      name: 'tiny', users: new Vocabulary('users', ['a', 'b', 'c', 'd']), items: new Vocabulary('items', ['x', 'y', 'z']),
      clicks: { user: Uint32Array.of(1, 0, 3, 1), item: Uint32Array.of(2, 1, 0, 0), ts: Float64Array.of(1, 2, 3, 4), label: Uint8Array.of(1, 0, 1, 1) },
      userFields: [], itemFields: [], featuresAsOf: null, report: { files: [], rows: 4, kept: 4, blankLines: 0, badRows: 0, bad: {} },
    });
    const log = ds.toClickLog();
    assert.equal(log.name, 'tiny');
    assert.deepEqual(log.userIds, ['b', 'd'], 'a has only a non-click, c nothing');
    assert.deepEqual(log.itemIds, ['x', 'z'], 'y has only a non-click');
    assert.deepEqual([Array.from(log.user), Array.from(log.item), Array.from(log.ts)], [[0, 1, 0], [1, 0, 0], [1, 3, 4]]);
    const named = ds.toClickLog({ name: 'renamed', userPrefix: 'u', itemPrefix: 'i' });
    assert.deepEqual([named.name, named.userIds, named.itemIds], ['renamed', ['ub', 'ud'], ['ix', 'iz']]);
  });
});
