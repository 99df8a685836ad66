/**
 * Chaos with real processes: `ralm serve` is killed with SIGKILL in the middle of its work —
 * click ingestion (always running), a re-clustering run, audience jobs — round after round on one
 * data directory, and every restart must succeed and serve, with no acknowledged click lost, no
 * batch half-stored, and every accepted job finished. Poisoned input (values that overflow
 * float32 once transformed, NaN spelled every way, huge bodies) is followed by a kill and a
 * restart that must succeed and serve. Every server process runs under the unhandled-rejection
 * guard, and a test proves the guard sees one.
 *
 * RALM_CHAOS_ROUNDS sets the number of kill rounds (5 by default; `npm run chaos` reads it too).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type Served } from '../helpers/serve.js';
import { assertNoUnhandledRejection, BATCH_EVENTS, clicksOf, CHAOS_USERS, guardedEnv, UNHANDLED, writer, type WriterResult } from '../helpers/chaos.js';
import { Rng } from '../../src/util/rng.js';
import { defaultModelDir } from '../../src/util/paths.js';

const ROUNDS = Number(process.env.RALM_CHAOS_ROUNDS ?? 5);
/** What each round kills in the middle of, besides ingestion (which runs in every round). */
const KINDS = ['recluster', 'jobs', 'ingest'] as const;
const WRITERS = 3;

const dirs: string[] = [];
/** Every server started, so that a failed assertion leaves no process running behind the file. */
const started: Served[] = [];
after(async () => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ralm-chaos-'));
  dirs.push(d);
  return d;
}

/** A guarded server over `dir`, clustering items from 5 seeds on (so fresh items are re-clustered). */
async function start(dir: string): Promise<Served> {
  const s = await serve(['--data-dir', dir, '--min-seeds', '5', '--log-level', 'warn'], guardedEnv());
  started.push(s);
  return s;
}

async function kill9(s: Served): Promise<void> {
  s.child.kill('SIGKILL');
  const { signal } = await s.exited;
  assert.equal(signal, 'SIGKILL');
  assertNoUnhandledRejection(s.log(), 'a killed server');
}

async function json(url: URL, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, url), { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * A started server serves: ready, and a recommendation with finite scores for a demo user. A
 * server whose event loop was held through a whole sampling period by its start (a busy machine)
 * sheds load with a coded 503 and `retry-after`; a client retries it, and so does this check, a
 * bounded number of times.
 */
async function assertServes(url: URL): Promise<void> {
  assert.equal((await fetch(new URL('/readyz', url))).status, 200);
  let rec = await json(url, 'POST', '/v1/recommend', { user: { id: CHAOS_USERS[3] }, k: 5 });
  for (let retry = 0; retry < 10 && rec.status === 503 && (rec.body.error as { code?: string } | undefined)?.code === 'RALM_ERR_UNDER_PRESSURE'; retry++) {
    await sleep(1000);
    rec = await json(url, 'POST', '/v1/recommend', { user: { id: CHAOS_USERS[3] }, k: 5 });
  }
  assert.equal(rec.status, 200, JSON.stringify(rec.body));
  const items = rec.body.items as Array<{ score: unknown }>;
  assert.ok(items.length > 0 && items.every((i) => typeof i.score === 'number' && Number.isFinite(i.score)), JSON.stringify(items));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe(`chaos: SIGKILL during ingestion, re-clustering and audience jobs (${ROUNDS} rounds)`, () => {
  it('loses no acknowledged click, half-stores no batch, finishes every accepted job, and every restart serves', async () => {
    const dir = await dataDir();
    const rng = new Rng(13);
    let srv = await start(dir);
    const acked: string[] = [];
    const unanswered: string[] = [];
    const jobs: Array<{ id: string; size: number }> = [];
    const inFlightAtKill: Record<string, number> = { recluster: 0, jobs: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const kind = KINDS[round % KINDS.length];
      const stop = { now: false };
      const writers: Array<Promise<WriterResult>> = Array.from({ length: WRITERS }, (_, w) => writer(srv.url, round, w, stop));
      await sleep(150 + rng.int(250));
      if (kind === 'recluster') {
        // Every batch so far is a fresh item with 20 seeds: all of them are due for clustering.
        let answered = false;
        void json(srv.url, 'POST', '/v1/admin/recluster').then(() => (answered = true), () => undefined);
        await sleep(rng.int(30));
        if (!answered) inFlightAtKill.recluster++;
      } else if (kind === 'jobs') {
        for (let j = 0; j < 3; j++) {
          const size = 30 + j;
          const res = await json(srv.url, 'POST', '/v1/audiences', { seeds: CHAOS_USERS.slice(j * 10, j * 10 + 6), size, async: true });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          jobs.push({ id: res.body.id as string, size });
        }
        await sleep(rng.int(20));
        const last = await json(srv.url, 'GET', `/v1/audiences/${jobs[jobs.length - 1].id}`);
        if (last.body.status !== 'done') inFlightAtKill.jobs++;
      }
      await kill9(srv);
      stop.now = true;
      for (const r of await Promise.all(writers)) {
        acked.push(...r.acked);
        unanswered.push(...r.unanswered);
        assert.deepEqual(r.refused, [], 'no batch is refused while the server runs');
      }
      srv = await start(dir);
      await assertServes(srv.url);
      for (const item of acked) assert.equal(await clicksOf(srv.url, item), BATCH_EVENTS, `acknowledged batch ${item} after round ${round}`);
      for (const item of unanswered) assert.ok([0, BATCH_EVENTS].includes(await clicksOf(srv.url, item)), `unanswered batch ${item} is stored whole or not at all`);
    }
    // Every accepted job runs to the end after the restarts, with all its users.
    for (const job of jobs) {
      let status = 'queued';
      for (let t = 0; t < 500 && (status === 'queued' || status === 'running'); t++) {
        status = (await json(srv.url, 'GET', `/v1/audiences/${job.id}`)).body.status as string;
        if (status === 'queued' || status === 'running') await sleep(20);
      }
      assert.equal(status, 'done', `job ${job.id}`);
      assert.equal((await json(srv.url, 'GET', `/v1/audiences/${job.id}/users?limit=100`)).body.total, job.size);
    }
    // And a re-clustering run after all of it succeeds.
    assert.equal((await json(srv.url, 'POST', '/v1/admin/recluster')).status, 200);
    srv.child.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0, srv.log());
    assertNoUnhandledRejection(srv.log(), 'the last server');
    console.log(`chaos: ${ROUNDS} SIGKILL rounds, ${ROUNDS + 1} starts (all served); ${acked.length * BATCH_EVENTS} acknowledged clicks in ${acked.length} batches, 0 lost; ` +
      `${unanswered.length} batches unanswered at a kill, none half-stored; ${jobs.length} accepted jobs all done; kill landed during re-clustering ${inFlightAtKill.recluster}×, during unfinished jobs ${inFlightAtKill.jobs}×`);
    assert.ok(acked.length >= ROUNDS, 'the writers got clicks acknowledged in every round');
  });

  it('poisoned input, a re-cluster and a SIGKILL: the next start succeeds and serves finite scores', async () => {
    const dir = await dataDir();
    let srv = await start(dir);
    const url = srv.url;
    const { m, h } = JSON.parse(await readFile(join(defaultModelDir, 'manifest.json'), 'utf8')) as { m: number; h: number };
    const poisoned = ['poison-max', 'poison-edge', 'poison-tiny'];
    // Accepted or refused, none of it may stop a start: values at the accepted edge, float32 overflow, NaN spelled every way.
    const bodies: Array<[string, string, unknown]> = [
      ['PUT', `/v1/users/${poisoned[0]}`, { universal: new Array(m).fill(9.99e11) }],
      ['PUT', `/v1/users/${poisoned[1]}`, { universal: Array.from({ length: m }, (_, i) => (i % 2 ? -1e12 : 1e12)) }],
      ['PUT', `/v1/users/${poisoned[2]}`, { universal: new Array(m).fill(1e-40) }],
      ['PUT', '/v1/users/poison-f32', { universal: new Array(m).fill(3.4e38) }],
      ['PUT', '/v1/users/poison-nan', { universal: new Array(m).fill('NaN') }],
      ['PUT', '/v1/users/poison-features', { features: { age: 1e308, interests: ['t1'], region: 'v1' } }],
      ['PUT', '/v1/items/poison-item', { metadata: { big: 'x'.repeat(1 << 20) }, content: new Array(8).fill(1e12) }],
      ['POST', '/v1/audiences', { seedEmbeddings: [new Array(h).fill(1e12)], size: 5 }],
      ['POST', '/v1/recommend', { user: { universal: new Array(m).fill(1e12) }, k: 3 }],
    ];
    for (const [method, path, body] of bodies) {
      const r = await json(url, method, path, body);
      assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    }
    // Clicks from every poisoned user on demo items and a fresh one, enough to cluster it.
    const events = [...poisoned, 'poison-f32', 'poison-features', ...CHAOS_USERS.slice(0, 6)].flatMap((user, i) => [
      { user, item: 'demo-science-article-0', ts: Date.now() + i, id: `p-a-${i}` },
      { user, item: 'poison-fresh-item', ts: Date.now() + i, id: `p-b-${i}` },
    ]);
    assert.equal((await json(url, 'POST', '/v1/events', { events })).status, 200);
    const re = await json(url, 'POST', '/v1/admin/recluster');
    assert.ok(re.status < 500, JSON.stringify(re.body));
    await kill9(srv);
    srv = await start(dir);
    await assertServes(srv.url);
    for (const user of poisoned) {
      const r = await json(srv.url, 'POST', '/v1/recommend', { user: { id: user }, k: 5 });
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${user}: ${r.status}`);
      if (r.status === 200) for (const i of r.body.items as Array<{ score: unknown }>) assert.ok(Number.isFinite(i.score), `${user}: score ${String(i.score)}`);
    }
    srv.child.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0, srv.log());
    assertNoUnhandledRejection(srv.log(), 'the server after poisoned input');
  });

  it('the guard sees an unhandled rejection: a process that has one logs what the tests look for', async () => {
    const child = spawn(process.execPath, ['-e', "Promise.reject(new Error('nobody catches this')); setTimeout(() => {}, 50);"], { env: { ...process.env, ...guardedEnv() }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.match(log, UNHANDLED);
    assert.equal(code, 1);
    assert.throws(() => assertNoUnhandledRejection(log, 'the probe'), /logged an unhandled rejection/);
  });
});
