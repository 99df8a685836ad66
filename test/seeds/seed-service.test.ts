import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService, type RunReport } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { smallModel, targetsUnderTest } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';
import type { RalmModel } from '../../src/model/model.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

/** Users in 3 taste groups; item "g<k>-<i>" is clicked by group k. */
function world(model: RalmModel, usersPerGroup: number) {
  const rng = new Rng(5);
  const { m } = model.manifest;
  const centres = [0, 1, 2].map(() => rng.normals(m, 1));
  const users = [];
  for (let g = 0; g < 3; g++) {
    for (let u = 0; u < usersPerGroup; u++) users.push({ id: `g${g}-u${u}`, universal: centres[g].map((v) => v + rng.normal() * 0.1), group: g });
  }
  return { users, centres };
}

for (const target of await targetsUnderTest()) {
  describe(`seed service on ${target.label}`, () => {
    it('clicks become servable items after a run; the right group ranks first; restart restores', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-seeds-'));
      dirs.push(dir);
      const model = smallModel({ seed: 55 });
      let store = LmdbStore.open(dir);
      let engine = await RalmEngine.create(model, { recoverDevice: false, ...target.options });
      const reports: RunReport[] = [];
      let svc = new SeedService(store, engine, { minSeeds: 10, onRun: (r) => reports.push(r) });
      const { users } = world(model, 30);
      await svc.putUsers(users);
      const events = [];
      for (let g = 0; g < 3; g++) {
        for (let i = 0; i < 4; i++) {
          // Items of group g clicked by 25 of its users; item g-3 only by 3 (cold).
          const n = i === 3 ? 3 : 25;
          for (let u = 0; u < n; u++) events.push({ user: `g${g}-u${u}`, item: `item-g${g}-${i}`, ts: 1000 + events.length, id: `e${events.length}` });
        }
      }
      events.push({ user: 'nobody', item: 'item-ghost', ts: 1 });
      const ing = await svc.ingest(events);
      assert.equal(ing.unknownUsers[0], 'nobody');
      const report = await svc.recluster();
      assert.equal(report.itemsConsidered, 13);
      assert.equal(report.itemsClustered, 12);
      assert.equal(report.itemsCold, 3);
      assert.equal(report.itemsWithoutUsableSeeds, 1);
      assert.deepEqual(report.failures, []);
      assert.equal(engine.table.size, 12);
      assert.equal(svc.metrics.freshnessMs.length, 12);

      // A user of group 1 gets group-1 items first.
      const [r] = await engine.rank([{ user: { universal: users.find((u) => u.id === 'g1-u29')!.universal }, k: 4 }]);
      assert.ok(r.items.slice(0, 3).every((x) => x.id.startsWith('item-g1-')), JSON.stringify(r.items.map((x) => x.id)));
      const cold = r.items.find((x) => x.id === 'item-g1-3');
      if (cold) assert.equal(cold.cold, true);
      const [sc] = await engine.score([{ user: { universal: users[0].universal }, items: ['item-g0-0', 'item-g0-3'] }]);
      assert.deepEqual(Array.from(sc.cold), [0, 1]);

      // Nothing changed: the next run has nothing to do. New clicks re-cluster only that item.
      assert.equal((await svc.recluster()).itemsConsidered, 1); // the ghost item still waits for a usable seed
      await svc.ingest([{ user: 'g2-u29', item: 'item-g2-0', ts: 9999 }]);
      const again = await svc.recluster();
      assert.equal(again.itemsClustered, 1);

      // Restart: a new engine restored from the store ranks the same.
      await engine.close();
      await store.close();
      store = LmdbStore.open(dir);
      engine = await RalmEngine.create(model, { recoverDevice: false, ...target.options });
      svc = new SeedService(store, engine, { minSeeds: 10 });
      assert.deepEqual(await svc.restore(), { loaded: 12, stale: 0, skipped: [] });
      const [r2] = await engine.rank([{ user: { universal: users.find((u) => u.id === 'g1-u29')!.universal }, k: 4 }]);
      assert.deepEqual(r2.items.map((x) => x.id), r.items.map((x) => x.id));
      const dist = await svc.seedDistribution();
      assert.equal(dist.items, 13);
      assert.equal(dist.max, 26);
      await engine.close();
      await store.close();
    });
  });
}

describe('seed service', () => {
  it('a failing item keeps its previous centroids, is reported, and does not hold back the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-seeds-'));
    dirs.push(dir);
    const model = smallModel({ seed: 56 });
    const store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    const svc = new SeedService(store, engine, { minSeeds: 1 });
    const { users } = world(model, 10);
    await svc.putUsers(users);
    await svc.ingest(users.slice(0, 10).flatMap((u) => [{ user: u.id, item: 'ok', ts: 1 }, { user: u.id, item: 'bad', ts: 1 }]));
    await svc.recluster();
    const [before] = await engine.score([{ user: { universal: users[0].universal }, items: ['bad'] }]);
    // Round two: "bad" reaches 20 seeds, "ok" 15. Clustering fails for any batch holding a 20-seed item.
    await svc.ingest(users.slice(10, 20).flatMap((u, i) => [{ user: u.id, item: 'bad', ts: 2 }, ...(i < 5 ? [{ user: u.id, item: 'ok', ts: 2 }] : [])]));
    const realCluster = engine.clusterPoints.bind(engine);
    engine.clusterPoints = async (items, o) => {
      if (items.some((it) => it.n === 20)) throw new Error('injected failure');
      return realCluster(items, o);
    };
    const report = await svc.recluster();
    assert.deepEqual(report.failures.map((f) => f.id), ['bad']);
    assert.match(report.failures[0].error, /injected failure/);
    assert.equal(report.itemsClustered, 1);
    const [after] = await engine.score([{ user: { universal: users[0].universal }, items: ['bad'] }]);
    assert.equal(after.scores[0], before.scores[0]);
    assert.equal(store.failureOf('bad')?.error, 'injected failure');
    assert.deepEqual((await store.dirtyItems()).map((d) => d.id), ['bad']);
    await engine.close();
    await store.close();
  });

  it('runs on its schedule without overlapping, and stops', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-seeds-'));
    dirs.push(dir);
    const model = smallModel({ seed: 57 });
    const store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    let runs = 0;
    const svc = new SeedService(store, engine, { intervalMs: 20, minSeeds: 1, onRun: () => runs++ });
    const { users } = world(model, 2);
    await svc.putUsers(users);
    await svc.ingest([{ user: users[0].id, item: 'x', ts: 1 }]);
    svc.start();
    const keepAlive = setInterval(() => undefined, 1000);
    const deadline = Date.now() + 5000;
    while (!engine.table.has('x') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    clearInterval(keepAlive);
    await svc.stop();
    assert.ok(engine.table.has('x'));
    assert.ok(runs >= 1);
    await assert.rejects(async () => new SeedService(store, engine, { intervalMs: 0 }), /intervalMs: expected a positive integer/);
    await engine.close();
    await store.close();
  });
});

describe('seed service and serving', () => {
  it('a re-clustering run on the CPU does not hold up requests on the same thread', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-seeds-'));
    dirs.push(dir);
    const model = smallModel({ seed: 58 });
    const store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    const svc = new SeedService(store, engine, { minSeeds: 1, batchItems: 500 });
    const { users } = world(model, 100);
    await svc.putUsers(users);
    await engine.upsertItems([{ id: 'seedless', centroids: new Float32Array(model.manifest.h).fill(1) }]);
    // 300 items of 60 seeds each: a run takes many item-sized steps.
    const events = [];
    for (let i = 0; i < 300; i++) for (let u = 0; u < 60; u++) events.push({ user: users[(i * 7 + u) % users.length].id, item: `it${i}`, ts: i });
    await svc.ingest(events);
    let runDone = false;
    const run = svc.recluster().then((r) => {
      runDone = true;
      return r;
    });
    // Requests issued while the run is going are answered while it is still going.
    let answeredDuringRun = 0;
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 5));
      await engine.rank([{ user: { universal: users[0].universal }, candidates: ['seedless'], k: 1 }]);
      if (!runDone) answeredDuringRun++;
    }
    const report = await run;
    assert.equal(report.itemsClustered, 300);
    assert.ok(answeredDuringRun >= 3, `only ${answeredDuringRun} of 5 requests were answered during the run`);
    await engine.close();
    await store.close();
  });
});
