/**
 * What replicas sharing one Valkey/Redis store agree on: who re-clusters (a lease with a fencing
 * token), and how a replica asks the one re-clustering for a run (a list of requests the holder
 * takes before it gives the lease up, each answered under a key of its own). The lease is `SET … PX` taken when free and renewed by its holder in one script; each
 * taking draws a new, higher token from a counter, and every cluster publication carries the
 * publisher's token, checked atomically per item (PUBLISH_LUA): a leader paused past its lease
 * that wakes and publishes is refused wherever a newer leader has written
 * (https://martin.kleppmann.com/2016/02/08/how-to-do-distributed-locking.html, "fencing").
 *
 * Changes (clusters published, users stored) are announced on a Redis Stream that every replica
 * reads from its own offset with a blocking XREAD on a connection of its own
 * (https://valkey.io/topics/streams-intro/), so each replica's engine is a cache of the shared
 * state, at most one round trip behind. The stream is capped (XADD MAXLEN ~): a replica more
 * than CHANGES_KEPT changes behind restarts from a snapshot.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-scripts.js';
import type { StoreChange, StoreCoordination } from './store.js';

/** Changes kept in the stream (approximately). */
export const CHANGES_KEPT = 100_000;
/** Ids per announcement entry (a large publication is announced in several). */
const IDS_PER_ENTRY = 1000;

interface LeaseScripts {
  ralmLease(...args: Array<string | number>): Promise<number>;
  ralmRelease(...args: Array<string | number>): Promise<number>;
}

export class RedisCoordination implements StoreCoordination {
  /** The fencing token this process publishes under: the last one its lease was taken with (0: none yet). */
  token = 0;

  constructor(private readonly client: RedisClient, private readonly keys: RedisKeys, private readonly durable: () => Promise<void>) {}

  async acquireLease(holder: string, ttlMs: number): Promise<number | null> {
    const token = await (this.client as unknown as LeaseScripts).ralmLease(this.keys.lease, this.keys.fence, holder, ttlMs, 0);
    await this.durable();
    if (token === 0) return null;
    this.token = token;
    return token;
  }

  async renewLease(holder: string, token: number, ttlMs: number): Promise<boolean> {
    return (await (this.client as unknown as LeaseScripts).ralmLease(this.keys.lease, this.keys.fence, holder, ttlMs, token)) === token;
  }

  async releaseLease(holder: string): Promise<void> {
    await (this.client as unknown as LeaseScripts).ralmRelease(this.keys.lease, holder);
  }

  async requestRun(): Promise<string> {
    const id = randomUUID();
    await this.client.rpush(this.keys.runRequests, id);
    return id;
  }

  async takeAnswer(id: string): Promise<string | null> {
    return this.client.getdel(this.keys.runAnswer(id));
  }

  async withdrawRequest(id: string): Promise<void> {
    await this.client.lrem(this.keys.runRequests, 0, id);
  }

  async takeRequests(): Promise<string[]> {
    const res = await this.client.multi().lrange(this.keys.runRequests, 0, -1).del(this.keys.runRequests).exec();
    const [err, ids] = res?.[0] ?? [null, []];
    if (err) throw err;
    return ids as string[];
  }

  async answer(ids: readonly string[], report: string, ttlMs: number): Promise<void> {
    await Promise.all(ids.map((id) => this.client.set(this.keys.runAnswer(id), report, 'PX', ttlMs)));
  }

  async claimOnce(name: string): Promise<boolean> {
    const ok = await this.client.set(`${this.keys.fence}:once:${name}`, this.origin, 'NX');
    await this.durable();
    return ok === 'OK';
  }

  /** This process's mark on its announcements: it does not read back its own. */
  readonly origin = randomUUID();

  /** Announces that `ids` changed (after they are durable). */
  async announce(kind: StoreChange['kind'], ids: readonly string[], extra: string[] = []): Promise<void> {
    for (let i = 0; i < ids.length; i += IDS_PER_ENTRY) {
      await this.client.xadd(this.keys.changes, 'MAXLEN', '~', CHANGES_KEPT, '*', 'kind', kind, 'origin', this.origin, 'ids', JSON.stringify(ids.slice(i, i + IDS_PER_ENTRY)), ...extra);
    }
  }

  async announceModel(modelId: string, dir: string): Promise<void> {
    await this.client.set(this.keys.model, JSON.stringify({ id: modelId, dir }));
    await this.announce('model', [modelId], ['dir', dir]);
    await this.durable();
  }

  async rolledOutModel(): Promise<{ id: string; dir: string } | null> {
    const v = await this.client.get(this.keys.model);
    if (v === null) return null;
    const m = JSON.parse(v) as { id?: unknown; dir?: unknown };
    return typeof m.id === 'string' && typeof m.dir === 'string' ? { id: m.id, dir: m.dir } : null;
  }

  async changesOffset(): Promise<string> {
    const last = await this.client.xrevrange(this.keys.changes, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  follow(offset: string, onChanges: (changes: StoreChange[]) => Promise<void>): { caughtUp: Promise<void>; stop(): Promise<void> } {
    const reader = this.client.duplicate();
    reader.on('error', () => undefined);
    let stopped = false;
    let markCaughtUp!: () => void;
    const caughtUp = new Promise<void>((r) => { markCaughtUp = r; });
    const batch = 1000;
    const loop = (async () => {
      let from = offset;
      while (!stopped) {
        try {
          if (reader.status === 'wait') await reader.connect();
          const res = await reader.xread('COUNT', batch, 'BLOCK', 1000, 'STREAMS', this.keys.changes, from);
          const entries = res?.[0]?.[1] ?? [];
          const changes: StoreChange[] = [];
          for (const [id, flat] of entries) {
            const f: Record<string, string> = {};
            for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]] = flat[i + 1];
            if (f.origin !== this.origin) changes.push({ offset: id, kind: f.kind as StoreChange['kind'], ids: JSON.parse(f.ids ?? '[]') as string[], at: Number(id.split('-')[0]), ...(f.dir !== undefined ? { dir: f.dir } : {}) });
          }
          if (changes.length > 0) await onChanges(changes);
          if (entries.length > 0) from = entries[entries.length - 1][0];
          if (entries.length < batch) markCaughtUp();
        } catch {
          if (!stopped) await new Promise((r) => setTimeout(r, 200)); // the server is away: retry from the same offset
        }
      }
    })();
    return {
      caughtUp,
      stop: async () => {
        stopped = true;
        reader.disconnect();
        await loop;
      },
    };
  }

  /** The current holder and its token, if the lease is held. */
  async leaseHolder(): Promise<{ holder: string; token: number } | undefined> {
    const v = await this.client.get(this.keys.lease);
    const m = v === null ? null : /^(.*) (\d+)$/.exec(v);
    return m ? { holder: m[1], token: Number(m[2]) } : undefined;
  }
}
