/**
 * The edges of the API, each answered with a coded error naming what was wrong: one id limit on
 * every route, bad percent-escapes, content types other than JSON and MessagePack, event times
 * out of range, bodies that are not plain data (too deep, MessagePack types JSON has no form
 * for), and what Fastify's router and Node's HTTP parser refuse before any route runs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { ID_MAX_LENGTH } from '../../src/server/schemas.js';
import { MAX_DEPTH } from '../../src/server/plugins/encoding.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';

const packr = new Packr({ useRecords: false, moreTypes: true });

function coded(res: LightMyRequestResponse, status: number, code: string, message?: RegExp): void {
  assert.equal(res.statusCode, status, res.body);
  const err = JSON.parse(res.body).error as { code: string; message: string; requestId: string };
  assert.equal(err.code, code, res.body);
  assert.ok(err.requestId);
  if (message) assert.match(err.message, message);
}

describe('the edges', () => {
  let dir: string;
  let store: LmdbStore;
  let engine: RalmEngine;
  let app: FastifyInstance;
  let M = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-edges-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    M = engine.model.manifest.m;
    app = buildApp({ engine, store, seeds: new SeedService(store, engine, {}), apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0 }).app;
  });
  after(async () => {
    await app.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const json = (method: 'POST' | 'PUT', url: string, body: unknown) => app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  it(`ids of up to ${ID_MAX_LENGTH} characters work on every route; longer ones are a coded 400 everywhere`, async () => {
    // '€' is the widest a UTF-16 unit gets: 3 bytes of UTF-8, 9 characters percent-encoded.
    for (const ch of ['a', 'é', '€']) {
      const ok = ch.repeat(ID_MAX_LENGTH);
      const long = ch.repeat(ID_MAX_LENGTH + 1);
      const enc = encodeURIComponent;
      assert.equal((await json('PUT', `/v1/items/${enc(ok)}`, { metadata: { n: 1 } })).statusCode, 200);
      assert.equal((await app.inject({ url: `/v1/items/${enc(ok)}` })).statusCode, 200);
      assert.equal((await json('PUT', `/v1/users/${enc(ok)}`, { universal: new Array(M).fill(0.1) })).statusCode, 200);
      assert.equal((await app.inject({ url: `/v1/users/${enc(ok)}` })).statusCode, 200);
      for (const url of [`/v1/items/${enc(long)}`, `/v1/users/${enc(long)}`, `/v1/audiences/${enc(long)}`, `/v1/audiences/${enc(long)}/users`]) {
        coded(await app.inject({ url }), 400, 'RALM_ERR_VALIDATION', /^id: expected an id/);
      }
      coded(await json('PUT', `/v1/items/${enc(long)}`, {}), 400, 'RALM_ERR_VALIDATION', /^id: /);
      const event = { user: ok, item: ok, id: ok, ts: Date.now() };
      const stored = await json('POST', '/v1/events', { events: [event] });
      assert.equal(stored.statusCode, 200, stored.body);
      assert.equal(JSON.parse(stored.body).accepted + JSON.parse(stored.body).duplicates, 1);
    }
    const long = 'x'.repeat(ID_MAX_LENGTH + 1);
    coded(await json('POST', '/v1/events', { events: [{ user: long, item: 'i', ts: Date.now() }] }), 400, 'RALM_ERR_VALIDATION', /^events\[0\]\.user: expected a user id \(1 to 256 characters\)/);
    coded(await json('POST', '/v1/recommend', { user: { id: long } }), 400, 'RALM_ERR_VALIDATION', /^user\.id: /);
    coded(await json('POST', '/v1/recommend', { user: { id: 'u' }, candidates: [long] }), 400, 'RALM_ERR_VALIDATION', /^candidates\[0\]: /);
    coded(await json('POST', '/v1/score', { user: { id: 'u' }, items: ['a', long] }), 400, 'RALM_ERR_VALIDATION', /^items\[1\]: /);
    coded(await json('POST', '/v1/audiences', { seeds: [long], size: 1 }), 400, 'RALM_ERR_VALIDATION', /^seeds\[0\]: /);
    coded(await app.inject({ url: `/v1/items/${'x'.repeat(100_000)}` }), 400, 'RALM_ERR_VALIDATION', /^id: /);
  });

  it('a bad percent-escape is a coded 400 naming the URL', async () => {
    for (const url of ['/v1/users/%zz', '/v1/items/%E0%A4%A', '/v1/items/%']) {
      coded(await app.inject({ url }), 400, 'RALM_ERR_VALIDATION', /^url: expected a path with valid percent-escapes/);
    }
  });

  it('a body in any type but JSON or MessagePack is a coded 415, text/plain included', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'text/csv', 'application/x-www-form-urlencoded', 'application/xml']) {
      coded(await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': type }, payload: '{"user":{"id":"u"}}' }), 415, 'RALM_ERR_UNSUPPORTED_MEDIA_TYPE', /^content-type: expected application\/json or application\/msgpack/);
    }
  });

  it('an event time is whole epoch milliseconds from 1990-01-01 to a day ahead', async () => {
    const day = 86_400_000;
    for (const ts of [0, 1, 1.5, 631_151_999_999, 1e20, Date.now() + 2 * day, -5, '2024-01-01']) {
      coded(await json('POST', '/v1/events', { events: [{ user: 'u', item: 'i', ts }] }), 400, 'RALM_ERR_VALIDATION', /^events\[0\]\.ts: expected a timestamp/);
    }
    for (const ts of [631_152_000_000, 946_684_800_000, Date.now(), Date.now() + day / 2]) {
      assert.equal((await json('POST', '/v1/events', { events: [{ user: 'u', item: 'i', ts }] })).statusCode, 200, String(ts));
    }
  });

  it(`a body nested deeper than ${MAX_DEPTH} levels is refused, however deep, without a crash`, async () => {
    for (const depth of [MAX_DEPTH + 1, 1000, 100_000]) {
      const payload = `{"metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
      coded(await app.inject({ method: 'PUT', url: '/v1/items/deep', headers: { 'content-type': 'application/json' }, payload }), 400, 'RALM_ERR_VALIDATION', /^metadata(\.a)+: nested deeper than 32 levels/);
      const arrays = `{"user":{"features":{"tags":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
      coded(await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json' }, payload: arrays }), 400, 'RALM_ERR_VALIDATION');
    }
    const fine = { metadata: { a: { b: { c: [1, { d: 'e' }] } } } };
    assert.equal((await json('PUT', '/v1/items/shallow', fine)).statusCode, 200);
  });

  it('MessagePack values JSON has no form for are refused, naming the field; 64-bit integers are numbers', async () => {
    const mp = (method: 'POST' | 'PUT', url: string, body: unknown) => app.inject({ method, url, headers: { 'content-type': 'application/msgpack', accept: 'application/json' }, payload: packr.pack(body) });
    coded(await mp('PUT', '/v1/items/m', { metadata: { when: new Date() } }), 400, 'RALM_ERR_VALIDATION', /^metadata\.when: a Date is not a value the API takes/);
    coded(await mp('POST', '/v1/recommend', { user: { id: 'u' }, candidates: new Set(['a']) }), 400, 'RALM_ERR_VALIDATION', /^candidates: a Set/);
    coded(await mp('POST', '/v1/events', { events: [{ user: 'u', item: 'i', ts: new Date() }] }), 400, 'RALM_ERR_VALIDATION', /^events\[0\]\.ts: a Date/);
    const big = await mp('PUT', '/v1/users/big', { universal: new Array(M).fill(0.1), features: { n: 2n ** 62n } });
    assert.equal(big.statusCode, 200, big.body);
    const back = await app.inject({ url: '/v1/users/big' });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(JSON.parse(back.body).features.n, 2 ** 62);
    const h = engine.model.manifest.h;
    const asBytes = Buffer.from(new Float32Array(h).fill(0.1).buffer);
    const audience = await mp('POST', '/v1/audiences', { seedEmbeddings: [asBytes], size: 1 });
    assert.equal(audience.statusCode, 200, audience.body);
    coded(await mp('POST', '/v1/audiences', { seedEmbeddings: [asBytes.subarray(0, 4 * h - 1)], size: 1 }), 400, 'RALM_ERR_VALIDATION', /^seedEmbeddings\[0\]: binary vectors are little-endian float32/);
  });

  it("Fastify's own refusals are coded: unknown routes and methods, unparsable and empty JSON", async () => {
    coded(await app.inject({ url: '/v1/nothing' }), 404, 'RALM_ERR_NOT_FOUND', /^no route GET \/v1\/nothing/);
    coded(await app.inject({ method: 'PATCH', url: '/v1/recommend' }), 404, 'RALM_ERR_NOT_FOUND');
    coded(await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json' }, payload: '{"user":' }), 400, 'RALM_ERR_MALFORMED_BODY', /^body: /);
    coded(await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json' }, payload: '' }), 400, 'RALM_ERR_MALFORMED_BODY', /^body: /);
    coded(await app.inject({ method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' }), 400, 'RALM_ERR_MALFORMED_BODY');
  });

  it("what Node's HTTP parser refuses is coded too: a malformed request (400), headers too large (431)", async () => {
    const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
    const rawRequest = (text: string): Promise<string> => new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.write(text);
    });
    const garbage = await rawRequest('NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.equal(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)).error.code, 'RALM_ERR_MALFORMED_BODY');
    const huge = await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.equal(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4)).error.code, 'RALM_ERR_HEADERS_TOO_LARGE');
  });
});
