/**
 * The shared store: Valkey/Redis (one node or a Cluster) behind the same RalmStore contract as the
 * embedded LMDB store, so several `ralm serve` replicas can share users, items, seeds, clusters,
 * the re-cluster queue and audience jobs. Keys and scripts: redis-scripts.ts; connection and
 * durability: redis-connection.ts.
 *
 * Writes are issued together (auto-pipelined per node) and each call resolves only once its writes
 * meet the durability rule in force. Per item, an ingest is one atomic script (seeds, counts,
 * event-id de-duplication); the indexes and counters that live on other nodes follow, idempotently
 * (an item re-marked dirty is re-clustered, never lost). Event ids de-duplicate per item: a re-send
 * names the same item, so a retry is recognised on the node that holds that item.
 */
import { RalmError } from '../util/errors.js';
import { validateEvents } from './lmdb-store.js';
import { CLEAN_LUA, JOB_BEAT_LUA, JOB_DONE_LUA, JOB_FORGET_LUA, JOB_MARK_LUA, JOB_PUSH_LUA, LEASE_LUA, PUBLISH_LUA, RELEASE_LUA, RedisKeys } from './redis-scripts.js';
import { connectRedis, parseRedisUrl, primaries, redisError, resolveDurability, waitAof, type RedisClient } from './redis-connection.js';
import { REDIS_DEFAULTS, type Durability } from './defaults.js';
import { PROGRESS_LUA, RedisAudiences } from './redis-audiences.js';
import { INGEST_LUA, ingestEvents } from './redis-ingest.js';
import { RedisCoordination } from './redis-coordination.js';
import { RedisJobQueue } from './redis-job-queue.js';
import { bytes, clustersFromHash, decodeSeed, fromUserHash, itemFromHash, migrateSetIndexes, readItemHash, samplePositions, seedState, userFields, walkIndex } from './redis-codec.js';
import type { AudienceRecord, AudienceUsers, ClickEvent, JobQueue, IngestResult, ItemClusters, ItemInfo, RalmStore, SeedRecord, StoreStats, UserInput, UserRecord } from './store.js';

export interface RedisStoreOptions {
  /** Key prefix, so several deployments can share one server. Default `ralm`. */
  prefix?: string;
  durability?: Durability;
  /** Replicas that must also fsync each write under `waitaof`. Default 0. */
  replicas?: number;
  maxSeedsPerItem?: number;
  eventIdRetentionMs?: number;
  connectTimeoutMs?: number;
}

interface Scripts {
  ralmPublish(...args: Array<string | number | Buffer>): Promise<number>;
  ralmClean(...args: Array<string | number>): Promise<number>;
}

/** Items (or users) fetched per round trip when walking an index. */
const PAGE = 500;

export class RedisStore implements RalmStore {
  readonly keys: RedisKeys;
  readonly maxSeedsPerItem: number;
  readonly eventIdRetentionMs: number;
  /** The re-clustering lease; clusters are published under its fencing token. */
  readonly coordination: RedisCoordination;
  private closed = false;
  private readonly audiences: RedisAudiences;

  private constructor(readonly client: RedisClient, readonly display: string, readonly durability: 'fsync' | 'waitaof' | 'none', private readonly replicas: number, options: RedisStoreOptions) {
    this.keys = new RedisKeys(options.prefix ?? REDIS_DEFAULTS.prefix);
    this.maxSeedsPerItem = options.maxSeedsPerItem ?? REDIS_DEFAULTS.maxSeedsPerItem;
    this.eventIdRetentionMs = options.eventIdRetentionMs ?? REDIS_DEFAULTS.eventIdRetentionMs;
    if (!Number.isSafeInteger(this.maxSeedsPerItem) || this.maxSeedsPerItem < 1) throw new RalmError('RALM_ERR_VALIDATION', `maxSeedsPerItem: expected a positive integer, got ${this.maxSeedsPerItem}`);
    if (!Number.isFinite(this.eventIdRetentionMs) || this.eventIdRetentionMs < 0) throw new RalmError('RALM_ERR_VALIDATION', `eventIdRetentionMs: expected a non-negative number, got ${this.eventIdRetentionMs}`);
    for (const [name, numberOfKeys, lua] of [['ralmIngest', 1, INGEST_LUA], ['ralmIngestItem', 1, INGEST_LUA], ['ralmPublish', 1, PUBLISH_LUA], ['ralmClean', 2, CLEAN_LUA], ['ralmLease', 2, LEASE_LUA], ['ralmRelease', 1, RELEASE_LUA], ['ralmJobBeat', 1, JOB_BEAT_LUA], ['ralmProgress', 2, PROGRESS_LUA], ['ralmJobForget', 1, JOB_FORGET_LUA], ['ralmJobPush', 2, JOB_PUSH_LUA], ['ralmJobDone', 2, JOB_DONE_LUA], ['ralmJobMark', 2, JOB_MARK_LUA]] as const) {
      client.defineCommand(name, { numberOfKeys, lua });
    }
    this.audiences = new RedisAudiences(client, this.keys, () => this.durable());
    this.coordination = new RedisCoordination(client, this.keys, () => this.durable());
  }

  /**
   * Connects to `url` (redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT,…), decides the
   * durability rule (refusing a server that cannot give the one asked for), and returns the store
   * with any warning to log.
   */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<{ store: RedisStore; warning?: string }> {
    const target = parseRedisUrl(url);
    const client = await connectRedis(target, options.connectTimeoutMs);
    try {
      const { mode, warning } = await resolveDurability(client, options.durability ?? REDIS_DEFAULTS.durability, target.display);
      const store = new RedisStore(client, target.display, mode, options.replicas ?? REDIS_DEFAULTS.replicas, options);
      await migrateSetIndexes(client, store.keys.setIndexes);
      // The ingest script known to every primary: a call that follows an ASK during a reshard is
      // sent with ASKING, but ioredis's EVAL fallback for an unknown script is not (it would bounce).
      await Promise.all(primaries(client).map((node) => node.script('LOAD', INGEST_LUA)));
      await store.durable();
      return { store, warning };
    } catch (err) {
      client.disconnect();
      throw err;
    }
  }

  private get s(): Scripts { return this.client as unknown as Scripts; }

  private check(): void {
    if (this.closed) throw new RalmError('RALM_ERR_CLOSED', 'the store is closed');
  }

  /** Runs `fn`, then waits until its writes are durable; failures become coded errors. */
  private async write<T>(fn: () => Promise<T>): Promise<T> {
    this.check();
    try {
      const out = await fn();
      await this.durable();
      return out;
    } catch (err) {
      throw redisError(err);
    }
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    this.check();
    try {
      return await fn();
    } catch (err) {
      throw redisError(err);
    }
  }

  /** Under `waitaof`: every primary has fsynced (and `replicas` replicas hold) what this client wrote. */
  private durable(): Promise<void> {
    return this.durability === 'waitaof' ? waitAof(this.client, this.replicas) : Promise.resolve();
  }

  async ingest(events: readonly ClickEvent[]): Promise<IngestResult> {
    this.check();
    validateEvents(events);
    if (events.length === 0) return { accepted: 0, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] };
    return this.write(() => ingestEvents(this.client, this.keys, this.maxSeedsPerItem, this.eventIdRetentionMs, events));
  }

  async putUsers(users: readonly UserInput[]): Promise<void> {
    if (users.length === 0) return;
    const now = Date.now();
    await this.write(async () => {
      // The index first: a user listed but not yet written is skipped by readers; never the reverse.
      await this.client.zadd(this.keys.users, ...users.flatMap((u) => [0, u.id]));
      await Promise.all(users.map((u) => this.client.hset(this.keys.user(u.id), userFields(u, now))));
      await this.durable();
      await this.coordination.announce('users', users.map((u) => u.id));
    });
  }

  async getUsers(ids: readonly string[]): Promise<Array<UserRecord | undefined>> {
    return this.read(() => Promise.all(ids.map(async (id) => fromUserHash(id, await this.client.hgetallBuffer(this.keys.user(id))))));
  }

  async readLookalikes(ids: readonly string[], modelVersion: string, h: number, out: Float32Array): Promise<Uint8Array> {
    const found = new Uint8Array(ids.length);
    const rows = await this.read(() => Promise.all(ids.map((id) => this.client.hgetBuffer(this.keys.user(id), `la:${modelVersion}`))));
    const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    rows.forEach((b, i) => {
      if (!b || b.length !== h * 4) return;
      dst.set(b, i * h * 4);
      found[i] = 1;
    });
    return found;
  }

  async putItemInfo(id: string, info: { metadata?: Record<string, unknown> | null; content?: Float32Array | null }): Promise<ItemInfo> {
    const now = Date.now();
    return this.write(async () => {
      const key = this.keys.item(id);
      const fields: Record<string, string | Buffer> = {};
      if (info.metadata !== undefined) fields.metadata = JSON.stringify(info.metadata);
      if (info.content !== undefined) fields.content = info.content ? bytes(info.content) : Buffer.alloc(0);
      await Promise.all([
        this.client.hsetnx(key, 'createdAt', now),
        Object.keys(fields).length > 0 ? this.client.hset(key, fields) : Promise.resolve(0),
        this.client.zadd(this.keys.items, 0, id),
      ]);
      return itemFromHash(id, await readItemHash(this.client, key, this.keys.seeds(id)));
    });
  }

  async getItem(id: string): Promise<{ info: ItemInfo; clusters: ItemClusters | undefined } | undefined> {
    return this.read(async () => {
      const [h, c] = await Promise.all([readItemHash(this.client, this.keys.item(id), this.keys.seeds(id)), this.client.hgetallBuffer(this.keys.clusters(id))]);
      if (Object.keys(h).length === 0) return undefined;
      return { info: itemFromHash(id, h), clusters: clustersFromHash(id, c) };
    });
  }

  async seedsOf(itemId: string, since?: number, sample?: { count: number; seed: number }): Promise<SeedRecord[]> {
    return this.read(async () => {
      const h = await this.client.hmget(this.keys.item(itemId), 'clicks', 'seedCount', 'seedsHere', 'firstSeedAt');
      const base = Number(h[3] ?? 0);
      // The item's own hash, or (an item not clicked since the earlier layout) its seeds hash.
      const from = h[2] !== null ? this.keys.item(itemId) : this.keys.seeds(itemId);
      const { clicks, seedCount: kept } = seedState(h[0], h[1], undefined);
      const first = clicks - kept;
      let positions: number[];
      if (sample && kept > sample.count) {
        positions = samplePositions(kept, sample.count, sample.seed).map((p) => first + p);
      } else {
        positions = Array.from({ length: kept }, (_, i) => first + i);
      }
      const out: SeedRecord[] = [];
      for (let i = 0; i < positions.length; i += 10_000) {
        const values = await this.client.hmget(from, ...positions.slice(i, i + 10_000).map(String));
        for (const v of values) {
          if (v === null) continue;
          const seed = decodeSeed(v, base);
          if (since === undefined || seed.arrivedAt >= since) out.push(seed);
        }
      }
      return out;
    });
  }

  async dirtyItems(limit = Infinity): Promise<Array<{ id: string; seedVersion: number }>> {
    return this.read(async () => {
      const flat = await this.client.zrange(this.keys.dirty, 0, Number.isFinite(limit) ? Math.max(0, limit - 1) : -1, 'WITHSCORES');
      if (limit <= 0) return [];
      const out: Array<{ id: string; seedVersion: number }> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i], seedVersion: Number(flat[i + 1]) });
      return out;
    });
  }

  /**
   * Publishes clusters under this store's fencing token: an item last published under a newer
   * token is refused with RALM_ERR_STALE_LEASE (nothing of the refused items is written).
   */
  async saveClusters(clusters: readonly ItemClusters[]): Promise<void> {
    const fence = this.coordination.token;
    const refused: string[] = [];
    await this.write(async () => {
      const results = await Promise.all(clusters.map((c) => this.s.ralmPublish(this.keys.clusters(c.id), fence,
        'seedVersion', c.seedVersion, 'modelVersion', c.modelVersion, 'clusteredAt', c.clusteredAt, 'count', c.count,
        'centroids', bytes(c.centroids), 'global', bytes(c.global), 'seeds', c.seeds, 'cold', c.cold ? 1 : 0, 'firstServableAt', c.firstServableAt,
        // Always written ('' when unknown), so a republication never keeps an older set's values.
        'level', c.level ?? '', 'offset', c.offset ?? '')));
      const published = clusters.filter((c, i) => (results[i] === 1 ? true : (refused.push(c.id), false)));
      if (published.length === 0) return;
      await Promise.all([
        this.client.zadd(this.keys.clustered, ...published.flatMap((c) => [0, c.id])),
        ...published.map((c) => this.s.ralmClean(this.keys.dirty, this.keys.failures, c.id, c.seedVersion)),
      ]);
      // Announced once durable, so a replica that reads the announcement finds the clusters.
      await this.durable();
      await this.coordination.announce('clusters', published.map((c) => c.id));
    });
    if (refused.length > 0) {
      throw new RalmError('RALM_ERR_STALE_LEASE', `clusters of ${refused.length} item(s) (${refused.slice(0, 5).join(', ')}) were published meanwhile under a newer re-clustering lease than this one's (token ${fence}); this stale publication was refused`, { refused, fence });
    }
  }

  async recordFailure(id: string, error: string): Promise<void> {
    await this.write(() => this.client.hset(this.keys.failures, id, JSON.stringify({ error, at: Date.now() })));
  }

  /** Failure recorded for an item, if its last clustering failed. */
  async failureOf(id: string): Promise<{ error: string; at: number } | undefined> {
    const v = await this.read(() => this.client.hget(this.keys.failures, id));
    return v ? JSON.parse(v) as { error: string; at: number } : undefined;
  }

  private async markItems(ids: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += PAGE) {
      const page = ids.slice(i, i + PAGE);
      const rows = await Promise.all(page.map((id) => this.client.hmget(this.keys.item(id), 'clicks', 'seedCount', 'seedVersion')));
      const marks: Array<string | number> = [];
      rows.forEach(([clicks, count, version], j) => {
        const st = seedState(clicks, count, version);
        if (st.seedCount > 0) marks.push(st.seedVersion, page[j]);
      });
      if (marks.length > 0) await this.client.zadd(this.keys.dirty, ...marks);
      n += marks.length / 2;
    }
    return n;
  }

  async markAllDirty(): Promise<number> {
    return this.write(async () => {
      let n = 0;
      for await (const page of walkIndex(this.client, this.keys.items)) n += await this.markItems(page);
      return n;
    });
  }

  async markDirty(ids: readonly string[]): Promise<number> {
    return this.write(() => this.markItems(ids));
  }

  async *allClusters(): AsyncIterable<ItemClusters> {
    this.check();
    for await (const page of walkIndex(this.client, this.keys.clustered)) {
      const rows = await this.read(() => Promise.all(page.map((id) => this.client.hgetallBuffer(this.keys.clusters(id)))));
      for (let i = 0; i < page.length; i++) {
        const c = clustersFromHash(page[i], rows[i]);
        if (c) yield c;
      }
    }
  }

  async *seedCounts(): AsyncIterable<number> {
    this.check();
    for await (const page of walkIndex(this.client, this.keys.items)) {
      const rows = await this.read(() => Promise.all(page.map((id) => this.client.hmget(this.keys.item(id), 'clicks', 'seedCount'))));
      for (const [clicks, count] of rows) yield seedState(clicks, count, undefined).seedCount;
    }
  }

  async *allUsers(): AsyncIterable<UserRecord> {
    this.check();
    for await (const page of walkIndex(this.client, this.keys.users)) {
      const rows = await this.read(() => Promise.all(page.map((id) => this.client.hgetallBuffer(this.keys.user(id)))));
      for (let i = 0; i < page.length; i++) {
        const u = fromUserHash(page[i], rows[i]);
        if (u) yield u;
      }
    }
  }

  async putAudience(record: AudienceRecord, users?: AudienceUsers): Promise<void> {
    this.check();
    await this.audiences.put(record, users).catch((err: unknown) => { throw redisError(err); });
  }

  async getAudience(id: string): Promise<AudienceRecord | undefined> {
    return this.read(() => this.audiences.get(id));
  }

  /** Progress is not an acknowledged write: no WAITAOF for it. */
  async putAudienceProgress(id: string, runner: string, progress: { scored: number; total: number }): Promise<boolean> {
    return this.read(() => this.audiences.progress(id, runner, progress));
  }

  async getAudienceUsers(id: string, range?: { offset?: number; limit?: number }): Promise<(AudienceUsers & { total: number }) | undefined> {
    return this.read(() => this.audiences.users(id, range));
  }

  async deleteAudience(id: string): Promise<boolean> {
    return this.write(() => this.audiences.delete(id));
  }

  async *allAudiences(): AsyncIterable<AudienceRecord> {
    this.check();
    yield* this.audiences.all();
  }

  /** The replicas' shared audience-job queue (redis-job-queue.ts), with this process as a runner. */
  openJobQueue(): JobQueue {
    this.check();
    return new RedisJobQueue(this.client, this.keys, () => this.durable());
  }

  async stats(): Promise<StoreStats> {
    return this.read(async () => {
      const [users, items, clusteredItems, dirtyItems, counters, memory] = await Promise.all([
        this.client.zcard(this.keys.users), this.client.zcard(this.keys.items), this.client.zcard(this.keys.clustered), this.client.zcard(this.keys.dirty),
        this.client.hgetall(this.keys.counters), Promise.all(primaries(this.client).map((n) => n.info('memory'))),
      ]);
      const used = memory.reduce((sum, text) => sum + Number(/used_memory:(\d+)/.exec(text)?.[1] ?? 0), 0);
      return {
        users, items, clusteredItems, dirtyItems,
        eventsAccepted: Number(counters.eventsAccepted ?? 0), eventsDuplicate: Number(counters.eventsDuplicate ?? 0), eventsUnknownUser: Number(counters.eventsUnknownUser ?? 0),
        bytesOnDisk: used,
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
