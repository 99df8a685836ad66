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
