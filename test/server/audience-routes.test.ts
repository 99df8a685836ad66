/** /v1/audiences through fastify.inject(): synchronous answers, jobs, pages, the stream, errors. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadDemoWorld } from '../../src/server/demo.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';

describe('audience routes', () => {
  let app: FastifyInstance;
  let built: ReturnType<typeof buildApp>;
  let engine: RalmEngine;
  let store: LmdbStore;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-audience-app-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, { minSeeds: 100 });
    // Demo users: 6 topics × 150 ("demo-<topic>-<n>"). Requests over 500 users run as jobs.
    built = buildApp({ engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, audience: { syncMaxUsers: 500, maxSize: 2000, jobs: { maxQueued: 1 } } });
    app = built.app;
    await loadDemoWorld(seeds);
    await built.audienceJobs.restore();
  });
  after(async () => {
    await app.close();
    await built.audienceJobs.stop();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (body: unknown) => app.inject({ method: 'POST', url: '/v1/audiences', payload: body as object });
  const get = (url: string) => app.inject({ method: 'GET', url });
  async function waitDone(id: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 500; i++) {
      const job = (await get(`/v1/audiences/${id}`)).json();
      if (job.status !== 'queued' && job.status !== 'running') return job;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`job ${id} did not finish`);
  }

  it('answers a pool request synchronously, in JSON and MessagePack', async () => {
    const pool = Array.from({ length: 150 }, (_, i) => `demo-music-${i}`).concat(Array.from({ length: 150 }, (_, i) => `demo-sports-${i}`));
    const body = { seeds: ['demo-music-1', 'demo-music-2', 'nobody'], size: 20, pool };
    const res = await post(body);
    assert.equal(res.statusCode, 200);
    const r = res.json();
    assert.deepEqual(r.seeds.unmatchedIds, ['nobody']);
    assert.equal(r.seeds.matched, 2);
    assert.equal(r.scored, 300);
    assert.equal(r.users.length, 20);
    assert.ok(r.users.every((u: { id: string }) => u.id.startsWith('demo-music-') && u.id !== 'demo-music-1' && u.id !== 'demo-music-2'));
    assert.ok(r.timing.totalMs >= 0 && r.backend === 'cpu');
    const mp = await app.inject({
      method: 'POST', url: '/v1/audiences', headers: { 'content-type': 'application/msgpack', accept: 'application/msgpack' }, payload: pack(body),
    });
    assert.equal(mp.statusCode, 200);
    assert.deepEqual((unpack(mp.rawPayload) as { users: Array<{ id: string }> }).users.map((u) => u.id), r.users.map((u: { id: string }) => u.id));
  });

  it('runs large requests as jobs: progress, pages, the NDJSON stream, deletion', async () => {
    const res = await post({ seeds: ['demo-science-1', 'demo-science-2', 'demo-science-3'], size: 120 });
    assert.equal(res.statusCode, 202);
    const job = res.json();
    assert.equal(res.headers.location, `/v1/audiences/${job.id}`);
    assert.ok(['queued', 'running'].includes(job.status));
    const done = await waitDone(job.id);
    assert.equal(done.status, 'done');
    assert.equal((done.summary as { size: number }).size, 120);
    const p1 = (await get(`/v1/audiences/${job.id}/users?limit=50`)).json();
    assert.equal(p1.total, 120);
    assert.equal(p1.users.length, 50);
    assert.equal(p1.next, `/v1/audiences/${job.id}/users?offset=50&limit=50`);
    const p3 = (await get(`/v1/audiences/${job.id}/users?offset=100&limit=50`)).json();
    assert.equal(p3.users.length, 20);
    assert.equal(p3.next, null);
    const stream = await get(`/v1/audiences/${job.id}/users?format=ndjson`);
    assert.match(String(stream.headers['content-type']), /application\/x-ndjson/);
    const lines = stream.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 120);
    assert.deepEqual(lines.slice(0, 50).map((l) => l.id), p1.users.map((u: { id: string }) => u.id));
    assert.equal(lines[0].rank, 1);
    assert.ok(lines.every((l) => l.id.startsWith('demo-science-')) || lines.filter((l) => l.id.startsWith('demo-science-')).length >= 100);
    const metrics = (await get('/metrics')).body;
    assert.match(metrics, /ralm_audiences_total\{mode="job",outcome="done"\} [1-9]/);
    assert.match(metrics, /ralm_audiences_total\{mode="sync",outcome="done"\} [1-9]/);
    assert.match(metrics, /ralm_audience_user_table_users 900/);
    assert.match(metrics, /ralm_audience_scan_seconds_count [1-9]/);
    const del = await app.inject({ method: 'DELETE', url: `/v1/audiences/${job.id}` });
    assert.deepEqual(del.json(), { id: job.id, action: 'deleted', status: 'done' });
    assert.equal((await get(`/v1/audiences/${job.id}`)).statusCode, 404);
  });

  it('rejects bad input with the field named, and unknown or unfinished jobs clearly', async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ seeds: ['demo-music-1'] }, 400, 'RALM_ERR_VALIDATION', /^size: /],
      [{ seeds: ['demo-music-1'], size: 5000 }, 400, 'RALM_ERR_VALIDATION', /^size: expected an integer from 1 to 2000/],
      [{ seeds: ['demo-music-1'], size: 5, async: 'yes' }, 400, 'RALM_ERR_VALIDATION', /^async: /],
      [{ seedEmbeddings: [[1, 2, 3]], size: 5 }, 400, 'RALM_ERR_DIMENSION', /^seedEmbeddings\[0\]: expected 64 values, got 3/], // the default model's h
      [{ seeds: ['nobody'], size: 5, pool: ['demo-music-1'] }, 400, 'RALM_ERR_VALIDATION', /^seeds: none of the 1 seed users matched/],
    ];
    for (const [body, status, code, re] of cases) {
      const res = await post(body);
      assert.equal(res.statusCode, status, JSON.stringify(body));
      assert.equal(res.json().error.code, code);
      assert.match(res.json().error.message, re);
    }
    assert.equal((await get('/v1/audiences/nope')).json().error.code, 'RALM_ERR_NOT_FOUND');
    assert.equal((await get('/v1/audiences/nope/users')).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/audiences/nope' })).statusCode, 404);
    const job = (await post({ seeds: ['demo-food-1'], size: 3, async: true })).json();
    await waitDone(job.id);
    const badPage = await get(`/v1/audiences/${job.id}/users?limit=0`);
    assert.equal(badPage.statusCode, 400);
    assert.match(badPage.json().error.message, /^limit: expected an integer from 1 to 100000/);
    assert.match((await get(`/v1/audiences/${job.id}/users?format=csv`)).json().error.message, /^format: /);
  });

  it('answers 409 for the users of an unfinished job and 429 when the job queue is full', async () => {
    // A job accepted (stored) but not yet run: its users are not there yet.
    await store.putAudience({ id: 'held', status: 'queued', spec: {}, createdAt: Date.now(), startedAt: null, finishedAt: null, error: null, summary: null });
    const early = await get('/v1/audiences/held/users');
    assert.equal(early.statusCode, 409);
    assert.equal(early.json().error.code, 'RALM_ERR_CONFLICT');
    assert.match(early.json().error.message, /is queued/);
    await store.deleteAudience('held');
    // A server that may queue no job refuses with 429 and a retry hint; small synchronous requests still run.
    const other = buildApp({ engine, store, seeds: built.serving().seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, audience: { syncMaxUsers: 500, jobs: { maxQueued: 0 } } });
    try {
      const refused = await other.app.inject({ method: 'POST', url: '/v1/audiences', payload: { seeds: ['demo-food-1'], size: 3, async: true } });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json().error.code, 'RALM_ERR_OVERLOADED');
      assert.equal(refused.headers['retry-after'], '5');
      const small = await other.app.inject({ method: 'POST', url: '/v1/audiences', payload: { seeds: ['demo-food-1'], size: 3, pool: ['demo-food-2', 'demo-food-3'] } });
      assert.equal(small.statusCode, 200);
    } finally {
      await other.app.close();
      await other.audienceJobs.stop();
    }
  });
});
