/**
 * Long loops on the event-loop thread hand the loop back now and then, so that a request arriving
 * meanwhile (a health probe, a small recommend) waits for one slice, not for the whole loop. A
 * slice is measured in time, not in iterations, so the same code keeps the loop responsive on a
 * slow machine and does not yield needlessly on a fast one.
 */
import { performance } from 'node:perf_hooks';

/**
 * Default slice, ms: well under the ~50 ms the service allows any one piece of work to hold the
 * loop, so that two slices back to back from different jobs still fit.
 */
export const SLICE_MS = 10;

/** Resolves after pending I/O callbacks have run (setImmediate runs after the poll phase). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Time slices for one long loop: call `tick()` every few thousand iterations (reading the clock
 * costs ~50 ns); it yields once the current slice is used up.
 */
export class TimeSlicer {
  private since = performance.now();

  constructor(private readonly budgetMs = SLICE_MS) {}

  /** Yields to the event loop when this slice has run for `budgetMs` or more. */
  async tick(): Promise<void> {
    if (performance.now() - this.since < this.budgetMs) return;
    await yieldToEventLoop();
    this.since = performance.now();
  }
}

/**
 * Jobs that each run in a turn of the event loop of their own, in order, after the I/O that was
 * ready before it: the parsing, checking and preparing of one request body at a time. A burst of
 * large requests then cannot hold back what arrives behind it — a refusal, a health probe, a
 * small request — for more than one job: between two jobs the loop reads every socket that is
 * ready. A job's promise continuations run before the next job starts (Node drains microtasks
 * after each setImmediate callback), so a job is everything its callback sets going.
 */
export class TurnQueue {
  private readonly jobs: Array<() => void> = [];
  private scheduled = false;

  /** Jobs waiting for their turn. */
  get waiting(): number {
    return this.jobs.length;
  }

  /** Queues `job` (which must not throw: it reports its own errors). */
  run(job: () => void): void {
    this.jobs.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.jobs.length === 0) return;
    this.scheduled = true;
    // Queued from inside a turn, the next setImmediate runs in the loop's next check phase, after its poll.
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    const job = this.jobs.shift();
    this.schedule();
    job?.();
  };
}
