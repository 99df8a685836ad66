/**
 * Audience jobs: large audience requests run in the background, one at a time, with progress,
 * cancellation, and results kept for paging or streaming. A job is stored durably when it is
 * accepted and again when it finishes (with its users), so a crash or restart loses none:
 * on start, jobs that were queued or running are queued again and re-run from their spec.
 * Finished jobs are kept for `retentionMs`, then removed.
 */
import { randomUUID } from 'node:crypto';
import type { AudienceRecord, AudienceUsers, RalmStore } from '../store/store.js';
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
  now?: () => number;
}

export interface JobView extends AudienceRecord {
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

export class AudienceJobs {
  private readonly live = new Map<string, Live>();
  private readonly queue: string[] = [];
  private runningJob: Promise<void> | undefined;
  private stopped = false;
  private readonly maxQueued: number;
  private readonly retentionMs: number;
  private readonly now: () => number;

  constructor(private readonly store: RalmStore, private readonly runner: Runner, private readonly fromJson: SpecFromJson, options: AudienceJobsOptions = {}) {
    this.maxQueued = options.maxQueued ?? AUDIENCE_JOB_DEFAULTS.maxQueued;
    this.retentionMs = options.retentionMs ?? AUDIENCE_JOB_DEFAULTS.retentionMs;
    this.now = options.now ?? Date.now;
  }

  /** Re-queues jobs a previous process accepted but did not finish; drops expired ones. */
  async restore(): Promise<{ requeued: number; expired: number }> {
    let requeued = 0;
    let expired = 0;
    const all: AudienceRecord[] = [];
    for await (const r of this.store.allAudiences()) all.push(r);
    all.sort((a, b) => a.createdAt - b.createdAt);
    for (const r of all) {
      if (r.status === 'queued' || r.status === 'running') {
        let spec: AudienceSpec;
        try {
          spec = this.fromJson(r.spec);
        } catch (err) {
          // e.g. the model's width changed since the job was accepted
          const e = err as RalmError;
          await this.store.putAudience({ ...r, status: 'failed', finishedAt: this.now(), error: { code: e.code ?? 'RALM_ERR_VALIDATION', message: e.message } });
          continue;
        }
        const record: AudienceRecord = { ...r, status: 'queued', startedAt: null };
        await this.store.putAudience(record);
        this.live.set(r.id, { record, spec, abort: new AbortController(), progress: { scored: 0, total: 0 } });
        this.queue.push(r.id);
        requeued++;
      } else if (r.finishedAt !== null && r.finishedAt + this.retentionMs < this.now()) {
        await this.store.deleteAudience(r.id);
        expired++;
      }
    }
    this.pump();
    return { requeued, expired };
  }

  /** Accepts a job: stored durably before this resolves. */
  async submit(spec: AudienceSpec, specJson: Record<string, unknown>): Promise<JobView> {
    if (this.stopped) throw new RalmError('RALM_ERR_CLOSED', 'the audience job runner is stopped');
    // Callers check `full` first (and answer "overloaded"); this is the backstop.
    if (this.full) throw new Error(`the audience job queue is full (${this.maxQueued} waiting)`);
    const record: AudienceRecord = {
      id: randomUUID(), status: 'queued', spec: specJson, createdAt: this.now(), startedAt: null, finishedAt: null, error: null, summary: null,
    };
    await this.store.putAudience(record);
    this.live.set(record.id, { record, spec, abort: new AbortController(), progress: { scored: 0, total: 0 } });
    this.queue.push(record.id);
    this.pump();
    void this.sweep();
    return this.view(record);
  }

  /** True when no job can be accepted now. */
  get full(): boolean {
    return this.queue.length >= this.maxQueued;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** 1 while a job runs. */
  get running(): number {
    return this.runningJob ? 1 : 0;
  }

  private view(record: AudienceRecord): JobView {
    const l = this.live.get(record.id);
    const p = l && record.status === 'running' ? l.progress : null;
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
   * its users. Undefined for an unknown id.
   */
  async cancel(id: string): Promise<{ action: 'cancelled' | 'deleted'; job: JobView } | undefined> {
    const l = this.live.get(id);
    if (l) {
      const q = this.queue.indexOf(id);
      if (q >= 0) {
        this.queue.splice(q, 1);
        this.live.delete(id);
        const record: AudienceRecord = { ...l.record, status: 'cancelled', finishedAt: this.now() };
        await this.store.putAudience(record);
        return { action: 'cancelled', job: this.view(record) };
      }
      l.abort.abort();
      await this.runningJob;
      const after = await this.get(id);
      return after ? { action: 'cancelled', job: after } : undefined;
    }
    const r = await this.store.getAudience(id);
    if (!r) return undefined;
    await this.store.deleteAudience(id);
    return { action: 'deleted', job: this.view(r) };
  }

  private pump(): void {
    if (this.runningJob || this.stopped || this.queue.length === 0) return;
    const id = this.queue.shift() as string;
    this.runningJob = this.runOne(id).finally(() => {
      this.runningJob = undefined;
      this.pump();
    });
  }

  private async runOne(id: string): Promise<void> {
    const l = this.live.get(id);
    if (!l) return;
    l.record = { ...l.record, status: 'running', startedAt: this.now() };
    await this.store.putAudience(l.record).catch(() => undefined);
    try {
      const result = await this.runner(l.spec, {
        signal: l.abort.signal,
        onProgress: (scored, total) => {
          l.progress = { scored, total };
        },
      });
      const users = await columnsOf(result.users);
      // Durable before anyone is told it is done.
      const record: AudienceRecord = { ...l.record, status: 'done', finishedAt: this.now(), summary: summaryOf(result) };
      await this.store.putAudience(record, users);
      l.record = record;
    } catch (err) {
      if (this.stopped && l.abort.signal.aborted) {
        // Shutting down: leave it queued in the store, to run again after the restart.
        this.live.delete(id);
        return;
      }
      const e = err as RalmError;
      const status = e.code === 'RALM_ERR_CANCELLED' ? 'cancelled' : 'failed';
      const record: AudienceRecord = { ...l.record, status, finishedAt: this.now(), error: status === 'failed' ? { code: e.code ?? 'RALM_ERR_INTERNAL', message: e.message } : null };
      await this.store.putAudience(record).catch(() => undefined);
      l.record = record;
    }
    this.live.delete(id);
  }

  /** Removes finished jobs past retention. */
  private async sweep(): Promise<void> {
    const cutoff = this.now() - this.retentionMs;
    for await (const r of this.store.allAudiences()) {
      if (r.finishedAt !== null && r.finishedAt < cutoff) await this.store.deleteAudience(r.id);
    }
  }

  /** Stops running jobs (they stay queued in the store and run after a restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const l of this.live.values()) l.abort.abort();
    await this.runningJob;
  }
}
