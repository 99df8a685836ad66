/**
 * User features as of the cut in the generic format: dated user rows, fields derived from the
 * click log, item-id fields, and the leakage rule, under a global cut and the per-user split.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readDataset } from '../../src/data/generic.js';
import { rowValues, type FeatureColumn } from '../../src/data/features.js';
import type { Dataset } from '../../src/data/dataset.js';
import { openAtCut, openClickLog, openWithSplit } from '../../src/data/open.js';
import { temporalSplit } from '../../src/data/split.js';
import { tempFiles } from './helpers.js';

// Times in seconds. ann clicks a (t1), b (t2), c (t5), b (t8); bob clicks a (t3), d (t9); cat only has a profile.
const clicks = 'user,item,ts\nann,a,1\nann,b,2\nbob,a,3\nann,c,5\nann,b,8\nbob,d,9\n';
const items = 'item,genre\na,rock|pop\nb,jazz\nc,rock\nd,jazz\ne,folk\n';
// Dated rows: ann moves from Lyon to Paris at t4 and to Rome at t7; bob's only row is at t6; a favourite item in force.
const users = 'user,since,city,fav\nann,0,Lyon,a\nann,4,Paris,b\nann,7,Rome,e\nbob,6,Oslo,d\ncat,0,Nice,\n';

function schema(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name: 'asof',
    clicks: { path: 'clicks.csv', columns: { user: 'user', item: 'item', timestamp: 'ts' }, timestamp: 's' },
    itemFeatures: { path: 'items.csv', key: 'item', fields: { genre: { type: 'multi' } } },
    userFeatures: {
      path: 'users.csv', key: 'user', timestamp: { column: 'since', unit: 's' },
      fields: { city: { type: 'single' }, fav: { type: 'single', itemIds: true } },
    },
    history: { recent: { derive: 'recent-items', count: 2 }, genres: { derive: 'top-values', itemField: 'genre' }, activity: { derive: 'activity' } },
    ...extra,
  });
}

const files = { 'schema.json': schema(), 'clicks.csv': clicks, 'items.csv': items, 'users.csv': users };

/** The vocabulary of a categorical column. */
function vocabOf(c: FeatureColumn): unknown {
  assert.ok(c.type !== 'continuous', `${c.name} is categorical`);
  return c.vocab;
}

/** A user's values of a field, as strings (continuous: the raw count behind log1p). */
function values(ds: Dataset, field: string, user: string): Array<string | number> {
  const c: FeatureColumn = ds.userField(field);
  const u = ds.users.id(user);
  if (c.type === 'continuous') return Number.isNaN(c.values[u]) ? [] : [Math.round(Math.expm1(c.min + c.values[u] * (c.max - c.min)))];
  if (c.type === 'single') return c.ids[u] < 0 ? [] : [c.vocab.value(c.ids[u])];
  return Array.from(rowValues(c, u), (v) => c.vocab.value(v));
}

describe('user features as of the cut (generic format)', () => {
  it('takes the latest dated row before the cut and derives history from clicks strictly before it', async () => {
    const t = await tempFiles({ ...files, 'users.csv': `${users}ann,4,Dup,\n` });
    try {
      const ds = await readDataset(t.path('schema.json'), { featuresAsOf: 6000, maxBadShare: 1 });
      assert.equal(ds.featuresAsOf, 6000);
      assert.deepEqual(values(ds, 'city', 'ann'), ['Paris'], 'the t4 row is in force at t6; the t7 row is not yet');
      assert.deepEqual(values(ds, 'city', 'bob'), [], 'bob\'s only row is dated t6, not before the cut');
      assert.deepEqual(values(ds, 'city', 'cat'), ['Nice']);
      assert.deepEqual((vocabOf(ds.userField('city')) as { values(): string[] }).values(), ['Paris', 'Nice'], 'values only later rows hold are not in the vocabulary');
      assert.deepEqual(values(ds, 'fav', 'ann'), ['b']);
      assert.equal(vocabOf(ds.userField('fav')), ds.items, 'item-id fields share the item vocabulary');
      assert.deepEqual(ds.schema.user.map((f) => [f.name, f.itemIds ?? false]), [['city', false], ['fav', true], ['recent', true], ['genres', false], ['activity', false]]);
      assert.deepEqual(values(ds, 'recent', 'ann'), ['c', 'b'], 'the last two distinct items before t6, newest first');
      assert.deepEqual(values(ds, 'recent', 'bob'), ['a']);
      assert.deepEqual(values(ds, 'genres', 'ann'), ['rock', 'pop', 'jazz'], 'rock twice (a, c), then pop and jazz once, ties in vocabulary order');
      assert.equal(vocabOf(ds.userField('genres')), vocabOf(ds.itemField('genre')), 'top values share the item field\'s vocabulary');
      assert.deepEqual(values(ds, 'activity', 'ann'), [3]);
      assert.deepEqual(values(ds, 'recent', 'cat'), []);
      assert.deepEqual(ds.report.bad['duplicate user and since (the first row is kept)'].first, ['users.csv:7']);
      assert.match(ds.notes.join('\n'), /user table dated by since: 2 users have a row before their features time; 2 later rows unused/);
      assert.equal(temporalSplit(ds, 6000).trainEnd, 4);
      assert.throws(() => temporalSplit(ds, 5000), /user features were computed from rows up to .*, after the cut/);

      const whole = await readDataset(t.path('schema.json'), { maxBadShare: 1 });
      assert.equal(whole.featuresAsOf, Infinity, 'timed features over the whole log by default');
      assert.deepEqual(values(whole, 'city', 'ann'), ['Rome']);
      assert.deepEqual(values(whole, 'fav', 'ann'), ['e'], 'an item only a user field names becomes an item of the dataset');
      assert.ok(whole.items.has('e'));
    } finally {
      await t.done();
    }
  });

  it('per-user split: each user\'s features come from before their own cut', async () => {
    const t = await tempFiles(files);
    try {
      const { ds, split } = await openWithSplit({ kind: 'schema', path: t.path('schema.json') }, { split: 'per-user', trainShare: 0.5 });
      // ann: 4 rows, first 2 train (cut at her t5 click); bob: 2 rows, first 1 train (cut at t9).
      assert.deepEqual(values(ds, 'recent', 'ann'), ['b', 'a']);
      assert.deepEqual(values(ds, 'city', 'ann'), ['Paris'], 'the t4 row is before ann\'s cut at t5');
      assert.deepEqual(values(ds, 'recent', 'bob'), ['a']);
      assert.deepEqual(values(ds, 'city', 'bob'), ['Oslo'], 'bob\'s cut is t9: his t6 row is in force');
      assert.deepEqual(values(ds, 'activity', 'bob'), [1]);
      assert.deepEqual([split.trainRows, split.testRows, split.testUsers], [3, 3, 2]);
      assert.deepEqual(Array.from(ds.clicks.ts.subarray(0, 3)), [1000, 2000, 3000], 'training rows first, in time order');
    } finally {
      await t.done();
    }
  });

  it('global cut at a share: features as of the cut for training and evaluation alike', async () => {
    const t = await tempFiles(files);
    try {
      const { ds, cut } = await openAtCut({ kind: 'schema', path: t.path('schema.json') }, undefined, 0.5);
      assert.equal(cut, 5000);
      assert.equal(ds.featuresAsOf, 5000);
      assert.deepEqual(values(ds, 'recent', 'ann'), ['b', 'a']);
      const { split } = await openWithSplit({ kind: 'schema', path: t.path('schema.json') }, { split: 'global', trainShare: 0.5 });
      assert.equal(split.cut, 5000);
      await assert.rejects(openAtCut({ kind: 'schema', path: t.path('schema.json'), featuresAsOf: 9000 }, 5000), /after the cut .*allow the leakage explicitly/);
      const allowed = await openAtCut({ kind: 'schema', path: t.path('schema.json'), featuresAsOf: 9000, allowFeatureLeakage: true }, 5000);
      assert.match(allowed.ds.notes.join('\n'), /WARNING: feature leakage allowed/);
    } finally {
      await t.done();
    }
  });

  it('refuses item-id fields from an undated user table in a split, unless the leakage is allowed', async () => {
    const undated = JSON.stringify({
      name: 'undated',
      clicks: { path: 'clicks.csv', columns: { user: 'user', item: 'item', timestamp: 'ts' }, timestamp: 's' },
      userFeatures: { path: 'profile.csv', key: 'user', fields: { age: { type: 'continuous' }, fav: { type: 'multi', itemIds: true } } },
    });
    const t = await tempFiles({ 'schema.json': undated, 'clicks.csv': clicks, 'profile.csv': 'user,age,fav\nann,30,a|c\nbob,40,d\n' });
    try {
      const plain = await readDataset(t.path('schema.json'));
      assert.equal(plain.featuresAsOf, null, 'an undated table alone: no features time');
      assert.deepEqual(plain.untimedItemFields, ['fav']);
      const data = { kind: 'schema' as const, path: t.path('schema.json') };
      await assert.rejects(openWithSplit(data, { split: 'global', trainShare: 0.5 }), /user field "fav" holds item ids from a table with no time/);
      await assert.rejects(openWithSplit(data, { split: 'per-user', trainShare: 0.5 }), /"fav" holds item ids/);
      const { ds } = await openWithSplit({ ...data, allowFeatureLeakage: true }, { split: 'per-user', trainShare: 0.5 });
      assert.match(ds.notes.join('\n'), /WARNING: feature leakage allowed: undated: user field "fav"/);
      assert.match(ds.notes.join('\n'), /user table without a timestamp: its values are taken as known before any cut/);
      const log = await openClickLog(data);
      assert.deepEqual([log.name, log.userIds, log.itemIds], ['undated', ['ann', 'bob'], ['a', 'b', 'c', 'd']], 'a schema\'s click log keeps its ids');
    } finally {
      await t.done();
    }
  });

  it('a schema with static fields only gets a per-user split that just reorders the rows', async () => {
    const t = await tempFiles({
      'schema.json': JSON.stringify({ clicks: { path: 'clicks.csv', columns: { user: 'user', item: 'item', timestamp: 'ts' }, timestamp: 's' } }),
      'clicks.csv': clicks,
    });
    try {
      const { ds, split } = await openWithSplit({ kind: 'schema', path: t.path('schema.json') }, { split: 'per-user', trainShare: 0.5 });
      assert.equal(split.trainRows, 3);
      assert.equal(ds.featuresAsOf, split.cut);
      const synthetic = await openWithSplit({ kind: 'synthetic', synthetic: { users: 60, items: 30, seed: 2 } }, { split: 'per-user', trainShare: 0.8 });
      assert.equal(synthetic.split.newUsers, 0, 'every test user has training rows under a per-user split');
    } finally {
      await t.done();
    }
  });
});
