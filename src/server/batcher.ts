/**
 * Coalesces concurrent recommend requests into one engine call (one GPU submission). A request
 * waits at most `maxWaitMs` for company, a batch holds at most `maxBatch` requests, and while one
 * batch is in the engine the next one fills up — so batches grow with load by themselves. The
 * queue is bounded (beyond it: 429 with Retry-After) and a request whose deadline passes while
 * queued is answered 504 without being computed.
 */
import { performance } from 'node:perf_hooks';
import type { RalmEngine, RankRequest, RankResult } from '../engine/engine.js';
import { ServiceError } from './errors.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
}

export interface BatchObserver {
  batch(size: number, engineSeconds: number): void;
  queueWait(seconds: number): void;
}

interface Pending {
  req: RankRequest;
  deadline: number;
  enqueuedAt: number;
  resolve: (r: RankResult) => void;
  reject: (e: unknown) => void;
}

export class RankBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly engine: RalmEngine, private readonly o: BatcherOptions, private readonly observe: BatchObserver) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a request; `deadline` is a performance.now() time. */
  submit(req: RankRequest, deadline: number): Promise<RankResult> {
    if (this.queue.length >= this.o.maxQueue) {
      return Promise.reject(new ServiceError('RALM_ERR_OVERLOADED', `the request queue is full (${this.o.maxQueue} waiting); retry shortly`, { retryAfterSeconds: 1 }));
    }
    return new Promise<RankResult>((resolve, reject) => {
      this.queue.push({ req, deadline, enqueuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
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
    while (batch.length < this.o.maxBatch && this.queue.length > 0) {
      const p = this.queue.shift() as Pending;
      if (p.deadline <= now) {
        p.reject(new ServiceError('RALM_ERR_DEADLINE_EXCEEDED', `the request's deadline passed after ${(now - p.enqueuedAt).toFixed(0)} ms in the queue`));
        continue;
      }
      this.observe.queueWait((now - p.enqueuedAt) / 1000);
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
      const results = await this.engine.rank(batch.map((p) => p.req));
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
