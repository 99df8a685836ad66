/**
 * Item levels (engine/item-levels.ts): an item's level is its mean look-alike score over the
 * sample (the reference's blend, averaged); an item below the threshold gets typical − own level
 * (with the prior levelled too, or shifted, when asked), an established one none; the typical level is the
 * item table's running mean over live established items, kept through replace and remove; the
 * sample of ids does not depend on their order; the switch publishes offset 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smallModel, randomItems } from '../helpers/fixtures.js';
import { referenceGlobal, referenceScore } from '../../src/model/reference.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { ItemLeveller, levelSampleIds } from '../../src/engine/item-levels.js';
import { popularityPrior } from '../../src/model/prior.js';
import { Rng } from '../../src/util/rng.js';
import { loopTurnsDuring } from '../helpers/loop-turns.js';

const model = smallModel({ seed: 301 });
const { h } = model.manifest;
const sample = new Rng(302).normals(30 * h);
const items = randomItems(model, 6, 303).map((it, i) => {
  const n = it.centroids.length / h;
  return { ...it, global: referenceGlobal(model, Array.from(it.centroids), n), clickers: [1, 5, 19, 20, 50, 400][i] };
});

function referenceLevel(it: (typeof items)[number]): number {
  const n = it.centroids.length / h;
  let s = 0;
  for (let u = 0; u < 30; u++) s += referenceScore(model, sample.subarray(u * h, (u + 1) * h), it.centroids, n, it.global, 0, 0).score;
  return s / 30;
}

describe('item levels', () => {
  it('hands the event loop back while it measures a publication\'s levels', async () => {
    // 2,000 sample users × 200 items: far more than one time slice of work on any machine.
    const big = new Rng(304).normals(2000 * h);
    const many = randomItems(model, 200, 305).map((it) => ({ ...it, global: referenceGlobal(model, Array.from(it.centroids), it.centroids.length / h), clickers: 3 }));
    const lv = new ItemLeveller(model, big);
    const { value, turns } = await loopTurnsDuring(() => lv.levels(many, { level: 0.5, prior: 0, items: 1 }, 0));
    assert.equal(value.length, 200);
    assert.ok(Math.abs((value[7].level as number) - lv.level(many[7])) < 1e-12, 'the same level as measured alone');
    assert.ok(turns >= 2, `the loop turned ${turns} times while 200 levels were measured`);
  });

  it('an item\'s level is its mean reference score over the sample', () => {
    const lv = new ItemLeveller(model, sample);
    for (const it of items) assert.ok(Math.abs(lv.level(it) - referenceLevel(it)) < 1e-5, it.id);
  });

  it('offsets: typical − own level below the threshold (the established items of the publication included), none above; the prior levelled when asked; off: none', async () => {
    const levels = items.map(referenceLevel);
    const typical = (levels[3] + levels[4] + levels[5]) / 3;
    const lambda = 0.1;
    const typicalPrior = [20, 50, 400].reduce((s, c) => s + popularityPrior(lambda, c), 0) / 3;
    const plain = await new ItemLeveller(model, sample, { withPrior: false, levelBelow: 20 }).levels(items, undefined, lambda);
    const withPrior = await new ItemLeveller(model, sample, { withPrior: true, levelBelow: 20 }).levels(items, undefined, lambda);
    const off = await new ItemLeveller(model, sample, { enabled: false }).levels(items, undefined, lambda);
    items.forEach((it, i) => {
      const below = it.clickers < 20;
      assert.ok(Math.abs(plain[i].offset - (below ? typical - levels[i] : 0)) < 1e-5, `${it.id} look-alike only`);
      assert.ok(Math.abs(withPrior[i].offset - (below ? typical - levels[i] + typicalPrior - popularityPrior(lambda, it.clickers) : 0)) < 1e-5, `${it.id} with the prior`);
      assert.equal(off[i].offset, 0);
      assert.ok(Math.abs((off[i].level as number) - levels[i]) < 1e-5, 'levels are measured even when off');
    });
    // The prior shifted: one lift for every item below the line (the established mean prior − the
    // prior at the line), so below it the order by clickers survives; never a negative lift.
    const shifted = await new ItemLeveller(model, sample, { withPrior: false, shiftPrior: true, levelBelow: 20 }).levels(items, undefined, lambda);
    const lift = typicalPrior - popularityPrior(lambda, 20);
    assert.ok(lift > 0);
    items.forEach((it, i) => assert.ok(Math.abs(shifted[i].offset - (it.clickers < 20 ? typical - levels[i] + lift : 0)) < 1e-5, `${it.id} prior shifted`));
    const served = items.slice(0, 3).map((it, i) => shifted[i].offset + levels[i] + popularityPrior(lambda, it.clickers));
    assert.ok(served[0] < served[1] && served[1] < served[2], 'below the line, more clickers still rank higher on the level');
    const sunk = await new ItemLeveller(model, sample, { withPrior: false, shiftPrior: true, levelBelow: 1000 }).levels(items, undefined, lambda);
    items.forEach((_, i) => assert.ok(Math.abs(sunk[i].offset - (typical - levels[i])) < 1e-5, 'a line above the established counts lifts the prior by 0, never less'));
    // Fading: the offset shrinks linearly with the count, to none at the threshold.
    const fading = await new ItemLeveller(model, sample, { withPrior: false, fade: true, levelBelow: 20 }).levels(items, undefined, lambda);
    items.forEach((it, i) => assert.ok(it.clickers >= 20 ? fading[i].offset === 0 : Math.abs(fading[i].offset - (1 - it.clickers / 20) * (typical - levels[i])) < 1e-5, it.id));
    // Every item levelled: the typical level is still the established items'.
    const all = await new ItemLeveller(model, sample, { withPrior: false, levelBelow: Infinity }).levels(items, undefined, lambda);
    items.forEach((_, i) => assert.ok(Math.abs(all[i].offset - (typical - levels[i])) < 1e-5));
    // Nothing established anywhere: nothing to level against; no sample: no level.
    assert.deepEqual((await new ItemLeveller(model, sample).levels(items.slice(0, 3), undefined, 0)).map((l) => l.offset), [0, 0, 0]);
    assert.deepEqual(await new ItemLeveller(model, new Float32Array(0)).levels(items, undefined, 0), items.map(() => ({ offset: 0 })));
  });

  it('the table keeps the typical level over live established items through publish, replace and remove', async () => {
    const engine = await RalmEngine.create({ ...model, manifest: { ...model.manifest, popularityPrior: 0.1 } }, { backend: 'cpu', recoverDevice: false });
    const typical = (): { items: number; level: number; prior: number } | undefined => engine.table.typicalLevel;
    try {
      assert.equal(typical(), undefined);
      await engine.upsertItems([{ ...items[3], level: 0.2 }, { ...items[4], level: 0.4 }, { ...items[0], level: 0.9 }, { ...items[5] }]);
      const t = typical() as { items: number; level: number; prior: number };
      assert.equal(t.items, 2);
      assert.ok(Math.abs(t.level - 0.3) < 1e-6);
      assert.ok(Math.abs(t.prior - (popularityPrior(0.1, 20) + popularityPrior(0.1, 50)) / 2) < 1e-6);
      await engine.upsertItems([{ ...items[4], level: 0.6 }]);
      assert.ok(Math.abs((typical()?.level as number) - 0.4) < 1e-6);
      await engine.upsertItems([{ ...items[4], clickers: 3, level: 0.6 }]);
      assert.ok(Math.abs((typical()?.level as number) - 0.2) < 1e-6);
      await engine.removeItems([items[3].id]);
      assert.equal(typical(), undefined);
    } finally {
      await engine.close();
    }
  });

  it('forEngine levels against the engine\'s typical level and computes missing global vectors', async () => {
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    try {
      const lv = await new ItemLeveller(model, sample, { withPrior: false });
      const established = items.slice(3);
      const got = await lv.forEngine(engine, established.map(({ global: _g, ...it }) => it));
      await engine.upsertItems(established.map((it, i) => ({ ...it, ...got[i] })));
      const [fresh] = await lv.forEngine(engine, [{ centroids: items[0].centroids, clickers: 1 }]);
      const typical = established.reduce((s, it) => s + referenceLevel(it), 0) / 3;
      assert.ok(Math.abs(fresh.offset - (typical - referenceLevel(items[0]))) < 1e-4);
    } finally {
      await engine.close();
    }
  });

  it('the level sample is fixed by its seed, whatever order the ids come in', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `user-${i}`);
    const a = levelSampleIds(ids, 50, 1);
    assert.equal(a.length, 50);
    assert.deepEqual(levelSampleIds(new Rng(5).shuffle(ids.slice()), 50, 1), a);
    assert.notDeepEqual(levelSampleIds(ids, 50, 2), a);
    assert.deepEqual(levelSampleIds(ids.slice(0, 10), 50, 1).length, 10);
  });
});
