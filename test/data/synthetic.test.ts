import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, writeSynthetic } from '../../src/data/synthetic.js';
import { readDataset } from '../../src/data/generic.js';
import { rowValues, type FeatureColumn } from '../../src/data/features.js';
import { cutAtShare, temporalSplit } from '../../src/data/split.js';

const small = { users: 600, items: 300, topics: 6, days: 10, clicksPerUser: 25 };

describe('synthetic generator', () => {
  it('is deterministic given the seed', () => {
    const a = generateSynthetic({ ...small, seed: 7 });
    const b = generateSynthetic({ ...small, seed: 7 });
    const c = generateSynthetic({ ...small, seed: 8 });
    assert.deepEqual(a.dataset.clicks, b.dataset.clicks);
    assert.deepEqual(a.truth, b.truth);
    assert.deepEqual(a.dataset.userFields, b.dataset.userFields);
    assert.notDeepEqual(a.dataset.clicks.item, c.dataset.clicks.item);
  });

  it('plants the structure it claims: topical clicks, a popularity long tail, items released over time', () => {
    const { dataset: ds, truth } = generateSynthetic({ ...small, seed: 3 });
    const n = ds.clickCount;
    let inTopics = 0;
    let beforeRelease = 0;
    const perItem = new Uint32Array(ds.items.size);
    for (let j = 0; j < n; j++) {
      const u = truth.users[ds.users.value(ds.clicks.user[j])];
      const it = truth.items[ds.items.value(ds.clicks.item[j])];
      if (u.topics.includes(it.topic)) inTopics++;
      if (ds.clicks.ts[j] < it.release) beforeRelease++;
      perItem[ds.clicks.item[j]]++;
    }
    // 10 % noise clicks land in the user's topics by chance too; the rest are topical.
    assert.ok(inTopics / n > 0.88, `share of clicks in the user's topics: ${inTopics / n}`);
    assert.equal(beforeRelease, 0, 'no click precedes its item\'s release');
    const sorted = Array.from(perItem).sort((x, y) => y - x);
    const top10 = sorted.slice(0, sorted.length / 10).reduce((s, x) => s + x, 0);
    assert.ok(top10 / n > 0.3, `the top 10 % of items take ${top10 / n} of the clicks`);
    assert.ok(sorted.filter((x) => x <= 3).length > 0, 'a long tail of rarely clicked items');
    const released = Object.values(truth.items).filter((i) => i.release > truth.options.start).length;
    assert.ok(released > 0.2 * small.items && released < 0.4 * small.items, `${released} items released during the period (rate 0.3)`);
    const split = temporalSplit(ds, cutAtShare(ds, 0.7));
    assert.ok(split.newItems.length > 10, `${split.newItems.length} items first clicked after the cut`);
  });

  it('makes the first field carry the topics and the last one noise', () => {
    const { dataset: ds, truth } = generateSynthetic({ ...small, seed: 5, fields: 5 });
    assert.deepEqual(truth.fields.map((f) => [f.name, f.type, f.signal]), [
      ['interests', 'multi', 0.9], ['region', 'single', 0.675], ['age', 'continuous', 0.45], ['tags', 'multi', 0.225], ['device', 'single', 0],
    ]);
    /** Share of a user's categorical values that fall in one of their topics' blocks. */
    const onTopic = (col: FeatureColumn, per: number): number => {
      let hit = 0;
      let all = 0;
      for (let u = 0; u < ds.users.size; u++) {
        const topics = truth.users[ds.users.value(u)].topics;
        const vals = col.type === 'multi' ? Array.from(rowValues(col, u)) : col.type === 'single' && col.ids[u] >= 0 ? [col.ids[u]] : [];
        for (const v of vals) {
          all++;
          if (col.type !== 'continuous' && topics.includes(Math.floor(Number(col.vocab.value(v).slice(1)) / per))) hit++;
        }
      }
      return hit / all;
    };
    assert.ok(onTopic(ds.userField('interests'), 6) > 0.85);
    assert.ok(onTopic(ds.userField('device'), 4) < 0.5, 'the last field is noise: its values fall in the user\'s topics by chance only');
  });

  it('writes the generic format that reads back to the same dataset', async () => {
    const world = generateSynthetic({ ...small, users: 200, items: 100, seed: 11 });
    const dir = await mkdtemp(join(tmpdir(), 'ralm-gen-'));
    try {
      await writeSynthetic(world, dir);
      const back = await readDataset(join(dir, 'schema.json'));
      const ds = world.dataset;
      assert.deepEqual(back.users.values(), ds.users.values());
      assert.deepEqual(back.items.values(), ds.items.values());
      assert.deepEqual(back.clicks, ds.clicks);
      assert.deepEqual(back.userFields, ds.userFields);
      assert.deepEqual(back.itemFields, ds.itemFields);
      assert.equal(back.report.badRows, 0);
      const truth = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8'));
      assert.deepEqual(truth.users.u0, world.truth.users.u0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects impossible options by name', () => {
    assert.throws(() => generateSynthetic({ newItemRate: 1 }), /newItemRate: expected a share in \[0, 1\), got 1/);
    assert.throws(() => generateSynthetic({ users: 0 }), /users: expected a positive integer, got 0/);
  });
});
