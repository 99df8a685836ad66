/**
 * What an operator sees: request ids (a sane client id kept, others replaced by a UUID, echoed
 * on every reply), the pino log (a 5xx logged once with its request id, route and stack; a 4xx
 * at info without the body), and /metrics on prom-client with Node's runtime metrics beside the
 * service's, GPU figures included, and no NaN after errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { RalmError } from '../../src/util/errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface LogLine {
  level: number;
  reqId?: string;
  msg: string;
  code?: string;
  route?: string | null;
  err?: { message: string; stack: string };
}

describe('observability', () => {
  let dir: string;
  let store: LmdbStore;
  let engine: RalmEngine;
  let app: FastifyInstance;
  const lines: LogLine[] = [];
  const raw: string[] = [];
  /** Ingest fails as a bug would (a plain Error) or as a closing engine does (503), by the event's user. */
  const seeds = {
    ingest: async (events: Array<{ user: string }>) => {
      if (events[0]?.user === 'bug') throw new Error('an internal detail at /srv/x.js:1');
      if (events[0]?.user === 'closing') throw new RalmError('RALM_ERR_CLOSED', 'the engine is closed');
      return { accepted: events.length, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] };
    },
    onUsersStored: () => undefined,
    metrics: { eventsIngested: 0, eventsDuplicate: 0, eventsUnknownUser: 0, runs: 0, itemsClustered: 0, failures: 0 },
  } as unknown as SeedService;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-observe-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) {
          raw.push(l);
          lines.push(JSON.parse(l) as LogLine);
        }
        done();
      },
    });
    app = buildApp({ engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0, logger: { level: 'info', stream } }).app;
    // A 503 a plugin sends itself, past the error handler, as load shedding does.
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz?shed') return reply.code(503).send({ error: { code: 'RALM_ERR_UNDER_PRESSURE', message: 'shed' } });
    });
  });
  after(async () => {
    await app.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const events = (user: string, headers: Record<string, string> = {}) => app.inject({
    method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload: { events: [{ user, item: 'i', ts: Date.now() }] },
  });

  it('keeps a sane x-request-id and echoes it; replaces anything else with a UUID; every reply carries one', async () => {
    const kept = await events('someone', { 'x-request-id': 'client-42:a.b_c' });
    assert.equal(kept.statusCode, 200);
    assert.equal(kept.headers['x-request-id'], 'client-42:a.b_c');
    for (const bad of ['has space', 'x'.repeat(129), 'quote"s', 'new\u2028line']) {
      const res = await app.inject({ url: '/healthz', headers: { 'x-request-id': bad } });
      assert.match(String(res.headers['x-request-id']), UUID, JSON.stringify(bad));
    }
    const a = await app.inject({ url: '/v2/nothing' });
    const b = await app.inject({ url: '/v1/users/%zz' });
    assert.equal(a.statusCode, 404);
    assert.equal(b.statusCode, 400);
    for (const res of [a, b]) {
      assert.match(String(res.headers['x-request-id']), UUID);
      assert.equal(JSON.parse(res.body).error.requestId, res.headers['x-request-id']);
    }
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
    const err = await events('bug', { 'x-request-id': 'trace-500' });
    assert.equal(err.headers['x-request-id'], 'trace-500');
    assert.equal(JSON.parse(err.body).error.requestId, 'trace-500');
  });

  it('logs a 5xx once, at error, with its request id, route and stack, and never sends the cause', async () => {
    const res = await events('bug', { 'x-request-id': 'forced-500' });
    assert.equal(res.statusCode, 500);
    assert.ok(!res.body.includes('/srv/x.js'));
    const mine = lines.filter((l) => l.reqId === 'forced-500');
    assert.equal(mine.length, 1, JSON.stringify(mine));
    const [line] = mine;
    assert.equal(line.level, 50);
    assert.equal(line.route, '/v1/events');
    assert.equal(line.code, 'RALM_ERR_INTERNAL');
    assert.match(line.err?.stack ?? '', /an internal detail at \/srv\/x\.js:1\n\s+at /);
    const closing = await events('closing', { 'x-request-id': 'forced-503' });
    assert.equal(closing.statusCode, 503);
    const warned = lines.filter((l) => l.reqId === 'forced-503');
    assert.equal(warned.length, 1);
    assert.equal(warned[0].level, 40);
    assert.equal(warned[0].code, 'RALM_ERR_CLOSED');
    const shed = await app.inject({ url: '/healthz?shed', headers: { 'x-request-id': 'shed-503' } });
    assert.equal(shed.statusCode, 503);
    const shedLines = lines.filter((l) => l.reqId === 'shed-503');
    assert.equal(shedLines.length, 1, 'a 5xx sent past the error handler is logged too, once');
    assert.equal(shedLines[0].level, 40);
  });

  it('logs a coded 4xx at info without the body', async () => {
    const res = await app.inject({
      method: 'POST', url: '/v1/recommend', headers: { 'content-type': 'application/json', 'x-request-id': 'bad-k' },
      payload: { user: { id: 'someone' }, k: 0, candidates: ['SECRET-IN-THE-BODY'] },
    });
    assert.equal(res.statusCode, 400);
    const mine = lines.filter((l) => l.reqId === 'bad-k');
    assert.equal(mine.length, 1);
    assert.equal(mine[0].level, 30);
    assert.equal(mine[0].code, 'RALM_ERR_VALIDATION');
    assert.ok(!raw.some((l) => l.includes('SECRET-IN-THE-BODY')));
  });

  it('exposes prom-client metrics: Node runtime metrics beside the service, GPU figures, and no NaN after errors', async () => {
    const res = await app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_gc_duration_seconds', 'nodejs_heap_size_used_bytes', 'process_resident_memory_bytes', 'process_cpu_seconds_total']) {
      assert.match(res.body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(res.body, /^ralm_gpu_memory_bytes 0$/m);
    assert.match(res.body, /^ralm_gpu_uncaptured_errors_total 0$/m);
    assert.match(res.body, /^ralm_backend_info\{backend="cpu",adapter=".*"\} 1$/m);
    assert.match(res.body, /^ralm_errors_total\{code="RALM_ERR_CLOSED"\} 1$/m);
    assert.match(res.body, /^ralm_http_request_duration_seconds_sum\{route="\/v1\/events"\} \d/m);
    assert.ok(!/NaN/.test(res.body), 'no series is NaN');
  });
});
