import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMovieLensDataset } from '../../src/data/movielens.js';
import { readGloboDataset } from '../../src/data/globo.js';
import { rowValues } from '../../src/data/features.js';
import { temporalSplit } from '../../src/data/split.js';
import { datasetsDir } from './helpers.js';

const movielens = join(datasetsDir, 'ml-latest-small');
const globo = join(datasetsDir, 'globo-news');

describe('MovieLens adapter', () => {
  it('reads ml-latest-small: ratings ≥ 4 as clicks, no bad rows, quoted titles parsed', async (t) => {
    if (!existsSync(join(movielens, 'ratings.csv'))) {
      t.skip(`MovieLens latest-small is absent (looked for ${movielens}/ratings.csv; set RALM_DATASETS to the folder holding ml-latest-small/)`);
      return;
    }
    const ds = await readMovieLensDataset(movielens);
    assert.equal(ds.users.size, 610);
    assert.equal(ds.clickCount, 48_580);
    assert.equal(ds.items.size, 6298);
    assert.equal(ds.report.badRows, 0);
    assert.deepEqual(ds.report.files.map((f) => [f.file, f.rows]), [['movies.csv', 9742], ['ratings.csv', 100_836], ['tags.csv', 3683]]);
    const u1 = ds.users.id('1');
    let clicks1 = 0;
    for (let j = 0; j < ds.clickCount; j++) clicks1 += ds.clicks.user[j] === u1 ? 1 : 0;
    assert.equal(clicks1, 200, 'user 1 rated 200 movies 4 or higher');
    // "American President, The (1995)": a quoted title holding a comma.
    const m11 = ds.items.id('11');
    const year = ds.itemField('year');
    assert.ok(year.type === 'continuous');
    assert.ok(Math.abs(year.min + year.values[m11] * (year.max - year.min) - 1995) < 0.01);
    const genres = ds.itemField('genres');
    assert.ok(genres.type === 'multi');
    assert.deepEqual(Array.from(rowValues(genres, m11)).map((g) => genres.vocab.value(g)), ['Comedy', 'Drama', 'Romance']);
    const userGenres = ds.userField('genres');
    assert.ok(userGenres.type === 'multi' && userGenres.vocab === genres.vocab, 'user and item genres share ids');
    assert.ok(ds.schema.user.find((f) => f.name === 'recent')?.itemIds, 'recent items use the item ids');
    assert.throws(() => temporalSplit(ds, Date.UTC(2015, 0, 1)), /whole log/);
  });

  it('derives user fields only from rows before featuresAsOf', async (t) => {
    if (!existsSync(join(movielens, 'ratings.csv'))) {
      t.skip(`MovieLens latest-small is absent (looked for ${movielens}/ratings.csv)`);
      return;
    }
    const cut = Date.UTC(2015, 0, 1);
    const ds = await readMovieLensDataset(movielens, { featuresAsOf: cut, recentItems: 5 });
    const split = temporalSplit(ds, cut);
    const recent = ds.userField('recent');
    const activity = ds.userField('activity');
    assert.ok(recent.type === 'multi' && activity.type === 'continuous');
    const before = new Map<number, number[]>();
    for (let j = 0; j < split.trainEnd; j++) {
      const u = ds.clicks.user[j];
      if (!before.has(u)) before.set(u, []);
      (before.get(u) as number[]).push(ds.clicks.item[j]);
    }
    let checked = 0;
    for (let u = 0; u < ds.users.size; u++) {
      const got: number[] = Array.from(rowValues(recent, u));
      const mine = before.get(u) ?? [];
      assert.ok(got.length <= 5);
      for (const i of got) assert.ok(mine.includes(i), `user ${ds.users.value(u)}: recent item ${ds.items.value(i)} was clicked before the cut`);
      if (mine.length === 0) assert.equal(got.length, 0);
      else {
        assert.equal(got[0], mine[mine.length - 1], 'newest first');
        checked++;
      }
    }
    assert.ok(checked > 100);
    assert.ok(split.newItems.length > 0);
    const tags = ds.userField('tags');
    assert.ok(tags.type === 'multi' && tags.vocab.size < 1589, 'tags applied after the cut never enter the vocabulary');
  });
});

describe('Globo.com adapter', () => {
  it('reads the first hourly files in order: clicks sorted by time, one value per user and field', async (t) => {
    if (!existsSync(join(globo, 'clicks'))) {
      t.skip(`Globo.com news clicks are absent (looked for ${globo}/clicks/; set RALM_DATASETS to the folder holding globo-news/)`);
      return;
    }
    const ds = await readGloboDataset(globo, { hours: 3 });
    assert.deepEqual(ds.report.files.map((f) => f.file), ['clicks_hour_000.csv.gz', 'clicks_hour_001.csv.gz', 'clicks_hour_002.csv.gz']);
    assert.equal(ds.clickCount, 1883 + 1415 + 910);
    assert.equal(ds.report.badRows, 0);
    for (let j = 1; j < ds.clickCount; j++) assert.ok(ds.clicks.ts[j] >= ds.clicks.ts[j - 1]);
    assert.deepEqual(ds.schema.user.map((f) => f.name), ['environment', 'deviceGroup', 'os', 'country', 'region', 'referrerType', 'activity', 'recent']);
    assert.equal(ds.schema.user[7].itemIds, true, 'recent holds item ids of this dataset');
    const os = ds.userField('os');
    assert.ok(os.type === 'single');
    for (let u = 0; u < ds.users.size; u++) assert.ok(os.ids[u] >= 0, 'every user clicked, so every user has a value');
    assert.equal(ds.itemFields.length, 0);

    // With features as of a time inside the read, later-only users have no values.
    const cut = ds.clicks.ts[Math.floor(ds.clickCount / 2)];
    const half = await readGloboDataset(globo, { hours: 3, featuresAsOf: cut, userValue: 'latest' });
    const split = temporalSplit(half, cut);
    const seen = new Uint8Array(half.users.size);
    for (let j = 0; j < split.trainEnd; j++) seen[half.clicks.user[j]] = 1;
    const region = half.userField('region');
    assert.ok(region.type === 'single');
    for (let u = 0; u < half.users.size; u++) assert.equal(region.ids[u] >= 0, seen[u] === 1);
    // recent: distinct articles clicked before the cut only, at most 20.
    const recent = half.userField('recent');
    assert.ok(recent.type === 'multi');
    const before = new Map<number, Set<number>>();
    for (let j = 0; j < split.trainEnd; j++) {
      if (!before.has(half.clicks.user[j])) before.set(half.clicks.user[j], new Set());
      (before.get(half.clicks.user[j]) as Set<number>).add(half.clicks.item[j]);
    }
    for (let u = 0; u < half.users.size; u++) {
      const vals: number[] = Array.from((recent as { ids: Int32Array }).ids.subarray((recent as { offsets: Uint32Array }).offsets[u], (recent as { offsets: Uint32Array }).offsets[u + 1]));
      assert.equal(new Set(vals).size, vals.length);
      assert.ok(vals.length <= 20);
      const had = before.get(u) ?? new Set<number>();
      assert.equal(vals.length, Math.min(20, had.size), `user ${u}`);
      for (const v of vals) assert.ok(had.has(v), `user ${u}: article ${v} was clicked before the cut`);
    }
    assert.ok(split.newUsers > 0);
  });
});
