/**
 * Audience jobs on a shared queue: a Redis Stream read through one consumer group, so each job is
 * delivered to one runner (XREADGROUP), stays pending under that runner until it is finished
 * (XACK, then XDEL), and is taken over by another runner (XAUTOCLAIM) only once it has sat idle
 * for the stale time — the runner's heart-beat (JOB_BEAT_LUA) restarts that idle time every third
 * of it, so a long job is not stolen from a live runner, and a runner that finds its job taken
 * over stops it. (https://valkey.io/topics/streams-intro/ — "Consumer groups", "Recovering from
 * permanent failures"; https://valkey.io/commands/xautoclaim/.)
 *
 * So a job runs once while its runner lives, and a dead runner's job runs again elsewhere. The
 * stream and its group share one hash tag, so a Cluster keeps them on one node.
 */
import type { RedisKeys } from './redis-scripts.js';
import type { RedisClient } from './redis-connection.js';
import { PROCESS_NAME } from '../util/process-name.js';
import type { ClaimedJob, JobQueue } from './store.js';

/** The consumer group every replica's runner reads through. */
const GROUP = 'runners';

interface BeatScript {
  ralmJobBeat(key: string, group: string, consumer: string, entry: string): Promise<number>;
  ralmJobForget(key: string, group: string, consumer: string, idleMs: number): Promise<number>;
  ralmJobPush(key: string, queued: string, job: string): Promise<number>;
  ralmJobDone(key: string, queued: string, group: string, entry: string, job: string): Promise<number>;
  ralmJobMark(key: string, queued: string): Promise<number>;
}

type Entry = [id: string, fields: string[]];

/** Queues opened in this process so far: each is a runner of its own. */
let opened = 0;

export class RedisJobQueue implements JobQueue {
  readonly shared = true;
  readonly runner = `${PROCESS_NAME}/${++opened}`;
  private reader: RedisClient | undefined;
  private group: Promise<void> | undefined;
  private closed = false;
  private forgotAt = 0;

  /** `client` has the store's scripts defined (ralmJobBeat among them). */
  constructor(private readonly client: RedisClient, private readonly keys: RedisKeys, private readonly durable: () => Promise<void>) {}

  private get scripts(): BeatScript { return this.client as unknown as BeatScript; }

  /**
   * The group, created once (from the stream's start: jobs added before it are delivered too),
   * and the jobs in a stream written before the queued-jobs hash counted as queued.
   */
  private ensureGroup(): Promise<void> {
    this.group ??= this.client.xgroup('CREATE', this.keys.jobs, GROUP, '0', 'MKSTREAM').then(() => undefined, (err: Error) => {
      if (/BUSYGROUP/.test(err.message)) return;
      throw err;
    }).then(() => this.scripts.ralmJobMark(this.keys.jobs, this.keys.jobsQueued)).then(() => undefined, (err: Error) => {
      this.group = undefined;
      throw err;
    });
    return this.group;
  }

  /** Queues a job unless it is in the queue already (JOB_PUSH_LUA); true when it was added. */
  async push(id: string): Promise<boolean> {
    await this.ensureGroup();
    const added = await this.scripts.ralmJobPush(this.keys.jobs, this.keys.jobsQueued, id);
    await this.durable();
    return added === 1;
  }

  async claim(waitMs: number, staleMs: number): Promise<ClaimedJob | null> {
    if (this.closed) return null;
    await this.ensureGroup();
    // A job whose runner stopped heart-beating first.
    const [, stale] = (await this.client.xautoclaim(this.keys.jobs, GROUP, this.runner, staleMs, '0-0', 'COUNT', 1)) as [string, Entry[], string[]];
    // Then the runners left with nothing pending and silent as long: gone (at most once per stale time).
    if (Date.now() - this.forgotAt >= staleMs) {
      this.forgotAt = Date.now();
      await this.forgetGoneRunners(staleMs);
    }
    if (stale.length > 0 && stale[0]) return this.claimed(stale[0], true);
    // Blocking reads on a connection of their own: the shared one keeps serving requests.
    if (!this.reader) {
      this.reader = this.client.duplicate();
      this.reader.on('error', () => undefined);
    }
    let res: Array<[string, Entry[]]> | null;
    try {
      if (this.reader.status === 'wait') await this.reader.connect();
      res = (await this.reader.xreadgroup('GROUP', GROUP, this.runner, 'COUNT', 1, 'BLOCK', Math.max(1, waitMs), 'STREAMS', this.keys.jobs, '>')) as Array<[string, Entry[]]> | null;
    } catch (err) {
      if (this.closed) return null;
      throw err;
    }
    const entry = res?.[0]?.[1]?.[0];
    if (!entry) return null;
    await this.durable();
    return this.claimed(entry, false);
  }

  private claimed([entry, fields]: Entry, reclaimed: boolean): ClaimedJob {
    const id = fields[fields.indexOf('job') + 1] ?? '';
    const ack = async (): Promise<void> => {
      await Promise.all([this.client.xack(this.keys.jobs, GROUP, entry), this.client.xdel(this.keys.jobs, entry)]);
      await this.durable();
    };
    return {
      id,
      reclaimed,
      heartbeat: async () => (await this.scripts.ralmJobBeat(this.keys.jobs, GROUP, this.runner, entry)) === 1,
      done: async () => {
        await this.scripts.ralmJobDone(this.keys.jobs, this.keys.jobsQueued, GROUP, entry, id);
        await this.durable();
      },
      // Queued again before this claim is given up: the job is never out of the queue (and stays counted as queued).
      release: async () => {
        await this.client.xadd(this.keys.jobs, '*', 'job', id);
        await ack();
      },
    };
  }

  /** Removes from the group the runners with nothing pending that have not read for `idleMs` (see JOB_FORGET_LUA); returns how many. */
  async forgetGoneRunners(idleMs: number): Promise<number> {
    return this.scripts.ralmJobForget(this.keys.jobs, GROUP, this.runner, idleMs);
  }

  /** The runners the group knows, with the jobs pending under each. */
  async runners(): Promise<Array<{ name: string; pending: number }>> {
    const rows = (await this.client.xinfo('CONSUMERS', this.keys.jobs, GROUP)) as Array<Array<string | number>>;
    return rows.map((r) => ({ name: String(r[r.indexOf('name') + 1]), pending: Number(r[r.indexOf('pending') + 1]) }));
  }

  async queuedIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    // Finished jobs leave the stream (XDEL): it holds the waiting and the claimed ones only.
    for (let from = '-'; ;) {
      const entries = (await this.client.xrange(this.keys.jobs, from, '+', 'COUNT', 1000)) as Entry[];
      for (const [, fields] of entries) ids.add(fields[fields.indexOf('job') + 1] ?? '');
      if (entries.length < 1000) return ids;
      from = `(${entries[entries.length - 1][0]}`;
    }
  }

  async withdraw(): Promise<boolean> {
    return false;
  }

  async waiting(): Promise<number> {
    await this.ensureGroup();
    const [length, pending] = await Promise.all([this.client.xlen(this.keys.jobs), this.client.xpending(this.keys.jobs, GROUP) as Promise<[number, ...unknown[]]>]);
    return Math.max(0, length - Number(pending[0] ?? 0));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader?.disconnect();
  }
}
