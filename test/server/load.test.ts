/** Coalescing, queue limits, deadlines and load shedding; a bounded autocannon smoke test. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { RankBatcher } from '../../src/server/batcher.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadDemoWorld } from '../../src/server/demo.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { smallModel, randomItems } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';
import { performance } from 'node:perf_hooks';

describe('rank batcher', () => {
  it('coalesces concurrent requests; each result equals the request run alone', async () => {
    const model = smallModel({ seed: 95 });
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    await engine.upsertItems(randomItems(model, 300, 96));
    const sizes: number[] = [];
    const b = new RankBatcher(engine, { maxBatch: 8, maxWaitMs: 5, maxQueue: 100 }, { batch: (n) => sizes.push(n), queueWait: () => undefined });
    const rng = new Rng(97);
    const reqs = Array.from({ length: 20 }, () => ({ user: { embedding: rng.normals(model.manifest.h) }, k: 5 }));
    const got = await Promise.all(reqs.map((r) => b.submit(r, performance.now() + 5000)));
    assert.ok(sizes.some((n) => n > 1), `batch sizes ${sizes}`);
    assert.ok(sizes.every((n) => n <= 8));
    assert.equal(sizes.reduce((a, n) => a + n, 0), 20);
    for (let i = 0; i < reqs.length; i++) assert.deepEqual(got[i].items, (await engine.rank([reqs[i]]))[0].items);
    await engine.close();
  });

  it('a bad request fails alone, when submitted; a full queue answers 429; a passed deadline 504', async () => {
    const model = smallModel({ seed: 98 });
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    await engine.upsertItems(randomItems(model, 10, 99));
    const e = new Float32Array(model.manifest.h).fill(0.2);
    const b = new RankBatcher(engine, { maxBatch: 8, maxWaitMs: 20, maxQueue: 3 }, { batch: () => undefined, queueWait: () => undefined });
    const far = performance.now() + 5000;
    const ok = b.submit({ user: { embedding: e }, k: 2 }, far);
    // Prepared when submitted: refused at once with the engine's coded error, its field unprefixed, and never queued.
    await assert.rejects(b.submit({ user: { embedding: e }, candidates: ['missing'], k: 2 }, far), (err: Error & { code?: string; details?: { field?: string } }) =>
      err.code === 'RALM_ERR_UNKNOWN_ITEM' && err.details?.field === 'candidates' && /^candidates: 1 unknown item id: "missing"/.test(err.message));
    await assert.rejects(b.submit({ user: { embedding: e }, k: 0 }, far), (err: Error & { code?: string; details?: { field?: string } }) => err.code === 'RALM_ERR_VALIDATION' && err.details?.field === 'k');
    assert.equal(b.queued, 1);
    const ok2 = b.submit({ user: { embedding: e }, k: 3 }, far);
    // Answered when its deadline passes, before the batch runs: the check is attached now.
    const late = assert.rejects(b.submit({ user: { embedding: e }, k: 2 }, performance.now() + 1), (err: Error & { code?: string }) => err.code === 'RALM_ERR_DEADLINE_EXCEEDED');
    await assert.rejects(b.submit({ user: { embedding: e }, k: 2 }, far), (err: Error & { code?: string }) => err.code === 'RALM_ERR_OVERLOADED');
    assert.equal((await ok).items.length, 2);
    assert.equal((await ok2).items.length, 3);
    await late;
    await engine.close();
  });
});

describe('service under load', () => {
  let app: FastifyInstance;
  let shedding: FastifyInstance;
  let engine: RalmEngine;
  let store: LmdbStore;
  let dir: string;
  let url: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-load-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, {});
    await loadDemoWorld(seeds);
    // The load run is about answers and coalescing, not admission (admission.test.ts): on a busy
    // host 16 connections can wait past the default 250 ms, and admission then rightly answers
    // 429. So its app admits any wait that fits a generous deadline, and sheds nothing.
    app = buildApp({
      engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, batching: { maxBatch: 32, maxWaitMs: 2, maxQueue: 1024 }, maxEventLoopDelayMs: 0,
      requestTimeoutMs: 60_000, limits: { maxQueueWaitMs: 30_000 },
    }).app;
    // Shedding gets its own app with a tight limit, so that scheduler noise during the load run
    // (autocannon shares this process and its 2 cores) cannot turn into 503s there.
    shedding = buildApp({ engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 200, pressureSampleIntervalMs: 50 }).app;
    await shedding.ready();
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await shedding.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a request whose deadline passes in the queue gets 504', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json', 'x-ralm-deadline-ms': '0.001' }, payload: { user: { id: 'demo-food-1' } } });
    assert.equal(res.statusCode, 504);
    assert.equal(JSON.parse(res.body).error.code, 'RALM_ERR_DEADLINE_EXCEEDED');
  });

  it('autocannon for 3 s: no errors, and concurrent requests were batched', async () => {
    const result = await autocannon({
      url: `${url}/v1/recommend`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: { id: 'demo-music-5' }, k: 10 }),
      connections: 16,
      duration: 3,
    });
    if (result.non2xx > 0) {
      const probe = await fetch(`${url}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { id: 'demo-music-5' }, k: 10 }) });
      assert.fail(`${result.non2xx} non-2xx responses (by status: ${JSON.stringify(result.statusCodeStats)}); a probe got ${probe.status}: ${(await probe.text()).slice(0, 200)}`);
    }
    assert.equal(result.errors, 0);
    assert.ok(result.requests.total > 50, `only ${result.requests.total} requests`);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    const single = Number(/ralm_batch_size_bucket\{le="1"\} (\d+)/.exec(metrics)?.[1]);
    const total = Number(/ralm_batch_size_count (\d+)/.exec(metrics)?.[1]);
    assert.ok(total > 0 && single < total, `no batch above 1 (${single} of ${total} batches were single)`);
  });

  it('a blocked event loop sheds requests with 503 and Retry-After', async () => {
    // Block the loop, as a runaway computation would, long enough that the sampler's window mean
    // (samples every 10 ms, window 50 ms) clearly exceeds the 200 ms limit; then ask from a timer
    // callback, which runs after the sampler's overdue timer. Up to three rounds absorb scheduling noise.
    let res;
    for (let round = 0; round < 3; round++) {
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // busy
      }
      await new Promise((r) => setTimeout(r, 1));
      res = await shedding.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json' }, payload: { user: { id: 'demo-food-1' } } });
      if (res.statusCode === 503) break;
    }
    assert.ok(res);
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(JSON.parse(res.body).error.code, 'RALM_ERR_UNDER_PRESSURE');
  });
});
