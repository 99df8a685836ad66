/**
 * Audience jobs: large audience requests run in the background, one at a time per process, with
 * progress, cancellation, and results kept for paging or streaming. A job is stored durably when
 * it is accepted and again when it finishes (with its users), so a crash or restart loses none.
 *
 * Jobs are claimed from the store's job queue (RalmStore.openJobQueue): with the embedded store an
 * in-process queue, and on start the jobs that were queued or running are queued again; on a
 * shared store one queue for every replica, so any replica may run a job accepted by another, the
 * runner heart-beats its claim while it runs (every third of `staleMs`), and a job whose runner
 * died is claimed again by another replica once `staleMs` has passed without a heart-beat.
 * Finished jobs are kept for `retentionMs`, then removed.
 */
import { randomUUID } from 'node:crypto';
import type { AudienceRecord, AudienceUsers, ClaimedJob, JobQueue, RalmStore } from '../store/store.js';
import { RalmError } from '../util/errors.js';
import { TimeSlicer } from '../util/time-slice.js';
import { AUDIENCE_JOB_DEFAULTS } from './defaults.js';

export { AUDIENCE_JOB_DEFAULTS };
import type { AudienceResult, AudienceSpec, RunOptions } from './audience-service.js';

export interface AudienceJobsOptions {
  /** Jobs waiting to run beyond the one running; more are refused (OVERLOADED). Default 16. */
  maxQueued?: number;
  /** How long finished jobs (and their users) are kept, ms. Default 24 h. */
  retentionMs?: number;
  /** Shared queue: a job whose runner has not heart-beaten for this long is run by another replica, ms. Default 30 s. */
  staleMs?: number;
  /** Shared queue: how often a running job's progress is stored for the other replicas, ms. Default 1 s. */
  progressMs?: number;
  now?: () => number;
}

export interface JobView extends Omit<AudienceRecord, 'progress'> {
  progress: { scored: number; total: number; fraction: number } | null;
}

type Runner = (spec: AudienceSpec, options: RunOptions) => Promise<AudienceResult>;
type SpecFromJson = (json: Record<string, unknown>) => AudienceSpec;

interface Live {
  record: AudienceRecord;
  spec: AudienceSpec;
  abort: AbortController;
  progress: { scored: number; total: number };
}

/** What a finished job keeps besides its users: the result without the user list. */
export function summaryOf(r: AudienceResult): Record<string, unknown> {
  return {
    seeds: r.seeds, pool: r.pool, scored: r.scored, excluded: r.excluded, size: r.users.length,
    timing: r.timing, backend: r.backend, adapter: r.adapter, modelVersion: r.modelVersion,
  };
}

/** The users as stored (columns), built in time slices: a million users take ~200 ms in all. */
async function columnsOf(list: AudienceResult['users']): Promise<AudienceUsers> {
  const n = list.length;
  const out: AudienceUsers = { ids: new Array<string>(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n) };
  const slicer = new TimeSlicer();
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + 4096); i < end; i++) {
      const u = list[i];
      out.ids[i] = u.id;
      out.score[i] = u.score;
      out.cosGlobal[i] = u.cosGlobal;
      out.cosLocal[i] = u.cosLocal;
    }
    await slicer.tick();
  }
  return out;
}

/** Longest one claim waits for a job before the runner looks again (for a dead runner's job), ms. */
const CLAIM_WAIT_MS = 1000;

export class AudienceJobs {
  private readonly live = new Map<string, Live>();
  private readonly queue: JobQueue;
  private loop: Promise<void> | undefined;
  private runningJob: Promise<void> | undefined;
  private stopped = false;
  private waitingJobs = 0;
  private reapedAt = 0;
  private readonly maxQueued: number;
  private readonly retentionMs: number;
  private readonly staleMs: number;
  private readonly progressMs: number;
  private readonly now: () => number;

  constructor(private readonly store: RalmStore, private readonly runner: Runner, private readonly fromJson: SpecFromJson, options: AudienceJobsOptions = {}) {
    this.maxQueued = options.maxQueued ?? AUDIENCE_JOB_DEFAULTS.maxQueued;
    this.retentionMs = options.retentionMs ?? AUDIENCE_JOB_DEFAULTS.retentionMs;
    this.staleMs = options.staleMs ?? AUDIENCE_JOB_DEFAULTS.staleMs;
    this.progressMs = options.progressMs ?? AUDIENCE_JOB_DEFAULTS.progressMs;
    this.now = options.now ?? Date.now;
    this.queue = store.openJobQueue();
  }

  /**
   * Starts running jobs. An in-process queue first gets again the jobs a previous process accepted
   * but did not finish (a shared queue still holds them); expired jobs are dropped.
   */
  async restore(): Promise<{ requeued: number; expired: number }> {
    let requeued = 0;
    let expired = 0;
    const all: AudienceRecord[] = [];
    for await (const r of this.store.allAudiences()) all.push(r);
    all.sort((a, b) => a.createdAt - b.createdAt);
    if (this.queue.shared) {
      this.reapedAt = this.now();
      requeued += await this.requeueLost(all);
    }
    for (const r of all) {
      if (r.status === 'queued' || r.status === 'running') {
        if (this.queue.shared) continue;
        await this.store.putAudience({ ...r, status: 'queued', startedAt: null });
        await this.queue.push(r.id);
        requeued++;
      } else if (r.finishedAt !== null && r.finishedAt + this.retentionMs < this.now()) {
        await this.store.deleteAudience(r.id);
        expired++;
      }
    }
    this.waitingJobs = await this.queue.waiting();
    this.start();
    return { requeued, expired };
  }

  /**
   * A shared queue: queues again the jobs whose record says queued, older than the stale time,
   * that no queue entry names — a replica that died between storing a job and queueing it (its
   * client got no 202, but the record would otherwise wait forever). The record is read again
   * just before, so a job that ran meanwhile is not queued again; and the queue adds a job only
   * when it is not in it already, so the replica that stored a job, paused for longer than the
   * stale time before queueing it, adds nothing when it wakes: the job runs once. Returns how
   * many were queued.
   */
  private async requeueLost(records?: readonly AudienceRecord[]): Promise<number> {
    if (!this.queue.queuedIds) return 0;
    const cutoff = this.now() - this.staleMs;
    const candidates: string[] = [];
    if (records) {
      for (const r of records) if (r.status === 'queued' && r.createdAt < cutoff) candidates.push(r.id);
    } else {
      for await (const r of this.store.allAudiences()) if (r.status === 'queued' && r.createdAt < cutoff) candidates.push(r.id);
    }
    if (candidates.length === 0) return 0;
    const inQueue = await this.queue.queuedIds();
    let n = 0;
    for (const id of candidates) {
      if (inQueue.has(id) || (await this.store.getAudience(id))?.status !== 'queued') continue;
      if (await this.queue.push(id)) n++;
    }
    return n;
  }

  /** Accepts a job: stored durably, and queued, before this resolves. */
  async submit(spec: AudienceSpec, specJson: Record<string, unknown>): Promise<JobView> {
    if (this.stopped) throw new RalmError('RALM_ERR_CLOSED', 'the audience job runner is stopped');
    const record: AudienceRecord = {
      id: randomUUID(), status: 'queued', spec: specJson, createdAt: this.now(), startedAt: null, finishedAt: null, error: null, summary: null, attempts: 0, runner: null,
    };
    await this.store.putAudience(record);
    await this.queue.push(record.id);
    this.waitingJobs++;
    this.start();
    void this.sweep().catch(() => undefined);
    return this.view(record);
  }

  /** True when no job can be accepted now (callers answer "overloaded"). */
  async isFull(): Promise<boolean> {
    this.waitingJobs = await this.queue.waiting();
    return this.waitingJobs >= this.maxQueued;
  }

  /** Jobs waiting to be claimed, as last seen. */
  get queued(): number {
    return this.waitingJobs;
  }

  /** 1 while a job runs here. */
  get running(): number {
    return this.runningJob ? 1 : 0;
  }

  /** Progress from the job itself where it runs here, else as its runner last stored it (a shared store). */
  private view(record: AudienceRecord): JobView {
    const l = this.live.get(record.id);
    const p = record.status !== 'running' ? null : l ? l.progress : record.progress ?? null;
    return { ...record, progress: p ? { scored: p.scored, total: p.total, fraction: p.total > 0 ? p.scored / p.total : 0 } : null };
  }

  async get(id: string): Promise<JobView | undefined> {
    const l = this.live.get(id);
    if (l) return this.view(l.record);
    const r = await this.store.getAudience(id);
    return r ? this.view(r) : undefined;
  }

  /** A finished job's users from `offset`, at most `limit`, with their total (see RalmStore.getAudienceUsers). */
  async users(id: string, range?: { offset?: number; limit?: number }): Promise<(AudienceUsers & { total: number }) | undefined> {
    return this.store.getAudienceUsers(id, range);
  }

  /**
   * Cancels a queued or running job (it is kept, as cancelled), or deletes a finished one with
   * its users. Undefined for an unknown id. A job running on another replica sees the
   * cancellation at its next heart-beat.
   */
  async cancel(id: string): Promise<{ action: 'cancelled' | 'deleted'; job: JobView } | undefined> {
    const l = this.live.get(id);
    if (l) {
      l.abort.abort();
      await this.runningJob;
      const after = await this.get(id);
      return after ? { action: 'cancelled', job: after } : undefined;
    }
    const r = await this.store.getAudience(id);
    if (!r) return undefined;
    if (r.status === 'queued' || r.status === 'running') {
      if (await this.queue.withdraw(id)) this.waitingJobs = Math.max(0, this.waitingJobs - 1);
      const record: AudienceRecord = { ...r, status: 'cancelled', finishedAt: this.now() };
      await this.store.putAudience(record);
      return { action: 'cancelled', job: this.view(record) };
    }
    await this.store.deleteAudience(id);
    return { action: 'deleted', job: this.view(r) };
  }

  private start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.claimLoop();
  }

  /** Claims jobs one at a time and runs them, until stopped. */
  private async claimLoop(): Promise<void> {
    while (!this.stopped) {
      let job: ClaimedJob | null;
      try {
        job = await this.queue.claim(CLAIM_WAIT_MS, this.staleMs);
      } catch {
        // The store is away: look again shortly.
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!job) {
        // Idle: look for jobs stored but never queued, at most once per stale time.
        if (this.queue.shared && this.now() - this.reapedAt >= this.staleMs) {
          this.reapedAt = this.now();
          await this.requeueLost().catch(() => undefined);
        }
        continue;
      }
      if (this.stopped) {
        await job.release().catch(() => undefined);
        break;
      }
      this.waitingJobs = Math.max(0, this.waitingJobs - 1);
      this.runningJob = this.runClaimed(job).catch(() => undefined);
      await this.runningJob;
      this.runningJob = undefined;
    }
  }

  private async runClaimed(job: ClaimedJob): Promise<void> {
    const { id } = job;
    const stored = await this.store.getAudience(id);
    // Cancelled or finished meanwhile (or a runner that died after finishing it): nothing to run.
    if (!stored || (stored.status !== 'queued' && stored.status !== 'running')) {
      await job.done();
      return;
    }
    let spec: AudienceSpec;
    try {
      spec = this.fromJson(stored.spec);
    } catch (err) {
      // e.g. the model's width changed since the job was accepted
      const e = err as RalmError;
      await this.store.putAudience({ ...stored, status: 'failed', finishedAt: this.now(), error: { code: e.code ?? 'RALM_ERR_VALIDATION', message: e.message } });
      await job.done();
      return;
    }
    // A runner paused between its claim and here may have lost the job meanwhile: it runs only what it still holds.
    if (this.queue.shared && !(await job.heartbeat().catch(() => false))) return;
    const l: Live = {
      record: { ...stored, status: 'running', startedAt: this.now(), attempts: (stored.attempts ?? 0) + 1, runner: this.queue.runner },
      spec, abort: new AbortController(), progress: { scored: 0, total: 0 },
    };
    this.live.set(id, l);
    let lost = false;
    const beat = this.queue.shared ? setInterval(() => void this.beat(job, l).then((kept) => {
      if (kept) return;
      lost = true;
      l.abort.abort();
    }), Math.max(1, Math.floor(this.staleMs / 3))) : undefined;
    beat?.unref();
    // For the other replicas: the progress, stored while it changes.
    let reported = '';
    const report = this.queue.shared && this.store.putAudienceProgress ? setInterval(() => {
      const key = `${l.progress.scored}/${l.progress.total}`;
      if (key === reported || l.record.status !== 'running') return;
      reported = key;
      void this.store.putAudienceProgress?.(id, this.queue.runner, l.progress).catch(() => undefined);
    }, this.progressMs) : undefined;
    report?.unref();
    try {
      await this.store.putAudience(l.record);
      const result = await this.runner(l.spec, { signal: l.abort.signal, onProgress: (scored, total) => { l.progress = { scored, total }; } });
      const users = await columnsOf(result.users);
      // Only the runner that still holds the job records its result.
      if (this.queue.shared && !lost && !(await job.heartbeat().catch(() => true))) lost = true;
      if (lost) return;
      // Durable before anyone is told it is done.
      const record: AudienceRecord = { ...l.record, status: 'done', finishedAt: this.now(), summary: summaryOf(result) };
      await this.store.putAudience(record, users);
      l.record = record;
    } catch (err) {
      // Taken over by another runner: the job is theirs now.
      if (lost) return;
      if (this.stopped && l.abort.signal.aborted) {
        // Shutting down: back in the queue, to run again here after a restart, or on another replica.
        await job.release().catch(() => undefined);
        return;
      }
      const e = err as RalmError;
      const status = e.code === 'RALM_ERR_CANCELLED' ? 'cancelled' : 'failed';
      const record: AudienceRecord = { ...l.record, status, finishedAt: this.now(), error: status === 'failed' ? { code: e.code ?? 'RALM_ERR_INTERNAL', message: e.message } : null };
      await this.store.putAudience(record).catch(() => undefined);
      l.record = record;
    } finally {
      clearInterval(beat);
      clearInterval(report);
      this.live.delete(id);
    }
    await job.done();
  }

  /**
   * Keeps a shared claim: false when another runner has taken the job over. A job cancelled on
   * another replica is stopped here. A store that does not answer keeps the job running: the
   * claim lapses by itself if this process cannot reach the store for `staleMs`.
   */
  private async beat(job: ClaimedJob, l: Live): Promise<boolean> {
    try {
      if (!(await job.heartbeat())) return false;
      if ((await this.store.getAudience(job.id))?.status === 'cancelled') l.abort.abort();
    } catch {
      // the store is away for now
    }
    return true;
  }

  /** Removes finished jobs past retention. */
  private async sweep(): Promise<void> {
    const cutoff = this.now() - this.retentionMs;
    for await (const r of this.store.allAudiences()) {
      if (r.finishedAt !== null && r.finishedAt < cutoff) await this.store.deleteAudience(r.id);
    }
  }

  /** Stops running jobs (they go back to the queue: they run after a restart, or on another replica). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const l of this.live.values()) l.abort.abort();
    await this.queue.close();
    await this.runningJob;
    await this.loop;
  }
}
