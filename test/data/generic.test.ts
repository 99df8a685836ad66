import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { readDataset } from '../../src/data/generic.js';
import { rowValues } from '../../src/data/features.js';
import { RalmError } from '../../src/util/errors.js';
import { tempFiles } from './helpers.js';

const schema = {
  name: 'tiny',
  clicks: { path: 'clicks.csv.gz', columns: { user: 'user', item: 'item', timestamp: 'ts', label: 'rating' }, timestamp: 's', positiveLabel: 4 },
  userFeatures: { path: 'users.tsv', key: 'user', fields: { age: { type: 'continuous' }, genres: { type: 'multi' }, city: { type: 'single' } } },
  itemFeatures: { path: 'items.csv', key: 'item', fields: { title: { type: 'single' } } },
};

const files = {
  'schema.json': JSON.stringify(schema),
  // Out of time order on purpose; one bad timestamp, one empty user, one bad label.
  'clicks.csv.gz': 'user,item,ts,rating\nbob,m2,300,5\nann,m1,100,4\nann,m2,200,2\ncid,m3,oops,5\n,m1,50,5\nbob,m1,300,x\nann,m3,250,4.5\n',
  'users.tsv': 'user\tage\tgenres\tcity\nann\t30\tdrama|comedy\tParis\nbob\t\t\t\ndan\t50\tdrama\tRome\nann\t99\t\t\nbob\told\t\t\n',
  'items.csv': 'item,title\nm1,"Heat, The"\nm3,"Say ""when"""\nm9,unclicked\n',
};

describe('generic reader', () => {
  it('reads clicks, labels and feature tables; numbers users and items by first appearance; sorts by time', async () => {
    const t = await tempFiles(files);
    try {
      const ds = await readDataset(t.path('schema.json'), { maxBadShare: 1 });
      assert.equal(ds.name, 'tiny');
      assert.deepEqual(ds.users.values(), ['bob', 'ann', 'dan'], 'clickers first (file order), then users only in the table');
      assert.deepEqual(ds.items.values(), ['m2', 'm1', 'm3', 'm9']);
      assert.deepEqual(Array.from(ds.clicks.ts), [100_000, 200_000, 250_000, 300_000]);
      assert.deepEqual(Array.from(ds.clicks.user).map((u) => ds.users.value(u)), ['ann', 'ann', 'ann', 'bob']);
      assert.deepEqual(Array.from(ds.clicks.item).map((i) => ds.items.value(i)), ['m1', 'm2', 'm3', 'm2']);
      assert.deepEqual(Array.from(ds.clicks.label), [1, 0, 1, 1], 'rating 2 < positiveLabel 4 is a labelled non-click');

      const age = ds.userField('age');
      assert.ok(age.type === 'continuous');
      assert.deepEqual([age.min, age.max], [30, 50]);
      assert.deepEqual(Array.from(age.values), [NaN, 0, 1], 'bob: blank age is missing; ann: the duplicate row (99) is ignored');
      const genres = ds.userField('genres');
      assert.ok(genres.type === 'multi');
      assert.deepEqual([0, 1, 2].map((u) => Array.from(rowValues(genres, u)).map((v) => genres.vocab.value(v))), [[], ['drama', 'comedy'], ['drama']]);
      const city = ds.userField('city');
      assert.ok(city.type === 'single');
      assert.deepEqual(Array.from(city.ids), [-1, 0, 1]);
      const title = ds.itemField('title');
      assert.ok(title.type === 'single');
      assert.deepEqual(Array.from(title.ids).map((v) => (v < 0 ? null : title.vocab.value(v))), [null, 'Heat, The', 'Say "when"', 'unclicked']);
      assert.deepEqual(ds.schema.user, [{ name: 'age', type: 'continuous' }, { name: 'genres', type: 'multi', vocabulary: 2 }, { name: 'city', type: 'single', vocabulary: 2 }]);

      const r = ds.report;
      assert.equal(r.badRows, 5);
      assert.deepEqual(r.bad['bad timestamp (expected epoch seconds)'].first, ['clicks.csv.gz:5']);
      assert.deepEqual(r.bad['empty user id'].first, ['clicks.csv.gz:6']);
      assert.deepEqual(r.bad['bad label (expected a number, true or false)'].first, ['clicks.csv.gz:7']);
      assert.deepEqual(r.bad['duplicate user (the first row is kept)'].first, ['users.tsv:5']);
      assert.deepEqual(r.bad['field age: not a number'].first, ['users.tsv:6']);
      assert.equal(r.rows, 15);
      assert.equal(r.kept, 10);
      assert.equal(ds.featuresAsOf, null);
      const log = ds.toClickLog();
      assert.equal(log.user.length, 3, 'the ClickLog carries clicks only');
    } finally {
      await t.done();
    }
  });

  it('fails by default when more than 1 % of rows are bad, naming reasons and lines', async () => {
    const t = await tempFiles(files);
    try {
      await assert.rejects(readDataset(t.path('schema.json')), (e: RalmError) => e.code === 'RALM_ERR_VALIDATION' && /5 of 15 rows are bad/.test(e.message) && /clicks\.csv\.gz:5/.test(e.message));
    } finally {
      await t.done();
    }
  });

  it('reads ISO and millisecond times, and names a missing column', async () => {
    const t = await tempFiles({
      'a.json': JSON.stringify({ clicks: { path: 'a.tsv', columns: { user: 'u', item: 'i', timestamp: 't' }, timestamp: 'iso' } }),
      'a.tsv': 'u\ti\tt\nx\ty\t2024-01-02T03:04:05Z\n',
      'b.json': JSON.stringify({ clicks: { path: 'b.csv', columns: { user: 'u', item: 'i', timestamp: 'when' }, timestamp: 'ms' } }),
      'b.csv': 'u,i,t\nx,y,5\n',
    });
    try {
      const a = await readDataset(t.path('a.json'));
      assert.equal(a.clicks.ts[0], Date.UTC(2024, 0, 2, 3, 4, 5));
      assert.equal(a.userFields.length, 0);
      await assert.rejects(readDataset(t.path('b.json')), /b\.csv: column "when" \(timestamp\) is not in the header; the header has "u", "i", "t"/);
      await writeFile(t.path('b.json'), JSON.stringify({ clicks: { path: 'b.csv', columns: { user: 'u', item: 'i', timestamp: 't' }, timestamp: 'ms' } }));
      assert.equal((await readDataset(t.path('b.json'))).clicks.ts[0], 5);
    } finally {
      await t.done();
    }
  });
});
