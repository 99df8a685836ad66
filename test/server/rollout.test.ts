/**
 * Model rollout across real `ralm serve` replicas on one Valkey (started here): a reload on one
 * replica is announced with the model's id (name and weights checksum) and its path under the
 * models root; the other replica loads that path from its own models root and switches to it —
 * only if the weights there are the announced model's: a different model at that path is
 * refused, and that replica keeps serving the one it has. A replica started after the rollout
 * serves the rolled-out model from the start. Each switch is atomic per replica
 * (a request runs on one model's tables), and each model serves the clusters stored under its id.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { modelId } from '../../src/model/identity.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { serve, type Served } from '../helpers/serve.js';
import { startValkey, valkeySkip } from '../helpers/valkey.js';

async function call(s: Served, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, s.url), { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Writes a seeded-random model named `name` into `dir`; its id. */
async function model(dir: string, name: string, seed: number): Promise<string> {
  const m = randomModel({ seed, h: 32, m: 32, k: 8 });
  const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = m.manifest;
  await saveModel(dir, { ...manifest, modelVersion: name }, m.weights);
  return modelId(await loadModel(dir));
}

/** Polls `s` until `until(log)` holds (at most 60 s). */
async function logShows(s: Served, until: RegExp): Promise<void> {
  for (let i = 0; i < 1200 && !until.test(s.log()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(s.log(), until);
}

describe('model rollout across replicas', { skip: valkeySkip() }, () => {
  it('a reload on one replica rolls the others to the same model (by id), one started later too; a different model at the announced path is refused', { timeout: 180_000 }, async () => {
    const v = await startValkey();
    const roots = [await mkdtemp(join(tmpdir(), 'ralm-roll-a-')), await mkdtemp(join(tmpdir(), 'ralm-roll-b-'))];
    const replicas: Served[] = [];
    const probe = (await RedisStore.open(v.url)).store;
    try {
      // Each host has its own copy of the models; "v3" differs between them (other weights, same name).
      const ids = { v1: '', v2: '', v3a: '', v3b: '' };
      for (const root of roots) {
        ids.v1 = await model(join(root, 'v1'), 'rollout-v1', 1);
        ids.v2 = await model(join(root, 'v2'), 'rollout-v2', 2);
      }
      ids.v3a = await model(join(roots[0], 'v3'), 'rollout-v3', 3);
      ids.v3b = await model(join(roots[1], 'v3'), 'rollout-v3', 4);
      assert.notEqual(ids.v3a, ids.v3b);
      const args = (root: string) => ['--store', v.url, '--min-seeds', '1', '--log-level', 'warn', '--model-dir', join(root, 'v1'), '--models-root', root];
      replicas.push(...await Promise.all([serve(args(roots[0])), serve(args(roots[1]))]));
      const [a, b] = replicas;
      const modelOf = async (s: Served) => (await call(s, 'GET', '/readyz')).json.modelId;
      assert.equal(await modelOf(b), ids.v1);

      // A reload on A: announced, and B follows to the same weights.
      const reload = await call(a, 'POST', '/v1/admin/model', { dir: 'v2' });
      assert.equal(reload.status, 200, JSON.stringify(reload.json));
      assert.equal(reload.json.modelId, ids.v2);
      assert.equal(reload.json.rolledOut, true);
      await logShows(b, /model rolled out by another replica: now serving rollout-v2@/);
      assert.equal(await modelOf(b), ids.v2);
      // B serves every demo item from sets stored under the new model's id.
      const item = await call(b, 'GET', '/v1/items/demo-music-article-1');
      assert.equal(item.json.served, true);
      assert.equal((await probe.getItem('demo-music-article-1'))?.clusters?.modelVersion, ids.v2);
      const rec = await call(b, 'POST', '/v1/recommend', { user: { id: 'demo-music-3' }, k: 3 });
      assert.equal(rec.status, 200, JSON.stringify(rec.json));
      assert.equal(rec.json.modelVersion, 'rollout-v2');

      // A replica started afterwards with the old model directory rolls to the announced model before it is ready.
      const c = await serve(args(roots[1]));
      replicas.push(c);
      assert.equal(await modelOf(c), ids.v2);
      assert.match(c.log(), /model rolled out by another replica: now serving rollout-v2@/);

      // A model at the announced path whose weights are not the announced ones is refused: B stays on v2.
      const other = await call(a, 'POST', '/v1/admin/model', { dir: 'v3' });
      assert.equal(other.status, 200, JSON.stringify(other.json));
      assert.equal(other.json.modelId, ids.v3a);
      await logShows(b, /model rollout refused: "v3" under the models root holds rollout-v3@[0-9a-f]{16}, not the announced rollout-v3@/);
      assert.ok(b.log().includes(`holds ${ids.v3b}, not the announced ${ids.v3a}`));
      assert.equal(await modelOf(b), ids.v2);
      assert.equal((await call(b, 'POST', '/v1/recommend', { user: { id: 'demo-music-3' }, k: 3 })).json.modelVersion, 'rollout-v2');
    } finally {
      await probe.close().catch(() => undefined);
      for (const r of replicas) r.child.kill('SIGKILL');
      await Promise.all(replicas.map((r) => r.exited));
      await v.stop();
      await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
    }
  });
});
