/** Routes through fastify.inject() in JSON and MessagePack; every error code of the table. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { STATUS } from '../../src/server/errors.js';
import { RalmError } from '../../src/util/errors.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadDemoWorld } from '../../src/server/demo.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { prepareServing } from '../../src/server/server.js';
import { saveModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';

type Enc = 'json' | 'msgpack';
const encodings: Enc[] = ['json', 'msgpack'];

describe('service routes', () => {
  let app: FastifyInstance;
  let built: ReturnType<typeof buildApp>;
  let engine: RalmEngine;
  let store: LmdbStore;
  let dir: string;
  const seen = new Set<string>();
  const auth = { authorization: 'Bearer secret' };
  /** While set, a reload signals that it has begun and then waits to be let through (a reload that is surely in progress). */
  let reloadGate: { entered: () => void; open: Promise<void> } | null = null;
  // The shipped default model's widths (look-alike h, universal m).
  let H = 0;
  let M = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-app-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    ({ h: H, m: M } = engine.model.manifest);
    const seeds = new SeedService(store, engine, { minSeeds: 100 });
    await loadDemoWorld(seeds);
    const reloadModel = async (modelDir: string | undefined) => {
      if (reloadGate) {
        reloadGate.entered();
        await reloadGate.open;
      }
      const e = await RalmEngine.create(await loadModel(modelDir ?? defaultModelDir), { backend: 'cpu' });
      const s = new SeedService(store, e, { minSeeds: 100 });
      await prepareServing(e, s);
      return { engine: e, seeds: s };
    };
    built = buildApp({ engine, store, seeds, apiToken: 'secret', bodyLimit: 64 * 1024, reloadModel, modelsRoot: dir });
    app = built.app;
  });
  after(async () => {
    await app.close();
    await built.serving().engine.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
    // Every code in the table was produced by some test below.
    // Load-related codes are exercised in load.test.ts; the 5xx engine states need a broken host.
    // RALM_ERR_CANCELLED ends audience scans whose client went away (test/audience/scan.test.ts).
    // Scopes, rate limits and what Node's HTTP parser refuses are exercised in security.test.ts,
    // edges.test.ts and admission.test.ts (bytes that never become a routed request need a raw socket).
    // Store failures need a store that fails: a full disk (store/disk-full.test.ts, storage-error.test.ts),
    // a Valkey killed under running replicas (server/replicas.test.ts), a lease taken over (store/redis-store.test.ts),
    // a lease holder that never answers (seeds/lease.test.ts).
    const elsewhere = ['RALM_ERR_OVERLOADED', 'RALM_ERR_UNDER_PRESSURE', 'RALM_ERR_DEADLINE_EXCEEDED', 'RALM_ERR_CANCELLED',
      'RALM_ERR_FORBIDDEN', 'RALM_ERR_RATE_LIMITED', 'RALM_ERR_REQUEST_TIMEOUT', 'RALM_ERR_HEADERS_TOO_LARGE',
      'RALM_ERR_STORAGE_FULL', 'RALM_ERR_STORE_UNAVAILABLE', 'RALM_ERR_STALE_LEASE', 'RALM_ERR_LEADER_TIMEOUT'];
    const untested = Object.keys(STATUS).filter((c) => !seen.has(c) && !elsewhere.includes(c));
    assert.deepEqual(untested, []);
  });

  /** A request with the all-scope token, unless `headers` sets authorization ('' leaves it out). */
  async function call(method: 'GET' | 'POST' | 'PUT', url: string, body: unknown, enc: Enc, headers: Record<string, string> = {}): Promise<{ res: LightMyRequestResponse; data: Record<string, unknown> }> {
    const type = enc === 'json' ? 'application/json' : 'application/msgpack';
    const all = { ...(body !== undefined ? { 'content-type': type } : {}), accept: type, ...auth, ...headers };
    const res = await app.inject({
      method, url, headers: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== '')),
      payload: body === undefined ? undefined : enc === 'json' ? JSON.stringify(body) : pack(body),
    });
    const data = (res.headers['content-type']?.toString().startsWith('application/json') ? JSON.parse(res.body) : unpack(res.rawPayload)) as Record<string, unknown>;
    const err = data.error as { code?: string } | undefined;
    if (err?.code) seen.add(err.code);
    return { res, data };
  }

  for (const enc of encodings) {
    it(`[${enc}] recommend by user id: the user's topic first, with scores, flags, backend and timing`, async () => {
      const { res, data } = await call('POST', '/v1/recommend', { user: { id: 'demo-science-7' }, k: 5 }, enc);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], enc === 'json' ? 'application/json; charset=utf-8' : 'application/msgpack');
      const items = data.items as Array<{ id: string; score: number; cold: boolean; cosLocal: number }>;
      assert.equal(items.length, 5);
      assert.ok(items.filter((i) => i.id.startsWith('demo-science-')).length >= 4, JSON.stringify(items.map((i) => i.id)));
      assert.equal(data.backend, 'cpu');
      assert.ok((data.timing as { totalMs: number }).totalMs >= 0);
      assert.equal(typeof items[0].cold, 'boolean');
    });

    it(`[${enc}] recommend with an embedding, candidates and exclusions; score in input order`, async () => {
      const e = enc === 'msgpack' ? new Float32Array(H).fill(0.05) : new Array(H).fill(0.05);
      const cands = ['demo-food-article-1', 'demo-food-article-2', 'demo-music-article-0'];
      const { data } = await call('POST', '/v1/recommend', { user: { embedding: e }, candidates: cands, exclude: ['demo-food-article-2'], k: 10 }, enc);
      assert.deepEqual((data.items as Array<{ id: string }>).map((i) => i.id).sort(), ['demo-food-article-1', 'demo-music-article-0']);
      const s = await call('POST', '/v1/score', { user: { id: 'demo-music-3' }, items: ['demo-music-article-0', 'demo-sports-article-0', 'demo-music-article-0'] }, enc);
      const scores = Array.from(s.data.scores as ArrayLike<number>);
      assert.equal(scores.length, 3);
      assert.ok(scores[0] > scores[1]);
      assert.equal(scores[0], scores[2]);
      if (enc === 'msgpack') assert.ok(s.data.scores instanceof Float32Array, 'vectors travel as Float32Array in MessagePack');
    });

    it(`[${enc}] itemLevels: false leaves an item's level offset out of its score and rank; absent keeps it`, async () => {
      const e = Float32Array.from({ length: H }, (_, i) => Math.cos(i + 2));
      const probe = `levels-probe-${enc}`;
      // An item opposite the user (cosines -1), published with a large offset: it tops the list
      // only while the offset counts, and is last without it.
      await engine.upsertItems([{ id: probe, centroids: Float32Array.from({ length: 2 * H }, (_, i) => -e[i % H]), clickers: 3, offset: 5 }]);
      try {
        const cands = [probe, 'demo-food-article-1', 'demo-music-article-0', 'demo-science-article-0'];
        const scoreOf = async (body: Record<string, unknown>) => Array.from((await call('POST', '/v1/score', { user: { embedding: Array.from(e) }, items: [probe], ...body }, enc)).data.scores as ArrayLike<number>)[0];
        const withOffset = await scoreOf({});
        const without = await scoreOf({ itemLevels: false });
        const [library] = await engine.score([{ user: { embedding: e }, items: [probe], itemLevels: false }]);
        assert.equal(without, library.scores[0]);
        assert.ok(Math.abs(withOffset - (without + 5)) < 1e-5, `${withOffset} vs ${without} + 5`);
        const top = async (body: Record<string, unknown>) => (await call('POST', '/v1/recommend', { user: { embedding: Array.from(e) }, candidates: cands, k: 4, ...body }, enc)).data.items as Array<{ id: string; score: number }>;
        assert.equal((await top({}))[0].id, probe);
        assert.equal((await top({ itemLevels: true }))[0].id, probe);
        const plain = await top({ itemLevels: false });
        assert.equal(plain.at(-1)?.id, probe);
        assert.equal(plain.find((i) => i.id === probe)?.score, without);
        const [libraryRank] = await engine.rank([{ user: { embedding: e }, candidates: cands, k: 4, itemLevels: false }]);
        assert.deepEqual(plain.map((i) => i.id), libraryRank.items.map((i) => i.id));
      } finally {
        await engine.removeItems([probe]);
      }
    });

    it(`[${enc}] an embedding sent as raw float32 bytes ranks as the same numbers do`, async () => {
      const e = Float32Array.from({ length: H }, (_, i) => Math.sin(i + 1));
      const asBytes = enc === 'msgpack' ? Buffer.from(e.buffer) : Array.from(e);
      const a = await call('POST', '/v1/recommend', { user: { embedding: asBytes }, k: 5 }, enc);
      const b = await call('POST', '/v1/recommend', { user: { embedding: Array.from(e) }, k: 5 }, 'json');
      assert.equal(a.res.statusCode, 200, JSON.stringify(a.data));
      assert.deepEqual((a.data.items as Array<{ id: string }>).map((i) => i.id), (b.data.items as Array<{ id: string }>).map((i) => i.id));
    });

    it(`[${enc}] users and items: put, get, and an item's state`, async () => {
      const u = await call('PUT', `/v1/users/${enc}-user`, { universal: new Array(M).fill(0.01), features: { region: 'x' } }, enc);
      assert.equal(u.res.statusCode, 200);
      const g = await call('GET', `/v1/users/${enc}-user`, undefined, enc);
      assert.deepEqual(g.data.features, { region: 'x' });
      assert.equal((g.data.universal as ArrayLike<number>).length, M);
      await call('PUT', `/v1/items/${enc}-item`, { metadata: { title: 't' }, content: [1, 2] }, enc);
      const it = await call('GET', `/v1/items/${enc}-item`, undefined, enc);
      assert.equal(it.data.state, 'waiting-for-seeds');
      assert.equal(it.data.prior, null);
      assert.equal(it.data.levelOffset, null);
      assert.deepEqual(it.data.metadata, { title: 't' });
      const cold = await call('GET', '/v1/items/demo-science-breaking-news', undefined, enc);
      assert.equal(cold.data.state, 'cold');
      assert.equal(cold.data.served, true);
      // The shipped model has no popularityPrior: λ = 0, every served item's prior is 0.
      assert.equal(cold.data.prior, 0);
      // The level offset it is served with is the one stored with its clusters.
      assert.equal(typeof cold.data.levelOffset, 'number');
      assert.equal(cold.data.levelOffset, (cold.data.clusters as { levelOffset: number }).levelOffset);
    });
  }

  it('events are stored and a forced re-cluster makes a new item servable', async () => {
    const ev = Array.from({ length: 6 }, (_, i) => ({ user: `demo-travel-${i}`, item: 'fresh-travel', ts: Date.now(), id: `fresh-${i}` }));
    const r = await call('POST', '/v1/events', { events: [...ev, { user: 'nobody-yet', item: 'fresh-travel', ts: Date.now() }] }, 'json');
    assert.deepEqual(r.data, { accepted: 7, duplicates: 0, unknownUserEvents: 1, unknownUsers: ['nobody-yet'] });
    assert.equal((await call('POST', '/v1/events', ev, 'msgpack')).data.duplicates, 6);
    assert.equal((await call('POST', '/v1/admin/recluster', undefined, 'json', { authorization: '' })).res.statusCode, 401);
    const run = await call('POST', '/v1/admin/recluster', undefined, 'json');
    assert.equal(run.res.statusCode, 200);
    assert.ok((run.data.newlyServable as string[]).includes('fresh-travel'));
    const { data } = await call('POST', '/v1/recommend', { user: { id: 'demo-travel-0' }, candidates: ['fresh-travel', 'demo-food-article-0'], k: 1 }, 'json');
    assert.equal((data.items as Array<{ id: string; cold: boolean }>)[0].id, 'fresh-travel');
  });

  it('serves an OpenAPI document generated from the route schemas, and a documentation page', async () => {
    const doc = JSON.parse((await app.inject({ url: '/docs/json' })).body) as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/v1/recommend', '/v1/score', '/v1/events', '/v1/users/{id}', '/v1/items/{id}', '/v1/admin/recluster']) assert.ok(doc.paths[path], `${path} missing`);
    assert.ok(doc.paths['/v1/recommend'].post.requestBody);
    const page = await app.inject({ url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
  });

  it('the OpenAPI document lists every route with its methods', async () => {
    const doc = JSON.parse((await app.inject({ url: '/docs/json' })).body) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(routes.sort(), [
      'DELETE /v1/audiences/{id}', 'GET /healthz', 'GET /metrics', 'GET /readyz', 'GET /v1/audiences/{id}', 'GET /v1/audiences/{id}/users',
      'GET /v1/items/{id}', 'GET /v1/users/{id}', 'POST /v1/admin/model', 'POST /v1/admin/recluster', 'POST /v1/audiences', 'POST /v1/events',
      'POST /v1/recommend', 'POST /v1/score', 'PUT /v1/items/{id}', 'PUT /v1/users/{id}',
    ]);
  });

  it('hot-reloads a model: requests in flight finish, later ones run on the new model with every item', async () => {
    const modelDir = join(dir, 'model-v2');
    const m = randomModel({ seed: 2, h: H, m: M, k: engine.model.manifest.k }); // the stored users' width
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = m.manifest;
    await saveModel(modelDir, { ...manifest, modelVersion: 'reloaded-v2' }, m.weights);
    const before = await call('POST', '/v1/recommend', { user: { id: 'demo-food-2' }, k: 3 }, 'json');
    const inFlight = call('POST', '/v1/recommend', { user: { id: 'demo-food-2' }, k: 3 }, 'json');
    let letThrough = (): void => undefined;
    const entered = new Promise<void>((resolve) => {
      reloadGate = { entered: resolve, open: new Promise<void>((r) => (letThrough = r)) };
    });
    const reload = call('POST', '/v1/admin/model', { dir: modelDir }, 'json', auth);
    await entered; // the first reload is under way, however loaded the machine
    const second = await call('POST', '/v1/admin/model', { dir: modelDir }, 'json', auth);
    assert.equal(second.res.statusCode, 409);
    reloadGate = null;
    letThrough();
    const r = await reload;
    assert.equal(r.res.statusCode, 200, JSON.stringify(r.data));
    assert.equal(r.data.modelVersion, 'reloaded-v2');
    assert.match(String(r.data.modelId), /^reloaded-v2@[0-9a-f]{16}$/, 'the id is the name and the weights checksum');
    assert.notEqual(r.data.modelId, r.data.previousModelId);
    assert.equal(r.data.items, before.data.candidates);
    const during = await inFlight;
    assert.equal(during.res.statusCode, 200);
    const after = await call('POST', '/v1/recommend', { user: { id: 'demo-food-2' }, k: 3 }, 'json');
    assert.equal(after.data.modelVersion, 'reloaded-v2');
    assert.equal(after.data.candidates, before.data.candidates);
    const bad = await call('POST', '/v1/admin/model', { dir: join(dir, 'no-such-model') }, 'json', auth);
    assert.equal(bad.res.statusCode, 400);
    assert.equal((bad.data.error as { code: string }).code, 'RALM_ERR_VALIDATION');
    assert.equal((await call('POST', '/v1/recommend', { user: { id: 'demo-food-2' }, k: 3 }, 'json')).data.modelVersion, 'reloaded-v2');
  });

  it('engine and internal failures map to their codes without leaking internals', async () => {
    // A separate app over stubbed dependencies, to produce the failures a healthy host never does.
    const failing = (err: Error) => ({ ingest: async () => { throw err; }, onUsersStored: () => undefined }) as unknown as SeedService;
    const cases: Array<[Error, number, string, RegExp]> = [
      [new Error('secret internal detail at /srv/x.js:1'), 500, 'RALM_ERR_INTERNAL', /^internal error \(see the server log for the request id\)$/],
      [new RalmError('RALM_ERR_CLOSED', 'the engine is closed'), 503, 'RALM_ERR_CLOSED', /closed/],
      [new RalmError('RALM_ERR_DEVICE_LOST', 'the WebGPU device was released'), 503, 'RALM_ERR_DEVICE_LOST', /device/],
      [new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'no WebGPU adapter'), 503, 'RALM_ERR_BACKEND_UNAVAILABLE', /adapter/],
      [new RalmError('RALM_ERR_MODEL_FORMAT', 'tensor "x" is missing'), 422, 'RALM_ERR_MODEL_FORMAT', /tensor "x"/],
    ];
    for (const [err, status, code, message] of cases) {
      const stub = buildApp({ engine, store, seeds: failing(err), apiToken: null, bodyLimit: 1024, maxEventLoopDelayMs: 0 }).app;
      const res = await stub.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: { events: [] } });
      assert.equal(res.statusCode, status);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      seen.add(code);
      assert.match(body.error.message, message);
      assert.ok(!res.body.includes('/srv/x.js'));
      await stub.close();
    }
  });

  it('health, readiness and Prometheus metrics', async () => {
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    const ready = await app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal(JSON.parse(ready.body).ready, true);
    const m = await app.inject({ url: '/metrics' });
    assert.match(m.headers['content-type'] as string, /^text\/plain/);
    assert.match(m.body, /ralm_http_request_duration_seconds_bucket\{le="0.005",route="\/v1\/recommend"\} \d+/);
    assert.match(m.body, /ralm_events_ingested_total \d+/);
    assert.match(m.body, /ralm_errors_total\{code="RALM_ERR_UNAUTHORIZED"\} 1/);
  });

  const bad: Array<[string, () => Promise<{ res: LightMyRequestResponse; data: Record<string, unknown> }>, number, string, RegExp]> = [
    ['a missing user', () => call('POST', '/v1/recommend', { k: 3 }, 'json'), 400, 'RALM_ERR_VALIDATION', /^body: expected a user object/],
    ['raw user features (the model has no user tower)', () => call('POST', '/v1/recommend', { user: { features: { region: 'x' } } }, 'json'), 400, 'RALM_ERR_VALIDATION', /user\.features: model .* has no user tower/],
    ['two user forms', () => call('POST', '/v1/recommend', { user: { id: 'a', embedding: [1] } }, 'json'), 400, 'RALM_ERR_VALIDATION', /user: give exactly one of/],
    ['a bad k', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, k: 0 }, 'json'), 400, 'RALM_ERR_VALIDATION', /k: expected an integer >= 1/],
    ['an itemLevels that is not a boolean (recommend)', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, itemLevels: 'off' }, 'json'), 400, 'RALM_ERR_VALIDATION', /^itemLevels: expected a boolean, got "off"/],
    ['an itemLevels that is not a boolean (score)', () => call('POST', '/v1/score', { user: { id: 'demo-food-1' }, items: ['demo-food-article-1'], itemLevels: 0 }, 'msgpack'), 400, 'RALM_ERR_VALIDATION', /^itemLevels: expected a boolean, got 0/],
    ['a k given as a string (bodies are not coerced)', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, k: '5' }, 'msgpack'), 400, 'RALM_ERR_VALIDATION', /^k: expected an integer >= 1, got "5"/],
    ['an item id that is not a string', () => call('POST', '/v1/score', { user: { id: 'demo-food-1' }, items: ['demo-food-article-1', 7] }, 'json'), 400, 'RALM_ERR_VALIDATION', /^items\[1\]: expected an item id \(1 to 256 characters\), got 7/],
    ['a deadline header that is not a positive number', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' } }, 'json', { 'x-ralm-deadline-ms': '-3' }), 400, 'RALM_ERR_VALIDATION', /^x-ralm-deadline-ms: expected a positive number of milliseconds/],
    ['a null universal, which counts as not given', () => call('PUT', '/v1/users/null-universal', { universal: null }, 'json'), 400, 'RALM_ERR_VALIDATION', /^universal: required, \d+ numbers/],
    ['an embedding sent as bytes that are not whole float32s', () => call('POST', '/v1/recommend', { user: { embedding: Buffer.alloc(4 * H + 2) } }, 'msgpack'), 400, 'RALM_ERR_VALIDATION', /^user\.embedding: binary vectors are little-endian float32/],
    ['a wrong embedding width', () => call('POST', '/v1/recommend', { user: { embedding: [1, 2, 3] } }, 'msgpack'), 400, 'RALM_ERR_DIMENSION', /user\.embedding: expected 64 values, got 3/], // the default model's h
    ['a NaN in an embedding', () => call('POST', '/v1/recommend', { user: { embedding: Float32Array.of(...new Array(H).fill(1)).fill(NaN, 5, 6) } }, 'msgpack'), 400, 'RALM_ERR_NON_FINITE', /user\.embedding\[5\]: expected a finite number/],
    ['an unknown user', () => call('POST', '/v1/recommend', { user: { id: 'who' } }, 'json'), 404, 'RALM_ERR_UNKNOWN_USER', /user\.id: unknown user "who"/],
    ['unknown candidates (JSON)', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, candidates: ['demo-food-article-1', 'nope'] }, 'json'), 404, 'RALM_ERR_UNKNOWN_ITEM', /^candidates: 1 unknown item id: "nope"/],
    ['unknown candidates (MessagePack)', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, candidates: ['nope', 'nope2'] }, 'msgpack'), 404, 'RALM_ERR_UNKNOWN_ITEM', /^candidates: 2 unknown item ids: "nope", "nope2"/],
    ['a candidate id that is not a string', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1' }, candidates: ['demo-food-article-1', 7] }, 'msgpack'), 400, 'RALM_ERR_VALIDATION', /^candidates\[1\]: expected an item id \(1 to 256 characters\), got 7/],
    ['unknown items', () => call('POST', '/v1/score', { user: { id: 'demo-food-1' }, items: ['nope', 'demo-food-article-1'] }, 'json'), 404, 'RALM_ERR_UNKNOWN_ITEM', /items: 1 unknown item id: "nope"/],
    ['a bad event', () => call('POST', '/v1/events', { events: [{ user: 'u', item: 'i', ts: 'yesterday' }] }, 'json'), 400, 'RALM_ERR_VALIDATION', /events\[0\]\.ts: expected a timestamp/],
    ['malformed JSON', () => app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json', ...auth }, payload: '{"user":' }).then((res) => ({ res, data: JSON.parse(res.body) })), 400, 'RALM_ERR_MALFORMED_BODY', /^body: /],
    // No Accept header: the error comes back in the request's encoding.
    ['malformed MessagePack', () => app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/msgpack', ...auth }, payload: Buffer.from([0xc1, 0xff, 0x00]) }).then((res) => ({ res, data: unpack(res.rawPayload) as Record<string, unknown> })), 400, 'RALM_ERR_MALFORMED_BODY', /not valid MessagePack/],
    ['a body over the limit', () => call('POST', '/v1/events', { events: new Array(20_000).fill({ user: 'u', item: 'i', ts: 1 }) }, 'json'), 413, 'RALM_ERR_BODY_TOO_LARGE', /larger than the 65536-byte limit/],
    ['an unsupported media type', () => app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'text/csv', ...auth }, payload: 'a,b' }).then((res) => ({ res, data: JSON.parse(res.body) })), 415, 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE', /content-type: expected/],
    ['an unknown route', () => call('GET', '/v2/nothing', undefined, 'json'), 404, 'RALM_ERR_NOT_FOUND', /no route GET \/v2\/nothing/],
    ['a wrong token', () => call('POST', '/v1/admin/recluster', undefined, 'json', { authorization: 'Bearer nope' }), 401, 'RALM_ERR_UNAUTHORIZED', /authorization/],
    ['an unknown item id', () => call('GET', '/v1/items/none-such', undefined, 'json'), 404, 'RALM_ERR_UNKNOWN_ITEM', /unknown item "none-such"/],
  ];
  for (const [name, run, status, code, message] of bad) {
    it(`${name} → ${status} ${code}, naming the field, no stack trace`, async () => {
      const { res, data } = await run();
      assert.equal(res.statusCode, status);
      const err = data.error as { code: string; message: string; requestId: string };
      assert.equal(err.code, code);
      seen.add(err.code);
      assert.match(err.message, message);
      assert.ok(err.requestId);
      assert.ok(!/\bat .*\.js:\d+/.test(res.body), 'no stack trace in the response');
    });
  }

  // After the metrics test, which counts the 401s before it.
  it('the API token is checked before the body is validated', async () => {
    const res = await call('POST', '/v1/admin/model', { dir: 5 }, 'json', { authorization: '' });
    assert.equal(res.res.statusCode, 401);
    const authed = await call('POST', '/v1/admin/model', { dir: 5 }, 'json');
    assert.equal(authed.res.statusCode, 400);
    assert.match((authed.data.error as { message: string }).message, /^dir: expected a model directory path/);
  });
});
