/**
 * Level offsets from every path that publishes items: a re-clustering run measures each item's
 * level on a sample of the stored users, publishes the offset with the popularity prior and
 * stores both with the cluster set; a restart restores the very same offsets (a set stored
 * without them reads as offset 0, never an error); the switch publishes offset 0; replication
 * and the evaluation's recommender publish what they are given.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { RalmRecommender } from '../../src/eval/recommenders.js';
import { popularityPrior } from '../../src/model/prior.js';
import { smallModel } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';
import type { RalmModel } from '../../src/model/model.js';
import type { ItemLevelOptions } from '../../src/engine/item-levels.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const LAMBDA = 0.05;
function model(): RalmModel {
  const m = smallModel({ seed: 61 });
  return { ...m, manifest: { ...m.manifest, popularityPrior: LAMBDA } };
}

/** The served score minus the blend of its cosines: prior + offset. */
async function termIn(engine: RalmEngine, user: Float32Array, id: string): Promise<number> {
  const [s] = await engine.score([{ user: { embedding: user }, items: [id] }]);
  const { alpha, beta } = engine.model.manifest;
  return s.scores[0] - Math.fround(alpha * s.cosGlobal[0] + beta * s.cosLocal[0]);
}

const clicks = { big1: 40, big2: 25, small: 3, one: 1 };

async function served(dir: string, itemLevels?: ItemLevelOptions | false): Promise<{ store: LmdbStore; engine: RalmEngine; svc: SeedService }> {
  const store = LmdbStore.open(dir);
  const engine = await RalmEngine.create(model(), { backend: 'cpu', recoverDevice: false });
  return { store, engine, svc: new SeedService(store, engine, { minSeeds: 5, itemLevels }) };
}

async function withClicks(itemLevels?: ItemLevelOptions | false): Promise<{ dir: string; store: LmdbStore; engine: RalmEngine; svc: SeedService }> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-item-levels-'));
  dirs.push(dir);
  const s = await served(dir, itemLevels);
  const rng = new Rng(8);
  await s.svc.putUsers(Array.from({ length: 60 }, (_, u) => ({ id: `u${u}`, universal: rng.normals(model().manifest.m) })));
  await s.svc.ingest(Object.entries(clicks).flatMap(([item, n]) => Array.from({ length: n }, (_, u) => ({ user: `u${(u * 7 + item.length) % 60}`, item, ts: 1000 + u }))));
  await s.svc.recluster();
  return { dir, ...s };
}

describe('level offsets at publication', () => {
  it('a re-clustering run stores each item\'s level and offset and serves prior + offset; a restart restores them exactly', async () => {
    const first = await withClicks();
    const { dir } = first;
    let { store, engine, svc } = first;
    const e = new Rng(9).normals(model().manifest.h);
    const stored = new Map<string, { level?: number; offset?: number }>();
    for (const id of Object.keys(clicks)) {
      const c = (await store.getItem(id))?.clusters;
      assert.ok(c && Number.isFinite(c.level), `${id} has a level`);
      stored.set(id, { level: c.level, offset: c.offset });
    }
    // Established items (≥ 20 clickers) carry no offset; the small ones are put on their level.
    assert.equal(stored.get('big1')?.offset, 0);
    assert.equal(stored.get('big2')?.offset, 0);
    const typicalLevel = ((stored.get('big1')?.level as number) + (stored.get('big2')?.level as number)) / 2;
    const typicalPrior = (popularityPrior(LAMBDA, 40) + popularityPrior(LAMBDA, 25)) / 2;
    for (const id of ['small', 'one']) {
      const want = typicalLevel - (stored.get(id)?.level as number) + typicalPrior - popularityPrior(LAMBDA, clicks[id as keyof typeof clicks]);
      assert.ok(Math.abs((stored.get(id)?.offset as number) - want) < 1e-5, `${id}: offset ${stored.get(id)?.offset} vs ${want}`);
      assert.ok(Math.abs((await termIn(engine, e, id)) - popularityPrior(LAMBDA, clicks[id as keyof typeof clicks]) - (stored.get(id)?.offset as number)) < 1e-5);
    }
    const before = await Promise.all(Object.keys(clicks).map((id) => termIn(engine, e, id)));
    await engine.close();
    await store.close();

    ({ store, engine, svc } = await served(dir));
    assert.deepEqual((await svc.restore()).skipped, []);
    for (const [id, v] of stored) assert.equal(engine.table.levelOf(engine.table.slotOf(id) as number).offset, v.offset, id);
    assert.deepEqual(await Promise.all(Object.keys(clicks).map((id) => termIn(engine, e, id))), before);
    assert.ok(Math.abs((engine.table.typicalLevel?.level as number) - typicalLevel) < 1e-6, 'the typical level is rebuilt from the stored levels');

    // A set stored without level and offset (data from before they were stored) restores with offset 0.
    const c = (await store.getItem('small'))?.clusters;
    assert.ok(c);
    const { level: _l, offset: _o, ...old } = c;
    await store.saveClusters([old]);
    await engine.close();
    await store.close();
    ({ store, engine, svc } = await served(dir));
    assert.deepEqual((await svc.restore()).skipped, []);
    assert.equal(engine.table.levelOf(engine.table.slotOf('small') as number).offset, 0);
    assert.ok(Math.abs((await termIn(engine, e, 'small')) - popularityPrior(LAMBDA, 3)) < 1e-6);
    await engine.close();
    await store.close();
  });

  it('switched off: every offset 0 (levels still stored), scores as before', async () => {
    const { store, engine } = await withClicks(false);
    const e = new Rng(10).normals(model().manifest.h);
    for (const id of Object.keys(clicks)) {
      const c = (await store.getItem(id))?.clusters;
      assert.ok(c && Number.isFinite(c.level) && c.offset === 0, id);
      assert.ok(Math.abs((await termIn(engine, e, id)) - popularityPrior(LAMBDA, clicks[id as keyof typeof clicks])) < 1e-6, id);
    }
    await engine.close();
    await store.close();
  });

  it('the evaluation\'s RALM recommender levels what it publishes, fresh candidates included; without levels it publishes offset 0', async () => {
    const rm0 = model();
    const x = new Rng(11).normals(80 * rm0.manifest.m);
    const seedsOf = (i: number): number[] => Array.from({ length: i === 0 ? 2 : 30 }, (_, u) => (u * 3 + i) % 80);
    const users = Array.from({ length: 80 }, (_, u) => u);
    const rec = await RalmRecommender.create('RALM', rm0, x, seedsOf, Uint32Array.from([0, 1, 2]), 1, (i) => (i === 0 ? 2 : 30), { levels: { users } });
    const plain = await RalmRecommender.create('RALM', rm0, x, seedsOf, Uint32Array.from([0, 1, 2]), 1, (i) => (i === 0 ? 2 : 30));
    try {
      const offsetOf = (r: RalmRecommender, id: string): number => r.engine.table.levelOf(r.engine.table.slotOf(id) as number).offset;
      assert.notEqual(offsetOf(rec, '0'), 0);
      assert.deepEqual([offsetOf(rec, '1'), offsetOf(rec, '2')], [0, 0]);
      assert.deepEqual(['0', '1', '2'].map((id) => offsetOf(plain, id)), [0, 0, 0]);
      const seen: number[] = [];
      const upsert = rec.engine.upsertItems.bind(rec.engine);
      rec.engine.upsertItems = (items) => {
        seen.push(...items.map((it) => it.offset ?? 0));
        return upsert(items);
      };
      await rec.scoreSlot({ time: 5, items: Uint32Array.from([7]), seeds: [Uint32Array.from([1, 2])], clickers: Uint32Array.from([2]), requests: [] }, [0]);
      assert.equal(seen.length, 1);
      assert.notEqual(seen[0], 0);
    } finally {
      await rec.close();
      await plain.close();
    }
  });
});
