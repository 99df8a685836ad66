/**
 * Three real `ralm serve` replicas on one Valkey (started here): the demo world is loaded once;
 * events sent to one replica and re-clustered there are served by the others within a second;
 * audience jobs accepted by one replica run once each on any of them, a job whose runner is
 * killed with -9 in its middle is run again by another, and results read the same everywhere; a
 * replica killed with -9 costs nothing (another re-clusters, waiting out a lease its holder died
 * with, and finds the queue intact); a kill -9 of Valkey loses no acknowledged event, replicas
 * keep answering from their caches while it is down, refuse writes with a coded 503, and catch up
 * when it returns.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { serve, type Served } from '../helpers/serve.js';
import { startValkey, startValkeyCluster, valkeySkip } from '../helpers/valkey.js';

async function call(s: Served, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, s.url), { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Polls `s` until it serves `item`; returns ms from `since` (performance.now()). */
async function servedAfter(s: Served, item: string, since: number, limitMs = 5000): Promise<number> {
  for (;;) {
    const r = await call(s, 'GET', `/v1/items/${item}`);
    if (r.status === 200 && r.json.served === true) return performance.now() - since;
    if (performance.now() - since > limitMs) throw new Error(`${item} not served within ${limitMs} ms`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** Submits `n` audience jobs on `s`; their ids. */
async function submitJobs(s: Served, n: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + n; i++) {
    const r = await call(s, 'POST', '/v1/audiences', { seeds: [`demo-music-${i % 5}`, `demo-food-${i % 7}`], size: 20, seed: i, async: true });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    ids.push(String(r.json.id));
  }
  return ids;
}

/** Polls `s` until job `id` is finished; it must be done. */
async function jobDone(s: Served, id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 600; i++) {
    const r = await call(s, 'GET', `/v1/audiences/${id}`);
    if (r.json.status !== 'queued' && r.json.status !== 'running') {
      assert.equal(r.json.status, 'done', JSON.stringify(r.json));
      return r.json;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`audience job ${id} not finished within 30 s`);
}

/** The job a runner whose name contains `mark` holds (claimed, not finished) on the shared queue, if any. */
async function heldBy(probe: RedisStore, mark: string): Promise<string | undefined> {
  const pending = (await probe.client.xpending(probe.keys.jobs, 'runners', '-', '+', 100)) as Array<[string, string, number, number]>;
  const entry = pending.find((p) => p[1].includes(mark));
  if (!entry) return undefined;
  const [row] = (await probe.client.xrange(probe.keys.jobs, entry[0], entry[0])) as Array<[string, string[]]>;
  return row?.[1][1];
}

const clicks = (item: string, n: number, tag: string) => ({
  events: Array.from({ length: n }, (_, i) => ({ user: `demo-food-${i}`, item, ts: Date.now(), id: `${tag}-${i}` })),
});

describe('replicas on one Valkey', { skip: valkeySkip() }, () => {
  it('one demo world; publications served everywhere within 1 s; a dead replica, a dead lease holder and a dead Valkey lose nothing', { timeout: 180_000 }, async (t) => {
    const v = await startValkey();
    const args = ['--store', v.url, '--min-seeds', '1', '--log-level', 'warn', '--audience-job-timeout-ms', '1500'];
    const replicas = await Promise.all([serve(args), serve(args), serve(args)]);
    const probe = (await RedisStore.open(v.url)).store;
    try {
      const [a, b, c] = replicas;
      // The demo world, once, though the replicas started together.
      const loaders = replicas.filter((r) => /loaded the demo world/.test(r.log()));
      assert.equal(loaders.length, 1, replicas.map((r) => r.log()).join('\n---\n'));
      const demoClicks = Number(/(\d+) clicks\)/.exec(loaders[0].log())?.[1]);
      assert.equal((await probe.stats()).eventsAccepted, demoClicks);
      for (const r of replicas) {
        assert.equal((await call(r, 'GET', '/readyz')).status, 200);
        // A replica may be ready before the one loading the demo world has published it: it follows.
        await servedAfter(r, 'demo-science-article-0', performance.now(), 30_000);
      }

      // Events to A, re-clustered on A: served by B and C within a second of publication.
      const lags: number[] = [];
      for (let round = 0; round < 5; round++) {
        const item = `fresh-${round}`;
        assert.equal((await call(a, 'POST', '/v1/events', clicks(item, 5, item))).status, 200);
        const run = await call(a, 'POST', '/v1/admin/recluster');
        assert.equal(run.status, 200, JSON.stringify(run.json));
        const t0 = performance.now();
        assert.deepEqual(run.json.newlyServable, [item]);
        lags.push(...await Promise.all([servedAfter(b, item, t0), servedAfter(c, item, t0)]));
      }
      t.diagnostic(`publication → served on B and C: ${lags.map((x) => x.toFixed(0)).join(', ')} ms`);
      assert.ok(Math.max(...lags) <= 1000, `publication → served on the other replicas: ${lags.map((x) => x.toFixed(0)).join(', ')} ms`);

      // Audience jobs submitted on A run on any replica, each once, and read the same everywhere.
      const first = await submitJobs(a, 6, 0);
      const finished = await Promise.all(first.map((id) => jobDone(c, id)));
      t.diagnostic(`6 jobs accepted by A, run by: ${finished.map((j) => /:(\d+):/.exec(String(j.runner))?.[1]).join(', ')}`);
      assert.deepEqual(finished.map((j) => j.attempts), [1, 1, 1, 1, 1, 1]);
      for (const id of first) assert.deepEqual((await call(b, 'GET', `/v1/audiences/${id}/users`)).json, (await call(c, 'GET', `/v1/audiences/${id}/users`)).json);

      // kill -9 A in the middle of a job: B and C frozen, so A runs them; once A is seen (stopped) holding a
      // job it has started, it is killed; B or C takes that job over when its claim goes stale.
      const mine = `:${a.child.pid}:`;
      b.child.kill('SIGSTOP');
      c.child.kill('SIGSTOP');
      const second = await submitJobs(a, 20, 100);
      let held: string | undefined;
      for (let tries = 0; !held && tries < 2000; tries++) {
        if ((await heldBy(probe, mine)) === undefined) continue;
        a.child.kill('SIGSTOP');
        const job = await heldBy(probe, mine);
        const record = job === undefined ? undefined : await probe.getAudience(job);
        if (record?.status === 'running' && record.runner?.includes(mine)) held = job;
        else a.child.kill('SIGCONT');
      }
      assert.ok(held, 'A was never seen in the middle of a job');
      t.diagnostic(`A stopped and killed in the middle of job ${held}`);
      a.child.kill('SIGKILL');
      await a.exited;
      b.child.kill('SIGCONT');
      c.child.kill('SIGCONT');
      const after = await Promise.all(second.map((id) => jobDone(b, id)));
      const taken = after[second.indexOf(held)];
      assert.equal(taken.attempts, 2, 'the job A died in ran again, once');
      assert.ok(!String(taken.runner).includes(mine), 'by another replica');
      assert.deepEqual(after.filter((j) => j.id !== held).map((j) => j.attempts), second.slice(1).map(() => 1), 'every other job ran once');
      assert.equal((await call(c, 'GET', `/v1/audiences/${held}/users`)).status, 200);

      // kill -9 a replica (A, above); a lease left by a holder that died mid-run is waited out, and the queue is intact.
      assert.equal((await call(b, 'POST', '/v1/events', clicks('after-kill', 5, 'k'))).status, 200);
      assert.ok(await probe.coordination.acquireLease('a-replica-that-died', 1500));
      const t1 = performance.now();
      const run = await call(b, 'POST', '/v1/admin/recluster');
      const waited = performance.now() - t1;
      assert.equal(run.status, 200, JSON.stringify(run.json));
      assert.deepEqual(run.json.newlyServable, ['after-kill']);
      t.diagnostic(`re-cluster on B waited ${waited.toFixed(0)} ms for the dead holder's lease`);
      assert.ok(waited >= 1000 && waited < 10_000, `took over after ${waited.toFixed(0)} ms`);
      await servedAfter(c, 'after-kill', performance.now());

      // kill -9 Valkey: reads from the caches go on, writes get a coded 503, nothing acknowledged is lost.
      const acked = (await probe.stats()).eventsAccepted;
      await v.kill();
      const embedding = Array.from({ length: 64 }, (_, i) => Math.sin(i));
      const rec = await call(b, 'POST', '/v1/recommend', { user: { embedding }, k: 3 });
      assert.equal(rec.status, 200, JSON.stringify(rec.json));
      const refused = await call(c, 'POST', '/v1/events', clicks('while-down', 2, 'd'));
      assert.equal(refused.status, 503);
      assert.equal((refused.json.error as { code: string }).code, 'RALM_ERR_STORE_UNAVAILABLE');
      await v.restart();
      let back = 0;
      for (let t = 0; t < 100 && back !== 200; t++) {
        back = (await call(c, 'POST', '/v1/events', clicks('after-restart', 2, 'r'))).status;
        if (back !== 200) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(back, 200);
      // The probe's own connection comes back on its own retry schedule (up to 1 s apart).
      let stats;
      for (let t = 0; t < 100 && !stats; t++) stats = await probe.stats().catch(() => new Promise<undefined>((res) => setTimeout(() => res(undefined), 50)));
      assert.equal(stats?.eventsAccepted, acked + 2);
      // And publications flow again to every replica.
      const run2 = await call(c, 'POST', '/v1/admin/recluster');
      assert.equal(run2.status, 200);
      await servedAfter(b, 'after-restart', performance.now(), 3000);
    } finally {
      await probe.close().catch(() => undefined);
      for (const r of replicas) r.child.kill('SIGKILL');
      await Promise.all(replicas.map((r) => r.exited));
      await v.stop();
    }
  });

  it('on a 3-primary Valkey Cluster too: one demo world, and a publication on one replica is served by the other', { timeout: 120_000 }, async () => {
    const cluster = await startValkeyCluster();
    const args = ['--store', cluster.url, '--min-seeds', '1', '--log-level', 'warn'];
    const replicas = await Promise.all([serve(args), serve(args)]);
    try {
      const [a, b] = replicas;
      assert.equal(replicas.filter((r) => /loaded the demo world/.test(r.log())).length, 1);
      assert.equal((await call(b, 'GET', '/v1/items/demo-music-article-3')).json.served, true);
      assert.equal((await call(a, 'POST', '/v1/events', clicks('on-cluster', 5, 'c'))).status, 200);
      const run = await call(a, 'POST', '/v1/admin/recluster');
      assert.deepEqual(run.json.newlyServable, ['on-cluster']);
      assert.ok(await servedAfter(b, 'on-cluster', performance.now()) <= 1000);
      // The replica serves the level offset the publishing replica stored with the set.
      const [onA, onB] = await Promise.all([a, b].map(async (r) => (await call(r, 'GET', '/v1/items/on-cluster')).json));
      assert.equal(typeof onA.levelOffset, 'number');
      assert.equal(onB.levelOffset, onA.levelOffset);
      assert.equal(onB.levelOffset, (onB.clusters as { levelOffset: number }).levelOffset);
    } finally {
      for (const r of replicas) r.child.kill('SIGKILL');
      await Promise.all(replicas.map((r) => r.exited));
      await cluster.stop();
    }
  });
});
