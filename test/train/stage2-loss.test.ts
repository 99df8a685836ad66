import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { groupLoss } from '../../src/train/stage2-loss.js';
import { forwardScore, initParams, paramList, trainableParams } from '../../src/train/stage2-model.js';
import { WeightedDraw } from '../../src/train/stage2-data.js';
import { tfReady, trainStage2 } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { Rng } from '../../src/util/rng.js';
import { close } from '../helpers/fixtures.js';

/** −log softmax(logits − logQ)[0] per group, by hand. */
function byHand(scores: number[], scale: number, logQ: number[] | null, size: number): number {
  let sum = 0;
  const groups = scores.length / size;
  for (let g = 0; g < groups; g++) {
    const l = Array.from({ length: size }, (_, j) => scores[g * size + j] * scale - (logQ ? logQ[g * size + j] : 0));
    const max = Math.max(...l);
    const lse = max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
    sum += lse - l[0];
  }
  return sum / groups;
}

describe('stage 2 loss', () => {
  it('the softmax subtracts log q of each pair\'s item (sampled-softmax correction); a constant log q changes nothing', async () => {
    await tfReady();
    const p = initParams(4, 4, 3, 1, 'random', 1, null, 7);
    try {
      const scores = [0.9, 0.2, -0.4, 0.1, -0.3, 0.8, 0.5, 0.5];
      const logQ = [-1, -0.2, -3, -2, -0.5, -0.1, -4, -1.5];
      const run = (lq: number[] | null): number => tf.tidy(() => groupLoss(p, tf.tensor1d(scores), 2, 4, 'softmax', lq ? Float32Array.from(lq) : null).dataSync()[0]);
      assert.ok(close(run(logQ), byHand(scores, 7, logQ, 4), 1e-5, 1e-5), `${run(logQ)} vs ${byHand(scores, 7, logQ, 4)}`);
      assert.ok(close(run(null), byHand(scores, 7, null, 4), 1e-5, 1e-5));
      assert.ok(close(run(new Array(8).fill(-Math.log(21))), run(null), 1e-5, 1e-5));
      // Popular negatives (high q) weigh less once corrected: the corrected loss is lower here.
      assert.ok(run([-3, -0.1, -0.1, -0.1, -3, -0.1, -0.1, -0.1]) < run(null));
    } finally {
      for (const v of paramList(p)) v.dispose();
    }
  });

  it('the prior offset is added to each score before the scale (the served score in the loss); one offset for a whole group changes nothing', async () => {
    await tfReady();
    const p = initParams(4, 4, 3, 1, 'random', 1, null, 6);
    try {
      const scores = [0.4, 0.1, -0.2, 0.3, 0.0, 0.6];
      const offset = [0.2, 0.5, 0.0, 0.1, 0.3, 0.3];
      const run = (off: number[] | null, loss: 'softmax' | 'bce' = 'softmax'): number => tf.tidy(() => groupLoss(p, tf.tensor1d(scores), 2, 3, loss, null, off ? Float32Array.from(off) : null).dataSync()[0]);
      const shifted = scores.map((v, j) => v + offset[j]);
      assert.ok(close(run(offset), byHand(shifted, 6, null, 3), 1e-5, 1e-5), `${run(offset)} vs ${byHand(shifted, 6, null, 3)}`);
      assert.ok(close(run([0.7, 0.7, 0.7, -1, -1, -1]), run(null), 1e-5, 1e-5));
      const bce = tf.tidy(() => groupLoss(p, tf.tensor1d(shifted), 2, 3, 'bce', null).dataSync()[0]);
      assert.ok(close(run(offset, 'bce'), bce, 1e-5, 1e-5));
      assert.equal(run(null), tf.tidy(() => groupLoss(p, tf.tensor1d(scores), 2, 3, 'softmax', null).dataSync()[0]));
    } finally {
      for (const v of paramList(p)) v.dispose();
    }
  });

  it('WeightedDraw gives the log probability of each draw', () => {
    const w = new WeightedDraw([1, 3, 0, 4], 4);
    assert.ok(close(Math.exp(w.logProbability(1)), 3 / 8, 1e-12, 1e-12));
    assert.ok(close(Math.exp(w.logProbability(3)), 4 / 8, 1e-12, 1e-12));
    assert.ok(w.logProbability(2) < -20);
    assert.ok(close(new WeightedDraw(null, 5).logProbability(2), -Math.log(5), 1e-12, 1e-12));
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) counts[w.draw(rng)]++;
    assert.ok(Math.abs(counts[1] / 8000 - 3 / 8) < 0.03 && counts[2] === 0, counts.join(','));
  });

  it('the identity start\'s global attention has a gradient, scores as the centroids\' mean, and `attention` training leaves T out', async () => {
    await tfReady();
    const m = 6;
    const k = 3;
    const p = initParams(m, m, 4, 2, 'identity', 1);
    try {
      const rng = new Rng(5);
      const x = tf.tensor2d(rng.normals(5 * m, 1), [5, m]);
      const c = tf.tensor3d(rng.normals(5 * k * m, 1), [5, k, m]);
      const mask = tf.ones([5, k]) as tf.Tensor2D;
      const { grads, value } = tf.variableGrads(() => tf.sum(forwardScore(p, x, c, mask, 1, 0)) as tf.Scalar, [p.vg, p.wg]);
      const g = grads[p.vg.name].dataSync();
      assert.ok(g.some((v) => Math.abs(v) > 1e-6), 'w_g has a gradient at the identity start');
      // α = 1: the score is the cosine with the global vector, here the centroids' plain mean.
      const mean = tf.mean(c, 1) as tf.Tensor2D;
      const want = tf.div(tf.sum(tf.mul(x, mean), 1), tf.mul(tf.norm(x, 2, 1), tf.norm(mean, 2, 1))).dataSync();
      const got = forwardScore(p, x, c, mask, 1, 0).dataSync();
      for (let i = 0; i < 5; i++) assert.ok(close(got[i], want[i], 1e-5, 1e-5), `${got[i]} vs ${want[i]}`);
      void value;
      const att = trainableParams(p, 'attention');
      assert.ok(!att.includes(p.wt) && !att.includes(p.bt) && !att.includes(p.pt) && att.includes(p.wl) && att.includes(p.scale));
      const bias = trainableParams(p, 'bias');
      assert.ok(!bias.includes(p.wt) && !bias.includes(p.pt) && bias.includes(p.bt) && bias.includes(p.wl));
      assert.equal(trainableParams(p, 'all').length, paramList(p).length);
    } finally {
      for (const v of paramList(p)) v.dispose();
    }
  });

  it('trains with the correction and with T held at the identity; the correction is refused where it has no meaning', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 5 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const clicks = { user: log.user, item: log.item };
    const base = { k: 3, attentionSize: 4, epochs: 2, patience: 2, minClickers: 15, seed: 9, objective: 'items', loss: 'softmax', negatives: 8, itemSampling: 'popularity', inputScaling: 'none', validationMetric: 'items' } as const;
    const r = await trainStage2(x, m, clicks, { ...base, logQ: true, scale: 20, init: 'identity', train: 'attention', learningRate: 1e-2 });
    assert.ok(r.history.length >= 1 && r.history.every((e) => Number.isFinite(e.loss)));
    const w = r.model.weights.transformWeight;
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) assert.equal(w[a * m + b], a === b ? 1 : 0, 'T stays the identity');
    await assert.rejects(trainStage2(x, m, clicks, { ...base, objective: 'users', logQ: true }), /logQ: the correction applies to the items objective/);
  });
});
