/**
 * Users given as raw features, through fastify.inject() in JSON and MessagePack: refused while the
 * model has no user tower, served through the tower once a model with one is hot-reloaded, and
 * exactly as good as giving the tower's output x_u (computed here by the ml-matrix oracle).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { DEMO_TOPICS, loadDemoWorld } from '../../src/server/demo.js';
import { loadModel, saveModel, type RalmModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { referenceUserTower } from '../../src/model/reference.js';
import { prepareServing } from '../../src/server/server.js';
import { assertClose } from '../helpers/fixtures.js';

type Enc = 'json' | 'msgpack';
const encodings: Enc[] = ['json', 'msgpack'];
const INTERESTS = ['jazz', 'hiking', 'chess', 'cooking', 'football', 'astronomy', 'poetry'];

describe('users as raw features (the stage-1 user tower)', () => {
  let app: FastifyInstance;
  let built: ReturnType<typeof buildApp>;
  let store: LmdbStore;
  let dir: string;
  let towerModel: RalmModel;
  const towerDir = (): string => join(dir, 'model-tower');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-features-'));
    store = LmdbStore.open(join(dir, 'store'));
    // A model without a tower to start from (the shipped default has one).
    const plain = randomModel({ seed: 1 });
    const { format: _pf, formatVersion: _pv, weightsSha256: _ps, ...plainManifest } = plain.manifest;
    await saveModel(join(dir, 'model-plain'), plainManifest, plain.weights);
    const engine = await RalmEngine.create(await loadModel(join(dir, 'model-plain')), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, { minSeeds: 100 });
    await loadDemoWorld(seeds);
    const reloadModel = async (modelDir: string | undefined) => {
      const e = await RalmEngine.create(await loadModel(modelDir ?? join(dir, 'model-plain')), { backend: 'cpu' });
      const s = new SeedService(store, e, { minSeeds: 100 });
      await prepareServing(e, s);
      return { engine: e, seeds: s };
    };
    built = buildApp({ engine, store, seeds, apiToken: null, bodyLimit: 1024 * 1024, maxEventLoopDelayMs: 0, reloadModel, modelsRoot: dir });
    app = built.app;
    // The default model's shape (h = m = 128, k = 20) with a tower over the demo users' own feature.
    const m = randomModel({
      seed: 1,
      tower: {
        fields: [
          { name: 'favouriteTopic', kind: 'categorical', vocabulary: DEMO_TOPICS.length },
          { name: 'age', kind: 'continuous', range: [13, 90] },
          { name: 'interests', kind: 'multi-categorical', vocabulary: INTERESTS.length },
          { name: 'sessionsPerWeek', kind: 'continuous', range: [0, 50] },
        ],
        vocab: { favouriteTopic: DEMO_TOPICS, interests: INTERESTS },
        merge: 'attention', attentionSize: 32, hidden: [96, 128],
      },
    });
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = m.manifest;
    await saveModel(towerDir(), manifest, m.weights, m.tower);
    towerModel = await loadModel(towerDir());
  });
  after(async () => {
    await app.close();
    await built.serving().engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function call(method: 'GET' | 'POST' | 'PUT', url: string, body: unknown, enc: Enc, headers: Record<string, string> = {}): Promise<{ res: LightMyRequestResponse; data: Record<string, unknown> }> {
    const type = enc === 'json' ? 'application/json' : 'application/msgpack';
    const res = await app.inject({
      method, url, headers: { ...(body !== undefined ? { 'content-type': type } : {}), accept: type, ...headers },
      payload: body === undefined ? undefined : enc === 'json' ? JSON.stringify(body) : pack(body),
    });
    const data = (res.headers['content-type']?.toString().startsWith('application/json') ? JSON.parse(res.body) : unpack(res.rawPayload)) as Record<string, unknown>;
    return { res, data };
  }

  const errorOf = (data: Record<string, unknown>): { code: string; message: string } => data.error as { code: string; message: string };
  /** x_u as the oracle computes it, in the form each encoding sends a vector. */
  const universalOf = (raw: Record<string, unknown>, enc: Enc): number[] | Float32Array => {
    const x = Float32Array.from(referenceUserTower(towerModel, raw));
    return enc === 'json' ? Array.from(x) : x;
  };
  type Ranked = Array<{ id: string; score: number }>;

  for (const enc of encodings) {
    it(`[${enc}] a model without a user tower refuses features, saying so`, async () => {
      const r = await call('POST', '/v1/recommend', { user: { features: { favouriteTopic: 'music' } }, k: 3 }, enc);
      assert.equal(r.res.statusCode, 400);
      assert.equal(errorOf(r.data).code, 'RALM_ERR_VALIDATION');
      assert.match(errorOf(r.data).message, /^user\.features: model random-h128-m128-k20-s64-seed1 has no user tower to embed raw features/);
      const p = await call('PUT', '/v1/users/no-tower', { features: { favouriteTopic: 'music' } }, enc);
      assert.equal(p.res.statusCode, 400);
      assert.match(errorOf(p.data).message, /^universal: required, 128 numbers \(model .* has no user tower to compute it from features\)/);
    });
  }

  it('hot-reloading a model with a user tower brings the tower with it', async () => {
    const r = await call('POST', '/v1/admin/model', { dir: towerDir() }, 'json', { authorization: 'Bearer secret' });
    assert.equal(r.res.statusCode, 200, JSON.stringify(r.data));
    assert.equal(r.data.modelVersion, towerModel.manifest.modelVersion);
    assert.ok(built.serving().engine.model.tower, 'the serving model has the tower');
    assert.ok((r.data.items as number) > 40);
  });

  for (const enc of encodings) {
    const raw = { favouriteTopic: 'science', age: 34, interests: ['astronomy', 'chess', 'astronomy', 'knitting'] };

    it(`[${enc}] recommend with features ranks exactly as with the tower's x_u, and reports unknown values`, async () => {
      const byFeatures = await call('POST', '/v1/recommend', { user: { features: raw }, k: 10 }, enc);
      assert.equal(byFeatures.res.statusCode, 200, JSON.stringify(byFeatures.data));
      const byUniversal = await call('POST', '/v1/recommend', { user: { universal: universalOf(raw, enc) }, k: 10 }, enc);
      const a = byFeatures.data.items as Ranked;
      const b = byUniversal.data.items as Ranked;
      assert.equal(a.length, 10);
      assert.deepEqual(a.map((i) => i.id), b.map((i) => i.id));
      assertClose(a.map((i) => i.score), b.map((i) => i.score), 'scores', 1e-5, 1e-4);
      assert.deepEqual(byFeatures.data.unknownValues, { interests: ['knitting'] });
      assert.equal(byUniversal.data.unknownValues, undefined, 'reported only for feature input');
      assert.equal(byFeatures.data.modelVersion, towerModel.manifest.modelVersion);
      // The features matter: another user's features give other scores.
      const other = await call('POST', '/v1/recommend', { user: { features: { favouriteTopic: 'food', sessionsPerWeek: 12 } }, k: 10 }, enc);
      assert.notDeepEqual((other.data.items as Ranked).map((i) => i.score), a.map((i) => i.score));
      assert.deepEqual(other.data.unknownValues, {});
    });

    it(`[${enc}] score with features equals score with the tower's x_u`, async () => {
      const items = ['demo-science-article-0', 'demo-food-article-3', 'demo-science-article-0'];
      const byFeatures = await call('POST', '/v1/score', { user: { features: raw }, items }, enc);
      assert.equal(byFeatures.res.statusCode, 200, JSON.stringify(byFeatures.data));
      const byUniversal = await call('POST', '/v1/score', { user: { universal: universalOf(raw, enc) }, items }, enc);
      assertClose(Array.from(byFeatures.data.scores as ArrayLike<number>), Array.from(byUniversal.data.scores as ArrayLike<number>), 'scores', 1e-5, 1e-4);
      assert.deepEqual(byFeatures.data.unknownValues, { interests: ['knitting'] });
    });

    it(`[${enc}] PUT a user with only features: x_u comes from the tower, the features are kept, and the stored user ranks as the features do`, async () => {
      const id = `${enc}-featured`;
      const put = await call('PUT', `/v1/users/${id}`, { features: raw }, enc);
      assert.equal(put.res.statusCode, 200, JSON.stringify(put.data));
      assert.deepEqual(put.data.unknownValues, { interests: ['knitting'] });
      const got = await call('GET', `/v1/users/${id}`, undefined, enc);
      assert.deepEqual(got.data.features, raw);
      assertClose(Array.from(got.data.universal as ArrayLike<number>), referenceUserTower(towerModel, raw), 'universal', 1e-5, 1e-4);
      const byId = await call('POST', '/v1/recommend', { user: { id }, k: 10 }, enc);
      const byFeatures = await call('POST', '/v1/recommend', { user: { features: raw }, k: 10 }, enc);
      assert.deepEqual((byId.data.items as Ranked).map((i) => i.id), (byFeatures.data.items as Ranked).map((i) => i.id));
      // With universal given, that is stored and the features stay opaque (not checked against the tower).
      const x = universalOf({}, enc);
      const opaque = await call('PUT', `/v1/users/${id}-opaque`, { universal: x, features: { anything: { goes: true } } }, enc);
      assert.equal(opaque.res.statusCode, 200);
      assert.equal(opaque.data.unknownValues, undefined);
    });
  }

  const bad: Array<[string, () => Promise<{ res: LightMyRequestResponse; data: Record<string, unknown> }>, string, RegExp]> = [
    ['an unknown field', () => call('POST', '/v1/recommend', { user: { features: { favoriteTopic: 'music' } } }, 'json'), 'RALM_ERR_VALIDATION',
      /^user\.features\.favoriteTopic: model .* has no user field "favoriteTopic" \(its fields: favouriteTopic, age, interests, sessionsPerWeek\)/],
    ['a NaN continuous value (MessagePack carries NaN)', () => call('POST', '/v1/score', { user: { features: { age: NaN } }, items: ['demo-food-article-1'] }, 'msgpack'), 'RALM_ERR_NON_FINITE',
      /^user\.features\.age: expected a finite number, got NaN/],
    ['a multi-valued field given a string', () => call('POST', '/v1/recommend', { user: { features: { interests: 'chess' } } }, 'msgpack'), 'RALM_ERR_VALIDATION',
      /^user\.features\.interests: expected an array of strings/],
    ['features with another user form', () => call('POST', '/v1/recommend', { user: { id: 'demo-food-1', features: {} } }, 'json'), 'RALM_ERR_VALIDATION',
      /^user: give exactly one of "id", "embedding", "universal" or "features"/],
    ['features that are not an object', () => call('POST', '/v1/recommend', { user: { features: ['music'] } }, 'json'), 'RALM_ERR_VALIDATION',
      /^user\.features: expected an object/],
    ['PUT features of the wrong type', () => call('PUT', '/v1/users/bad', { features: { interests: [1, { x: 1 }] } }, 'json'), 'RALM_ERR_VALIDATION',
      /^features\.interests\[1\]: expected a string \(or a number\)/],
  ];
  for (const [name, run, code, message] of bad) {
    it(`${name} → 400 ${code}, naming the field`, async () => {
      const { res, data } = await run();
      assert.equal(res.statusCode, 400);
      assert.equal(errorOf(data).code, code);
      assert.match(errorOf(data).message, message);
    });
  }

  it('the OpenAPI document describes feature input and unknownValues', async () => {
    const doc = JSON.parse((await app.inject({ url: '/docs/json' })).body) as {
      paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: Record<string, { properties: Record<string, unknown> }> } }> } }>>;
    };
    const user = doc.paths['/v1/recommend'].post.requestBody.content['application/json'].schema.properties.user;
    assert.ok(user.properties.features, 'user.features');
    assert.match(JSON.stringify(doc.paths['/v1/recommend'].post), /unknownValues/);
    assert.match(JSON.stringify(doc.paths['/v1/users/{id}'].put), /user tower/);
  });
});
