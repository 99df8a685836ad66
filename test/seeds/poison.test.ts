/**
 * Nothing non-finite is ever stored or served, and no stored record can stop the next start:
 * out-of-range input is refused where it enters, vectors the model produces are checked where
 * they are produced, a failed re-cluster saves nothing, and a start skips and reports a record it
 * cannot serve (queueing the item) instead of aborting.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';
import { VALUE_LIMIT } from '../../src/engine/validate.js';
import { smallModel } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';
import { modelId } from '../../src/model/identity.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-poison-'));
  dirs.push(dir);
  return dir;
}

const model = smallModel({ seed: 77 });
const { m, h } = model.manifest;
const code = (e: unknown): string | undefined => (e instanceof RalmError ? e.code : undefined);

/** Every stored cluster set (and, with `users`, every stored look-alike embedding) is finite. */
async function assertStoreFinite(store: LmdbStore, users: boolean): Promise<void> {
  for await (const c of store.allClusters()) {
    assert.ok(c.centroids.every(Number.isFinite) && c.global.every(Number.isFinite), `clusters of ${c.id} are finite`);
  }
  if (users) for await (const u of store.allUsers()) assert.ok(u.lookalike.every(Number.isFinite), `look-alike of ${u.id} is finite`);
}

describe('nothing non-finite is stored or served', () => {
  it('refuses values that overflow float32, and users the model maps out of range', async () => {
    const store = LmdbStore.open(await tempDir());
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    try {
      const svc = new SeedService(store, engine);
      const huge = new Array(m).fill(3e38); // finite in float64, Infinity in float32
      await assert.rejects(svc.putUsers([{ id: 'a', universal: huge }]), (e) => code(e) === 'RALM_ERR_NON_FINITE' && /users\[0\]\.universal\[0\]: expected a finite number within/.test((e as Error).message));
      const edge = new Array(m).fill(VALUE_LIMIT); // accepted on input, but T(x) leaves the range
      await assert.rejects(svc.putUsers([{ id: 'b', universal: edge }]), (e) => code(e) === 'RALM_ERR_NON_FINITE' && /transform: row 0/.test((e as Error).message));
      await assert.rejects(engine.rank([{ user: { embedding: new Array(h).fill(1e30) }, k: 1 }]), (e) => code(e) === 'RALM_ERR_NON_FINITE');
      assert.equal((await store.getUsers(['a', 'b'])).filter(Boolean).length, 0, 'nothing was stored');
    } finally {
      await engine.close();
      await store.close();
    }
  });

  it('f16 centroid storage refuses values it cannot hold', async () => {
    const engine = await RalmEngine.create(model, { backend: 'cpu', storage: 'f16' });
    try {
      await assert.rejects(engine.upsertItems([{ id: 'x', centroids: new Array(h).fill(1e6) }]), (e) => code(e) === 'RALM_ERR_NON_FINITE' && /within ±65504/.test((e as Error).message));
      assert.equal(engine.table.size, 0);
    } finally {
      await engine.close();
    }
  });

  it('stored records the engine refuses are skipped at start, reported, queued and re-clustered from good seeds', async () => {
    const dir = await tempDir();
    let store = LmdbStore.open(dir);
    const rng = new Rng(3);
    const version = modelId(model);
    // Records as a store written before the range rule could hold them (written below the service).
    const good = Array.from({ length: 12 }, (_, i) => ({ id: `u${i}`, universal: rng.normals(m, 1) }));
    const engine0 = await RalmEngine.create(model, { backend: 'cpu' });
    const e = await engine0.transform(Float32Array.from(good.flatMap((u) => Array.from(u.universal))), good.length);
    await engine0.close();
    await store.putUsers([
      ...good.map((u, i) => ({ id: u.id, universal: u.universal, lookalike: e.slice(i * h, (i + 1) * h), modelVersion: version })),
      { id: 'bad', universal: new Float32Array(m).fill(Infinity), lookalike: new Float32Array(h).fill(-Infinity), modelVersion: version },
    ]);
    const events = [...good, { id: 'bad' }].flatMap((u, i) => ['x', 'y'].map((item) => ({ user: u.id, item, ts: 1000 + i, id: `${u.id}-${item}` })));
    await store.ingest(events);
    await store.saveClusters([
      { id: 'x', seedVersion: 0, modelVersion: version, clusteredAt: 1, count: 1, centroids: new Float32Array(h).fill(Infinity), global: new Float32Array(h), seeds: 13, cold: false, firstServableAt: 1 },
      { id: 'y', seedVersion: 0, modelVersion: version, clusteredAt: 1, count: 1, centroids: rng.normals(h, 1), global: rng.normals(h, 1), seeds: 13, cold: false, firstServableAt: 1 },
    ]);
    await store.close();

    store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    try {
      const svc = new SeedService(store, engine, { minSeeds: 1 });
      const restored = await svc.restore();
      assert.equal(restored.loaded, 1);
      assert.deepEqual(restored.skipped.map((s) => s.id), ['x']);
      assert.ok((await store.dirtyItems()).some((d) => d.id === 'x'), 'the refused item is queued');
      const report = await svc.recluster();
      assert.deepEqual(report.failures, []);
      assert.ok(engine.table.has('x') && engine.table.has('y'));
      const [r] = await engine.score([{ user: { universal: good[0].universal }, items: ['x', 'y'] }]);
      assert.ok(Array.from(r.scores).every(Number.isFinite));
      // The damaged user record written below the service stays, unused; every cluster set is finite.
      await assertStoreFinite(store, false);
    } finally {
      await engine.close();
      await store.close();
    }
  });

  it('property: whatever accepted requests came before, the next start succeeds and serves finite scores', async () => {
    const value = fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), fc.constantFrom(0, 1e6, -1e9, 1e12, 3e38, -3e38, Number.NaN, Infinity));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('user' as const), id: fc.integer({ min: 0, max: 9 }), universal: fc.array(value, { minLength: m, maxLength: m }) }),
      fc.record({ kind: fc.constant('click' as const), user: fc.integer({ min: 0, max: 9 }), item: fc.integer({ min: 0, max: 3 }) }),
      fc.constant({ kind: 'recluster' as const }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      const dir = await tempDir();
      let store = LmdbStore.open(dir);
      let engine = await RalmEngine.create(model, { backend: 'cpu', cpuThreads: 1 });
      let svc = new SeedService(store, engine, { minSeeds: 1 });
      try {
        let ts = 1;
        for (const o of ops) {
          // Refusals are expected (coded errors); anything else is a failure of the property.
          if (o.kind === 'user') await svc.putUsers([{ id: `u${o.id}`, universal: o.universal }]).catch((e: unknown) => assert.ok(code(e), String(e)));
          else if (o.kind === 'click') await svc.ingest([{ user: `u${o.user}`, item: `i${o.item}`, ts: ts++ }]);
          else await svc.recluster();
        }
        await svc.recluster();
      } finally {
        await engine.close();
        await store.close();
      }
      store = LmdbStore.open(dir);
      engine = await RalmEngine.create(model, { backend: 'cpu', cpuThreads: 1 });
      svc = new SeedService(store, engine, { minSeeds: 1 });
      try {
        await svc.restore();
        await svc.recluster();
        await assertStoreFinite(store, true);
        const items = [...engine.table.ids()];
        if (items.length > 0) {
          const [r] = await engine.score([{ user: { embedding: new Array(h).fill(0.5) }, items }]);
          assert.ok(Array.from(r.scores).every(Number.isFinite), 'every served score is finite');
        }
      } finally {
        await engine.close();
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    }), { numRuns: 40, seed: 13 });
  });
});
