import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainStage2, scoreWithWeights, type Stage2Result } from '../../src/train/stage2.js';
import { syntheticLog } from '../../src/data/synthetic.js';
import { toCsr, userFactors } from '../../src/eval/svd.js';
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
