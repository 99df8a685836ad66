/**
 * The API's tokens and scopes on every route family (no token, a bad one, a token without the
 * scope, the scheme in any case, several tokens), the routes left open, model reloads confined
 * to the models root (`..`, absolute paths and symbolic links refused alike, revealing nothing),
 * per-client rate limits, and the start-up rule for an open API.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { ROUTE_SCOPES } from '../../src/server/plugins/auth.js';
import { exposureCheck, parseTokenEntry, parseTokenList, type ApiToken } from '../../src/server/tokens.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel, saveModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { prepareServing } from '../../src/server/server.js';
import { StartupError } from '../../src/util/errors.js';

const TOKENS = {
  reader: 'reader-token-0123456789',
  writer: 'writer-token-0123456789',
  both: 'read-write-token-0123456789',
  admin: 'admin-token-0123456789',
};
const tokens: ApiToken[] = parseTokenList(`read:${TOKENS.reader}, write:${TOKENS.writer}, read+write:${TOKENS.both}, admin:${TOKENS.admin}`);
const scopesOf: Record<keyof typeof TOKENS, string[]> = { reader: ['read'], writer: ['write'], both: ['read', 'write'], admin: ['read', 'write', 'admin'] };

/** One request per route family, each with the scopes it needs. */
const ROUTES: Array<{ method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; route: string; body?: unknown }> = [
  { method: 'POST', url: '/v1/recommend', route: '/v1/recommend', body: { user: { id: 'nobody' } } },
  { method: 'POST', url: '/v1/score', route: '/v1/score', body: { user: { id: 'nobody' }, items: ['a'] } },
  { method: 'GET', url: '/v1/users/u1', route: '/v1/users/:id' },
  { method: 'GET', url: '/v1/items/i1', route: '/v1/items/:id' },
  { method: 'GET', url: '/v1/audiences/j1', route: '/v1/audiences/:id' },
  { method: 'GET', url: '/v1/audiences/j1/users', route: '/v1/audiences/:id/users' },
  { method: 'POST', url: '/v1/events', route: '/v1/events', body: { events: [] } },
  { method: 'PUT', url: '/v1/users/u1', route: '/v1/users/:id', body: { universal: [1] } },
  { method: 'PUT', url: '/v1/items/i1', route: '/v1/items/:id', body: { metadata: { title: 't' } } },
  { method: 'POST', url: '/v1/audiences', route: '/v1/audiences', body: { seeds: ['nobody'], size: 1 } },
  { method: 'DELETE', url: '/v1/audiences/j1', route: '/v1/audiences/:id' },
  { method: 'POST', url: '/v1/admin/recluster', route: '/v1/admin/recluster' },
  { method: 'POST', url: '/v1/admin/model', route: '/v1/admin/model', body: { dir: 'no-such-model' } },
];

describe('security', () => {
  let dir: string;
  let root: string;
  let store: LmdbStore;
  let engine: RalmEngine;
  let built: ReturnType<typeof buildApp>;
  let app: FastifyInstance;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-security-'));
    root = join(dir, 'models');
    store = LmdbStore.open(join(dir, 'store'));
    const first = randomModel({ seed: 1, h: 16, m: 16, k: 4 });
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = first.manifest;
    await saveModel(join(root, 'good'), { ...manifest, modelVersion: 'good' }, first.weights);
    await saveModel(join(dir, 'outside'), { ...manifest, modelVersion: 'outside' }, first.weights);
    await saveModel(join(root, 'corrupt'), { ...manifest, modelVersion: 'corrupt' }, first.weights);
    await writeFile(join(root, 'corrupt', 'model.safetensors'), 'not the weights');
    await mkdir(join(root, 'empty'));
    await writeFile(join(root, 'afile'), 'x');
    await symlink(join(dir, 'outside'), join(root, 'escape'));
    await symlink(join(root, 'good'), join(root, 'alias'));
    engine = await RalmEngine.create(await loadModel(join(root, 'good')), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, {});
    const reloadModel = async (modelDir: string | undefined) => {
      const e = await RalmEngine.create(await loadModel(modelDir ?? join(root, 'good')), { backend: 'cpu' });
      const s = new SeedService(store, e, {});
      await prepareServing(e, s);
      return { engine: e, seeds: s };
    };
    built = buildApp({ engine, store, seeds, apiToken: null, apiTokens: tokens, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, reloadModel, modelsRoot: root });
    app = built.app;
  });
  after(async () => {
    await app.close();
    await built.serving().engine.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (r: (typeof ROUTES)[number], authorization?: string) => app.inject({
    method: r.method, url: r.url,
    headers: { ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(authorization !== undefined ? { authorization } : {}) },
    payload: r.body === undefined ? undefined : JSON.stringify(r.body),
  });

  it('every route states its scopes, and the table names no route that does not exist', async () => {
    await app.ready();
    for (const key of Object.keys(ROUTE_SCOPES)) {
      const [method, url] = key.split(' ') as ['GET', string];
      assert.ok(app.hasRoute({ method, url }), `${key} is not a route`);
    }
    assert.deepEqual(ROUTES.map((r) => `${r.method} ${r.route}`).sort(), Object.keys(ROUTE_SCOPES).filter((k) => ROUTE_SCOPES[k].length > 0).sort());
  });

  for (const r of ROUTES) {
    const need = ROUTE_SCOPES[`${r.method} ${r.route}`];
    it(`${r.method} ${r.route} needs ${need.join('+')}: 401 without a good token, 403 without the scope, in with it`, async () => {
      const none = await send(r);
      assert.equal(none.statusCode, 401);
      assert.equal(JSON.parse(none.body).error.code, 'RALM_ERR_UNAUTHORIZED');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="ralm"');
      const bad = await send(r, 'Bearer not-a-token');
      assert.equal(bad.statusCode, 401);
      assert.equal(bad.headers['www-authenticate'], 'Bearer realm="ralm", error="invalid_token"');
      assert.equal((await send(r, `Basic ${TOKENS.admin}`)).statusCode, 401, 'another scheme');
      for (const [who, token] of Object.entries(TOKENS) as Array<[keyof typeof TOKENS, string]>) {
        const res = await send(r, `Bearer ${token}`);
        const allowed = need.every((s) => scopesOf[who].includes(s));
        if (allowed) {
          assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${who}: ${res.statusCode} ${res.body}`);
        } else {
          assert.equal(res.statusCode, 403, `${who}: ${res.body}`);
          const err = JSON.parse(res.body).error as { code: string; message: string; requestId: string };
          assert.equal(err.code, 'RALM_ERR_FORBIDDEN');
          assert.match(err.message, /^authorization: this route needs a token with the .* scope/);
          assert.equal(res.headers['www-authenticate'], `Bearer realm="ralm", error="insufficient_scope", scope="${need.join(' ')}"`);
        }
      }
    });
  }

  it('the scheme is case-insensitive, and the token is checked before the body is read', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const res = await app.inject({ method: 'GET', url: '/v1/items/absent', headers: { authorization: `${scheme} ${TOKENS.reader}` } });
      assert.equal(res.statusCode, 404, scheme);
    }
    const garbage = { method: 'POST' as const, url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: '{"events": [' };
    assert.equal((await app.inject(garbage)).statusCode, 401);
    assert.equal((await app.inject({ ...garbage, headers: { ...garbage.headers, authorization: `Bearer ${TOKENS.reader}` } })).statusCode, 403);
    assert.equal((await app.inject({ ...garbage, headers: { ...garbage.headers, authorization: `Bearer ${TOKENS.writer}` } })).statusCode, 400);
  });

  it('probes, metrics and the documentation stay open; the OpenAPI document marks the routes that need a token', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json', '/docs']) {
      const res = await app.inject({ url });
      assert.ok(res.statusCode < 400, `${url}: ${res.statusCode}`);
    }
    const doc = JSON.parse((await app.inject({ url: '/docs/json' })).body) as { paths: Record<string, Record<string, { security?: unknown; description?: string }>> };
    assert.deepEqual(doc.paths['/v1/recommend'].post.security, [{ bearer: [] }]);
    assert.match(doc.paths['/v1/admin/model'].post.description ?? '', /admin scope/);
    assert.equal(doc.paths['/healthz'].get.security, undefined);
  });

  describe('model reloads only from under the models root', () => {
    const reload = (dirName: unknown) => app.inject({
      method: 'POST', url: '/v1/admin/model', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.admin}` }, payload: JSON.stringify({ dir: dirName }),
    });

    it('refuses `..`, absolute paths outside, symbolic links out, missing paths, files and directories without a model, all alike', async () => {
      const cases = ['../outside', join(dir, 'outside'), 'escape', 'good/../../outside', 'nope', 'nope/deeper', 'afile', 'afile/x', 'empty', '/', '..', dir];
      for (const given of cases) {
        const res = await reload(given);
        assert.equal(res.statusCode, 400, `${given}: ${res.body}`);
        const err = JSON.parse(res.body).error as { code: string; message: string };
        assert.equal(err.code, 'RALM_ERR_VALIDATION');
        assert.equal(err.message, `dir: expected a model directory under the models root, got ${JSON.stringify(given)}`);
        assert.ok(!res.body.includes(root), 'the root is never named');
        assert.ok(!/ENOENT|ENOTDIR|EACCES|ELOOP/.test(res.body));
      }
    });

    it('a model under the root that fails to load is a 422 naming the file, not the path on disk', async () => {
      const res = await reload('corrupt');
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(JSON.parse(res.body).error.code, 'RALM_ERR_MODEL_FORMAT');
      assert.ok(!res.body.includes(dir), res.body);
    });

    it('loads a model named relative to the root, or through a link that stays inside it', async () => {
      for (const given of ['good', 'alias', join(root, 'good')]) {
        const res = await reload(given);
        assert.equal(res.statusCode, 200, `${given}: ${res.body}`);
        assert.equal(JSON.parse(res.body).modelVersion, 'good');
      }
    });

    it('without a models root, only the configured model reloads', async () => {
      const seeds = built.serving().seeds;
      const other = buildApp({ engine: built.serving().engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, reloadModel: async () => { throw new Error('not reached'); } });
      const res = await other.app.inject({ method: 'POST', url: '/v1/admin/model', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ dir: 'good' }) });
      assert.equal(res.statusCode, 400);
      assert.match(JSON.parse(res.body).error.message, /^dir: this server has no models root/);
      await other.app.close();
    });
  });

  it('per-client rate limits: per token, and per address without one; 429 with Retry-After; probes are not counted', async () => {
    const limited = buildApp({ engine, store, seeds: built.serving().seeds, apiToken: null, apiTokens: tokens, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, rateLimit: 3 }).app;
    const get = (token: string) => limited.inject({ url: '/v1/items/absent', headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) assert.equal((await get(TOKENS.reader)).statusCode, 404);
    const over = await get(TOKENS.reader);
    assert.equal(over.statusCode, 429);
    assert.equal(JSON.parse(over.body).error.code, 'RALM_ERR_RATE_LIMITED');
    assert.ok(Number(over.headers['retry-after']) >= 1, String(over.headers['retry-after']));
    assert.equal((await get(TOKENS.both)).statusCode, 404, 'another token has its own budget');
    for (let i = 0; i < 5; i++) assert.equal((await limited.inject({ url: '/healthz' })).statusCode, 200);
    await limited.close();
    const open = buildApp({ engine, store, seeds: built.serving().seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, rateLimit: 2 }).app;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await open.inject({ url: '/v1/items/absent', remoteAddress: '10.1.2.3' })).statusCode);
    codes.push((await open.inject({ url: '/v1/items/absent', remoteAddress: '10.1.2.4' })).statusCode);
    assert.deepEqual(codes, [404, 404, 429, 404]);
    await open.close();
  });
});

describe('tokens and exposure', () => {
  it('parses scope[+scope]:token entries and refuses what a client could not send', () => {
    const t = parseTokenEntry('read+write:abc-DEF_123.~+/==');
    assert.deepEqual([...t.scopes].sort(), ['read', 'write']);
    assert.match(t.label, /^token:[0-9a-f]{8}$/);
    assert.throws(() => parseTokenEntry('abc'), /expected scope\[\+scope\]:token/);
    assert.throws(() => parseTokenEntry('reader:abc'), /unknown scope "reader"/);
    assert.throws(() => parseTokenEntry('read:has space'), /a token is letters, digits/);
    assert.equal(parseTokenList('').length, 0);
  });

  it('an open API is refused beyond loopback unless insecure, and warned about on loopback', () => {
    const some = parseTokenList('admin:abcdefgh');
    assert.equal(exposureCheck('0.0.0.0', some, false), undefined);
    assert.match(exposureCheck('127.0.0.1', [], false) ?? '', /^warning: no API token/);
    assert.match(exposureCheck('::1', [], false) ?? '', /^warning/);
    assert.throws(() => exposureCheck('0.0.0.0', [], false), (e: unknown) => e instanceof StartupError && e.code === 'RALM_ERR_INSECURE');
    assert.throws(() => exposureCheck('192.0.2.10', [], false), StartupError);
    assert.match(exposureCheck('0.0.0.0', [], true) ?? '', /--insecure/);
  });
});
