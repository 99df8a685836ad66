import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSplit } from '../../src/eval/recommend-eval.js';
import { openValidationSplit } from '../../src/eval/validation-split.js';
import { perUserRealTime } from '../../src/eval/fresh-eval.js';
import { openDataset } from '../../src/data/open.js';
import { tempFiles } from '../data/helpers.js';

describe('the validation split of a training period', () => {
  it('global: trains before the inner cut, validates up to the evaluation\'s cut, and holds no test row', async () => {
    const data = { kind: 'synthetic' as const, synthetic: { users: 200, items: 60, seed: 4 } };
    const test = await openSplit({ data, trainShare: 0.8 });
    const val = await openValidationSplit({ data, trainShare: 0.8 }, 0.75);
    assert.equal(val.kind, 'global');
    assert.equal(val.ds.clickCount, test.split.trainEnd, 'exactly the evaluation\'s training rows');
    assert.ok(val.split.cut < test.split.cut);
    assert.ok(Math.abs(val.split.trainEnd / test.split.trainEnd - 0.75) < 0.05);
    for (let j = 0; j < val.ds.clickCount; j++) assert.ok(val.ds.clicks.ts[j] < test.split.cut);
  });

  it('per user: each user trains on the first share of their training rows and validates on the rest; real time follows', async () => {
    // Ten ratings each for two users, one a day; user 2 rates later.
    const ratings = ['userId,movieId,rating,timestamp'];
    for (let d = 0; d < 10; d++) ratings.push(`1,${d + 1},5,${86_400 * (d + 1)}`, `2,${(d % 5) + 1},4,${86_400 * (d + 3)}`);
    const files = await tempFiles({
      'ratings.csv': ratings.join('\n'), 'movies.csv': ['movieId,title,genres', ...Array.from({ length: 10 }, (_, i) => `${i + 1},Film ${i + 1} (2000),Drama`)].join('\n'),
      'tags.csv': 'userId,movieId,tag,timestamp\n',
    });
    try {
      const data = { kind: 'movielens' as const, path: files.dir };
      const val = await openValidationSplit({ data, trainShare: 0.8 }, 0.5);
      assert.equal(val.kind, 'per-user');
      const rows = (u: string, from: number, to: number): number[] => {
        const out: number[] = [];
        for (let j = from; j < to; j++) if (val.ds.users.value(val.ds.clicks.user[j]) === u) out.push(Number(val.ds.items.value(val.ds.clicks.item[j])));
        return out;
      };
      // User 1: 8 training rows in the evaluation; 4 of them train here, 4 validate; rows 9–10 are never read.
      assert.deepEqual(rows('1', 0, val.split.trainEnd), [1, 2, 3, 4]);
      assert.deepEqual(rows('1', val.split.trainEnd, val.ds.clickCount), [5, 6, 7, 8]);
      const rt = perUserRealTime(val.ds, val.split.trainEnd, await openDataset({ kind: 'movielens', path: files.dir }));
      const u1 = val.ds.users.id('1');
      assert.equal(rt.userCut[u1], 86_400_000 * 5, 'user 1 is asked at their fifth rating, in the log\'s clock');
      const items = Array.from(rt.item).filter((_, j) => rt.user[j] === u1).map((i) => Number(val.ds.items.value(i)));
      assert.deepEqual(items, [1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await files.done();
    }
  });
});
