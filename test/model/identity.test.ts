/**
 * A model's identity is its weights: two models with the same name but different weights get
 * different ids, and a store built with one is re-embedded and re-clustered by the other instead of
 * serving the first model's embeddings and centroids.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelId, weightsChecksum } from '../../src/model/identity.js';
import { loadModel, saveModel } from '../../src/model/model.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { AudienceService } from '../../src/audience/audience-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { Rng } from '../../src/util/rng.js';
import { smallModel } from '../helpers/fixtures.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('model identity', () => {
  it('same name, other weights → another id; same weights → the same id, loaded or in memory', async () => {
    const a = smallModel({ seed: 1, modelVersion: 'prod' });
    const b = smallModel({ seed: 2, modelVersion: 'prod' });
    assert.notEqual(modelId(a), modelId(b));
    assert.equal(modelId(a), modelId(smallModel({ seed: 1, modelVersion: 'prod' })));
    assert.match(modelId(a), /^prod@[0-9a-f]{16}$/);
    const dir = await mkdtemp(join(tmpdir(), 'ralm-id-'));
    dirs.push(dir);
    const { weightsSha256: _s, format: _f, formatVersion: _v, ...manifest } = a.manifest;
    void _s; void _f; void _v;
    const saved = await saveModel(dir, manifest, a.weights);
    const loaded = await loadModel(dir);
    assert.equal(weightsChecksum(loaded), saved.weightsSha256, 'a loaded model is identified by its manifest checksum');
    assert.equal(modelId(loaded), `prod@${saved.weightsSha256.slice(0, 16)}`);
  });

  it('a store built with one model is re-embedded and re-clustered by a model of the same name with other weights', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-id-'));
    dirs.push(dir);
    const first = smallModel({ seed: 11, modelVersion: 'prod' });
    const second = smallModel({ seed: 12, modelVersion: 'prod' });
    const rng = new Rng(3);
    const users = Array.from({ length: 40 }, (_, i) => ({ id: `u${i}`, universal: rng.normals(first.manifest.m, 1) }));
    const events = users.flatMap((u, i) => [{ user: u.id, item: `item-${i % 4}`, ts: 1000 + i }]);

    let store = LmdbStore.open(dir);
    let engine = await RalmEngine.create(first, { backend: 'cpu' });
    let seeds = new SeedService(store, engine, { minSeeds: 1 });
    await seeds.putUsers(users);
    await seeds.ingest(events);
    assert.equal((await seeds.recluster()).itemsClustered, 4);
    await engine.close();
    await store.close();

    // The same model again: everything is reused.
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(first, { backend: 'cpu' });
    seeds = new SeedService(store, engine, { minSeeds: 1 });
    assert.deepEqual(await seeds.restore(), { loaded: 4, stale: 0, skipped: [] });
    assert.equal((await new AudienceService(engine, store).load()).reembedded, 0);
    await engine.close();
    await store.close();

    // Other weights under the same name: nothing of the first model is served.
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(second, { backend: 'cpu' });
    seeds = new SeedService(store, engine, { minSeeds: 1 });
    assert.deepEqual(await seeds.restore(), { loaded: 0, stale: 4, skipped: [] });
    const audience = new AudienceService(engine, store);
    assert.equal((await audience.load()).reembedded, 40, 'every user is re-embedded with the new weights');
    const e = new Float32Array(second.manifest.h);
    assert.deepEqual(Array.from(await store.readLookalikes(['u0'], engine.modelId, second.manifest.h, e)), [1]);
    const [expected] = [await engine.transform(users[0].universal, 1)];
    assert.deepEqual(Array.from(e), Array.from(expected), 'the stored embedding is the new model’s');
    const report = await seeds.recluster();
    assert.equal(report.itemsClustered, 4, 'the stale sets are re-clustered');
    for await (const c of store.allClusters()) assert.equal(c.modelVersion, engine.modelId);
    assert.equal(engine.table.size, 4);
    await engine.close();
    await store.close();
  });
});
