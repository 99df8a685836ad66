import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTrainingItems, type TrainItem } from '../../src/train/stage2-data.js';
import { trainStage2 } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { Rng } from '../../src/util/rng.js';
import { RalmError } from '../../src/util/errors.js';

const item = (id: number, clickers = 1): TrainItem => ({ item: id, users: Array.from({ length: clickers }, (_, u) => u) });

describe('stage 2: which items a capped epoch trains on', () => {
  // Clicks in time order: item 5 first clicked at 0, 3 at 1, 9 at 2, 1 at 4, 7 at 6 (later clicks on 5 and 3 do not move them).
  const clickItems = [5, 3, 9, 5, 1, 3, 7, 1];
  const shuffled = [9, 1, 5, 7, 3].map(item);

  it('latest keeps the items first clicked last, in the shuffled order', () => {
    assert.deepEqual(chooseTrainingItems(shuffled, 2, 'latest', clickItems, new Rng(1)).map((t) => t.item), [1, 7]);
    assert.deepEqual(chooseTrainingItems(shuffled, 3, 'latest', clickItems, new Rng(1)).map((t) => t.item), [9, 1, 7]);
  });

  it('sample keeps the first of the shuffled order; no cap, or a cap above the count, keeps every item', () => {
    assert.deepEqual(chooseTrainingItems(shuffled, 2, 'sample', clickItems, new Rng(1)).map((t) => t.item), [9, 1]);
    for (const choice of ['sample', 'latest'] as const) {
      assert.equal(chooseTrainingItems(shuffled, undefined, choice, clickItems, new Rng(1)), shuffled);
      assert.equal(chooseTrainingItems(shuffled, 5, choice, clickItems, new Rng(1)), shuffled);
    }
  });

  it('popular draws in proportion to clickers, seeded, without replacement, in the shuffled order', () => {
    // Items 0-9 with 1 clicker, item 10 with 100 and item 11 with 10: draws of 2 out of 12.
    const items = [...Array.from({ length: 10 }, (_, i) => item(i)), item(10, 100), item(11, 10)];
    const counts = new Array<number>(12).fill(0);
    const runs = 2000;
    for (let s = 0; s < runs; s++) {
      const got = chooseTrainingItems(items, 2, 'popular', [], new Rng(s));
      assert.equal(new Set(got).size, 2);
      assert.ok(got.every((t, j) => j === 0 || items.indexOf(got[j - 1]) < items.indexOf(t)), 'the shuffled order is kept');
      for (const t of got) counts[t.item]++;
    }
    assert.deepEqual(chooseTrainingItems(items, 2, 'popular', [], new Rng(7)), chooseTrainingItems(items, 2, 'popular', [], new Rng(7)));
    // Each item's share of draws matches successive draws in proportion to weight (the keys' law), within 0.03.
    const w = items.map((t) => t.users.length);
    const W = w.reduce((a, b) => a + b, 0);
    const expected = w.map((wi, i) => wi / W + w.reduce((s, wj, j) => (j === i ? s : s + (wj / W) * (wi / (W - wj))), 0));
    for (let i = 0; i < 12; i++) assert.ok(Math.abs(counts[i] / runs - expected[i]) < 0.03, `item ${i}: ${counts[i] / runs} vs ${expected[i]}`);
    assert.ok(expected[10] > 0.95 && expected[0] < 0.06);
  });

  it('trainStage2 trains on the items the choice names, and its log says which', async () => {
    const log = syntheticLog({ users: 300, items: 60, topics: 4, seed: 8 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const lines: Record<string, string[]> = { sample: [], latest: [], popular: [] };
    for (const itemChoice of ['sample', 'latest', 'popular'] as const) {
      const r = await trainStage2(x, m, { user: log.user, item: log.item }, { k: 3, attentionSize: 4, epochs: 1, patience: 1, minClickers: 10, seed: 4, maxItems: 12, itemChoice, log: (l) => lines[itemChoice].push(l) });
      assert.ok(r.history.every((e) => Number.isFinite(e.loss)));
    }
    assert.ok(lines.latest.some((l) => /12 training items \(those first clicked latest\)/.test(l)), lines.latest.join('\n'));
    assert.ok(lines.popular.some((l) => /12 training items \(drawn by clickers\)/.test(l)), lines.popular.join('\n'));
    assert.ok(lines.sample.some((l) => /12 training items \(a seeded sample\)/.test(l)), lines.sample.join('\n'));
  });

  it('a choice other than the sample without maxItems is a coded error naming itemChoice', async () => {
    const log = syntheticLog({ users: 100, items: 20, topics: 2, seed: 8 });
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: 4, seed: 2 });
    await assert.rejects(trainStage2(x, 4, { user: log.user, item: log.item }, { epochs: 1, itemChoice: 'latest' }),
      (e: unknown) => e instanceof RalmError && e.code === 'RALM_ERR_VALIDATION' && /itemChoice/.test(e.message));
  });
});
