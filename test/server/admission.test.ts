/**
 * Bounded load: admission at arrival (requests in flight, expected wait), deadlines that count
 * from arrival, client timeouts as coded errors, and a real server under a burst far above its
 * limits answering every request with a result or a coded refusal.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { LAG_TARGET_MS, MIN_ALLOWED_MS, nextAllowedMs, WaitEstimate } from '../../src/server/plugins/admission.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadDemoWorld } from '../../src/server/demo.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { request, serve } from '../helpers/serve.js';

/** Sends raw bytes on a new connection; resolves with everything the server sent until it closed. */
function raw(port: number, parts: Array<string | number>): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve({ text, ms: performance.now() - t0 }));
    socket.on('error', reject);
    void (async () => {
      for (const p of parts) {
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else if (!socket.destroyed) socket.write(p);
      }
    })();
  });
}

describe('wait estimate', () => {
  it('is busy time over completions, so idle time never inflates it', async () => {
    const w = new WaitEstimate();
    assert.equal(w.expectedWaitMs, 0, 'no estimate before anything completed');
    await new Promise((r) => setTimeout(r, 50)); // idle: must not count
    for (let i = 0; i < 4; i++) w.start();
    await new Promise((r) => setTimeout(r, 40));
    for (let i = 0; i < 4; i++) w.finish();
    assert.ok(w.msPerRequest >= 9 && w.msPerRequest < 40, `${w.msPerRequest} ms per request`);
    for (let i = 0; i < 10; i++) w.start();
    assert.ok(Math.abs(w.expectedWaitMs - 10 * w.msPerRequest) < 1e-9);
  });
});

describe('the lag governor\'s control step', () => {
  it('cuts the allowed wait only while the loop lags and requests are refused, deeper for a larger lag', () => {
    const ceiling = 250;
    assert.equal(nextAllowedMs(ceiling, ceiling, 4 * LAG_TARGET_MS, 0), ceiling, 'no refusals: no excess to make room for');
    assert.equal(nextAllowedMs(ceiling, ceiling, LAG_TARGET_MS, 100), ceiling, 'at the target: kept');
    const mild = nextAllowedMs(ceiling, ceiling, 1.1 * LAG_TARGET_MS, 10);
    const deep = nextAllowedMs(ceiling, ceiling, 10 * LAG_TARGET_MS, 10);
    assert.ok(mild < ceiling && mild >= 0.8 * ceiling, `just above the target: a mild cut (${mild})`);
    assert.equal(deep, 0.25 * ceiling, 'far above it: three quarters off in one period');
    // A flood: two periods of a large lag bring 250 ms to the floor, not below it.
    let a = ceiling;
    for (let i = 0; i < 3; i++) a = nextAllowedMs(a, ceiling, 400, 50);
    assert.equal(a, MIN_ALLOWED_MS);
  });

  it('steers under the configured target (--admission-lag-ms) rather than the default', () => {
    const ceiling = 250;
    // 40 ms of lag: under the default 50 ms target nothing is cut; under a 20 ms target it is halved.
    assert.equal(nextAllowedMs(ceiling, ceiling, 40, 10), ceiling);
    assert.equal(nextAllowedMs(ceiling, ceiling, 40, 10, 20), 0.5 * ceiling);
    assert.equal(nextAllowedMs(ceiling, ceiling, 20, 10, 20), ceiling, 'at the configured target: kept');
    // A target above the default tolerates a lag the default would cut.
    assert.equal(nextAllowedMs(ceiling, ceiling, 80, 10, 100), ceiling);
  });

  it('grows back to the ceiling in steps when the loop keeps up, and never past it', () => {
    let a = MIN_ALLOWED_MS;
    let steps = 0;
    while (a < 250) {
      const next = nextAllowedMs(a, 250, 5, 10);
      assert.ok(next > a && next - a <= 250 / 40 + 1e-9);
      a = next;
      steps++;
    }
    assert.equal(a, 250);
    assert.ok(steps > 30 && steps <= 40, `${steps} periods from the floor`);
  });
});

describe('admission and deadlines in the service', () => {
  let app: FastifyInstance;
  let built: ReturnType<typeof buildApp>;
  let engine: RalmEngine;
  let store: LmdbStore;
  let dir: string;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-admission-'));
    store = LmdbStore.open(dir);
    engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, {});
    await loadDemoWorld(seeds);
    built = buildApp({
      engine, store, seeds, apiToken: null, bodyLimit: 1 << 20, maxEventLoopDelayMs: 0,
      batching: { maxWaitMs: 300 }, limits: { maxInflight: 2, httpRequestTimeoutMs: 1500, headersTimeoutMs: 600, admissionLagMs: 20 },
    });
    app = built.app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await engine.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('steers under the configured lag target', async () => {
    await app.ready();
    assert.equal(built.admission()?.governor.targetMs, 20);
  });

  it('beyond the requests in flight: 429 RALM_ERR_OVERLOADED with Retry-After at once; probes still answered', async () => {
    const body = { user: { id: 'demo-food-1' }, k: 3 };
    // Two requests wait 300 ms in the batcher for company; the third finds both places taken.
    const first = [app.inject({ method: 'POST', url: '/v1/recommend', payload: body }), app.inject({ method: 'POST', url: '/v1/recommend', payload: body })];
    await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    const third = await app.inject({ method: 'POST', url: '/v1/recommend', payload: body });
    assert.ok(performance.now() - t0 < 250, 'the refusal waited for the batch');
    assert.equal(third.statusCode, 429);
    assert.equal(third.json().error.code, 'RALM_ERR_OVERLOADED');
    assert.equal(third.headers['retry-after'], '1');
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
    for (const r of await Promise.all(first)) assert.equal(r.statusCode, 200);
  });

  it('the deadline counts from arrival: a body that arrives after it gets 504, never computed', async () => {
    const body = JSON.stringify({ user: { id: 'demo-food-1' }, k: 3 });
    const head = `POST /v1/recommend HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-ralm-deadline-ms: 200\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n`;
    const before = (await app.inject({ url: '/metrics' })).body;
    const r = await raw(port, [head, body.slice(0, 10), 400, body.slice(10)]);
    assert.match(r.text, /^HTTP\/1.1 504 /);
    assert.match(r.text, /"code":"RALM_ERR_DEADLINE_EXCEEDED"/);
    const batches = (m: string): number => Number(/ralm_engine_batches_total (\d+)/.exec(m)?.[1] ?? 0);
    assert.equal(batches((await app.inject({ url: '/metrics' })).body), batches(before), 'the late request was computed');
  });

  it('a client too slow with its headers or its body gets a coded 408, headers too large a coded 431, bytes that are not HTTP a coded 400; the connection closes', async () => {
    const headers = await raw(port, ['POST /v1/events HTTP/1.1\r\nhost: x\r\n', 5000]);
    assert.match(headers.text, /^HTTP\/1.1 408 Request Timeout/);
    assert.match(headers.text, /"code":"RALM_ERR_REQUEST_TIMEOUT"/);
    assert.ok(headers.ms < 4000, `closed after ${headers.ms.toFixed(0)} ms`);
    const bodyLate = await raw(port, ['POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"events":', 5000]);
    assert.match(bodyLate.text, /^HTTP\/1.1 408 /);
    const huge = await raw(port, [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    assert.match(huge.text, /^HTTP\/1.1 431 /);
    assert.match(huge.text, /"code":"RALM_ERR_HEADERS_TOO_LARGE"/);
    const junk = await raw(port, ['NOT HTTP AT ALL\r\n\r\n']);
    assert.match(junk.text, /^HTTP\/1.1 400 Bad Request/);
    assert.match(junk.text, /"code":"RALM_ERR_MALFORMED_BODY"/);
  });
});

describe('a real server far above its limits', () => {
  it('answers a burst of 300 requests with results or coded refusals (429, 503, 504), none hanging or reset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-overload-'));
    const srv = await serve(['--data-dir', dir, '--max-inflight', '16', '--max-wait-ms', '50', '--request-timeout-ms', '500']);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
      const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => request(srv.url, agent, 'POST', '/v1/recommend', { user: { id: `demo-music-${i % 150}` }, k: 10 }, {}, 20_000)));
      agent.destroy();
      const byStatus: Record<string, number> = {};
      for (const o of outcomes) {
        assert.equal(o.error, undefined, `no answer: ${JSON.stringify(o)}`);
        byStatus[`${o.status} ${o.code ?? ''}`] = (byStatus[`${o.status} ${o.code ?? ''}`] ?? 0) + 1;
        if (o.status === 200) continue;
        const expected: Record<number, string[]> = { 429: ['RALM_ERR_OVERLOADED'], 503: ['RALM_ERR_UNDER_PRESSURE'], 504: ['RALM_ERR_DEADLINE_EXCEEDED'] };
        assert.ok(expected[o.status as number]?.includes(o.code as string), `uncoded or unexpected: ${JSON.stringify(o)}`);
        if (o.status !== 504) assert.ok(o.retryAfter, `no Retry-After: ${JSON.stringify(o)}`);
      }
      assert.ok((byStatus['200 '] ?? 0) > 0 && (byStatus['429 RALM_ERR_OVERLOADED'] ?? 0) > 0, JSON.stringify(byStatus));
      const health = await request(srv.url, new http.Agent(), 'GET', '/healthz');
      assert.equal(health.status, 200);
    } finally {
      srv.child.kill('SIGTERM');
      await srv.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
