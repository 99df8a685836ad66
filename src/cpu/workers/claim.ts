/**
 * Work claiming for a scoring job shared between threads. The job's positions [0, total) are
 * handed out in chunks through a shared counter: each thread taking part (the requesting thread
 * and a worker inline, or the scoring workers of an offloaded job) claims the next chunk when it
 * has finished its last. A thread that gets no core on a busy machine then simply takes fewer
 * chunks, instead of holding back a fixed half that the others wait for.
 *
 * Each job has its own claim words (a fresh buffer), so a worker that reads a job's message late
 * finds its counter used up and does nothing, whatever job runs by then.
 */
import type { Segment } from './messages.js';

/** Next position to hand out. */
const NEXT = 0;
/** Positions scored (summed as chunks finish). */
const DONE = 1;
/** Set to 1 by a thread whose kernel failed: its claimed chunk will never be done. */
const FAILED = 2;

/** Fresh claim words for one job. */
export function newClaim(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(12));
}

/**
 * Positions per claimed chunk for `users` requests of k rows of `stride` floats: about
 * `work` multiply-adds each, and at least `min` positions (a kernel call's fixed cost — the
 * requests' quantization, the slot copy — stays small beside a chunk).
 */
export function claimChunk(users: number, k: number, stride: number, work: number, min: number): number {
  return Math.max(min, Math.floor(work / Math.max(1, users * k * stride)));
}

/**
 * Claims chunks until none is left, running each chunk's share of every segment (segments are
 * ranges of the job's positions on one page). Each claimed chunk's [from, to) is pushed onto
 * `taken` when given (in increasing order: the counter only grows).
 */
export function runClaimed(claim: Int32Array, chunk: number, total: number, segments: readonly Segment[],
  run: (page: number, from: number, count: number) => void, taken?: number[]): void {
  for (;;) {
    const from = Atomics.add(claim, NEXT, chunk);
    if (from >= total) return;
    const to = Math.min(total, from + chunk);
    for (const s of segments) {
      const a = Math.max(from, s.from);
      const b = Math.min(to, s.from + s.count);
      if (a < b) run(s.page, a, b - a);
    }
    taken?.push(from, to);
    // Only the chunk that completes the job wakes the waiter: a notify costs a runtime call, and
    // for an asynchronous waiter a task on its event loop (a profile showed a notify per chunk
    // as 8% of a scoring worker's time).
    if (Atomics.add(claim, DONE, to - from) + (to - from) >= total) Atomics.notify(claim, DONE);
  }
}

/** Marks the job failed (a kernel threw in a claimed chunk) and wakes whoever waits for it. */
export function failClaim(claim: Int32Array): void {
  Atomics.store(claim, FAILED, 1);
  Atomics.notify(claim, DONE);
}

/** The state of a job: every position done, a thread failed, or still running (the DONE count to wait on). */
export function claimState(claim: Int32Array, total: number): { done: true } | { failed: true } | { waitOn: number } {
  if (Atomics.load(claim, FAILED) !== 0) return { failed: true };
  const v = Atomics.load(claim, DONE);
  return v >= total ? { done: true } : { waitOn: v };
}

/** Index of the DONE word, for Atomics.wait / waitAsync on it. */
export const CLAIM_DONE = DONE;
