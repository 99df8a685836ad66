import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset } from '../../src/data/dataset.js';
import { openClickLog } from '../../src/data/open.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { tempFiles } from './helpers.js';

const GLOBO_HEADER = 'user_id,session_id,session_start,session_size,click_article_id,click_timestamp,click_environment,click_deviceGroup,click_os,click_country,click_region,click_referrer_type';
const globoRow = (user: string, article: string, ts: number): string => `${user},1,${ts},1,${article},${ts},4,1,17,1,25,2`;

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

  it('reads MovieLens ratings of 4 or more, users and movies numbered by first click in ratings.csv', async () => {
    const t = await tempFiles({
      'movies.csv': 'movieId,title,genres\n10,A (1990),Drama\n20,B (1991),Comedy\n30,C (1992),Drama\n',
      'ratings.csv': 'userId,movieId,rating,timestamp\n7,30,4.5,300\n7,10,2.0,100\n5,10,3.5,50\n5,20,5.0,400\n9,10,4.0,200\n',
      'tags.csv': 'userId,movieId,tag,timestamp\n11,10,fun,10\n',
    });
    try {
      const log = await openClickLog({ kind: 'movielens', path: t.dir });
      assert.equal(log.name, 'ml-latest-small');
      assert.deepEqual(log.userIds, ['u7', 'u5', 'u9'], 'user 11 only tagged');
      assert.deepEqual(log.itemIds, ['m30', 'm20', 'm10']);
      assert.deepEqual(Array.from(log.ts), [200_000, 300_000, 400_000], 'in time order');
      assert.deepEqual(Array.from(log.user, (u) => log.userIds[u]), ['u9', 'u7', 'u5']);
      assert.deepEqual(Array.from(log.item, (i) => log.itemIds[i]), ['m10', 'm30', 'm20']);
    } finally {
      await t.done();
    }
  });

  it('reads the first Globo.com hours, ids numbered by first appearance in hour order', async () => {
    const t = await tempFiles({
      'clicks_hour_000.csv': [GLOBO_HEADER, globoRow('8', '300', 2000), globoRow('3', '100', 1000)].join('\n') + '\n',
      'clicks_hour_001.csv.gz': [GLOBO_HEADER, globoRow('3', '200', 1500), globoRow('1', '300', 3000)].join('\n') + '\n',
      'clicks_hour_002.csv': [GLOBO_HEADER, globoRow('2', '400', 4000)].join('\n') + '\n',
    });
    try {
      const log = await openClickLog({ kind: 'globo', path: t.dir, hours: 2 });
      assert.equal(log.name, 'globo-news');
      assert.deepEqual(log.userIds, ['u8', 'u3', 'u1']);
      assert.deepEqual(log.itemIds, ['a300', 'a100', 'a200']);
      assert.deepEqual(Array.from(log.ts), [1000, 1500, 2000, 3000]);
    } finally {
      await t.done();
    }
  });

  it('the synthetic kind is the planted log of the given seed', async () => {
    const a = await openClickLog({ kind: 'synthetic', seed: 3 });
    const b = syntheticLog({ seed: 3 });
    assert.deepEqual([a.name, a.userIds, a.itemIds], [b.name, b.userIds, b.itemIds]);
    assert.deepEqual([Array.from(a.user), Array.from(a.item), Array.from(a.ts)], [Array.from(b.user), Array.from(b.item), Array.from(b.ts)]);
    assert.notDeepEqual(Array.from(syntheticLog({ seed: 4 }).item), Array.from(b.item));
  });
});
