/**
 * The clicker count behind the popularity prior reaches the engine from every path that
 * publishes items: a re-clustering run, a restart restoring from the store (a stored set without
 * a usable count reads as 0, never an error), and the evaluation's RALM recommender (all items
 * and fresh candidates). Level offsets are off here: this file checks the prior alone
 * (test/seeds/item-levels.test.ts checks them).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine, type ItemCentroids } from '../../src/engine/engine.js';
import { RalmRecommender } from '../../src/eval/recommenders.js';
import { popularityPrior } from '../../src/model/prior.js';
import { smallModel } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';
import type { RalmModel } from '../../src/model/model.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const LAMBDA = 0.1;
function model(): RalmModel {
  const m = smallModel({ seed: 57 });
  return { ...m, manifest: { ...m.manifest, popularityPrior: LAMBDA } };
}

function countOf(engine: RalmEngine, id: string): number {
  const slot = engine.table.slotOf(id);
  assert.ok(slot !== undefined, `${id} is served`);
  return engine.table.clickersOf(slot);
}

/** The served score minus the blend of its cosines: the prior the item carries. */
async function priorIn(engine: RalmEngine, user: Float32Array, id: string): Promise<number> {
  const [s] = await engine.score([{ user: { embedding: user }, items: [id] }]);
  const { alpha, beta } = engine.model.manifest;
  return s.scores[0] - Math.fround(alpha * s.cosGlobal[0] + beta * s.cosLocal[0]);
}

describe('the clicker count reaches the engine', () => {
  it('from a re-clustering run and from a restart; a stored set without a count serves with prior 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-prior-counts-'));
    dirs.push(dir);
    const rm0 = model();
    const rng = new Rng(3);
    const { m, h } = rm0.manifest;
    let store = LmdbStore.open(dir);
    let engine = await RalmEngine.create(rm0, { backend: 'cpu', recoverDevice: false });
    let svc = new SeedService(store, engine, { minSeeds: 5, itemLevels: false });
    await svc.putUsers(Array.from({ length: 40 }, (_, u) => ({ id: `u${u}`, universal: rng.normals(m) })));
    const clicks = { a: 30, b: 7, c: 12 };
    const events = Object.entries(clicks).flatMap(([item, n]) => Array.from({ length: n }, (_, u) => ({ user: `u${u}`, item, ts: 1000 + u })));
    // A repeat click adds no clicker.
    events.push({ user: 'u0', item: 'a', ts: 5000 });
    await svc.ingest(events);
    await svc.recluster();
    for (const [id, n] of Object.entries(clicks)) assert.equal(countOf(engine, id), n, id);
    const e = rng.normals(h);
    assert.ok(Math.abs((await priorIn(engine, e, 'a')) - popularityPrior(LAMBDA, 30)) < 1e-6);

    // A set stored without its count (data from before counts reached the engine, or damaged).
    const c = (await store.getItem('c'))?.clusters;
    assert.ok(c);
    await store.saveClusters([{ ...c, seeds: undefined as unknown as number, seedVersion: c.seedVersion }]);
    await engine.close();
    await store.close();

    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(rm0, { backend: 'cpu', recoverDevice: false });
    svc = new SeedService(store, engine, { minSeeds: 5, itemLevels: false });
    const restored = await svc.restore();
    assert.deepEqual(restored.skipped, []);
    assert.equal(countOf(engine, 'a'), 30);
    assert.equal(countOf(engine, 'b'), 7);
    assert.equal(countOf(engine, 'c'), 0);
    assert.equal(await priorIn(engine, e, 'c'), 0);
    await engine.close();
    await store.close();
  });

  it('from the evaluation\'s RALM recommender: training clickers for all items, clickers before the request for fresh ones', async () => {
    const rm0 = model();
    const { m } = rm0.manifest;
    const rng = new Rng(4);
    const x = rng.normals(50 * m);
    const seedsOf = (i: number): number[] => Array.from({ length: 3 + i }, (_, u) => u);
    const rec = await RalmRecommender.create('RALM', rm0, x, seedsOf, Uint32Array.from([0, 1, 2]), 1, (i) => 100 * (i + 1));
    try {
      assert.deepEqual(['0', '1', '2'].map((id) => countOf(rec.engine, id)), [100, 200, 300]);
      const seen: ItemCentroids[] = [];
      const upsert = rec.engine.upsertItems.bind(rec.engine);
      rec.engine.upsertItems = (items) => {
        seen.push(...items);
        return upsert(items);
      };
      const slot = { time: 5, items: Uint32Array.from([7, 8]), seeds: [Uint32Array.from([1, 2]), Uint32Array.from([3, 4, 5])], clickers: Uint32Array.from([2, 40]), requests: [] };
      const [scores] = await rec.scoreSlot(slot, [0]);
      assert.equal(scores.length, 2);
      assert.deepEqual(seen.map((s) => s.clickers), [2, 40]);
    } finally {
      await rec.close();
    }
  });
});
