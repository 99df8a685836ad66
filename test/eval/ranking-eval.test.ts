import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Dataset, sortByTime } from '../../src/data/dataset.js';
import type { FeatureColumn } from '../../src/data/features.js';
import { cutAtShare, temporalSplit } from '../../src/data/split.js';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { MostPopular, RandomScores } from '../../src/eval/baselines.js';
import { aucNegatives, buildContext, evaluateRanking, type EvalContext, type Recommender } from '../../src/eval/ranking-eval.js';

/**
 * Training (t < 10): a x, a y, b x, b z, c x, d y (a non-click), e v, e z. Popularity x 3, z 2, y 1,
 * v 1; item ids x 0, y 1, z 2, v 3, n 4. Test: a z, a x (clicked before), a n (new); b v; c y,
 * c v; d x; f x (no training row); e n (new only). Genres: x {g0}, y {g0, g1}, z {g1}, v none, n {g2}.
 */
function fixture(): Dataset {
  const rows: Array<[string, string, number, number?]> = [
    ['a', 'x', 1], ['a', 'y', 2], ['b', 'x', 3], ['b', 'z', 4], ['c', 'x', 5], ['d', 'y', 6, 0], ['e', 'v', 7], ['e', 'z', 8],
    ['a', 'z', 10], ['a', 'x', 11], ['a', 'n', 12], ['b', 'v', 13], ['c', 'y', 14], ['c', 'v', 15], ['d', 'x', 16], ['f', 'x', 17], ['e', 'n', 18],
  ];
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const clicks = sortByTime({
    user: Uint32Array.from(rows, (r) => users.add(r[0])), item: Uint32Array.from(rows, (r) => items.add(r[1])),
    ts: Float64Array.from(rows, (r) => r[2]), label: Uint8Array.from(rows, (r) => r[3] ?? 1),
  });
  const genres: FeatureColumn = {
    name: 'genres', type: 'multi', vocab: new Vocabulary('genres', ['g0', 'g1', 'g2']),
    offsets: Uint32Array.from([0, 1, 3, 4, 4, 5]), ids: Int32Array.from([0, 0, 1, 1, 2]),
  };
  return new Dataset({
    name: 'hand', users, items, clicks, userFields: [], itemFields: [genres], featuresAsOf: null,
    report: { files: [], rows: 0, kept: 0, blankLines: 0, badRows: 0, bad: {} },
  });
}

const names = (ds: Dataset, ids: ArrayLike<number>, kind: 'users' | 'items'): string[] => Array.from(ids as ArrayLike<number>, (i) => ds[kind].value(i));
const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);

/** Scores the user's test positives `sign`, everything else 0: the oracle (+1) and its reverse (−1). */
function oracle(ctx: EvalContext, sign: 1 | -1): Recommender {
  return {
    name: sign > 0 ? 'oracle' : 'reversed oracle',
    score(u, items, out) {
      const mine = new Set(ctx.clicked.row(ctx.userIndex[u]));
      for (let j = 0; j < items.length; j++) out[j] = mine.has(items[j]) ? sign : 0;
    },
  };
}

describe('evaluation context', () => {
  const ds = fixture();
  const split = temporalSplit(ds, 10);

  it('takes trained items as candidates and users with a training row and a new test click on one', () => {
    const ctx = buildContext(ds, split);
    assert.deepEqual(names(ds, ctx.candidates, 'items'), ['x', 'y', 'z', 'v']);
    assert.deepEqual(names(ds, ctx.users, 'users'), ['a', 'b', 'c', 'd'], 'e clicked only a new item, f has no training row');
    assert.deepEqual(Array.from(ctx.popularity), [3, 1, 2, 1, 0]);
    assert.deepEqual(Array.from(ctx.head), [1, 1, 1, 0, 0], '80 % of 7 clicks: x, z, then y before v (lower index)');
    const row = (k: number, which: 'clicked' | 'trainClicked'): string[] => names(ds, ctx[which].row(k), 'items');
    assert.deepEqual([0, 1, 2, 3].map((k) => row(k, 'clicked')), [['z'], ['v'], ['y', 'v'], ['x']], "a's x was clicked in training; n is no candidate");
    assert.deepEqual([0, 1, 2, 3].map((k) => row(k, 'trainClicked')), [['x', 'y'], ['x', 'z'], ['x'], []], "d's row on y is a non-click");
    assert.equal(ctx.userIndex[ds.users.id('c')], 2);
    assert.equal(ctx.userIndex[ds.users.id('f')], -1);
    assert.equal(ctx.candidateIndex[ds.items.id('n')], -1);
  });

  it('adds new items and users without training rows on request', () => {
    const ctx = buildContext(ds, split, { includeNewItems: true, minTrainRows: 0 });
    assert.deepEqual(names(ds, ctx.candidates, 'items'), ['x', 'y', 'z', 'v', 'n']);
    assert.deepEqual(names(ds, ctx.users, 'users'), ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.deepEqual(names(ds, ctx.clicked.row(0), 'items'), ['z', 'n']);
    assert.deepEqual(names(ds, buildContext(ds, split, { minTrainClicks: 2 }).candidates, 'items'), ['x', 'z']);
    assert.throws(() => buildContext(ds, split, { minTrainClicks: 4 }), /no item has 4 or more training clicks/);
    assert.throws(() => buildContext(ds, split, { minTrainRows: 3 }), /no user has 3 or more training rows/);
  });

  it('samples users deterministically with the seed', () => {
    const a = buildContext(ds, split, { maxUsers: 2, seed: 5 });
    assert.equal(a.users.length, 2);
    assert.deepEqual(a.users, buildContext(ds, split, { maxUsers: 2, seed: 5 }).users);
    const seen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) seen.add(Array.from(buildContext(ds, split, { maxUsers: 2, seed }).users).join());
    assert.ok(seen.size > 1, 'different seeds draw different samples');
  });
});

describe('ranking evaluation on a hand-computed fixture', () => {
  const ds = fixture();
  const ctx = buildContext(ds, temporalSplit(ds, 10));

  it('gives most popular its exact metrics', async () => {
    // Lists (training clicks left out; y before v on the tie; at most max(ks) = 3): a z v, b y v, c z y v, d x z y.
    const r = await evaluateRanking(ctx, MostPopular.fromContext(ctx), { ks: [1, 2, 3], aucNegatives: 100, keepLists: true });
    assert.deepEqual(r.lists?.map((l) => names(ds, l, 'items')), [['z', 'v'], ['y', 'v'], ['z', 'y', 'v'], ['x', 'z', 'y']]);
    const m = r.metrics;
    assert.equal(m['prec@1'], 0.5);
    assert.equal(m['prec@2'], (1 + 1 + 0.5 + 1) / 4);
    assert.equal(m['recall@2'], (1 + 1 + 0.5 + 1) / 4);
    assert.equal(m['prec@3'], 1, 'c: 2 hits / min(3, 2)');
    assert.equal(m['hit@1'], 0.5);
    // Negatives are all never-clicked candidates: a {v}, b {y}, c {z}, d {y, z, v}.
    assert.equal(m.auc, (1 + 0.5 + 0 + 1) / 4);
    // With every never-clicked candidate drawn, exposure negatives are the same set.
    assert.equal(m.aucExposure, m.auc);
    close(m.globalAuc, 17 / 30, 'globalAuc');
    assert.equal(m['longTail@2'], 2 / 8, 'v is the only long-tail item');
    assert.equal(m['coverage@1'], 3 / 4);
    assert.equal(m['coverage@2'], 1);
    assert.equal(m['categories@1'], (1 + 2 + 1 + 1) / 4);
    assert.equal(m['categories@2'], (1 + 2 + 2 + 2) / 4);
    const hc = -(0.75 * Math.log2(0.75) + 0.25 * Math.log2(0.25));
    close(m['entropy@2'], (0 + 1 + hc + 1) / 4, 'entropy@2');
    assert.deepEqual(Object.keys(m).slice(0, 10), ['auc', 'aucExposure', 'globalAuc', 'prec@1', 'recall@1', 'hit@1', 'longTail@1', 'coverage@1', 'categories@1', 'entropy@1']);
    assert.equal(r.users, 4);
    assert.equal(r.aucUsers, 4);
    assert.equal(r.settings.categoryField, 'genres');
    assert.equal(r.perUser['prec@1'].n, 4);
  });

  it('skips diversity when asked or when no item field is categorical', async () => {
    const r = await evaluateRanking(ctx, MostPopular.fromContext(ctx), { ks: [2], categoryField: null });
    assert.deepEqual(Object.keys(r.metrics), ['auc', 'aucExposure', 'globalAuc', 'prec@2', 'recall@2', 'hit@2', 'longTail@2', 'coverage@2']);
    await assert.rejects(evaluateRanking(ctx, MostPopular.fromContext(ctx), { categoryField: 'colour' }), /no item field "colour"/);
  });

  it('names the recommender on a NaN or an unwritten score', async () => {
    const nan: Recommender = { name: 'broken', score: (_u, items, out) => { out.fill(1); out[items.length - 1] = NaN; } };
    await assert.rejects(evaluateRanking(ctx, nan), /broken: score of user a for item v \(position 3 of 4\) is NaN or was not written/);
    const lazy: Recommender = { name: 'lazy', score: (_u, _items, out) => { out.fill(0, 1); } };
    await assert.rejects(evaluateRanking(ctx, lazy), (e: Error & { code?: string }) => e.code === 'RALM_ERR_NON_FINITE' && /^lazy: .* item x /.test(e.message));
  });

  it('awaits an asynchronous recommender', async () => {
    const pop = MostPopular.fromContext(ctx);
    const slow: Recommender = { name: 'async', score: async (u, items, out) => { await new Promise((r) => setImmediate(r)); pop.score(u, items, out); } };
    assert.deepEqual((await evaluateRanking(ctx, slow)).metrics, (await evaluateRanking(ctx, pop)).metrics);
  });

  it('rejects bad options', async () => {
    const pop = MostPopular.fromContext(ctx);
    await assert.rejects(evaluateRanking(ctx, pop, { ks: [] }), /ks: expected at least one cut-off/);
    await assert.rejects(evaluateRanking(ctx, pop, { ks: [10, 0] }), /K: expected an integer ≥ 1, got 0/);
    await assert.rejects(evaluateRanking(ctx, pop, { aucNegatives: 0 }), /aucNegatives: expected an integer ≥ 1/);
  });
});

describe('ranking evaluation on synthetic data', () => {
  const { dataset: ds } = generateSynthetic({ users: 400, items: 300, seed: 4 });
  const split = temporalSplit(ds, cutAtShare(ds, 0.7));
  const ctx = buildContext(ds, split, { maxUsers: 150, seed: 2 });

  it('gives an oracle perfect precision, recall at K ≥ |clicked|, and AUC 1; its reverse AUC 0', async () => {
    const ks = [1, 5, 50];
    const r = await evaluateRanking(ctx, oracle(ctx, 1), { ks, keepLists: true });
    for (const K of ks) assert.equal(r.metrics[`prec@${K}`], 1, `prec@${K}`);
    assert.equal(r.metrics.auc, 1);
    let checked = 0;
    for (let k = 0; k < ctx.users.length; k++) {
      const n = ctx.clicked.row(k).length;
      if (n > 50) continue;
      const top = new Set(r.lists?.[k].subarray(0, 50));
      for (const i of ctx.clicked.row(k)) assert.ok(top.has(i), 'every clicked item is in the top 50');
      checked++;
    }
    assert.ok(checked > 100);
    const reversed = await evaluateRanking(ctx, oracle(ctx, -1), { ks });
    assert.equal(reversed.metrics.auc, 0);
    assert.equal(reversed.metrics.globalAuc, 0);
    assert.ok(reversed.metrics['recall@50'] < r.metrics['recall@50']);
  });

  it('leaves training clicks out of every list, and the context matches the raw rows', async () => {
    const r = await evaluateRanking(ctx, MostPopular.fromContext(ctx), { ks: [100], keepLists: true });
    const { user, item, label } = ds.clicks;
    for (let k = 0; k < ctx.users.length; k++) {
      const u = ctx.users[k];
      const train = new Set<number>();
      const test = new Set<number>();
      for (let j = 0; j < ds.clickCount; j++) if (user[j] === u && label[j]) (j < split.trainEnd ? train : test).add(item[j]);
      assert.deepEqual(Array.from(ctx.trainClicked.row(k)), [...train].sort((a, b) => a - b));
      const expected = [...test].filter((i) => !train.has(i) && ctx.candidateIndex[i] >= 0).sort((a, b) => a - b);
      assert.deepEqual(Array.from(ctx.clicked.row(k)), expected);
      const list = r.lists?.[k] ?? new Uint32Array(0);
      assert.equal(list.length, Math.min(100, ctx.candidates.length - [...train].filter((i) => ctx.candidateIndex[i] >= 0).length));
      for (const i of list) assert.ok(!train.has(i), `user ${k}: item ${i} was clicked in training`);
    }
  });

  it('draws AUC negatives the user never clicked, the same whoever else is evaluated', () => {
    const other = buildContext(ds, split, { maxUsers: 60, seed: 9 });
    let shared = 0;
    for (let k = 0; k < other.users.length; k++) {
      const neg = aucNegatives(other, k, 100, 3);
      assert.equal(neg.length, 100);
      assert.equal(new Set(neg).size, 100, 'without replacement');
      const u = other.users[k];
      for (const c of neg) {
        const i = other.candidates[c];
        for (let j = 0; j < ds.clickCount; j++) assert.ok(!(ds.clicks.user[j] === u && ds.clicks.item[j] === i && ds.clicks.label[j]), 'never clicked');
      }
      const mine = ctx.userIndex[u];
      if (mine >= 0) {
        assert.deepEqual(aucNegatives(ctx, mine, 100, 3), neg);
        shared++;
      }
      assert.notDeepEqual(aucNegatives(other, k, 100, 4), neg, 'another seed draws others');
    }
    assert.ok(shared > 5, `${shared} users in both samples`);
  });

  it('gives identical numbers for the same seed, and puts random near chance and popularity above it', async () => {
    const pop = MostPopular.fromContext(ctx);
    const a = await evaluateRanking(ctx, pop, { seed: 7 });
    const b = await evaluateRanking(ctx, pop, { seed: 7 });
    assert.deepEqual(a.metrics, b.metrics);
    assert.deepEqual(a.perUser, b.perUser);
    const rnd = await evaluateRanking(ctx, new RandomScores(3), { seed: 7 });
    assert.deepEqual(rnd.metrics, (await evaluateRanking(ctx, new RandomScores(3), { seed: 7 })).metrics);
    assert.notEqual((await evaluateRanking(ctx, pop, { seed: 8 })).metrics.auc, a.metrics.auc, 'the seed changes the negatives');
    assert.ok(Math.abs(rnd.metrics.auc - 0.5) < 0.06, `random AUC ${rnd.metrics.auc}`);
    assert.ok(a.metrics.auc > rnd.metrics.auc + 0.1, `popularity AUC ${a.metrics.auc}`);
    assert.ok(a.metrics['longTail@10'] < rnd.metrics['longTail@10'], 'popularity recommends the head');
    assert.ok(a.metrics['coverage@10'] < rnd.metrics['coverage@10']);
    assert.equal(a.settings.categoryField, 'category');
    assert.ok(a.timing.msPerUser >= 0 && a.timing.seconds > 0);
  });
});
