import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { AudienceService, parseAudienceRequest, specToJson, type AudienceSpec } from '../../src/audience/audience-service.js';
import { AudienceJobs } from '../../src/audience/jobs.js';
import { referenceTransform } from '../../src/model/reference.js';
import { Rng } from '../../src/util/rng.js';
import { smallModel } from '../helpers/fixtures.js';
import type { RalmModel } from '../../src/model/model.js';

/** 3 taste groups of 60 users each, around distinct centres in the universal space. */
function users(model: RalmModel) {
  const rng = new Rng(12);
  const { m } = model.manifest;
  const centres = [0, 1, 2].map(() => rng.normals(m, 1));
  const out: Array<{ id: string; universal: Float32Array }> = [];
  for (let g = 0; g < 3; g++) for (let u = 0; u < 60; u++) out.push({ id: `g${g}-u${u}`, universal: centres[g].map((v) => v + rng.normal() * 0.15) });
  return out;
}

const spec = (over: Partial<AudienceSpec>): AudienceSpec => ({
  seeds: [], seedEmbeddings: [], size: 10, threshold: null, exclude: [], excludeSeeds: true, pool: null, seed: 1, ...over,
});

describe('audience service', () => {
  let dir: string;
  let store: LmdbStore;
  let engine: RalmEngine;
  let svc: AudienceService;
  const model = smallModel({ seed: 33 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-audience-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const seeds = new SeedService(store, engine);
    svc = new AudienceService(engine, store, { maxSize: 1000, rowsPerPage: 64 });
    seeds.onUsersStored((ids, e) => svc.addUsers(ids, e));
    await seeds.putUsers(users(model).slice(0, 100));
    assert.deepEqual(await svc.load(), { users: 100, reembedded: 0 });
    await seeds.putUsers(users(model).slice(100)); // arrive after the load, through the listener
  });
  after(async () => {
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('expands seeds of one group into that group, seeds excluded, unmatched counted', async () => {
    const r = await svc.run(spec({ seeds: ['g1-u0', 'g1-u1', 'g1-u2', 'g1-u3', 'ghost', 'g1-u0'], size: 40 }));
    assert.equal(r.seeds.given, 6);
    assert.equal(r.seeds.matched, 4);
    assert.equal(r.seeds.unmatched, 1);
    assert.deepEqual(r.seeds.unmatchedIds, ['ghost']);
    assert.equal(r.scored, 180);
    assert.equal(r.excluded, 4);
    assert.equal(r.users.length, 40);
    assert.ok(r.users.every((u) => u.id.startsWith('g1-')), 'every expanded user shares the seeds\' taste');
    assert.ok(!r.users.some((u) => ['g1-u0', 'g1-u1', 'g1-u2', 'g1-u3'].includes(u.id)));
    for (let i = 1; i < r.users.length; i++) assert.ok(r.users[i - 1].score >= r.users[i].score);
    assert.equal(r.backend, 'cpu');
    assert.equal(r.modelVersion, model.manifest.modelVersion);
  });

  it('honours exclusions, pools, thresholds and includeSeeds', async () => {
    const seeds = ['g2-u0', 'g2-u1'];
    const all = await svc.run(spec({ seeds, size: 60, excludeSeeds: false }));
    assert.ok(seeds.every((s) => all.users.some((u) => u.id === s)), 'seeds may be returned when asked');
    const ex = await svc.run(spec({ seeds, size: 5, exclude: [all.users[0].id, all.users[1].id] }));
    assert.ok(!ex.users.some((u) => u.id === all.users[0].id || u.id === all.users[1].id));
    const pool = ['g0-u5', 'g2-u9', 'g2-u1', 'nobody', 'g2-u9'];
    const p = await svc.run(spec({ seeds, size: 10, pool }));
    assert.deepEqual(p.pool, { given: 5, matched: 3, unmatched: 2 });
    assert.deepEqual(p.users.map((u) => u.id).sort(), ['g0-u5', 'g2-u9']);
    assert.equal(p.users[0].id, 'g2-u9');
    const t = await svc.run(spec({ seeds, size: 1000, threshold: all.users[9].score }));
    assert.ok(t.users.length >= 8 && t.users.every((u) => u.score >= all.users[9].score));
  });

  it('seeds given as embeddings equal the same seeds given as ids', async () => {
    const ids = ['g0-u1', 'g0-u2', 'g0-u3'];
    const byId = await svc.run(spec({ seeds: ids, size: 15, excludeSeeds: false }));
    const emb = ids.map((id) => svc.users.embedding(id) as Float32Array);
    const byEmb = await svc.run(spec({ seedEmbeddings: emb, size: 15 }));
    assert.deepEqual(byEmb.users.map((u) => u.id), byId.users.map((u) => u.id));
  });

  it('several audiences in one scan equal each run alone', async () => {
    const a = spec({ seeds: ['g0-u1', 'g0-u2'], size: 7 });
    const b = spec({ seeds: ['g2-u3'], size: 9, exclude: ['g2-u4'] });
    const [ra, rb] = await svc.runMany([a, b]);
    assert.deepEqual(ra.users, (await svc.run(a)).users);
    assert.deepEqual(rb.users, (await svc.run(b)).users);
  });

  it('large seed sets are sampled to maxClusterSeeds, deterministically', async () => {
    const small = new AudienceService(engine, store, { maxClusterSeeds: 10 });
    await small.load();
    const seeds = Array.from({ length: 60 }, (_, u) => `g1-u${u}`);
    const r1 = await small.run(spec({ seeds, size: 5, excludeSeeds: false }));
    const r2 = await small.run(spec({ seeds, size: 5, excludeSeeds: false }));
    assert.equal(r1.seeds.clustered, 10);
    assert.deepEqual(r1.users, r2.users);
  });

  it('rejects bad requests naming the field', () => {
    const h = model.manifest.h;
    const bad: Array<[unknown, RegExp]> = [
      [{ seeds: ['a'] }, /^size: /],
      [{ size: 3 }, /^seeds: expected at least one seed/],
      [{ seeds: 'a', size: 3 }, /^seeds: expected an array/],
      [{ seeds: ['a', 7], size: 3 }, /^seeds\[1\]: /],
      [{ seeds: ['a'], size: 0 }, /^size: expected an integer from 1 to 1000/],
      [{ seeds: ['a'], size: 1001 }, /^size: /],
      [{ seeds: ['a'], threshold: 'high' }, /^threshold: /],
      [{ seedEmbeddings: [[1, 2]], size: 3 }, new RegExp(`^seedEmbeddings\\[0\\]: expected ${h} values, got 2`)],
      [{ seedEmbeddings: [Array(h).fill(Number.NaN)], size: 3 }, /^seedEmbeddings\[0\]\[0\]: expected a finite number/],
      [{ seeds: ['a'], size: 3, excludeSeeds: 'no' }, /^excludeSeeds: /],
      [{ seeds: ['a'], size: 3, pool: [1] }, /^pool\[0\]: /],
      [{ seeds: ['a'], size: 3, colour: 'red' }, /^colour: unknown field/],
    ];
    for (const [body, re] of bad) assert.throws(() => parseAudienceRequest(body, h, 1000), (e: Error) => re.test(e.message), JSON.stringify(body));
    const ok = parseAudienceRequest({ seeds: ['a'], threshold: 0.5 }, h, 1000);
    assert.equal(ok.size, 1000);
    assert.deepEqual(parseAudienceRequest(specToJson(ok), h, 1000), ok);
  });

  it('fails clearly when no seed matches', async () => {
    await assert.rejects(svc.run(spec({ seeds: ['x', 'y'] })), /seeds: none of the 2 seed users matched a known user/);
  });

  it('a new model re-embeds users stored under the old one', async () => {
    const next = smallModel({ seed: 34 });
    const e2 = await RalmEngine.create(next, { backend: 'cpu', recoverDevice: false });
    try {
      const s2 = new AudienceService(e2, store);
      assert.deepEqual(await s2.load(), { users: 180, reembedded: 180 });
      const u = users(next)[5];
      const want = referenceTransform(next, u.universal);
      const got = s2.users.embedding(u.id) as Float32Array;
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-4);
    } finally {
      await e2.close();
    }
  });
});

describe('audience jobs', () => {
  it('run in order, keep users, cancel queued work, and survive a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-jobs-'));
    const model = smallModel({ seed: 35 });
    let store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    try {
      await new SeedService(store, engine).putUsers(users(model));
      let svc = new AudienceService(engine, store);
      await svc.load();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      const order: string[] = [];
      const runner = async (s: AudienceSpec, o: Parameters<AudienceService['run']>[1]) => {
        order.push(s.seeds[0]);
        if (s.seeds[0] === 'g0-u0') await gate;
        return svc.run(s, o);
      };
      const fromJson = (j: Record<string, unknown>) => parseAudienceRequest(j, model.manifest.h, 1000);
      let jobs = new AudienceJobs(store, runner, fromJson, { maxQueued: 2 });
      const submit = (seed: string) => {
        const s = spec({ seeds: [seed], size: 5 });
        return jobs.submit(s, specToJson(s));
      };
      const a = await submit('g0-u0');
      const b = await submit('g1-u0');
      const c = await submit('g2-u0');
      assert.equal(await jobs.isFull(), true);
      const cancelled = await jobs.cancel(c.id);
      assert.equal(cancelled?.action, 'cancelled');
      assert.equal((await jobs.get(c.id))?.status, 'cancelled');
      assert.equal((await jobs.get(a.id))?.status, 'running');
      release();
      for (let i = 0; i < 200 && (await jobs.get(b.id))?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(order, ['g0-u0', 'g1-u0']);
      const done = await jobs.get(a.id);
      assert.equal(done?.status, 'done');
      assert.equal((done?.summary as { size: number }).size, 5);
      const stored = await jobs.users(a.id);
      assert.equal(stored?.ids.length, 5);
      assert.ok(stored?.ids.every((id) => id.startsWith('g0-')));
      assert.deepEqual((await jobs.cancel(a.id))?.action, 'deleted');
      assert.equal(await jobs.get(a.id), undefined);

      // A job accepted but not finished when the process died runs after the restart.
      await jobs.stop();
      const crashed = { id: 'crashed-1', status: 'running' as const, spec: specToJson(spec({ seeds: ['g2-u1'], size: 3 })), createdAt: 1, startedAt: 2, finishedAt: null, error: null, summary: null };
      const expired = { id: 'old-1', status: 'done' as const, spec: {}, createdAt: 1, startedAt: 1, finishedAt: 1, error: null, summary: {} };
      await store.putAudience(crashed);
      await store.putAudience(expired);
      await store.close();
      store = LmdbStore.open(dir);
      svc = new AudienceService(engine, store);
      jobs = new AudienceJobs(store, (s, o) => svc.run(s, o), fromJson, { retentionMs: 1000 });
      assert.deepEqual(await jobs.restore(), { requeued: 1, expired: 1 });
      for (let i = 0; i < 200 && (await jobs.get('crashed-1'))?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal((await jobs.get('crashed-1'))?.status, 'done');
      assert.equal((await jobs.users('crashed-1'))?.ids.length, 3);
      assert.equal(await jobs.get('old-1'), undefined);
      await jobs.stop();
    } finally {
      await engine.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
