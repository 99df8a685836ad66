/**
 * The audience-job queue behind RalmStore.openJobQueue: in-process for LMDB; on Valkey (one node
 * and a 3-primary Cluster) one queue for every replica, where each job is delivered to one runner,
 * a runner that heart-beats keeps its job however long it runs, and a job whose runner stopped
 * heart-beating is claimed by another, which the old runner then learns, and the gone runner is
 * removed from the consumer group.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { RedisJobQueue } from '../../src/store/redis-job-queue.js';
import type { ClaimedJob, JobQueue } from '../../src/store/store.js';
import { startValkey, startValkeyCluster, valkeySkip } from '../helpers/valkey.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two runners on one store: each job delivered once; a stale one taken over, and its first runner told. */
async function sharedQueue(url: string): Promise<void> {
  const stores = [(await RedisStore.open(url)).store, (await RedisStore.open(url)).store, (await RedisStore.open(url)).store];
  const [a, b, c] = stores.map((s) => s.openJobQueue());
  try {
    assert.equal(a.shared, true);
    await a.push('j1');
    await a.push('j2');
    assert.equal(await c.waiting(), 2);
    const staleMs = 1000;
    const got = [await b.claim(100, staleMs), await a.claim(100, staleMs)];
    assert.deepEqual(got.map((j) => j?.id).sort(), ['j1', 'j2']);
    assert.equal(await c.claim(50, staleMs), null, 'every job is claimed: nothing for a third runner');
    assert.equal(await c.waiting(), 0);
    const [jb, ja] = got as ClaimedJob[];
    assert.equal((await (c as RedisJobQueue).runners()).find((r) => r.name === b.runner)?.pending, 1, 'B is in the group, its job pending');
    await ja.done();

    // B heart-beats for three stale times: its job is never claimed by C.
    const until = Date.now() + 3 * staleMs;
    while (Date.now() < until) {
      assert.equal(await jb.heartbeat(), true);
      assert.equal(await c.claim(1, staleMs), null);
      await sleep(staleMs / 5);
    }
    // B stops beating (as a dead or paused process does): C takes the job over, and B learns it lost it.
    await sleep(staleMs + 200);
    const taken = await c.claim(1, staleMs);
    assert.equal(taken?.id, jb.id);
    assert.equal(taken?.reclaimed, true);
    assert.equal(await jb.heartbeat(), false);
    assert.equal(await taken?.heartbeat(), true);
    // B, silent with nothing pending now, is forgotten by the group; C, holding the job, is kept.
    const rc = c as RedisJobQueue;
    await rc.forgetGoneRunners(staleMs); // (C's claims also do it, at most once per stale time)
    const left = await rc.runners();
    assert.ok(!left.some((r) => r.name === b.runner), 'the gone runner B is still in the group');
    assert.deepEqual(left.find((r) => r.name === c.runner)?.pending, 1);
    // Given back (a runner stopping): queued again for anyone, not lost.
    await taken?.release();
    const again = await a.claim(100, staleMs);
    assert.equal(again?.id, jb.id);
    await again?.done();
    assert.equal(await a.waiting(), 0);
    assert.equal(await a.claim(1, 60_000), null);
  } finally {
    await Promise.all([a, b, c].map((q) => q.close()));
    await Promise.all(stores.map((s) => s.close()));
  }
}

describe('audience job queue', () => {
  it('LMDB: in-process, first in first out; a waiting claim ends when a job arrives or the queue closes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-queue-'));
    const store = LmdbStore.open(dir);
    const q: JobQueue = store.openJobQueue();
    try {
      assert.equal(q.shared, false);
      const waiting = q.claim(60_000, 1);
      await q.push('x');
      await q.push('y');
      await q.push('z');
      assert.equal((await waiting)?.id, 'x');
      assert.equal(await q.withdraw('y'), true);
      assert.equal(await q.waiting(), 1);
      const z = await q.claim(10, 1);
      assert.equal(z?.id, 'z');
      await z?.release();
      assert.equal((await q.claim(10, 1))?.id, 'z');
      const ended = q.claim(60_000, 1);
      await q.close();
      assert.equal(await ended, null);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Valkey: each job to one runner; a heart-beating runner keeps its job; a silent one loses it to another', { skip: valkeySkip(), timeout: 60_000 }, async () => {
    const v = await startValkey();
    try {
      await sharedQueue(v.url);
    } finally {
      await v.stop();
    }
  });

  it('a 3-primary Valkey Cluster: the same', { skip: valkeySkip(), timeout: 90_000 }, async () => {
    const cluster = await startValkeyCluster();
    try {
      await sharedQueue(cluster.url);
    } finally {
      await cluster.stop();
    }
  });
});
