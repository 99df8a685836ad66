import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { listwiseLoss, pullToward, rowsByUser, softmaxMask } from '../../src/train/stage2-listwise.js';
import { ExampleSource, WeightedDraw, type TrainItem } from '../../src/train/stage2-data.js';
import { tfReady, trainStage2 } from '../../src/train/stage2.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { Rng } from '../../src/util/rng.js';
import { close } from '../helpers/fixtures.js';

/** −log(exp(z_pos) / Σ_{j in the softmax} exp(z_j)), z = scale · (score + offset), by hand. */
function byHand(scores: number[], scale: number, pos: number, inSoftmax: number[], offset: number[] | null): number {
  const z = scores.map((s, j) => scale * (s + (offset ? offset[j] : 0)));
  let sum = 0;
  z.forEach((v, j) => { if (inSoftmax[j] === 1) sum += Math.exp(v); });
  return Math.log(sum) - z[pos];
}

describe('stage 2 listwise objective (full softmax over every item)', () => {
  it('the loss is the mean full-softmax cross-entropy of each row\'s positive, with the offset added before the scale', async () => {
    await tfReady();
    const scores = [0.9, 0.2, -0.4, 0.1, -0.3, 0.8, 0.5, 0.5, 0.0, -0.1];
    const pos = Int32Array.of(1, 3);
    const inSoftmax = [1, 1, 0, 1, 1, 1, 1, 1, 1, 0];
    const offset = [0.2, 0.1, 0.0, 0.3, 0.05];
    const run = (off: number[] | null): number => tf.tidy(() => listwiseLoss(tf.tensor2d(scores, [2, 5]), 4, pos, Float32Array.from(inSoftmax), off ? Float32Array.from(off) : null).dataSync()[0]);
    const want = (off: number[] | null): number => (byHand(scores.slice(0, 5), 4, 1, inSoftmax.slice(0, 5), off) + byHand(scores.slice(5), 4, 3, inSoftmax.slice(5), off)) / 2;
    assert.ok(close(run(null), want(null), 1e-5, 1e-5), `${run(null)} vs ${want(null)}`);
    assert.ok(close(run(offset), want(offset), 1e-5, 1e-5), `${run(offset)} vs ${want(offset)}`);
    // By hand once more, as numbers: row 1 of [0.9, 0.2, ·, 0.1, −0.3] · 4 with the positive at 0.2.
    const row1 = Math.log(Math.exp(3.6) + Math.exp(0.8) + Math.exp(0.4) + Math.exp(-1.2)) - 0.8;
    assert.ok(close(byHand(scores.slice(0, 5), 4, 1, inSoftmax.slice(0, 5), null), row1, 1e-12, 1e-12));
    // A weight on the offset (the learned λ) is the same as scaling the offsets.
    const weighted = tf.tidy(() => listwiseLoss(tf.tensor2d(scores, [2, 5]), 4, pos, Float32Array.from(inSoftmax), Float32Array.from(offset), tf.scalar(2.5)).dataSync()[0]);
    assert.ok(close(weighted, want(offset.map((v) => v * 2.5)), 1e-5, 1e-5), `${weighted} vs ${want(offset.map((v) => v * 2.5))}`);
    // One offset for every candidate changes nothing.
    assert.ok(close(run([0.7, 0.7, 0.7, 0.7, 0.7]), run(null), 1e-5, 1e-5));
  });

  it('a candidate left out of the softmax (the user\'s other clicks) has no effect on the loss and no gradient', async () => {
    await tfReady();
    const inSoftmax = Float32Array.of(1, 1, 0, 1);
    const pos = Int32Array.of(0);
    const lossOf = (s: number[]): number => tf.tidy(() => listwiseLoss(tf.tensor2d(s, [1, 4]), 3, pos, inSoftmax, null).dataSync()[0]);
    assert.ok(close(lossOf([0.1, 0.4, 0.9, -0.2]), lossOf([0.1, 0.4, -0.9, -0.2]), 1e-6, 1e-6));
    assert.ok(lossOf([0.1, 0.4, 0.9, -0.2]) < lossOf([0.1, 0.4, 0.9, 0.8]), 'a candidate in the softmax does count');
    const g = tf.tidy(() => tf.grad((s: tf.Tensor) => listwiseLoss(s as tf.Tensor2D, 3, pos, inSoftmax, null))(tf.tensor2d([0.1, 0.4, 0.9, -0.2], [1, 4])).dataSync().slice());
    assert.equal(g[2], 0);
    assert.ok(g[0] < 0 && g[1] > 0 && g[3] > 0);
  });

  it('each row\'s softmax holds its positive and the items its user never clicked, and rows come grouped by user', () => {
    // Users 0..2, items 10..13; user 0 clicked 10, 11, 13; user 1 clicked 12; user 2 nothing.
    const byUser = toCsr(3, 14, [0, 0, 0, 1], [10, 11, 13, 12]);
    const list: TrainItem[] = [10, 11, 12, 13].map((item) => ({ item, users: [] }));
    const mask = softmaxMask(byUser, list, [0, 0, 1, 2], [0, 3, 2, 1]);
    assert.deepEqual([...mask], [1, 0, 1, 0, /**/ 0, 0, 1, 1, /**/ 1, 1, 1, 1, /**/ 1, 1, 1, 1]);
    const order = rowsByUser(Int32Array.of(5, 2, 5, 7, 2, 5), new Rng(3));
    assert.deepEqual([...order].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
    const users = [...order].map((r) => [5, 2, 5, 7, 2, 5][r]);
    for (let j = 1; j < users.length; j++) if (users[j] !== users[j - 1]) assert.ok(!users.slice(j).includes(users[j - 1]), `user ${users[j - 1]}'s rows are together: ${users.join(',')}`);
  });

  it('an epoch\'s rows are (target, item) alone, and a target is never among its item\'s seeds', async () => {
    const log = syntheticLog({ users: 300, items: 40, topics: 3, seed: 4 });
    const nu = log.userIds.length;
    const source = new ExampleSource(nu, log.itemIds.length, { user: log.user, item: log.item }, 'uniform');
    const byItem = new Map<number, Set<number>>();
    log.item.forEach((it, j) => { let s = byItem.get(it); if (!s) byItem.set(it, (s = new Set())); s.add(log.user[j]); });
    const list: TrainItem[] = [...byItem.entries()].filter(([, s]) => s.size >= 10).map(([item, s]) => ({ item, users: [...s] }));
    const h = 4;
    const e = Float32Array.from(new Rng(1).normals(nu * h, 1));
    const ep = await source.epoch(list, e, new Rng(2), { k: 3, h, seedShare: 0.5, maxSeeds: 200, maxTargets: 50, negatives: 20, objective: 'full', seed: 1 }, new WeightedDraw(null, list.length));
    assert.equal(ep.groups.size, 1);
    assert.ok(ep.groups.count > 100);
    for (let r = 0; r < ep.groups.count; r++) {
      const u = ep.groups.user[r];
      const ii = ep.groups.item[r];
      assert.ok(byItem.get(list[ii].item)?.has(u), 'the row is a click');
      assert.ok(!ep.seeds[ii].includes(u), `target ${u} is among item ${list[ii].item}'s seeds`);
    }
  });

  it('the pull toward the start is Σ‖w − w₀‖²', async () => {
    await tfReady();
    const v = [tf.variable(tf.tensor1d([1, 2])), tf.variable(tf.tensor2d([[0, 3]]))];
    try {
      const got = tf.tidy(() => pullToward(v, [tf.tensor1d([0, 0]), tf.tensor2d([[1, 1]])]).dataSync()[0]);
      assert.ok(close(got, 1 + 4 + 1 + 4, 1e-6, 1e-6));
    } finally {
      for (const x of v) x.dispose();
    }
  });

  it('trains end to end with T held at the identity, with a fixed or a learned λ in the loss, and refuses what it cannot use', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 5 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const clicks = { user: log.user, item: log.item };
    const base = { k: 3, attentionSize: 4, epochs: 2, patience: 2, minClickers: 15, seed: 9, objective: 'full', loss: 'softmax', inputScaling: 'none', validationMetric: 'ranking', init: 'identity', train: 'attention', priorInLoss: true, pullToStart: 0.01 } as const;
    const r = await trainStage2(x, m, clicks, base);
    assert.ok(r.history.length >= 1 && r.history.every((ep) => Number.isFinite(ep.loss) && ep.examples > 0));
    const w = r.model.weights.transformWeight;
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) assert.equal(w[a * m + b], a === b ? 1 : 0, 'T stays the identity');
    await assert.rejects(trainStage2(x, m, clicks, { ...base, loss: 'bce' }), /the full objective is a softmax over every item/);
    const learned = await trainStage2(x, m, clicks, { ...base, epochs: 1, learnPriorInLoss: true });
    assert.ok(learned.history.length === 1 && Number.isFinite(learned.history[0].loss));
    await assert.rejects(trainStage2(x, m, clicks, { ...base, objective: 'items', negatives: 8, learnPriorInLoss: true }), /a learned λ needs the full objective/);
  });
});
