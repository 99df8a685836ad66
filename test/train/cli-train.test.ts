import { describe, it } from 'node:test';
import { ralm } from '../helpers/cli.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/model.js';
import { modelId } from '../../src/model/identity.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { evalRecommend } from '../../src/eval/recommend-eval.js';
import { RalmError } from '../../src/util/errors.js';


const small = ['--dataset', 'synthetic', '--users', '300', '--items', '80', '--m', '8', '--k', '3', '--epochs', '1', '--stage2-epochs', '1'];

describe('ralm train, users import, eval (command line)', () => {
  it('train writes a model and users; users import stores them; a second run resumes nothing and retrains', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-train-'));
    try {
      const out = join(dir, 'model');
      const r = await ralm('train', ...small, '--train-share', '0.9', '--out', out, '--json');
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { modelVersion: string; trainClicks: number; stage1: { history: unknown[] }; stage2: { history: unknown[] } };
      assert.ok(report.trainClicks > 0 && report.stage1.history.length === 1 && report.stage2.history.length === 1);
      assert.match(r.stderr, /stage 1: 300 users/);
      const model = await loadModel(out);
      assert.equal(model.manifest.modelVersion, report.modelVersion);
      assert.equal(model.manifest.m, 8);

      const data = join(dir, 'data');
      const imp = await ralm('users', 'import', join(out, 'users.msgpack'), '--data-dir', data, '--model-dir', out, '--json');
      assert.equal(imp.code, 0, imp.stderr);
      assert.equal(JSON.parse(imp.stdout).users, 300);
      const store = LmdbStore.open(data);
      try {
        const [u] = await store.getUsers(['u0']);
        assert.ok(u, 'user u0 is stored');
        assert.equal(u.universal.length, 8);
        assert.equal(u.modelVersion, modelId(model), 'stored under the model id: its name and weights checksum');
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('eval --json: every method over the same split in both protocols, the new-item table, and what stage 2 kept', async () => {
    const r = await ralm('eval', ...small, '--seeds', '1', '--max-users', '80', '--min-train-clicks', '5', '--seed-counts', '1,5', '--new-items', '10', '--fresh-window', '168', '--json');
    assert.equal(r.code, 0, r.stderr);
    type Runs = Array<{ method: string; metrics: Record<string, number> }>;
    const doc = JSON.parse(r.stdout) as {
      runs: Runs; fresh: { runs: Runs; requests: number }; newItems: Array<{ n: number; auc: Record<string, { mean: number }> }>; context: { users: number };
      training: Array<{ method: string; kept?: string }>; tracking: Array<{ validation: string; runs: number }>; evaluatedOn: string;
    };
    const methods = ['RALM', 'RALM (untrained)', 'RALM (averaged seeds)', 'RALM (no local attention)', 'RALM (no global attention)', 'RALM (concatenation)', 'YouTube-DNN-style', 'most popular'];
    assert.deepEqual(doc.runs.map((x) => x.method), methods);
    for (const run_ of doc.runs) for (const key of ['auc', 'aucExposure', 'prec@10', 'recall@50', 'coverage@100']) assert.ok(Number.isFinite(run_.metrics[key]), `${run_.method} ${key}`);
    assert.ok(doc.fresh.requests > 0);
    assert.deepEqual(doc.fresh.runs.map((x) => x.method), methods);
    for (const run_ of doc.fresh.runs) for (const key of ['auc', 'aucExposure', 'prec@10']) assert.ok(Number.isFinite(run_.metrics[key]), `fresh ${run_.method} ${key}`);
    assert.ok(doc.context.users > 0 && doc.context.users <= 80);
    assert.deepEqual(doc.newItems.map((x) => x.n), [1, 5]);
    assert.equal(doc.evaluatedOn, 'test');
    const untrained = doc.training.find((t) => t.method === 'RALM (untrained)');
    assert.equal(untrained?.kept, 'initial');
    for (const t of doc.training.filter((x) => x.method.startsWith('RALM'))) assert.ok(['trained', 'initial', 'identity', 'averaged'].includes(t.kept ?? ''), t.method);
    assert.ok(doc.tracking.some((t) => t.validation === 'items per user' && t.runs === 6));
    assert.ok(doc.tracking.some((t) => t.validation === 'prec@10, held-out clicks' && t.runs === 6), 'the default validation measure is tracked against the evaluation');
  });

  it('eval --merge concat: RALM on the concatenation tower, the attention merge as the ablation row; naming RALM itself as the ablation is refused', async () => {
    const r = await ralm('eval', ...small, '--merge', 'concat', '--methods', 'RALM,RALM (attention merge)', '--seeds', '1', '--max-users', '40', '--min-train-clicks', '5', '--seed-counts', '1', '--new-items', '5', '--fresh-window', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { runs: Array<{ method: string }>; training: Array<{ method: string }>; settings: { stage1: { merge: string } } };
    assert.deepEqual(doc.runs.map((x) => x.method), ['RALM', 'RALM (attention merge)']);
    assert.deepEqual(doc.training.filter((t) => t.method.startsWith('stage 1')).map((t) => t.method), ['stage 1 (concat)', 'stage 1 (attention)'], 'RALM\'s tower first, the ablation\'s second');
    assert.equal(doc.settings.stage1.merge, 'concat');
    assert.match(r.stderr, /\[stage 1, concat\] .*merge concat/);

    const refused = await ralm('eval', ...small, '--merge', 'concat', '--methods', 'RALM,RALM (concatenation)', '--json');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /"RALM \(concatenation\)" is RALM itself with --merge concat; the merge ablation is "RALM \(attention merge\)"/);
    // The library refuses it too, with the project's coded error, before reading any data.
    await assert.rejects(evalRecommend({ data: { kind: 'synthetic' }, stage1: { merge: 'concat' }, methods: ['RALM (concatenation)'] }),
      (e: RalmError) => e.code === 'RALM_ERR_VALIDATION' && /RALM itself when stage 1 merges by concat; the merge ablation is "RALM \(attention merge\)"/.test(e.message));
  });

  it('tune --json: trials drawn from the grid on the validation split, the best by the chosen metric', async () => {
    const r = await ralm('tune', '--dataset', 'synthetic', '--users', '300', '--items', '80', '--m', '8', '--k', '2,3', '--epochs', '0', '--stage2-epochs', '1', '--stage2-objective', 'items,users', '--trials', '3', '--max-users', '60', '--select', 'auc', '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { evaluatedOn: string; gridSize: number; trials: Array<{ config: { k: number }; metrics: { auc: number }; seconds: { stage2: number } }>; best: { metrics: { auc: number } } };
    assert.equal(doc.evaluatedOn, 'validation');
    assert.equal(doc.gridSize, 4);
    assert.equal(doc.trials.length, 3);
    assert.equal(doc.best.metrics.auc, Math.max(...doc.trials.map((t) => t.metrics.auc)));
    assert.ok(doc.trials.every((t) => t.seconds.stage2 > 0));
  });

  it('usage errors name the option', async () => {
    const r = await ralm('train', '--dataset', 'synthetic');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out DIR is required/);
    const e = await ralm('eval', '--dataset', 'globo');
    assert.equal(e.code, 2);
    assert.match(e.stderr, /--data DIR is required for globo/);
    const s = await ralm('train', '--dataset', 'synthetic', '--out', join(tmpdir(), 'never'), '--m', '8', '--hidden', '16,4');
    assert.equal(s.code, 2);
    assert.match(s.stderr, /--hidden: the last width must equal --m \(8\)/);
  });
});
