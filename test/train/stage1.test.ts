import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { cutAtShare, lowerBound } from '../../src/data/split.js';
import { LogUniform, trainStage1, userFeatureValues, type Stage1Options, type Stage1Result } from '../../src/train/stage1.js';
import { tfReady } from '../../src/train/tf-kernels.js';
import { historyColumn } from '../../src/train/history.js';
import { readUsers, trainModel } from '../../src/train/pipeline.js';
import { loadModel } from '../../src/model/model.js';
import { embedUserFeatures } from '../../src/model/user-tower.js';
import { Rng } from '../../src/util/rng.js';

const world = generateSynthetic({ users: 400, items: 150, topics: 4, days: 10, clicksPerUser: 20, seed: 3 });
const ds = world.dataset;
const trainEnd = lowerBound(ds.clicks.ts, cutAtShare(ds, 0.8));
const base: Stage1Options = { m: 16, hidden: [24, 16], attentionSize: 8, epochs: 2, patience: 5, seed: 7 };

const cache = new Map<string, Promise<Stage1Result>>();
function trained(merge: 'attention' | 'concat'): Promise<Stage1Result> {
  let p = cache.get(merge);
  if (!p) cache.set(merge, (p = trainStage1(ds, trainEnd, { ...base, merge })));
  return p;
}

describe('UnsortedSegmentSum on the wasm backend', () => {
  it('sums rows into segments, drops out-of-range ids, and gives gather its gradient', async () => {
    await tfReady();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, -1], 'int32'), 3);
    assert.deepEqual(Array.from(out.dataSync()), [3, 4, 0, 0, 6, 8]);
    const table = tf.variable(tf.tensor2d([0, 0, 0, 0, 0, 0], [3, 2]));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([1, 1, 2], 'int32')), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))))(table);
    assert.deepEqual(Array.from(g.dataSync()), [0, 0, 4, 6, 5, 6]);
    tf.dispose([x, out, table, g]);
  });
});

describe('log-uniform negative sampler', () => {
  it('draws rank r with p(r) = (log(r+2) − log(r+1)) / log(D+1), most popular first', () => {
    const counts = Float64Array.from([5, 50, 1, 20, 0]); // ranks: item1, item3, item0, item2, item4
    const s = new LogUniform(counts, 10);
    const rng = new Rng(1);
    const seen = new Float64Array(5);
    const n = 200_000;
    for (let t = 0; t < n; t++) seen[s.draw(rng)]++;
    const p = (r: number): number => (Math.log(r + 2) - Math.log(r + 1)) / Math.log(6);
    [1, 3, 0, 2, 4].forEach((item, r) => assert.ok(Math.abs(seen[item] / n - p(r)) < 0.005, `rank ${r}: ${seen[item] / n} vs ${p(r)}`));
    assert.ok(Math.abs(s.logQ[1] - Math.log(10 * p(0))) < 1e-6);
  });
});

describe('stage 1 training', () => {
  it('learns: validation hit@50 rises above the untrained tower, losses are finite', async () => {
    const r = await trained('attention');
    assert.ok(r.history.every((e) => Number.isFinite(e.loss)));
    assert.ok(r.history[r.history.length - 1].loss < r.history[0].loss + 1e-9 || r.history.length === 1);
    assert.ok(r.bestValidationHitAt50 > 0.2, `hit@50 ${r.bestValidationHitAt50} (150 items: chance is 1/3 of 50/150 at best)`);
    assert.equal(r.x.length, ds.users.size * 16);
    assert.ok(r.x.every(Number.isFinite));
  });

  it('leaves no tensors behind (several trainings share one process and one wasm heap)', async () => {
    await trained('attention');
    const before = tf.memory().numTensors;
    await trainStage1(ds, trainEnd, { ...base, m: 8, hidden: [8], epochs: 1 });
    const { trainStage2 } = await import('../../src/train/stage2.js');
    const { distinctPositives } = await import('../../src/train/pipeline.js');
    const r = await trained('attention');
    await trainStage2(r.x, 16, distinctPositives(ds, trainEnd), { h: 8, k: 3, attentionSize: 4, epochs: 1, minClickers: 5, seed: 1 });
    assert.equal(tf.memory().numTensors - before, 0, 'tensors left behind');
  });

  it('is deterministic given its seed', async () => {
    const a = await trained('attention');
    const b = await trainStage1(ds, trainEnd, { ...base, merge: 'attention' });
    assert.deepEqual(a.history.map((e) => e.loss), b.history.map((e) => e.loss));
    assert.deepEqual(Array.from(a.x.subarray(0, 64)), Array.from(b.x.subarray(0, 64)));
  });

  for (const merge of ['attention', 'concat'] as const) {
    it(`exports a ${merge} tower whose TypeScript forward pass reproduces the trainer's x_u`, async () => {
      const r = await trained(merge);
      const dir = await mkdtemp(join(tmpdir(), 'ralm-stage1-'));
      try {
        // A stage-2 shell around the tower: the tower is what is checked here.
        const { saveTrainedModel } = await import('../../src/train/export.js');
        const { randomModel } = await import('../../src/model/random.js');
        await saveTrainedModel(dir, randomModel({ h: 8, m: 16, k: 3, attentionSize: 4, seed: 1 }), r.tower, { modelVersion: `t-${merge}`, dataset: ds.name, seed: 7, metrics: {}, training: {} });
        const model = await loadModel(dir);
        assert.equal(model.manifest.userTower?.merge, merge);
        let worst = 0;
        for (let u = 0; u < ds.users.size; u += 7) {
          const { universal } = embedUserFeatures(model, userFeatureValues(ds, u, [historyColumn(ds, trainEnd, r.historyItems)]), 'user.features');
          for (let d = 0; d < 16; d++) {
            const want = r.x[u * 16 + d];
            worst = Math.max(worst, Math.abs(universal[d] - want) / (1e-3 + Math.abs(want)));
          }
        }
        assert.ok(worst < 1e-3, `largest relative difference ${worst}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('resumes from its checkpoint exactly where an uninterrupted run would be', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-ckpt-'));
    try {
      // Without the click factors: XNNPACK's kernels may sum in a different order for differently aligned buffers.
      const opts = { ...base, m: 8, hidden: [8], epochs: 3, seed: 11, checkpointDir: dir, history: 0, clickFactors: false };
      await trainStage1(ds, trainEnd, { ...opts, epochs: 2 }); // "interrupted" after epoch 2
      const resumed = await trainStage1(ds, trainEnd, opts);
      assert.equal(resumed.resumedFromEpoch, 2);
      const whole = await trainStage1(ds, trainEnd, { ...opts, checkpointDir: undefined });
      assert.deepEqual(resumed.history.map((e) => e.loss), whole.history.map((e) => e.loss));
      assert.deepEqual(Array.from(resumed.x.subarray(0, 40)), Array.from(whole.x.subarray(0, 40)));
      await assert.rejects(trainStage1(ds, trainEnd, { ...opts, seed: 12 }), /checkpoint of a different run/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a dataset without user fields (unless the click history is one), and MLP widths that do not end in m', async () => {
    await assert.rejects(trainStage1(ds, trainEnd, { ...base, hidden: [24, 12] }), /hidden: expected MLP widths ending in m = 16/);
    const bare = generateSynthetic({ users: 50, items: 20, fields: 1, seed: 1 }).dataset;
    Object.defineProperty(bare, 'userFields', { value: [] });
    await assert.rejects(trainStage1(bare, 10, { ...base, history: 0 }), /needs user feature fields/);
    const r = await trainStage1(bare, 200, { ...base, epochs: 0 });
    assert.deepEqual(r.tower.userFields.map((f) => f.name), ['history']);
  });
});

describe('ralm train pipeline', () => {
  it('writes a loadable model with a tower, a manifest recording data and metrics, and users for the store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-train-'));
    try {
      const report = await trainModel({
        data: { kind: 'synthetic', synthetic: { users: 300, items: 80, topics: 4, days: 8, clicksPerUser: 25, seed: 2 } },
        trainShare: 0.9, out: dir,
        stage1: { m: 8, hidden: [8], attentionSize: 4, epochs: 1, seed: 3 },
        stage2: { h: 8, k: 3, attentionSize: 4, epochs: 1, minClickers: 5 },
      });
      const model = await loadModel(dir);
      assert.equal(model.manifest.provenance.kind, 'trained');
      assert.equal(model.manifest.modelVersion, report.modelVersion);
      assert.ok(model.tower, 'the model carries its user tower');
      assert.deepEqual(model.manifest.userFields.map((f) => f.name), ['interests', 'region', 'age', 'tags', 'history']);
      assert.ok(['trained', 'initial', 'identity', 'averaged'].includes(report.stage2.kept));
      assert.equal(model.manifest.provenance.metrics?.stage2KeptTrained, report.stage2.kept === 'trained' ? 1 : 0);
      assert.equal(model.manifest.provenance.metrics?.stage2KeptAveraged, report.stage2.kept === 'averaged' ? 1 : 0);
      const notes = report.stage2.kept === 'trained' ? /best epoch/ : report.stage2.kept === 'averaged' ? /averaged seeds \(k = 1\) kept/ : /kept \(no trained epoch validated better beyond the check half's noise\)/;
      assert.match(model.manifest.provenance.notes ?? '', notes);
      // The pipeline checks what it keeps (stage2-keep.ts), and the manifest records the check.
      const check = (model.manifest.provenance.training as { stage2: { kept: string; check: { rule: string; kept: string } } }).stage2;
      assert.deepEqual([check.check.rule, check.check.kept, check.kept], ['checked', report.stage2.kept, report.stage2.kept]);
      assert.equal(model.manifest.k, report.stage2.kept === 'averaged' ? 1 : 3);
      const training = model.manifest.provenance.training as { data: { trainRows: number; cut: string } };
      assert.equal(training.data.trainRows, report.trainClicks);
      assert.equal(training.data.cut, report.cut);
      assert.ok(Number.isFinite(model.manifest.provenance.metrics?.stage2ValidationAuc));
      const users = await readUsers(join(dir, 'users.msgpack'));
      assert.equal(users.modelVersion, report.modelVersion);
      assert.equal(users.ids.length, 300);
      assert.equal(users.m, 8);
      assert.equal(users.universal.length, 300 * 8);
      await assert.rejects(readFile(join(dir, 'checkpoints', 'stage1.result.safetensors')), /ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
