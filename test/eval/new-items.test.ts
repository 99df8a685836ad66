import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clickersByItem, Dataset, sortByTime } from '../../src/data/dataset.js';
import { temporalSplit } from '../../src/data/split.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { NewItemProtocol } from '../../src/eval/new-items.js';
import { buildContext } from '../../src/eval/ranking-eval.js';
import { distinctPositives } from '../../src/train/pipeline.js';
import { RalmRecommender } from '../../src/eval/recommenders.js';
import { smallModel } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';

/**
 * Training (t < 10): a x, b y, c z, d x. After the cut, the new item n is clicked by g (never seen
 * before the cut), a, h (never seen), b, c, d in that order, and a clicks y; x, y, z are the candidates.
 */
function fixture(): Dataset {
  const rows: Array<[string, string, number]> = [
    ['a', 'x', 1], ['b', 'y', 2], ['c', 'z', 3], ['d', 'x', 4],
    ['g', 'n', 10], ['a', 'n', 11], ['h', 'n', 12], ['b', 'n', 13], ['c', 'n', 14], ['d', 'n', 15], ['a', 'y', 16],
  ];
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const clicks = sortByTime({
    user: Uint32Array.from(rows, (r) => users.add(r[0])), item: Uint32Array.from(rows, (r) => items.add(r[1])),
    ts: Float64Array.from(rows, (r) => r[2]), label: new Uint8Array(rows.length).fill(1),
  });
  return new Dataset({ name: 'hand', users, items, clicks, userFields: [], itemFields: [], featuresAsOf: null, report: { files: [], rows: 0, kept: 0, blankLines: 0, badRows: 0, bad: {} } });
}

describe('new-item protocol', () => {
  const ds = fixture();
  const split = temporalSplit(ds, 10);
  const ctx = buildContext(ds, split);
  const clickers = clickersByItem(distinctPositives(ds, ds.clickCount));
  const names = (ids: number[]): string[] => ids.map((u) => ds.users.value(u));
  const plansOf = (seedUsers: 'any' | 'known'): NewItemProtocol => new NewItemProtocol(ds, split, ctx, clickers, { seedCounts: [1, 2], maxItems: 10, maxTargets: 10, negatives: 2, seedUsers });

  it("'any': the first n clickers are the seeds, whether or not they were known before the cut", () => {
    const p = plansOf('any');
    assert.deepEqual(p.plans.map(({ n, plans }) => [n, plans.map((pl) => [names(pl.seeds), names(pl.targets)])]), [
      [1, [[['g'], ['a', 'b', 'c', 'd']]]],
      [2, [[['g', 'a'], ['b', 'c', 'd']]]],
    ]);
  });

  it("'known': only the known among the first n clickers are seeds; an item with none is left out", () => {
    const p = plansOf('known');
    assert.deepEqual(p.plans.map(({ n, plans }) => [n, plans.map((pl) => [names(pl.seeds), names(pl.targets)])]), [
      [1, []],
      [2, [[['a'], ['b', 'c', 'd']]]],
    ]);
  });

  it('negatives are candidates the target never clicked, and any scorer is averaged per pair', () => {
    const p = plansOf('known');
    const [{ plans }] = p.plans.filter((x) => x.n === 2);
    for (const [t, u] of plans[0].targets.entries()) {
      const clicked = new Set(Array.from(clickers).filter(([, us]) => us.includes(u)).map(([i]) => i));
      assert.ok(plans[0].negatives[t].length > 0);
      for (const i of plans[0].negatives[t]) assert.ok(!clicked.has(i) && ctx.candidateIndex[i] >= 0);
    }
    // The new item first: AUC 1 per pair; reversed: 0.
    p.scoreWith('first', 1, (_u, pl, t) => [1, ...Array.from(pl.negatives[t], () => 0)]);
    p.scoreWith('last', 1, (_u, pl, t) => [-1, ...Array.from(pl.negatives[t], () => 0)]);
    const [, row] = p.rows(['first', 'last'], [1]);
    assert.equal(row.items, 1);
    assert.equal(row.pairs, 3);
    assert.equal(row.auc.first.mean, 1);
    assert.equal(row.auc.last.mean, 0);
  });

  it('RALM publishes each new item from its seeds, and with placebo users also from as many random ones, with the same clicker count', async () => {
    const p = plansOf('any');
    const model = smallModel({ seed: 5 });
    const x = new Rng(6).normals(ds.users.size * model.manifest.m);
    const known = [0, 1, 2, 3];
    const rec = await RalmRecommender.create('RALM', model, x, (i) => clickers.get(i) ?? [], ctx.candidates, 1, (i) => clickers.get(i)?.length ?? 0, { levels: { users: known } });
    try {
      const published: Array<{ id: string; clickers: number }> = [];
      const publish = rec.publish.bind(rec);
      rec.publish = (items) => {
        published.push(...items.map((it) => ({ id: it.id, clickers: it.clickers })));
        return publish(items);
      };
      await p.ralm(rec, 1, known);
      // Per plan: the item from its seeds, then the placebo, each with the seeds' distinct count.
      assert.deepEqual(published.map((it) => it.clickers), [1, 1, 2, 2]);
      assert.deepEqual([...p.placebos], ['RALM, random seeds (placebo)']);
      const rows = p.rows(['RALM', ...p.placebos], [1]);
      for (const row of rows) for (const m of ['RALM', 'RALM, random seeds (placebo)']) assert.ok(row.auc[m].mean >= 0 && row.auc[m].mean <= 1, `${row.n} ${m}`);
    } finally {
      await rec.close();
    }
  });
});
