/**
 * The embedded store: LMDB through `lmdb` (memory-mapped, ACID, no server; prebuilt binaries in
 * the registry). Reads are synchronous under the hood; writes are batched transactions, and a
 * write resolves only after the commit is flushed to disk (`flushed`), so a kill -9 — or a power
 * cut — after success loses nothing.
 *
 * Sub-databases: users, items (seed-list state), clusters (published centroids and global
 * vectors), seeds (key [item, seq], bounded per item), events (ids seen per item, for idempotency), dirty
 * (items to re-cluster → seed version), failures, meta (counters).
 *
 * This file is longer than the project's usual 400 lines on purpose: every write path shares one
 * transaction discipline over all the sub-databases (what is committed together, what is flushed
 * before a promise resolves), and split across files those invariants would be read in pieces.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { yieldToEventLoop } from '../util/time-slice.js';
import { storageError } from './storage-error.js';
import { LocalJobQueue } from './local-job-queue.js';
import type {
  ClickEvent, IngestResult, ItemClusters, ItemInfo, RalmStore, SeedRecord, StoreStats, UserInput, UserRecord, AudienceRecord, AudienceUsers, JobQueue
} from './store.js';
import { LMDB_DEFAULTS } from './defaults.js';

export interface LmdbStoreOptions {
  /** Seeds kept per item: the latest N (the paper keeps 3 million). Default 100,000. */
  maxSeedsPerItem?: number;
  /** Maximum size of the memory map in bytes. Default 64 GiB (address space, not memory). */
  mapSize?: number;
  /**
   * How long an event id is remembered for de-duplication, ms. Default 7 days: a re-send after
   * that is accepted again. Bounds the id index (~60 bytes per event) on a busy stream.
   */
  eventIdRetentionMs?: number;
}

/** Expired event ids removed per ingest call at most (keeps every commit short). */
const PRUNE_PER_CALL = 20_000;

interface StoredUser {
  universal: Uint8Array;
  lookalike: Uint8Array;
  modelVersion: string;
  features: Record<string, unknown> | null;
  updatedAt: number;
}

interface StoredItem {
  metadata: Record<string, unknown> | null;
  content: Uint8Array | null;
  seedCount: number;
  clicks: number;
  seedVersion: number;
  firstSeedAt: number | null;
  lastSeedAt: number | null;
  createdAt: number;
}

interface StoredAudienceUsers {
  ids: string[];
  score: Uint8Array;
  cosGlobal: Uint8Array;
  cosLocal: Uint8Array;
}

/** Audience users per stored chunk: each chunk is encoded and committed on its own (~10 ms). */
const AUDIENCE_CHUNK = 16_384;

interface StoredClusters {
  seedVersion: number;
  modelVersion: string;
  clusteredAt: number;
  count: number;
  centroids: Uint8Array;
  global: Uint8Array;
  seeds: number;
  cold: boolean;
  firstServableAt: number;
  /** Absent in records written before levels were stored. */
  level?: number;
  offset?: number;
}

/** Float32Array → bytes (a copy, so the store never aliases caller memory). */
function bytes(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

/** Bytes → an aligned Float32Array copy (values read from the map must not be kept as views). */
function floats(b: Uint8Array): Float32Array {
  return new Float32Array(Uint8Array.from(b).buffer);
}

function eventError(i: number, field: string, expected: string, got: unknown): RalmError {
  return new RalmError('RALM_ERR_VALIDATION', `events[${i}].${field}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { field: `events[${i}].${field}` });
}

export function validateEvents(events: readonly ClickEvent[]): void {
  if (!Array.isArray(events)) throw new RalmError('RALM_ERR_VALIDATION', 'events: expected an array of click events', { field: 'events' });
  events.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) throw eventError(i, '', 'an object {user, item, ts, id?}', e);
    if (typeof e.user !== 'string' || e.user.length === 0 || e.user.length > 256) throw eventError(i, 'user', 'a user id (1 to 256 characters)', e.user);
    if (typeof e.item !== 'string' || e.item.length === 0 || e.item.length > 256) throw eventError(i, 'item', 'an item id (1 to 256 characters)', e.item);
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) throw eventError(i, 'ts', 'a timestamp in epoch milliseconds', e.ts);
    if (e.id !== undefined && (typeof e.id !== 'string' || e.id.length === 0 || e.id.length > 256)) throw eventError(i, 'id', 'an event id (1 to 256 characters) or nothing', e.id);
  });
}

export class LmdbStore implements RalmStore {
  readonly path: string;
  readonly maxSeedsPerItem: number;
  private readonly env: RootDatabase;
  private readonly users: Database<StoredUser, string>;
  private readonly items: Database<StoredItem, string>;
  private readonly clusters: Database<StoredClusters, string>;
  private readonly seeds: Database<[string, number, number], [string, number]>;
  private readonly events: Database<number, string>;
  /** [arrival ms, event id] → 1: the id index in arrival order, for expiry. */
  private readonly eventsByTime: Database<number, [number, string]>;
  readonly eventIdRetentionMs: number;
  private readonly dirty: Database<number, string>;
  private readonly failures: Database<{ error: string; at: number }, string>;
  private readonly meta: Database<number, string>;
  /** Raw float32 bytes under the key "<modelVersion>\u0000<user>": no decoding on the clustering path. */
  private readonly lookalike: Database<Buffer, string>;
  private readonly audiences: Database<AudienceRecord, string>;
  /** [job id, chunk] → AUDIENCE_CHUNK users; [job id, -1] → their count (a job id alone: one record of all, as stored before chunks). */
  private readonly audienceUsers: Database<StoredAudienceUsers | number, string | [string, number]>;
  private closed = false;

  private constructor(path: string, options: LmdbStoreOptions) {
    this.path = path;
    this.maxSeedsPerItem = options.maxSeedsPerItem ?? LMDB_DEFAULTS.maxSeedsPerItem;
    this.eventIdRetentionMs = options.eventIdRetentionMs ?? LMDB_DEFAULTS.eventIdRetentionMs;
    if (!Number.isFinite(this.eventIdRetentionMs) || this.eventIdRetentionMs < 0) {
      throw new RalmError('RALM_ERR_VALIDATION', `eventIdRetentionMs: expected a non-negative number, got ${this.eventIdRetentionMs}`);
    }
    if (!Number.isSafeInteger(this.maxSeedsPerItem) || this.maxSeedsPerItem < 1) {
      throw new RalmError('RALM_ERR_VALIDATION', `maxSeedsPerItem: expected a positive integer, got ${this.maxSeedsPerItem}`);
    }
    mkdirSync(path, { recursive: true });
    this.env = open({ path: join(path, 'ralm.mdb'), compression: false, eventTurnBatching: false, mapSize: options.mapSize ?? LMDB_DEFAULTS.mapSize });
    this.users = this.env.openDB({ name: 'users' });
    this.items = this.env.openDB({ name: 'items' });
    this.clusters = this.env.openDB({ name: 'clusters' });
    this.seeds = this.env.openDB({ name: 'seeds' });
    this.events = this.env.openDB({ name: 'events' });
    this.eventsByTime = this.env.openDB({ name: 'events-by-time' });
    this.dirty = this.env.openDB({ name: 'dirty' });
    this.failures = this.env.openDB({ name: 'failures' });
    this.meta = this.env.openDB({ name: 'meta' });
    this.lookalike = this.env.openDB({ name: 'lookalike', encoding: 'binary' });
    this.audiences = this.env.openDB({ name: 'audiences' });
    this.audienceUsers = this.env.openDB({ name: 'audience-users' });
  }

  static open(path: string, options: LmdbStoreOptions = {}): LmdbStore {
    return new LmdbStore(path, options);
  }

  private check(): void {
    if (this.closed) throw new RalmError('RALM_ERR_CLOSED', 'the store is closed');
  }

  /**
   * One write transaction. A commit that fails (disk full, an I/O error) rejects with a coded
   * error and nothing of it is applied; the store stays usable, and writes succeed again once
   * space returns. lmdb reports the cause through a second promise (`commitError`), handled here
   * so that it can never surface as an unhandled rejection.
   */
  private async txn<T>(fn: () => T): Promise<T> {
    this.check();
    try {
      return await this.env.transaction(fn);
    } catch (err) {
      throw await storageError(err);
    }
  }

  /** Waits until every committed write is on disk (a write's promise resolves only after this). */
  private async flush(): Promise<void> {
    try {
      await this.env.flushed;
    } catch (err) {
      throw await storageError(err);
    }
  }

  private counter(name: string): number {
    return this.meta.get(name) ?? 0;
  }

  async ingest(events: readonly ClickEvent[]): Promise<IngestResult> {
    this.check();
    validateEvents(events);
    if (events.length === 0) return { accepted: 0, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] };
    const now = Date.now();
    const max = this.maxSeedsPerItem;
    const result = await this.txn(() => {
      // Forget ids older than the retention window (bounded work per call).
      let pruned = 0;
      for (const { key } of this.eventsByTime.getRange({ end: [now - this.eventIdRetentionMs, ''] })) {
        if (pruned++ >= PRUNE_PER_CALL) break;
        this.eventsByTime.remove(key);
        if (this.events.get(key[1]) === key[0]) this.events.remove(key[1]);
      }
      const infos = new Map<string, StoredItem>();
      const batchIds = new Set<string>();
      const unknown = new Set<string>();
      let accepted = 0;
      let duplicates = 0;
      let unknownUserEvents = 0;
      for (const e of events) {
        if (e.id !== undefined) {
          // Ids de-duplicate per item, as in the shared store (where an item's ids live with the item).
          const key = `${e.item}\u0000${e.id}`;
          if (batchIds.has(key) || this.events.doesExist(key)) {
            duplicates++;
            continue;
          }
          batchIds.add(key);
          this.events.put(key, now);
          this.eventsByTime.put([now, key], 1);
        }
        let info = infos.get(e.item);
        if (!info) {
          info = this.items.get(e.item) ?? {
            metadata: null, content: null, seedCount: 0, clicks: 0, seedVersion: 0, firstSeedAt: null, lastSeedAt: null, createdAt: now,
          };
          info = { ...info };
          infos.set(e.item, info);
        }
        const seq = info.clicks;
        this.seeds.put([e.item, seq], [e.user, e.ts, now]);
        if (seq >= max) this.seeds.remove([e.item, seq - max]);
        info.clicks++;
        info.seedCount = Math.min(info.clicks, max);
        info.seedVersion++;
        info.firstSeedAt ??= now;
        info.lastSeedAt = now;
        if (!this.users.doesExist(e.user)) {
          unknownUserEvents++;
          if (unknown.size < 100) unknown.add(e.user);
        }
        accepted++;
      }
      for (const [id, info] of infos) {
        this.items.put(id, info);
        this.dirty.put(id, info.seedVersion);
      }
      this.meta.put('eventsAccepted', this.counter('eventsAccepted') + accepted);
      this.meta.put('eventsDuplicate', this.counter('eventsDuplicate') + duplicates);
      this.meta.put('eventsUnknownUser', this.counter('eventsUnknownUser') + unknownUserEvents);
      return { accepted, duplicates, unknownUserEvents, unknownUsers: [...unknown] };
    });
    await this.flush();
    return result;
  }

  async putUsers(users: readonly UserInput[]): Promise<void> {
    this.check();
    const now = Date.now();
    await this.txn(() => {
      for (const u of users) {
        this.users.put(u.id, {
          universal: bytes(u.universal), lookalike: bytes(u.lookalike), modelVersion: u.modelVersion, features: u.features ?? null, updatedAt: now,
        });
        this.lookalike.put(`${u.modelVersion}\u0000${u.id}`, Buffer.from(bytes(u.lookalike)));
      }
    });
    await this.flush();
  }

  async getUsers(ids: readonly string[]): Promise<Array<UserRecord | undefined>> {
    this.check();
    return ids.map((id) => {
      const u = this.users.get(id);
      if (!u) return undefined;
      return { id, universal: floats(u.universal), lookalike: floats(u.lookalike), modelVersion: u.modelVersion, features: u.features ?? undefined, updatedAt: u.updatedAt };
    });
  }

  async readLookalikes(ids: readonly string[], modelVersion: string, h: number, out: Float32Array): Promise<Uint8Array> {
    this.check();
    const found = new Uint8Array(ids.length);
    const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < ids.length; i++) {
      const b = this.lookalike.getBinaryFast(`${modelVersion}\u0000${ids[i]}`);
      if (!b || b.length !== h * 4) continue;
      // The fast path returns a view over lmdb's shared read buffer whose typed-array length is
      // the whole buffer; copy exactly `length` bytes, now, before the next read reuses it.
      dst.set(new Uint8Array(b.buffer, b.byteOffset, b.length), i * h * 4);
      found[i] = 1;
    }
    return found;
  }

  private toInfo(id: string, s: StoredItem): ItemInfo {
    return { id, ...s, content: s.content ? floats(s.content) : null };
  }

  private toClusters(id: string, c: StoredClusters): ItemClusters {
    return { id, ...c, centroids: floats(c.centroids), global: floats(c.global) };
  }

  async putItemInfo(id: string, info: { metadata?: Record<string, unknown> | null; content?: Float32Array | null }): Promise<ItemInfo> {
    this.check();
    const now = Date.now();
    const stored = await this.txn(() => {
      const old = this.items.get(id) ?? { metadata: null, content: null, seedCount: 0, clicks: 0, seedVersion: 0, firstSeedAt: null, lastSeedAt: null, createdAt: now };
      const next: StoredItem = {
        ...old,
        metadata: info.metadata !== undefined ? info.metadata : old.metadata,
        content: info.content !== undefined ? (info.content ? bytes(info.content) : null) : old.content,
      };
      this.items.put(id, next);
      return next;
    });
    await this.flush();
    return this.toInfo(id, stored);
  }

  async getItem(id: string): Promise<{ info: ItemInfo; clusters: ItemClusters | undefined } | undefined> {
    this.check();
    const s = this.items.get(id);
    if (!s) return undefined;
    const c = this.clusters.get(id);
    return { info: this.toInfo(id, s), clusters: c ? this.toClusters(id, c) : undefined };
  }

  async seedsOf(itemId: string, since?: number, sample?: { count: number; seed: number }): Promise<SeedRecord[]> {
    this.check();
    const out: SeedRecord[] = [];
    const keep = (v: [string, number, number] | undefined): void => {
      if (v && (since === undefined || v[2] >= since)) out.push({ user: v[0], ts: v[1], arrivedAt: v[2] });
    };
    const info = this.items.get(itemId);
    if (sample && info && info.seedCount > sample.count) {
      // Positions first..clicks-1 hold the kept seeds; draw `count` distinct ones (Floyd's algorithm).
      const first = info.clicks - info.seedCount;
      const rng = new Rng(sample.seed);
      const picked = new Set<number>();
      for (let j = info.seedCount - sample.count; j < info.seedCount; j++) {
        const t = rng.int(j + 1);
        picked.add(picked.has(t) ? j : t);
      }
      for (const pos of [...picked].sort((a, b) => a - b)) keep(this.seeds.get([itemId, first + pos]));
      return out;
    }
    for (const { value } of this.seeds.getRange({ start: [itemId, 0], end: [itemId, Number.MAX_SAFE_INTEGER] })) keep(value);
    return out;
  }

  async dirtyItems(limit = Infinity): Promise<Array<{ id: string; seedVersion: number }>> {
    this.check();
    const out: Array<{ id: string; seedVersion: number }> = [];
    for (const { key, value } of this.dirty.getRange({})) {
      if (out.length >= limit) break;
      out.push({ id: key, seedVersion: value });
    }
    return out;
  }

  async saveClusters(clusters: readonly ItemClusters[]): Promise<void> {
    this.check();
    await this.txn(() => {
      for (const c of clusters) {
        const prev = this.clusters.get(c.id);
        this.clusters.put(c.id, {
          seedVersion: c.seedVersion, modelVersion: c.modelVersion, clusteredAt: c.clusteredAt, count: c.count,
          centroids: bytes(c.centroids), global: bytes(c.global), seeds: c.seeds, cold: c.cold,
          firstServableAt: prev?.firstServableAt ?? c.firstServableAt,
          ...(c.level !== undefined ? { level: c.level } : {}), ...(c.offset !== undefined ? { offset: c.offset } : {}),
        });
        const d = this.dirty.get(c.id);
        if (d !== undefined && d <= c.seedVersion) this.dirty.remove(c.id);
        this.failures.remove(c.id);
      }
    });
    await this.flush();
  }

  async recordFailure(id: string, error: string): Promise<void> {
    this.check();
    await this.txn(() => void this.failures.put(id, { error, at: Date.now() }));
  }

  async markAllDirty(): Promise<number> {
    this.check();
    let n = 0;
    await this.txn(() => {
      for (const { key, value } of this.items.getRange({})) {
        if (value.seedCount > 0) {
          this.dirty.put(key, value.seedVersion);
          n++;
        }
      }
    });
    await this.flush();
    return n;
  }

  async markDirty(ids: readonly string[]): Promise<number> {
    this.check();
    let n = 0;
    await this.txn(() => {
      for (const id of ids) {
        const item = this.items.get(id);
        if (item && item.seedCount > 0) {
          this.dirty.put(id, item.seedVersion);
          n++;
        }
      }
    });
    await this.flush();
    return n;
  }

  async *allClusters(): AsyncIterable<ItemClusters> {
    this.check();
    for (const { key, value } of this.clusters.getRange({})) yield this.toClusters(key, value);
  }

  async *seedCounts(): AsyncIterable<number> {
    this.check();
    for (const { value } of this.items.getRange({})) yield value.seedCount;
  }

  async *allUsers(): AsyncIterable<UserRecord> {
    this.check();
    for (const { key, value: u } of this.users.getRange({})) {
      yield { id: key, universal: floats(u.universal), lookalike: floats(u.lookalike), modelVersion: u.modelVersion, features: u.features ?? undefined, updatedAt: u.updatedAt };
    }
  }

  async putAudience(record: AudienceRecord, users?: AudienceUsers): Promise<void> {
    this.check();
    if (users) {
      const total = users.ids.length;
      for (let c = 0; c * AUDIENCE_CHUNK < total; c++) {
        const from = c * AUDIENCE_CHUNK;
        const to = Math.min(total, from + AUDIENCE_CHUNK);
        await this.txn(() => {
          this.audienceUsers.put([record.id, c], {
            ids: users.ids.slice(from, to), score: bytes(users.score.subarray(from, to)), cosGlobal: bytes(users.cosGlobal.subarray(from, to)), cosLocal: bytes(users.cosLocal.subarray(from, to)),
          });
        });
      }
    }
    await this.txn(() => {
      if (users) {
        this.audienceUsers.remove(record.id);
        this.audienceUsers.put([record.id, -1], users.ids.length);
      }
      this.audiences.put(record.id, record);
    });
    await this.flush();
  }

  async getAudience(id: string): Promise<AudienceRecord | undefined> {
    this.check();
    return this.audiences.get(id);
  }

  async getAudienceUsers(id: string, range: { offset?: number; limit?: number } = {}): Promise<(AudienceUsers & { total: number }) | undefined> {
    this.check();
    const offset = range.offset ?? 0;
    const whole = this.audienceUsers.get(id);
    if (whole !== undefined && typeof whole !== 'number') {
      const end = Math.min(whole.ids.length, offset + (range.limit ?? Infinity));
      const f = (b: Uint8Array): Float32Array => floats(b).slice(offset, end);
      return { ids: whole.ids.slice(offset, end), score: f(whole.score), cosGlobal: f(whole.cosGlobal), cosLocal: f(whole.cosLocal), total: whole.ids.length };
    }
    const total = this.audienceUsers.get([id, -1]);
    if (typeof total !== 'number') return undefined;
    const end = Math.max(offset, Math.min(total, offset + (range.limit ?? Infinity)));
    const n = end - offset;
    const out = { ids: new Array<string>(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n), total };
    // Only the chunks the range touches are read and decoded, one per turn of the event loop.
    for (let c = Math.floor(offset / AUDIENCE_CHUNK); n > 0 && c * AUDIENCE_CHUNK < end; c++) {
      if (c > offset / AUDIENCE_CHUNK) await yieldToEventLoop();
      const chunk = this.audienceUsers.get([id, c]);
      if (chunk === undefined || typeof chunk === 'number') return undefined; // deleted meanwhile
      const base = c * AUDIENCE_CHUNK;
      const from = Math.max(offset, base) - base;
      const to = Math.min(end, base + chunk.ids.length) - base;
      for (let i = from; i < to; i++) out.ids[base + i - offset] = chunk.ids[i];
      for (const k of ['score', 'cosGlobal', 'cosLocal'] as const) out[k].set(floats(chunk[k]).subarray(from, to), base + from - offset);
    }
    return out;
  }

  async deleteAudience(id: string): Promise<boolean> {
    this.check();
    const existed = await this.txn(() => {
      const had = this.audiences.get(id) !== undefined;
      this.audiences.remove(id);
      this.audienceUsers.remove(id);
      for (const key of this.audienceUsers.getKeys({ start: [id, -1], end: [id, Number.MAX_SAFE_INTEGER] })) this.audienceUsers.remove(key);
      return had;
    });
    await this.flush();
    return existed;
  }

  async *allAudiences(): AsyncIterable<AudienceRecord> {
    this.check();
    for (const { value } of this.audiences.getRange({})) yield value;
  }

  /** One process runs the jobs of an embedded store: an in-process queue. */
  openJobQueue(): JobQueue {
    return new LocalJobQueue();
  }

  async stats(): Promise<StoreStats> {
    this.check();
    let bytesOnDisk = 0;
    try {
      const st = statSync(join(this.path, 'ralm.mdb'));
      bytesOnDisk = st.blocks * 512;
    } catch {
      bytesOnDisk = 0;
    }
    return {
      users: this.users.getCount(),
      items: this.items.getCount(),
      clusteredItems: this.clusters.getCount(),
      dirtyItems: this.dirty.getCount(),
      eventsAccepted: this.counter('eventsAccepted'),
      eventsDuplicate: this.counter('eventsDuplicate'),
      eventsUnknownUser: this.counter('eventsUnknownUser'),
      bytesOnDisk,
    };
  }

  /** Failure recorded for an item, if its last clustering failed. */
  failureOf(id: string): { error: string; at: number } | undefined {
    return this.failures.get(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.resolve(this.env.flushed).catch(() => undefined);
    await this.env.close();
  }
}
