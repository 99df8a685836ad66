/**
 * Coalesces concurrent recommend requests into one engine call (one GPU submission). A request
 * waits at most `maxWaitMs` for company, a batch holds at most `maxBatch` requests, and while one
 * batch is in the engine the next one fills up — so batches grow with load by themselves. The
 * queue is bounded (beyond it: 429 with Retry-After). A request's deadline counts from its
 * arrival at the server: one already past it is answered 504 at once, and one still queued when
 * it passes is answered 504 then, never computed.
 *
 * On the CPU an engine call computes on the event loop, so a batch is also cut to what fits in
 * `maxHoldMs` of that synchronous time, estimated per candidate from recent batches (on a GPU the
 * synchronous part is only encoding, and batches stay whole).
 */
import { performance } from 'node:perf_hooks';
import type { RalmEngine, RankRequest, RankResult } from '../engine/engine.js';
import { ServiceError } from './errors.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  /** Longest one engine call may hold the event loop, ms (estimated). Default: no bound. */
  maxHoldMs?: number;
}

export interface BatchObserver {
  batch(size: number, engineSeconds: number): void;
  queueWait(seconds: number): void;
}

interface Pending {
  req: RankRequest;
  deadline: number;
  enqueuedAt: number;
  candidates: number;
  timer: NodeJS.Timeout;
  resolve: (r: RankResult) => void;
  reject: (e: unknown) => void;
}

/** Weight of the newest batch in the per-candidate estimate of synchronous engine time. */
const HOLD_EWMA = 0.2;

export class RankBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Synchronous engine time per candidate, ms (an average over recent batches; 0 until one ran). */
  private msPerCandidate = 0;

  constructor(private readonly engine: RalmEngine, private readonly o: BatcherOptions, private readonly observe: BatchObserver) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a request; `deadline` is a performance.now() time. */
  submit(req: RankRequest, deadline: number): Promise<RankResult> {
    const now = performance.now();
    if (deadline <= now) {
      return Promise.reject(new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', "the request's deadline passed before it could be queued"));
    }
    if (this.queue.length >= this.o.maxQueue) {
      return Promise.reject(new ServiceError('RALM_ERR_OVERLOADED', `the request queue is full (${this.o.maxQueue} waiting); retry shortly`, { reason: 'queue', retryAfterSeconds: 1 }));
    }
    return new Promise<RankResult>((resolve, reject) => {
      const p: Pending = {
        req, deadline, enqueuedAt: now, candidates: req.candidates?.length ?? this.engine.table.size, resolve, reject,
        timer: setTimeout(() => this.expire(p), deadline - now),
      };
      this.queue.push(p);
      this.schedule();
    });
  }

  /** Answers a request whose deadline passed while it was queued (it is never computed). */
  private expire(p: Pending): void {
    const i = this.queue.indexOf(p);
    if (i < 0) return;
    this.queue.splice(i, 1);
    p.reject(new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', `the request's deadline passed after ${(performance.now() - p.enqueuedAt).toFixed(0)} ms in the queue`));
  }

  private schedule(): void {
    if (this.running) return; // the running batch reschedules when it finishes
    if (this.queue.length >= this.o.maxBatch) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(() => void this.flush());
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.maxWaitMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const now = performance.now();
    const batch: Pending[] = [];
    const holdCandidates = this.o.maxHoldMs !== undefined && this.msPerCandidate > 0 ? this.o.maxHoldMs / this.msPerCandidate : Infinity;
    let candidates = 0;
    while (batch.length < this.o.maxBatch && this.queue.length > 0) {
      if (batch.length > 0 && candidates + this.queue[0].candidates > holdCandidates) break;
      const p = this.queue.shift() as Pending;
      clearTimeout(p.timer);
      this.observe.queueWait((now - p.enqueuedAt) / 1000);
      candidates += p.candidates;
      batch.push(p);
    }
    try {
      if (batch.length > 0) await this.run(batch);
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    const t0 = performance.now();
    try {
      const pending = this.engine.rank(batch.map((p) => p.req));
      // What the call computed before returning its promise held the event loop.
      const held = performance.now() - t0;
      const candidates = batch.reduce((a, p) => a + p.candidates, 0);
      if (candidates > 0) this.msPerCandidate = this.msPerCandidate === 0 ? held / candidates : (1 - HOLD_EWMA) * this.msPerCandidate + HOLD_EWMA * (held / candidates);
      const results = await pending;
      this.observe.batch(batch.length, (performance.now() - t0) / 1000);
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
      // One bad request must not fail its neighbours: run them one by one.
      for (const p of batch) {
        try {
          const [r] = await this.engine.rank([p.req]);
          this.observe.batch(1, 0);
          p.resolve(r);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
