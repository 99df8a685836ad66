/**
 * The level offset (engine/item-levels.ts) shares the popularity prior's per-item slot: on every
 * backend present (CPU scalar, WASM f32/int8, batched and offloaded; WebGPU per-item and
 * cooperative scorers) scores and rankings are the reference's blend + prior + offset, with
 * every storage, with λ ≠ 0 and with λ = 0 (where the offsets alone switch the slot on); offset 0
 * leaves every score bit for bit as without one; a bad offset or level is a coded error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { targetsUnderTest, smallModel, randomItems, assertClose } from '../helpers/fixtures.js';
import type { RalmModel } from '../../src/model/model.js';
import { RalmEngine, type ItemCentroids } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';
import { enginesOn, expectedScores, withPrior } from '../helpers/slot-parity.js';
import { Rng } from '../../src/util/rng.js';

const targets = await targetsUnderTest();


/** Items with clicker counts and offsets of either sign (some none), large enough to reorder lists. */
function levelledItems(model: RalmModel, n: number, seed: number): ItemCentroids[] {
  const rng = new Rng(seed + 1);
  return randomItems(model, n, seed).map((it, i) => (i % 9 === 4 ? it : { ...it, clickers: Math.floor(Math.exp(rng.next() * 8)), offset: Math.fround((rng.next() - 0.5) * 0.8), level: rng.next() }));
}


for (const target of targets) {
  describe(`level offsets on ${target.label}`, () => {
    const engineFor = enginesOn(target);

    for (const [storage, lambda] of [['f32', 0.05], ['f16', 0], ['int8', 0.05], ['int8', 0]] as const) {
      it(`scores and ranks as blend + prior + offset (${storage} storage, λ = ${lambda})`, async () => {
        const model = withPrior(smallModel({ seed: 171 }), lambda);
        const engine = await engineFor(model, { storage, slotsPerPage: 256 });
        const items = levelledItems(model, 601, 172);
        await engine.upsertItems(items);
        const ids = items.map((i) => i.id);
        const tol = storage === 'int8' ? [1e-4, 1e-3] : [2e-5, 1e-4];
        const rng = new Rng(173);
        for (const B of [1, 4]) {
          const users = Array.from({ length: B }, () => rng.normals(model.manifest.h));
          const scored = await engine.score(users.map((e) => ({ user: { embedding: e }, items: ids })));
          const ranked = await engine.rank(users.map((e) => ({ user: { embedding: e }, candidates: ids, k: 25 })));
          users.forEach((e, b) => {
            const want = expectedScores(model, lambda, e, items, storage);
            assertClose(scored[b].scores, want, `score, batch of ${B}, request ${b}`, tol[0], tol[1]);
            const order = want.map((s, i) => ({ s, i })).sort((x, y) => y.s - x.s || x.i - y.i);
            ranked[b].items.forEach((got, t) => {
              assert.ok(Math.abs(got.score - order[t].s) <= tol[0] + tol[1] * Math.abs(order[t].s), `rank ${t}: ${got.score} vs ${order[t].s}`);
              assert.equal(got.score, scored[b].scores[ids.indexOf(got.id)], `rank ${t}: the ranked score is the scored one`);
            });
          });
        }
      });
    }

    for (const [storage, lambda] of [['f32', 0.05], ['int8', 0.05], ['f32', 0]] as const) {
      it(`itemLevels: false scores and ranks as blend + prior alone, beside requests that keep the offsets in one batch (${storage}, λ = ${lambda})`, async () => {
        const model = withPrior(smallModel({ seed: 181 }), lambda);
        const engine = await engineFor(model, { storage, slotsPerPage: 256 });
        const items = levelledItems(model, 401, 182);
        await engine.upsertItems(items);
        const ids = items.map((i) => i.id);
        const plain = items.map((it) => ({ ...it, offset: 0 }));
        const tol = storage === 'int8' ? [1e-4, 1e-3] : [2e-5, 1e-4];
        const rng = new Rng(183);
        // Alternating switches in one call: every backend batches these requests together.
        const users = Array.from({ length: 4 }, () => rng.normals(model.manifest.h));
        const levels = [false, true, false, true];
        const scored = await engine.score(users.map((e, b) => ({ user: { embedding: e }, items: ids, itemLevels: levels[b] })));
        const ranked = await engine.rank(users.map((e, b) => ({ user: { embedding: e }, candidates: ids, k: 25, itemLevels: levels[b] })));
        const everything = await engine.rank(users.map((e, b) => ({ user: { embedding: e }, k: 25, itemLevels: levels[b] })));
        users.forEach((e, b) => {
          const want = expectedScores(model, lambda, e, levels[b] ? items : plain, storage);
          assertClose(scored[b].scores, want, `score, request ${b} (itemLevels ${levels[b]})`, tol[0], tol[1]);
          const order = want.map((s, i) => ({ s, i })).sort((x, y) => y.s - x.s || x.i - y.i);
          for (const result of [ranked[b], everything[b]]) {
            result.items.forEach((got, t) => {
              assert.ok(Math.abs(got.score - order[t].s) <= tol[0] + tol[1] * Math.abs(order[t].s), `request ${b}, rank ${t}: ${got.score} vs ${order[t].s}`);
              assert.equal(got.score, scored[b].scores[ids.indexOf(got.id)], `request ${b}, rank ${t}: the ranked score is the scored one`);
            });
          }
        });
        // The offsets reorder these lists: the switch is not a no-op.
        assert.notDeepEqual(ranked[0].items.map((i) => i.id), (await engine.rank([{ user: { embedding: users[0] }, candidates: ids, k: 25 }]))[0].items.map((i) => i.id));
      });
    }

    it('offset 0 (or absent) leaves every score bit for bit as without one; a republished offset replaces the old', async () => {
      const base = withPrior(smallModel({ seed: 191 }), 0);
      const items = randomItems(base, 200, 192);
      const e = new Rng(193).normals(base.manifest.h);
      const zero = await engineFor(base);
      await zero.upsertItems(items.map((it) => ({ ...it, offset: 0, level: 0.5 })));
      const none = await engineFor(base);
      await none.upsertItems(items);
      const ids = items.map((i) => i.id);
      const [a] = await zero.score([{ user: { embedding: e }, items: ids }]);
      const [b] = await none.score([{ user: { embedding: e }, items: ids }]);
      assert.deepEqual(a.scores, b.scores);
      assert.deepEqual((await zero.rank([{ user: { embedding: e }, k: 30 }]))[0].items, (await none.rank([{ user: { embedding: e }, k: 30 }]))[0].items);
      const [before] = await none.score([{ user: { embedding: e }, items: [items[3].id] }]);
      await none.upsertItems([{ ...items[3], offset: 0.375 }]);
      const [c] = await none.score([{ user: { embedding: e }, items: [items[3].id] }]);
      // Within float32 rounding: the GPU adds the term inside its blend.
      assert.ok(Math.abs(c.scores[0] - (before.scores[0] + 0.375)) < 1e-6, `${c.scores[0]} vs ${before.scores[0]} + 0.375`);
      assert.deepEqual(none.table.levelOf(none.table.slotOf(items[3].id) as number).offset, 0.375);
    });
  });
}

describe('level offsets: bad input', () => {
  it('an offset or level that is not a finite number within ±1000 is a coded error naming the item and field', async () => {
    const model = smallModel({ seed: 199 });
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const [it] = randomItems(model, 1, 200);
    for (const key of ['offset', 'level'] as const) {
      for (const bad of [Number.NaN, Infinity, 1001, '0.1' as unknown as number]) {
        await assert.rejects(engine.upsertItems([{ ...it, [key]: bad }]), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && err.message.startsWith(`items[0].${key}: expected a finite number within ±1000`));
      }
    }
    await engine.close();
  });

  it('an itemLevels that is not true or false is a coded error naming the request and field', async () => {
    const model = smallModel({ seed: 201 });
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const items = randomItems(model, 3, 202);
    await engine.upsertItems(items);
    const user = { embedding: new Rng(203).normals(model.manifest.h) };
    for (const bad of ['false', 0, null]) {
      const itemLevels = bad as unknown as boolean;
      await assert.rejects(engine.rank([{ user, k: 2 }, { user, k: 2, itemLevels }]), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && err.message.startsWith('requests[1].itemLevels: expected true or false'));
      await assert.rejects(engine.score([{ user, items: [items[0].id], itemLevels }]), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && err.message.startsWith('requests[0].itemLevels: expected true or false'));
      assert.throws(() => engine.prepareRank({ user, k: 2, itemLevels }), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && err.message.startsWith('itemLevels: expected true or false'));
    }
    await engine.close();
  });
});
