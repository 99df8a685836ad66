/**
 * Large JSON bodies are parsed in time slices: the same value and the same coded errors as the
 * one-piece parser, and the event loop is handed back while a multi-megabyte body is parsed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonSliced, STREAM_FROM_BYTES } from '../../src/server/plugins/json-body.js';
import { loopTurnsDuring } from '../helpers/loop-turns.js';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import type { FastifyInstance } from 'fastify';

const events = (n: number) => Array.from({ length: n }, (_, i) => ({ user: `u${i % 97}`, item: `item-${i % 5000}`, ts: 1_767_225_600_000 + i, id: `json-body-${i}` }));

describe('the sliced JSON parser', () => {
  it('gives what JSON.parse gives, for any JSON text', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), fc.constantFrom('', ' ', '\n\t '), async (v, pad) => {
      const text = `${pad}${JSON.stringify(v)}${pad}`;
      assert.deepEqual(await parseJsonSliced(Buffer.from(text)), JSON.parse(text));
    }), { numRuns: 300, seed: 42 });
  });

  it('refuses what JSON.parse refuses, with the coded error', async () => {
    for (const text of ['', '  ', '{"a":', '{"a":1}x', '1 2', '[1,]', '{"a":01}', '{a:1}', "{'a':1}", '[1]]']) {
      await assert.rejects(parseJsonSliced(Buffer.from(text)), (err: { code?: string }) => err.code === 'RALM_ERR_MALFORMED_BODY', JSON.stringify(text));
      assert.throws(() => JSON.parse(text), SyntaxError, JSON.stringify(text));
    }
  });

  it('hands the event loop back while it parses a 7 MB body', async () => {
    const text = Buffer.from(JSON.stringify({ events: events(100_000) }));
    assert.ok(text.length > 6_000_000);
    const { value, turns } = await loopTurnsDuring(() => parseJsonSliced(text));
    const v = value as { events: unknown[] };
    assert.equal(v.events.length, 100_000);
    // Parsing takes hundreds of ms in 10 ms slices: the loop ran other work between them.
    assert.ok(turns >= 3, `the loop turned ${turns} times during the parse`);
  });
});

describe('large JSON bodies in the service', () => {
  let dir: string;
  let store: LmdbStore;
  let engine: RalmEngine;
  let app: FastifyInstance;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-json-body-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    app = buildApp({ engine, store, seeds: new SeedService(store, engine, {}), apiToken: null, bodyLimit: 32 << 20, maxEventLoopDelayMs: 0 }).app;
  });
  after(async () => {
    await app.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (payload: string) => app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload });

  it('an ingest larger than the threshold is stored like a small one', async () => {
    const body = JSON.stringify({ events: events(30_000) });
    assert.ok(body.length >= STREAM_FROM_BYTES, `${body.length} bytes`);
    const res = await post(body);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { accepted: number }).accepted, 30_000);
  });

  it('a large body that is not JSON, or whose keys reach a prototype, gets the same coded 400 as a small one', async () => {
    const big = JSON.stringify({ events: events(30_000) });
    const cases = [
      big.slice(0, -2),
      `${big.slice(0, -1)},"__proto__":{"polluted":true}}`,
      `${big.slice(0, -1)},"meta":{"constructor":{"prototype":{"polluted":true}}}}`,
    ];
    for (const payload of cases) {
      const small = await post(payload.replace(big.slice(1, -1), '"events":[]'));
      const large = await post(payload);
      assert.equal(large.statusCode, 400, large.body.slice(0, 200));
      assert.equal(small.statusCode, 400, small.body.slice(0, 200));
      assert.equal((large.json() as { error: { code: string } }).error.code, 'RALM_ERR_MALFORMED_BODY');
      assert.equal((small.json() as { error: { code: string } }).error.code, 'RALM_ERR_MALFORMED_BODY');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    }
  });
});
