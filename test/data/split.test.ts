import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset, sortByTime } from '../../src/data/dataset.js';
import { ItemSeeds, cutAtShare, temporalSplit } from '../../src/data/split.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

/** A hand-made log: [user, item, time, label?] rows. */
function dataset(rows: Array<[string, string, number, number?]>, featuresAsOf: number | null = null): Dataset {
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const clicks = sortByTime({
    user: Uint32Array.from(rows, (r) => users.add(r[0])), item: Uint32Array.from(rows, (r) => items.add(r[1])),
    ts: Float64Array.from(rows, (r) => r[2]), label: Uint8Array.from(rows, (r) => r[3] ?? 1),
  });
  return new Dataset({ name: 'hand', users, items, clicks, userFields: [], itemFields: [], featuresAsOf, report: { files: [], rows: 0, kept: 0, blankLines: 0, badRows: 0, bad: {} } });
}

describe('temporal split', () => {
  const ds = dataset([
    ['a', 'x', 1], ['b', 'x', 2], ['a', 'y', 3], ['c', 'y', 5, 0],
    ['a', 'z', 10], ['c', 'x', 11], ['d', 'w', 12], ['b', 'y', 13], ['d', 'v', 10, 0], ['c', 'y', 4],
  ]);

  it('puts rows before the cut in training and counts new items and users in the test period', () => {
    const s = temporalSplit(ds, 10);
    assert.equal(s.trainEnd, 5);
    assert.deepEqual([s.trainRows, s.testRows], [5, 5]);
    assert.deepEqual(Array.from(ds.clicks.ts.subarray(0, s.trainEnd)), [1, 2, 3, 4, 5]);
    // Test clicks: a-z, c-x, d-w, b-y (d-v is a non-click). New: z and w; v is never clicked.
    assert.deepEqual(Array.from(s.newItems).map((i) => ds.items.value(i)).sort(), ['w', 'z']);
    assert.equal(s.newItemTestClicks, 2);
    assert.equal(s.testItems, 4);
    assert.equal(s.testUsers, 4);
    assert.equal(s.newUsers, 1, 'd has no training row');
  });

  it('cuts at a share of the rows, ties going to test', () => {
    assert.equal(cutAtShare(ds, 0.5), 10);
    assert.equal(temporalSplit(ds, cutAtShare(ds, 0.5)).trainEnd, 5);
    assert.throws(() => cutAtShare(ds, 1), /share: expected a number between 0 and 1/);
  });

  it('refuses a cut earlier than the time the user features were computed at', () => {
    const leaky = dataset([['a', 'x', 1], ['b', 'y', 20]], Infinity);
    assert.throws(() => temporalSplit(leaky, 10), /user features were computed from rows over the whole log, after the cut/);
    assert.equal(temporalSplit(leaky, 10, { allowFeatureLeakage: true }).trainEnd, 1);
    const asOf = dataset([['a', 'x', 1], ['b', 'y', 20]], 10);
    assert.equal(temporalSplit(asOf, 10).trainEnd, 1, 'features strictly before the cut are fine');
  });

  it('gives each example only the seeds that clicked strictly before it (the leakage rule)', () => {
    const seeds = new ItemSeeds(ds);
    const x = ds.items.id('x');
    const name = (a: Uint32Array): string[] => Array.from(a, (u) => ds.users.value(u));
    assert.deepEqual(name(seeds.seeds(x)), ['a', 'b', 'c']);
    assert.deepEqual(name(seeds.seedsBefore(x, 2)), ['a'], 'b clicking x at t=2 does not see itself');
    assert.deepEqual(name(seeds.seedsBefore(x, 11)), ['a', 'b']);
    assert.deepEqual(name(seeds.seeds(ds.items.id('y'))), ['a', 'c', 'b'], 'the non-click (c, y, 5) is not a seed');
    const train = new ItemSeeds(ds, 0, temporalSplit(ds, 10).trainEnd);
    assert.equal(train.seeds(ds.items.id('z')).length, 0, 'a range limits the seeds to training rows');
  });
});
