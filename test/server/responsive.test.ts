/**
 * Long work never holds the event loop for long: an audience job over a million users (selection,
 * merge, storing, reading back by page and as a stream) and an ingest of 100,000 events, measured
 * in-process by the longest gap of a 5 ms timer; and a real server answering every health probe
 * through such a job and ingest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../../src/server/app.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/model.js';
import { defaultModelDir } from '../../src/util/paths.js';
import { Rng } from '../../src/util/rng.js';
import { request, serve, type Outcome } from '../helpers/serve.js';
import { modelId } from '../../src/model/identity.js';

/** The longest the event loop was held while `work` ran, ms (a 5 ms timer's largest lateness). */
async function longestHold<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  try {
    const value = await work();
    return { value, ms: worst };
  } finally {
    clearInterval(timer);
  }
}

const events = (n: number, users: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ user: `u${i % users}`, item: `item-${i % 5000}`, ts: 1_767_225_600_000 + i, id: `${tag}-${i}` }));

/** Fills a store with `n` users embedded under the model's version (random look-alike rows). */
async function fillUsers(store: LmdbStore, n: number, m: number, h: number, modelVersion: string): Promise<void> {
  const rng = new Rng(3);
  for (let b = 0; b < n; b += 50_000) {
    await store.putUsers(Array.from({ length: Math.min(50_000, n - b) }, (_, i) => ({ id: `u${b + i}`, universal: rng.normals(m, 0.3), lookalike: rng.normals(h, 0.3), modelVersion })));
  }
}

/** A request over loopback whose reply is counted, not kept: the client's own work stays small. */
function counted(port: number, method: string, path: string, body?: string): Promise<{ status: number; bytes: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let bytes = 0;
      let lines = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lines++;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, lines }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the event loop during long work', () => {
  it('an audience job over 1,000,000 users, its pages and stream, and an ingest of 100,000 events: no long hold', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-responsive-'));
    const store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(await loadModel(defaultModelDir), { backend: 'cpu' });
    const seeds = new SeedService(store, engine, {});
    const built = buildApp({ engine, store, seeds, apiToken: null, bodyLimit: 32 << 20, maxEventLoopDelayMs: 0 });
    try {
      const { h } = engine.model.manifest;
      const { audience } = built.serving();
      await audience.load();
      const n = 1_000_000;
      const rng = new Rng(4);
      for (let b = 0; b < n; b += 100_000) audience.addUsers(Array.from({ length: 100_000 }, (_, i) => `u${b + i}`), rng.normals(100_000 * h, 0.3));
      await built.audienceJobs.restore();
      await built.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (built.app.server.address() as { port: number }).port;
      const holds: Record<string, number> = {};

      const job = await longestHold(async () => {
        const res = await built.app.inject({ method: 'POST', url: '/v1/audiences', payload: { seeds: ['u1', 'u2', 'u3'], size: n, async: true } });
        assert.equal(res.statusCode, 202, res.body);
        const { id } = res.json() as { id: string };
        for (;;) {
          const j = (await built.app.inject({ url: `/v1/audiences/${id}` })).json() as { status: string };
          if (j.status === 'done') return id;
          assert.ok(j.status === 'queued' || j.status === 'running', JSON.stringify(j));
          await new Promise((r) => setTimeout(r, 20));
        }
      });
      holds.job = job.ms;
      const page = await longestHold(() => counted(port, 'GET', `/v1/audiences/${job.value}/users?offset=500000&limit=100000`));
      holds.page = page.ms;
      assert.equal(page.value.status, 200);
      assert.ok(page.value.bytes > 100_000 * 40, `${page.value.bytes} bytes`);
      const stream = await longestHold(() => counted(port, 'GET', `/v1/audiences/${job.value}/users?format=ndjson`));
      holds.stream = stream.ms;
      assert.equal(stream.value.lines, n - 3);
      const payload = JSON.stringify({ events: events(100_000, n, 'a') });
      const ingest = await longestHold(() => counted(port, 'POST', '/v1/events', payload));
      holds.ingest = ingest.ms;
      assert.equal(ingest.value.status, 200);
      // A structural check, not a timing goal: unsliced, this work held the loop for 1.5–5.3 s; sliced,
      // each hold is a few tens of ms, inflated several times when the cores are shared. The ~50 ms
      // goal is measured by `ralm bench http --jobs-users` (docs/benchmarks.md).
      for (const [what, ms] of Object.entries(holds)) assert.ok(ms < 1000, `${what} held the event loop ${ms.toFixed(0)} ms (all: ${JSON.stringify(holds)})`);
    } finally {
      await built.audienceJobs.stop();
      await built.app.close();
      await engine.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a real server answers every /healthz probe during an audience job over 300,000 users and an ingest of 100,000 events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-responsive-'));
    const model = await loadModel(defaultModelDir);
    const store = LmdbStore.open(dir);
    await fillUsers(store, 300_000, model.manifest.m, model.manifest.h, modelId(model));
    await store.close();
    // Not about load shedding: on a busy host the event-loop governor would answer the job's and
    // the ingest's requests 503, which is not what this test asks (health probes are never shed).
    const srv = await serve(['--data-dir', dir, '--demo', 'false', '--max-event-loop-delay-ms', '0']);
    const probes: Outcome[] = [];
    let stop = false;
    let prober: Promise<void> | undefined;
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      prober = (async () => {
        while (!stop) {
          probes.push(await request(srv.url, agent, 'GET', '/healthz', undefined, {}, 10_000));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const work = new http.Agent({ keepAlive: true });
      const job = await fetch(new URL('/v1/audiences', srv.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seeds: ['u1', 'u2'], size: 300_000, async: true }) });
      assert.equal(job.status, 202, await job.clone().text());
      const { id } = (await job.json()) as { id: string };
      let status = 'queued';
      while (status === 'queued' || status === 'running') {
        await new Promise((r) => setTimeout(r, 50));
        const res = await fetch(new URL(`/v1/audiences/${id}`, srv.url));
        const body = (await res.json()) as { status: string };
        assert.equal(res.status, 200, JSON.stringify(body));
        status = body.status;
      }
      assert.equal(status, 'done');
      const ingest = await request(srv.url, work, 'POST', '/v1/events', { events: events(100_000, 300_000, 'b') }, {}, 60_000);
      assert.equal(ingest.status, 200, JSON.stringify(ingest));
      stop = true;
      await prober;
      agent.destroy();
      work.destroy();
      const bad = probes.filter((p) => p.status !== 200);
      assert.deepEqual(bad, [], 'probes not answered 200');
      const worst = Math.max(...probes.map((p) => p.ms));
      assert.ok(probes.length > 10 && worst < 1000, `${probes.length} probes, slowest ${worst.toFixed(0)} ms`);
    } finally {
      // A failed step must not leave the prober polling forever: the test would hang, not fail.
      stop = true;
      await prober;
      srv.child.kill('SIGTERM');
      await srv.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
