import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { heldPerUser, holdOutForRanking, PRIOR_WEIGHTS, rankingScores, RankingValidation } from '../../src/train/stage2-ranking.js';
import { forwardScore, initParams, paramList } from '../../src/train/stage2-model.js';
import { tfReady, trainStage2 } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { Rng } from '../../src/util/rng.js';

describe('stage 2 ranking validation', () => {
  it('scores every (user, item) pair as the training forward pass does', async () => {
    await tfReady();
    const m = 6;
    const k = 3;
    const I = 5;
    const n = 4;
    const rng = new Rng(3);
    const x = Float32Array.from({ length: n * m }, () => rng.normal());
    const c = Float32Array.from({ length: I * k * m }, () => rng.normal());
    const mask = Float32Array.from({ length: I * k }, (_, j) => (j % k === 2 && j < k * 2 ? 0 : 1)); // items 0 and 1 have 2 centroids
    for (const blend of [null, 0.4]) {
      const p = initParams(m, m, 4, 5, 'random', 1, blend);
      const fast = rankingScores(p, x, n, m, { c, mask }, I, k, m, 0.3, 0.7);
      const slow = tf.tidy(() => {
        const xs = new Float32Array(n * I * m);
        const cs = new Float32Array(n * I * k * m);
        const ms = new Float32Array(n * I * k);
        for (let u = 0; u < n; u++) for (let i = 0; i < I; i++) {
          const r = u * I + i;
          xs.set(x.subarray(u * m, (u + 1) * m), r * m);
          cs.set(c.subarray(i * k * m, (i + 1) * k * m), r * k * m);
          ms.set(mask.subarray(i * k, (i + 1) * k), r * k);
        }
        return forwardScore(p, tf.tensor2d(xs, [n * I, m]), tf.tensor3d(cs, [n * I, k, m]), tf.tensor2d(ms, [n * I, k]), 0.3, 0.7).dataSync() as Float32Array;
      });
      for (let j = 0; j < n * I; j++) assert.ok(Math.abs(fast[j] - slow[j]) < 1e-4, `pair ${j}: ${fast[j]} vs ${slow[j]} (blend ${blend})`);
      for (const v of paramList(p)) v.dispose();
    }
  });

  it('holds out each sampled user\'s latest clicks on candidates, and trains without them', () => {
    // Users 0..5 click items in time order; item 9 has too few clickers to be a candidate.
    const user: number[] = [];
    const item: number[] = [];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 9; i++) { user.push(u); item.push((i + u) % 9); }
    user.push(0); item.push(9);
    const h = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 2, minTrainClicks: 5 });
    assert.deepEqual(h.ranking.candidates, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(h.ranking.rows, 12);
    // User 0's latest clicks: 9 (not a candidate), then 8 and 7.
    assert.ok(h.ranking.isHeldOut(0, 8) && h.ranking.isHeldOut(0, 7) && !h.ranking.isHeldOut(0, 9) && !h.ranking.isHeldOut(0, 6));
    assert.equal(h.training.user.length, user.length - 12);
    for (let j = 0; j < h.training.user.length; j++) assert.ok(!h.ranking.isHeldOut(h.training.user[j], h.training.item[j]));
    h.seeds.forEach((s, j) => { for (const u of s) assert.ok(!h.ranking.isHeldOut(u, h.ranking.candidates[j]), 'a held-out clicker is never a seed of that item'); });
  });

  it('records the mean clickers of each list\'s top items and prec@K with a popularity prior, as computed by hand', async () => {
    await tfReady();
    const user: number[] = [];
    const item: number[] = [];
    for (let u = 0; u < 8; u++) for (let i = 0; i < 9; i++) if ((i * 7 + u * 3) % 5 !== 0 || i < 2) { user.push(u); item.push((i + u) % 9); }
    const h = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 2, minTrainClicks: 4 });
    const v = h.ranking;
    assert.ok(v.clickers && v.rows > 0);
    const m = 5;
    const k = 2;
    const I = v.candidates.length;
    const rng = new Rng(9);
    const x = Float32Array.from({ length: v.rows * m }, () => rng.normal());
    const cent = { c: Float32Array.from({ length: I * k * m }, () => rng.normal()), mask: new Float32Array(I * k).fill(1) };
    const p = initParams(m, m, 3, 2, 'identity', 1);
    try {
      const topK = 2;
      const got = await v.evaluate(p, x, m, cent, k, m, 0.3, 0.7, topK);
      const scores = rankingScores(p, x, v.rows, m, cent, I, k, m, 0.3, 0.7);
      const clicked = new Map<number, Set<number>>();
      // Every other click of the user is left out of the list, held-out ones included.
      for (let j = 0; j < user.length; j++) (clicked.get(user[j]) ?? clicked.set(user[j], new Set()).get(user[j]) as Set<number>).add(item[j]);
      const byHand = (lambda: number): { prec: number; top: number } => {
        let hits = 0;
        let top = 0;
        for (let r = 0; r < v.rows; r++) {
          const own = clicked.get(v.rowUser[r]) ?? new Set<number>();
          const list = v.candidates.map((it, j) => ({ it, j, s: scores[r * I + j] + lambda * Math.log1p((v.clickers as Float64Array)[j]) }))
            .filter((e) => e.it === v.rowItem[r] || !own.has(e.it)).sort((a, b) => b.s - a.s);
          if (list.slice(0, topK).some((e) => e.it === v.rowItem[r])) hits++;
          if (lambda === 0) top += list.slice(0, topK).reduce((s, e) => s + (v.clickers as Float64Array)[e.j], 0) / topK;
        }
        return { prec: hits / v.rows, top: top / v.rows };
      };
      assert.equal(got, byHand(0).prec);
      assert.ok(Math.abs(v.topClickers - byHand(0).top) < 1e-9, `${v.topClickers} vs ${byHand(0).top}`);
      assert.deepEqual(v.withPrior, PRIOR_WEIGHTS.map((l) => byHand(l).prec));
      assert.match(v.diagnostics(), /top 10: [0-9.]+ clickers an item; with a popularity prior/);
    } finally {
      for (const t of paramList(p)) t.dispose();
    }
  });

  it('holds out each user\'s latest share of clicks, at least perUser and at most maxPerUser, leaving minTrainClicks', () => {
    assert.equal(heldPerUser(40, { perUser: 3, share: 0.25, maxPerUser: 50 }), 10);
    assert.equal(heldPerUser(40, { perUser: 3, share: 0.25, maxPerUser: 6 }), 6);
    assert.equal(heldPerUser(40, { perUser: 3, share: 0.05, maxPerUser: 50 }), 3);
    assert.equal(heldPerUser(40, { perUser: 3, share: 0, maxPerUser: 50 }), 3, 'share 0: three a user, as before the share');
    // Users 0..9 click 40 items each (items shifted per user, so every item has 10 clickers).
    const user: number[] = [];
    const item: number[] = [];
    for (let u = 0; u < 10; u++) for (let i = 0; i < 40; i++) { user.push(u); item.push((i + u) % 40); }
    const h = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 3, share: 0.25, maxPerUser: 50, minTrainClicks: 5 });
    assert.equal(h.ranking.rows, 10 * 10);
    for (let u = 0; u < 10; u++) {
      for (let i = 30; i < 40; i++) assert.ok(h.ranking.isHeldOut(u, (i + u) % 40), `user ${u}'s click ${i} is among their latest quarter`);
      assert.ok(!h.ranking.isHeldOut(u, (29 + u) % 40));
    }
    const capped = holdOutForRanking({ user, item }, 3, 100, 1, { perUser: 3, share: 0.9, maxPerUser: 50, minTrainClicks: 20 });
    assert.equal(capped.ranking.rows, 10 * 20, 'minTrainClicks training clicks stay with each user');
  });

  it('leaves users with too few clicks out', () => {
    const r = RankingValidation.build({ user: [0, 0, 1, 1, 1, 1, 1, 1, 1], item: [0, 1, 0, 1, 2, 3, 4, 5, 6] }, 7, [0, 1, 2, 3, 4, 5, 6], { perUser: 3, minTrainClicks: 5 });
    assert.deepEqual([...r.rowUser], [1, 1]);
    assert.deepEqual([...r.rowItem], [6, 5]);
  });

  it('picks the weights when chosen (`ranking`), is reported every epoch, and finds a planted structure', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 7 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const r = await trainStage2(x, m, { user: log.user, item: log.item }, { k: 3, attentionSize: 4, epochs: 2, patience: 2, minClickers: 15, seed: 4, objective: 'items', loss: 'softmax', negatives: 8, validationMetric: 'ranking', inputScaling: 'none' });
    assert.equal(r.validationMetric, 'ranking');
    // Weights are kept by prec@10 as served: with the popularity prior's λ chosen for them (λ = 0 among the choices).
    assert.equal(r.bestValidationAuc, r.validation.kept.withPrior);
    assert.ok(r.history.every((e) => e.validation.ranking >= 0 && e.validation.ranking <= 1 && e.validationAuc === e.validation.withPrior && e.validation.withPrior >= e.validation.ranking));
    assert.ok(r.validation.kept.withPrior >= r.validation.initial.withPrior);
    assert.equal(r.prior.ranking, r.validation.kept.withPrior);
    // A planted world: users rank their own topic's items on top, far above chance (10 of ~60).
    assert.ok(r.validation.kept.ranking > 0.3, `prec@10 ${r.validation.kept.ranking}`);
  });
});
