/**
 * Lowers the CPU priority of the calling thread alone. On Linux a thread is a task with an id of
 * its own, and setpriority(PRIO_PROCESS, tid) changes that task's nice value only (setpriority(2),
 * "BUGS": the call acts on a thread, not on the whole process, contrary to POSIX); the calling
 * thread's id is the last part of the /proc/thread-self link (proc(5)). Elsewhere the same call
 * would renice the whole process, so it is not made.
 *
 * Why: a server's CPU worker threads score batches while its event loop reads and answers
 * requests. On a machine with as many cores as scoring threads, the loop otherwise waits for a
 * core behind them, and every refusal and health probe with it (docs/benchmarks.md, "Overload:
 * the event loop waits for a core").
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The largest nice value (the lowest priority) Linux accepts. */
export const MAX_NICE = 19;

/**
 * Raises the calling thread's nice value by `by` (0 to MAX_NICE; capped at MAX_NICE), leaving the
 * other threads of the process as they are. Returns the thread's nice value after the call, or
 * null where a thread cannot be reniced alone (not Linux, or /proc not mounted) or the call failed.
 * An unprivileged thread can raise its nice value but never lower it again.
 */
export function lowerThreadPriority(by: number): number | null {
  if (process.platform !== 'linux' || by <= 0) return null;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    setPriority(tid, Math.min(MAX_NICE, getPriority(tid) + by));
    return getPriority(tid);
  } catch {
    return null;
  }
}

/** The calling thread's nice value (Linux), or null elsewhere. */
export function threadNice(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    return getPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()));
  } catch {
    return null;
  }
}
