/**
 * The popularity prior λ · ln(1 + clickers) (model/prior.ts) on every backend present: scores
 * and rankings like the reference with λ ≠ 0 (the model's λ and a serving override), with every
 * storage, through the batched and offloaded CPU paths and both WebGPU scorers and top-K; λ = 0
 * leaves the scores bit for bit as without the term; bad counts are coded errors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { targetsUnderTest, smallModel, randomItems, assertClose } from '../helpers/fixtures.js';
import type { RalmModel } from '../../src/model/model.js';
import { RalmEngine, type ItemCentroids } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';
import { enginesOn, expectedScores, withPrior } from '../helpers/slot-parity.js';
import { Rng } from '../../src/util/rng.js';
import { popularityPrior } from '../../src/model/prior.js';

const targets = await targetsUnderTest();


/** Items with clicker counts spread from 0 (and absent) to 100,000, so the prior reorders lists. */
function countedItems(model: RalmModel, n: number, seed: number): ItemCentroids[] {
  const rng = new Rng(seed + 1);
  return randomItems(model, n, seed).map((it, i) => (i % 11 === 5 ? it : { ...it, clickers: i % 7 === 0 ? 0 : Math.floor(Math.exp(rng.next() * 11.5)) }));
}



for (const target of targets) {
  describe(`popularity prior on ${target.label}`, () => {
    const engineFor = enginesOn(target);

    for (const storage of ['f32', 'f16', 'int8'] as const) {
      it(`scores and ranks like the reference with the model's λ = 0.05 (${storage} storage)`, async () => {
        const lambda = 0.05;
        const model = withPrior(smallModel({ seed: 71 }), lambda);
        const engine = await engineFor(model, { storage, slotsPerPage: 256 });
        const items = countedItems(model, 1025, 72);
        await engine.upsertItems(items);
        const ids = items.map((i) => i.id);
        const tol = storage === 'int8' ? [1e-4, 1e-3] : [2e-5, 1e-4];
        const rng = new Rng(73);
        // 1 request alone, then batches sharing the candidates (the CPU's batched kernels; on the
        // offloaded target, the scoring workers).
        for (const B of [1, 3, 6]) {
          const users = Array.from({ length: B }, () => rng.normals(model.manifest.h));
          const scored = await engine.score(users.map((e) => ({ user: { embedding: e }, items: ids })));
          const ranked = await engine.rank(users.map((e) => ({ user: { embedding: e }, candidates: ids, k: 20 })));
          users.forEach((e, b) => {
            const want = expectedScores(model, lambda, e, items, storage);
            assertClose(scored[b].scores, want, `score, batch of ${B}, request ${b}`, tol[0], tol[1]);
            // cos_global and cos_local carry no prior.
            const noPrior = expectedScores(model, 0, e, items, storage);
            const blend = Array.from(scored[b].cosGlobal, (g, i) => model.manifest.alpha * g + model.manifest.beta * scored[b].cosLocal[i]);
            assertClose(blend, noPrior, `α·cos_g + β·cos_l, batch of ${B}, request ${b}`, tol[0], tol[1]);
            // The top 20 by the prior-inclusive scores this backend returned, in the reference's order.
            const order = want.map((s, i) => ({ s, i })).sort((x, y) => y.s - x.s || x.i - y.i);
            ranked[b].items.forEach((got, t) => {
              assert.ok(Math.abs(got.score - order[t].s) <= tol[0] + tol[1] * Math.abs(order[t].s), `rank ${t}: ${got.score} vs ${order[t].s}`);
              const at = ids.indexOf(got.id);
              assert.equal(got.score, scored[b].scores[at], `rank ${t}: the ranked score is the scored one`);
            });
          });
        }
      });
    }

    it('a serving override of λ replaces the model\'s, including K past the GPU select limit and every item', async () => {
      const model = withPrior(smallModel({ seed: 81 }), 0.02);
      const engine = await engineFor(model, { popularityPrior: 0.3 });
      const items = countedItems(model, 700, 82);
      await engine.upsertItems(items);
      const e = new Rng(83).normals(model.manifest.h);
      const want = expectedScores(model, 0.3, e, items);
      const [s] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      assertClose(s.scores, want, 'score', 2e-5, 1e-4);
      const [all] = await engine.rank([{ user: { embedding: e }, k: 650 }]);
      const order = Array.from(s.scores.keys()).sort((a, b) => s.scores[b] - s.scores[a] || a - b);
      assert.deepEqual(all.items.map((r) => r.id), order.slice(0, 650).map((i) => items[i].id));
      // The prior moves items with many clickers up: the top 10 lean to the head.
      const mean = (ids: string[]): number => ids.reduce((a, id) => a + (items.find((i) => i.id === id)?.clickers ?? 0), 0) / ids.length;
      const plainEngine = await engineFor(withPrior(model, 0));
      await plainEngine.upsertItems(items);
      const [plain] = await plainEngine.rank([{ user: { embedding: e }, k: 10 }]);
      assert.ok(mean(all.items.slice(0, 10).map((r) => r.id)) > mean(plain.items.map((r) => r.id)), 'the prior did not favour items with more clickers');
    });

    it('λ = 0 (or absent) leaves every score bit for bit as without clicker counts', async () => {
      const base = smallModel({ seed: 91 });
      const items = countedItems(base, 300, 92);
      const e = new Rng(93).normals(base.manifest.h);
      const withCounts = await engineFor(withPrior(base, 0));
      await withCounts.upsertItems(items);
      const without = await engineFor(base);
      await without.upsertItems(items.map(({ clickers: _c, ...it }) => it));
      const [a] = await withCounts.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      const [b] = await without.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      assert.deepEqual(a.scores, b.scores);
      const [ra] = await withCounts.rank([{ user: { embedding: e }, k: 30 }]);
      const [rb] = await without.rank([{ user: { embedding: e }, k: 30 }]);
      assert.deepEqual(ra.items, rb.items);
    });

    it('an item without a count scores with prior 0; a re-published count replaces the old prior', async () => {
      const model = withPrior(smallModel({ seed: 95 }), 0.1);
      const engine = await engineFor(model);
      const [it] = randomItems(model, 1, 96);
      await engine.upsertItems([it]);
      const e = new Rng(97).normals(model.manifest.h);
      const [r0] = await engine.score([{ user: { embedding: e }, items: [it.id] }]);
      await engine.upsertItems([{ ...it, clickers: 499 }]);
      const [r1] = await engine.score([{ user: { embedding: e }, items: [it.id] }]);
      assert.equal(r1.scores[0], Math.fround(r0.scores[0] + popularityPrior(0.1, 499)));
      assert.equal(engine.table.clickersOf(engine.table.slotOf(it.id) as number), 499);
    });
  });
}

describe('popularity prior: bad input', () => {
  it('a clicker count that is not a non-negative integer is a coded error naming the item', async () => {
    const model = smallModel({ seed: 99 });
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const [it] = randomItems(model, 1, 100);
    for (const bad of [-1, 2.5, Number.NaN, 2 ** 40, '7' as unknown as number]) {
      await assert.rejects(engine.upsertItems([{ ...it, clickers: bad }]), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && /items\[0\]\.clickers: expected an integer in \[0, 4294967295\]/.test(err.message));
    }
    await engine.close();
  });

  it('a λ that is not a finite number within ±10 is refused, as an option and in a manifest', async () => {
    const model = smallModel({ seed: 101 });
    for (const bad of [Number.NaN, Infinity, 11, '0.1' as unknown as number]) {
      await assert.rejects(RalmEngine.create(model, { backend: 'cpu', popularityPrior: bad }), (err: RalmError) => err.code === 'RALM_ERR_VALIDATION' && /popularityPrior: expected a finite number within ±10/.test(err.message));
    }
  });
});
