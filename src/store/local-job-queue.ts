/**
 * The embedded store's audience-job queue: in this process, first in first out. One process runs
 * its jobs, so a claim never goes stale and needs no heart-beat; after a restart the job runner
 * queues again every job the store holds unfinished (src/audience/jobs.ts).
 */
import { PROCESS_NAME } from '../util/process-name.js';
import type { ClaimedJob, JobQueue } from './store.js';

export class LocalJobQueue implements JobQueue {
  readonly shared = false;
  readonly runner = PROCESS_NAME;
  private readonly ids: string[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  async push(id: string): Promise<boolean> {
    this.ids.push(id);
    this.wake?.();
    return true;
  }

  async claim(waitMs: number): Promise<ClaimedJob | null> {
    if (this.ids.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
    const id = this.ids.shift();
    if (id === undefined || this.closed) {
      if (id !== undefined) this.ids.unshift(id);
      return null;
    }
    return {
      id,
      reclaimed: false,
      heartbeat: async () => true,
      done: async () => undefined,
      release: async () => void this.ids.unshift(id),
    };
  }

  async withdraw(id: string): Promise<boolean> {
    const at = this.ids.indexOf(id);
    if (at < 0) return false;
    this.ids.splice(at, 1);
    return true;
  }

  async waiting(): Promise<number> {
    return this.ids.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }
}
