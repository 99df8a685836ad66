import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainStage2, scoreWithWeights, type Stage2Result } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/train/click-factors.js';
import { loadModel, saveModel } from '../../src/model/model.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { Rng } from '../../src/util/rng.js';
import { close, targetsUnderTest } from '../helpers/fixtures.js';

/** A planted log, users embedded by SVD (universal embeddings, m = 12), stage 2 trained briefly. */
let trained: Promise<{ r: Stage2Result; x: Float32Array; m: number }> | undefined;
function train(): Promise<{ r: Stage2Result; x: Float32Array; m: number }> {
  trained ??= (async () => {
    const log = syntheticLog({ users: 800, items: 120, topics: 6, seed: 4 });
    const m = 12;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const r = await trainStage2(x, m, { user: log.user, item: log.item }, { h: 8, k: 4, attentionSize: 6, epochs: 4, patience: 4, minClickers: 15, seed: 3 });
    return { r, x, m };
  })();
  return trained;
}

describe('stage 2 training', () => {
  it('learns: validation AUC rises above the untrained weights', async () => {
    const { r } = await train();
    assert.ok(r.history.length >= 1);
    assert.ok(r.bestValidationAuc > r.initialValidationAuc + 0.02, `AUC ${r.initialValidationAuc} → ${r.bestValidationAuc}`);
    assert.ok(r.history.every((e) => Number.isFinite(e.loss)));
    assert.equal(r.model.manifest.provenance.kind, 'trained');
  });

  it('keeps the start when no trained epoch validates better, and says so', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 5 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    // A learning rate of ~0: the epoch's weights are the start's, so they validate no better.
    const r = await trainStage2(x, m, { user: log.user, item: log.item }, { k: 3, attentionSize: 4, epochs: 1, patience: 1, minClickers: 15, seed: 9, learningRate: 1e-12, inputScaling: 'none', validationMetric: 'items' });
    assert.notEqual(r.kept, 'trained');
    assert.equal(r.bestEpoch, 0);
    assert.ok(r.validation.identity, 'h = m: the identity configuration was measured');
    const start = r.kept === 'identity' ? (r.validation.identity as { items: number }).items : r.validation.initial.items;
    assert.equal(r.bestValidationAuc, start);
    assert.ok(r.bestValidationAuc >= r.validation.initial.items && r.bestValidationAuc >= (r.validation.identity as { items: number }).items);
    assert.ok(r.bestValidationAuc >= r.history[0].validationAuc);
    assert.match(r.model.manifest.provenance.notes ?? '', /(identity configuration|initial weights) kept \(no trained epoch validated better\)/);
  });

  it('ranks items per user: the softmax over items trains and its validation (items per user) rises; the identity start is the untrained model', async () => {
    const log = syntheticLog({ users: 500, items: 80, topics: 5, seed: 6 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const clicks = { user: log.user, item: log.item };
    const calls: number[] = [];
    const xWithout = (users: Int32Array, items: Int32Array): Float32Array => {
      calls.push(users.length);
      assert.ok(items.every((i) => i >= 0));
      return Float32Array.from({ length: users.length * m }, (_, j) => x[users[Math.floor(j / m)] * m + (j % m)]);
    };
    const r = await trainStage2(x, m, clicks, { k: 3, attentionSize: 4, epochs: 3, patience: 3, minClickers: 15, seed: 4, objective: 'items', loss: 'softmax', negatives: 8, validationMetric: 'items', inputScaling: 'none', learnBlend: true, xWithout });
    assert.ok(calls.length > 0, 'targets are embedded without their item');
    assert.equal(r.validationMetric, 'items');
    assert.ok(r.history.every((e) => Number.isFinite(e.loss) && e.validation.items > 0 && e.validation.users > 0));
    assert.ok(r.bestValidationAuc > r.validation.initial.items, `items per user ${r.validation.initial.items} → ${r.bestValidationAuc}`);
    const { alpha, beta } = r.model.manifest;
    assert.ok(Math.abs(alpha + beta - 1) < 1e-6 && alpha > 0 && beta > 0, `learned blend ${alpha}, ${beta}`);
    const u0 = await trainStage2(x, m, clicks, { k: 3, attentionSize: 4, epochs: 0, minClickers: 15, seed: 4, init: 'identity', inputScaling: 'none' });
    assert.equal(u0.kept, 'initial');
    const w = u0.model.weights.transformWeight;
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) assert.equal(w[a * m + b], a === b ? 1 : 0);
    await assert.rejects(trainStage2(x, m, clicks, { h: 4, init: 'identity', minClickers: 15 }), /"identity" needs h = m/);
  });

  it('activity-weighted negatives train too, and a run is deterministic given its seed', async () => {
    const log = syntheticLog({ users: 400, items: 60, topics: 4, seed: 5 });
    const m = 8;
    const x = userFactors(toCsr(log.userIds.length, log.itemIds.length, log.user, log.item), { rank: m, seed: 2 });
    const run = () => trainStage2(x, m, { user: log.user, item: log.item }, { h: 8, k: 3, attentionSize: 4, epochs: 2, patience: 2, minClickers: 15, seed: 9, negativeSampling: 'activity' });
    const [a, b] = [await run(), await run()];
    assert.ok(a.history.every((e) => Number.isFinite(e.loss)));
    assert.deepEqual(a.history.map((e) => e.loss), b.history.map((e) => e.loss));
    assert.deepEqual(Array.from(a.model.weights.localWeight), Array.from(b.model.weights.localWeight));
  });

  it('the exported model saves, loads, and scores in the engine exactly as the trainer does', async () => {
    const { r, x, m } = await train();
    const dir = await mkdtemp(join(tmpdir(), 'ralm-stage2-'));
    try {
      const { weightsSha256: _sha, format: _f, formatVersion: _v, ...manifest } = r.model.manifest;
      void _sha; void _f; void _v;
      await saveModel(dir, manifest, r.model.weights);
      const model = await loadModel(dir);
      const { h, k } = model.manifest;
      const rng = new Rng(8);
      // Items with 1..k centroids; users given by their universal embedding (the engine applies T).
      const counts = [1, 2, 3, 4];
      const cents = counts.map((c) => rng.normals(c * h, 0.4));
      for (const target of await targetsUnderTest()) {
        const engine = await RalmEngine.create(model, { recoverDevice: false, ...target.options });
        try {
          await engine.upsertItems(cents.map((c, i) => ({ id: `i${i}`, centroids: c })));
          for (const u of [0, 5, 77]) {
            const xu = x.subarray(u * m, (u + 1) * m);
            const [s] = await engine.score([{ user: { universal: xu }, items: counts.map((_, i) => `i${i}`) }]);
            const c = new Float32Array(counts.length * k * h);
            const mask = new Float32Array(counts.length * k);
            const xs = new Float32Array(counts.length * m);
            counts.forEach((n, i) => {
              c.set(cents[i], i * k * h);
              mask.fill(1, i * k, i * k + n);
              xs.set(xu, i * m);
            });
            const mine = await scoreWithWeights(model, xs, c, mask, counts.length);
            for (let i = 0; i < counts.length; i++) {
              assert.ok(close(s.scores[i], mine[i], 1e-4, 1e-4), `${target.label} user ${u} item ${i}: engine ${s.scores[i]}, trainer ${mine[i]}`);
            }
          }
        } finally {
          await engine.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
