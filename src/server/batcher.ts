/**
 * Coalesces concurrent recommend requests into one engine call (one GPU submission). A request
 * waits at most `maxWaitMs` for company, a batch holds at most `maxBatch` requests, and while one
 * batch is in the engine the next one fills up — so batches grow with load by themselves. The
 * queue is bounded (beyond it: 429 with Retry-After). A request's deadline counts from its
 * arrival at the server: one already past it is answered 504 at once, and one still queued when
 * it passes is answered 504 then, never computed.
 *
 * A request is prepared when it is queued (engine.prepareRank: its user checked, its candidate
 * ids resolved under a table snapshot of its own), so a bad one is answered at once, alone, and
 * that per-request work overlaps the scoring of the batch ahead of it instead of delaying the
 * next batch.
 *
 * Two stages, not lock-step. With c requests in the service (`demand`: admitted, not yet
 * answered), a batch of all c leaves the event loop nothing to do while it is scored, and the
 * scoring threads nothing while the event loop answers them and reads the next c. So a batch
 * leaves once it holds half of them (or `maxBatch`), or `maxWaitMs` after the engine became free
 * or its oldest request came, whichever is later: one half is scored while the event loop reads
 * and prepares the other (docs/benchmarks.md, "two stages, not lock-step"). Without `demand`,
 * `maxBatch` is the target.
 *
 * On the CPU an engine call computes on the event loop, so a batch is also cut to what fits in
 * `maxHoldMs` of that synchronous time, estimated per candidate from recent batches (on a GPU the
 * synchronous part is only encoding, and batches stay whole).
 */
import { performance } from 'node:perf_hooks';
import type { PreparedRank, RalmEngine, RankRequest, RankResult } from '../engine/engine.js';
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
  ticket: PreparedRank;
  deadline: number;
  enqueuedAt: number;
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
  /** When the engine last became free (performance.now()). */
  private freedAt = 0;
  /** Synchronous engine time per candidate, ms (an average over recent batches; 0 until one ran). */
  private msPerCandidate = 0;

  /** `demand`: the ranking requests the service holds now (admitted and not yet answered), when known. */
  constructor(private readonly engine: RalmEngine, private readonly o: BatcherOptions, private readonly observe: BatchObserver, private readonly demand?: () => number) {}

  /** The batch size the dispatch rule waits for (at most maxWaitMs): half of the demand, at least 1, at most maxBatch. */
  get target(): number {
    if (!this.demand) return this.o.maxBatch;
    return Math.min(this.o.maxBatch, Math.max(1, Math.ceil(this.demand() / 2)));
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Prepares and queues a request; `deadline` is a performance.now() time. A request the engine
   * refuses (bad user, unknown candidates) is rejected at once with the engine's coded error.
   */
  submit(req: RankRequest, deadline: number): Promise<RankResult> {
    const now = performance.now();
    if (deadline <= now) {
      return Promise.reject(new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', "the request's deadline passed before it could be queued"));
    }
    if (this.queue.length >= this.o.maxQueue) {
      return Promise.reject(new ServiceError('RALM_ERR_OVERLOADED', `the request queue is full (${this.o.maxQueue} waiting); retry shortly`, { reason: 'queue', retryAfterSeconds: 1 }));
    }
    let ticket: PreparedRank;
    try {
      ticket = this.engine.prepareRank(req);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<RankResult>((resolve, reject) => {
      const p: Pending = {
        ticket, deadline, enqueuedAt: now, resolve, reject,
        timer: setTimeout(() => this.expire(p), deadline - now),
      };
      this.queue.push(p);
      this.schedule(false);
    });
  }

  /** Answers a request whose deadline passed while it was queued (it is never computed). */
  private expire(p: Pending): void {
    const i = this.queue.indexOf(p);
    if (i < 0) return;
    this.queue.splice(i, 1);
    p.ticket.release();
    p.reject(new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', `the request's deadline passed after ${(performance.now() - p.enqueuedAt).toFixed(0)} ms in the queue`));
  }

  /**
   * The dispatch rule, applied whenever a request is queued and whenever the engine becomes free
   * (`engineFreed`, which then dispatches at once rather than on the next turn of the event loop,
   * a turn that would read requests while the scoring threads idle): while a batch runs, nothing
   * leaves; otherwise the queue leaves as a batch once it holds `target` requests, or once
   * `maxWaitMs` has passed since the later of its oldest request's arrival and the engine's last
   * batch, else a timer waits for that.
   */
  private schedule(engineFreed: boolean): void {
    if (this.running || this.queue.length === 0) return;
    const now = performance.now();
    const waited = now - Math.max(this.queue[0].enqueuedAt, this.freedAt);
    if (this.queue.length >= this.target || waited >= this.o.maxWaitMs) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      if (engineFreed) void this.flush();
      else setImmediate(() => void this.flush());
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.maxWaitMs - waited);
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
      if (batch.length > 0 && candidates + this.queue[0].ticket.candidates > holdCandidates) break;
      const p = this.queue.shift() as Pending;
      clearTimeout(p.timer);
      this.observe.queueWait((now - p.enqueuedAt) / 1000);
      candidates += p.ticket.candidates;
      batch.push(p);
    }
    try {
      if (batch.length > 0) await this.run(batch);
    } finally {
      for (const p of batch) p.ticket.release();
      this.running = false;
      this.freedAt = performance.now();
      this.schedule(true);
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    const t0 = performance.now();
    try {
      const pending = this.engine.rankPrepared(batch.map((p) => p.ticket));
      // What the call computed before returning its promise held the event loop.
      const held = performance.now() - t0;
      const candidates = batch.reduce((a, p) => a + p.ticket.candidates, 0);
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
          const [r] = await this.engine.rankPrepared([p.ticket]);
          this.observe.batch(1, 0);
          p.resolve(r);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
