/**
 * Audience jobs on a shared store (Valkey), two runners as two replicas, with a stand-in for the
 * audience run (the queue and the bookkeeping are what is tested, not the scoring): a running
 * job's progress is readable on the replica that does not run it; a job whose record was stored
 * but never queued (its replica died in between) is queued again, once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { AudienceJobs } from '../../src/audience/jobs.js';
import type { AudienceResult, AudienceSpec, RunOptions } from '../../src/audience/audience-service.js';
import type { AudienceRecord } from '../../src/store/store.js';
import { startValkey, valkeySkip, type Valkey } from '../helpers/valkey.js';

const fromJson = (j: Record<string, unknown>): AudienceSpec => j as unknown as AudienceSpec;
const result = { seeds: { given: 1, matched: 1, unmatched: 0, unmatchedIds: [], clustered: 1, centroids: 1 }, pool: null, scored: 0, excluded: 0, users: [] } as unknown as AudienceResult;

/** Waits for `check` to hold, looking every 20 ms; fails saying `what` after 10 s (a bound, not a timing claim). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 10_000; !(await check());) {
    if (Date.now() > end) assert.fail(`${what}: not within 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('audience jobs on a shared store', { skip: valkeySkip() }, () => {
  let v: Valkey;
  before(async () => { v = await startValkey(); });
  after(async () => { await v?.stop(); });

  it('progress is stored on the job only while it runs under its runner', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'progress' });
    t.after(() => store.close());
    const record: AudienceRecord = { id: 'j', status: 'queued', spec: {}, createdAt: 1, startedAt: null, finishedAt: null, error: null, summary: null, runner: null };
    await store.putAudience(record);
    assert.equal(await store.putAudienceProgress('j', 'r1', { scored: 1, total: 4 }), false, 'a queued job has no progress');
    await store.putAudience({ ...record, status: 'running', runner: 'r1' });
    assert.equal(await store.putAudienceProgress('j', 'r2', { scored: 1, total: 4 }), false, 'another runner does not write it');
    assert.equal(await store.putAudienceProgress('j', 'r1', { scored: 1, total: 4 }), true);
    const running = await store.getAudience('j');
    assert.deepEqual([running?.progress?.scored, running?.progress?.total], [1, 4]);
    await store.putAudience({ ...(running as AudienceRecord), status: 'cancelled' });
    assert.equal(await store.putAudienceProgress('j', 'r1', { scored: 2, total: 4 }), false, 'a cancelled job takes no progress');
    assert.equal((await store.getAudience('j'))?.progress, undefined);
    assert.equal(await store.deleteAudience('j'), true);
    assert.equal(await store.client.exists(store.keys.audienceProgress('j')), 0, 'deletion removes the progress too');
  });

  it('a job running on one replica shows its progress on the other', async (t) => {
    const stores = [(await RedisStore.open(v.url, { prefix: 'jobs' })).store, (await RedisStore.open(v.url, { prefix: 'jobs' })).store];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const ranOn: number[] = [];
    const runner = (n: number) => async (_spec: AudienceSpec, o: RunOptions): Promise<AudienceResult> => {
      ranOn.push(n);
      o.onProgress?.(30, 120);
      await gate;
      return result;
    };
    const jobs = stores.map((s, n) => new AudienceJobs(s, runner(n), fromJson, { staleMs: 5000, progressMs: 20 }));
    t.after(async () => {
      release();
      await Promise.all(jobs.map((j) => j.stop()));
      await Promise.all(stores.map((s) => s.close()));
    });
    await Promise.all(jobs.map((j) => j.restore()));
    const job = await jobs[0].submit(fromJson({}), { size: 1 });
    await until('the job started', async () => ranOn.length === 1);
    const other = jobs[1 - ranOn[0]];
    await until('its progress on the other replica', async () => (await other.get(job.id))?.progress !== null);
    const seen = await other.get(job.id);
    assert.equal(seen?.status, 'running');
    assert.deepEqual(seen?.progress, { scored: 30, total: 120, fraction: 0.25 });
    release();
    await until('the job done', async () => (await other.get(job.id))?.status === 'done');
    assert.equal((await other.get(job.id))?.progress, null, 'a finished job shows no progress');
  });

  it('a job stored but never queued (its replica died in between) is queued again and runs once; a queued one is not queued twice', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'lost' });
    const now = Date.now();
    const record = (id: string): AudienceRecord => ({ id, status: 'queued', spec: { name: id }, createdAt: now - 10_000, startedAt: null, finishedAt: null, error: null, summary: null });
    // "lost": stored, never queued. "queued": stored and queued (by another replica, not running).
    await store.putAudience(record('lost'));
    await store.putAudience(record('queued'));
    const other = store.openJobQueue();
    await other.push('queued');
    await other.close();
    const runs: string[] = [];
    const jobs = new AudienceJobs(store, async (spec) => { runs.push((spec as unknown as { name: string }).name); return result; }, fromJson, { staleMs: 1000 });
    t.after(async () => {
      await jobs.stop();
      await store.close();
    });
    assert.deepEqual(await jobs.restore(), { requeued: 1, expired: 0 });
    await until('both jobs done', async () => (await jobs.get('lost'))?.status === 'done' && (await jobs.get('queued'))?.status === 'done');
    // The runner's idle looks for lost jobs again: nothing more is queued.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(runs.sort(), ['lost', 'queued']);
  });

  it('a replica paused between storing a job and queueing it, past the stale time, adds nothing when it wakes: the job runs once', async (t) => {
    const stores = await Promise.all([0, 1, 2].map(async () => (await RedisStore.open(v.url, { prefix: 'paused' })).store));
    const [a, b, c] = stores;
    // A stored the job, then paused (its createdAt is 10 s ago) before queueing it.
    await a.putAudience({ id: 'slow', status: 'queued', spec: { name: 'slow' }, createdAt: Date.now() - 10_000, startedAt: null, finishedAt: null, error: null, summary: null });
    const runs: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const runner = async (spec: AudienceSpec): Promise<AudienceResult> => { runs.push((spec as unknown as { name: string }).name); await gate; return result; };
    // B takes it for lost and runs it; C, idle, would run any second entry.
    const jobsB = new AudienceJobs(b, runner, fromJson, { staleMs: 1000 });
    const jobsC = new AudienceJobs(c, runner, fromJson, { staleMs: 1000 });
    const queueA = a.openJobQueue();
    t.after(async () => {
      open();
      await Promise.all([jobsB.stop(), jobsC.stop(), queueA.close()]);
      await Promise.all(stores.map((s) => s.close()));
    });
    assert.deepEqual(await jobsB.restore(), { requeued: 1, expired: 0 });
    await until('the job runs on B', async () => (await jobsB.get('slow'))?.status === 'running');
    await jobsC.restore();
    // A wakes and queues the job it stored: it is in the queue already, so nothing is added.
    assert.equal(await queueA.push('slow'), false);
    assert.equal((await a.client.xrange(a.keys.jobs, '-', '+')).length, 1, 'one entry for the job');
    open();
    await until('the job done', async () => (await jobsB.get('slow'))?.status === 'done');
    // Queued once more after it finished (a very late wake): its runner finds it done and skips it.
    assert.equal(await queueA.push('slow'), true);
    await until('the late entry skipped', async () => (await a.client.xlen(a.keys.jobs)) === 0);
    assert.deepEqual(runs, ['slow']);
    assert.equal((await a.getAudience('slow'))?.attempts, 1);

    // A queue written before the queued-jobs hash (no runner here): its entries count as queued once a queue opens.
    const older = (await RedisStore.open(v.url, { prefix: 'older' })).store;
    t.after(() => older.close());
    await older.client.xadd(older.keys.jobs, '*', 'job', 'j1');
    const q = older.openJobQueue();
    t.after(() => q.close());
    assert.equal(await q.push('j1'), false);
    assert.equal(await q.push('j2'), true);
    assert.equal(await older.client.xlen(older.keys.jobs), 2);
  });
});
