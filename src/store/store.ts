/**
 * The store behind the online half of RALM: users, items, seed lists and published clusters.
 * Everything that crosses this interface is plain data (strings, numbers, Float32Array), so a
 * distributed implementation can sit behind it. Writes resolve only once durable.
 */

/** One click: `user` clicked `item` at `ts` (epoch ms). `id`, when given, makes re-sends idempotent (ids are per item: one id on two items is two events). */
export interface ClickEvent {
  user: string;
  item: string;
  ts: number;
  id?: string;
}

export interface IngestResult {
  /** Events stored (duplicates excluded). */
  accepted: number;
  /** Events whose id was already stored (or repeated within the batch). */
  duplicates: number;
  /** Accepted events whose user has no embedding yet: kept, and usable once the user is known. */
  unknownUserEvents: number;
  /** Distinct unknown users in this batch (at most 100 listed). */
  unknownUsers: string[];
}

export interface UserInput {
  id: string;
  /** Universal (stage-1) embedding, width m. */
  universal: Float32Array;
  /** Look-alike embedding e = T(x), width h, computed with the model identified by `modelVersion`
   * (the engine's `modelId`: the model's name and weights checksum, so other weights never match). */
  lookalike: Float32Array;
  modelVersion: string;
  features?: Record<string, unknown>;
}

export interface UserRecord extends UserInput {
  updatedAt: number;
}

/** An item's seed-list state. */
export interface ItemInfo {
  id: string;
  metadata: Record<string, unknown> | null;
  content: Float32Array | null;
  /** Seeds currently kept (bounded by maxSeedsPerItem). */
  seedCount: number;
  /** Clicks ever received (seeds appended). */
  clicks: number;
  /** Bumped by every accepted click; clustering records the version it saw. */
  seedVersion: number;
  /** Wall-clock arrival of the first click, epoch ms. */
  firstSeedAt: number | null;
  lastSeedAt: number | null;
  createdAt: number;
}

/** What a clustering run published for an item. */
export interface ItemClusters {
  id: string;
  seedVersion: number;
  /** The engine's `modelId` when it was computed (name@weights checksum): sets of other weights are re-clustered. */
  modelVersion: string;
  clusteredAt: number;
  /** Number of centroids (rows of `centroids`, width h). */
  count: number;
  centroids: Float32Array;
  global: Float32Array;
  /** Distinct usable seeds the centroids came from. */
  seeds: number;
  /** Below the cold-start threshold. */
  cold: boolean;
  /** First time the item became servable, epoch ms. */
  firstServableAt: number;
  /** Its level, the mean look-alike score over the level sample (engine/item-levels.ts); absent in older records. */
  level?: number;
  /** The level offset served with it (engine/item-levels.ts); absent in older records: 0. */
  offset?: number;
}

/**
 * The clicker count a published set gives the engine (its popularity prior's c): the distinct
 * seeds it was built from; undefined (prior 0) for a record whose count is missing or damaged.
 */
export function clustersClickers(c: Pick<ItemClusters, 'seeds'>): number | undefined {
  return Number.isSafeInteger(c.seeds) && c.seeds >= 0 && c.seeds <= 0xffffffff ? c.seeds : undefined;
}

/**
 * The level and level offset a published set gives the engine: a record written before levels
 * were stored (or with a damaged value) reads as offset 0 and an unknown level, never a refusal.
 */
export function clustersLevel(c: Pick<ItemClusters, 'level' | 'offset'>): { level?: number; offset: number } {
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 1000;
  return { ...(ok(c.level) ? { level: c.level } : {}), offset: ok(c.offset) ? c.offset : 0 };
}

/** What the engine publishes for a stored set: centroids, global vector, cold flag, clicker count, level and level offset. */
export function clustersItem(c: ItemClusters): { id: string; centroids: Float32Array; global: Float32Array; cold: boolean; clickers: number | undefined; level?: number; offset: number } {
  return { id: c.id, centroids: c.centroids, global: c.global, cold: c.cold, clickers: clustersClickers(c), ...clustersLevel(c) };
}

export interface SeedRecord {
  user: string;
  /** Click time from the event. */
  ts: number;
  /** When the store accepted it. */
  arrivedAt: number;
}

/** A persisted audience job (see src/audience/jobs.ts); `spec` and `summary` are plain JSON data. */
export interface AudienceRecord {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  spec: Record<string, unknown>;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: { code: string; message: string } | null;
  summary: Record<string, unknown> | null;
  /** Times a runner has started the job (more than 1 only when a runner died or stopped with it unfinished). */
  attempts?: number;
  /** The runner (host:pid:tag) that started it last. */
  runner?: string | null;
  /**
   * On a shared store, while it runs: the progress its runner last stored (users scored of the
   * total, and when, epoch ms), so that every replica can show it. Absent elsewhere.
   */
  progress?: { scored: number; total: number; at: number } | null;
}

/** An audience's users, best first. */
export interface AudienceUsers {
  ids: string[];
  score: Float32Array;
  cosGlobal: Float32Array;
  cosLocal: Float32Array;
}

export interface StoreStats {
  users: number;
  items: number;
  clusteredItems: number;
  dirtyItems: number;
  eventsAccepted: number;
  eventsDuplicate: number;
  eventsUnknownUser: number;
  bytesOnDisk: number;
}

/**
 * How replicas sharing one store agree on who re-clusters: a lease with a fencing token. Only a
 * shared store has it; an embedded store serves one process and needs none.
 */
export interface StoreCoordination {
  /**
   * Takes the re-clustering lease for `holder` when free; returns the fencing token the holder
   * then publishes under, or null while it is held.
   */
  acquireLease(holder: string, ttlMs: number): Promise<number | null>;
  /** Extends the lease `holder` took with `token`; false once it is lost (expired, or taken by another). */
  renewLease(holder: string, token: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` still holds it. */
  releaseLease(holder: string): Promise<void>;
  /** Asks whoever holds the lease for a run on this caller's behalf; returns the request's id. */
  requestRun(): Promise<string>;
  /** The answer (a run's report, JSON) to request `id` once the holder has given it, else null. */
  takeAnswer(id: string): Promise<string | null>;
  /** Withdraws request `id` (its asker took the lease and runs itself). */
  withdrawRequest(id: string): Promise<void>;
  /** Takes every waiting request: the holder runs once more and answers them. */
  takeRequests(): Promise<string[]>;
  /** Answers requests with a run's report (JSON), kept for the askers `ttlMs`. */
  answer(ids: readonly string[], report: string, ttlMs: number): Promise<void>;
  /** Announces that this replica now serves model `modelId`, loaded from `dir` (relative to the models root): every replica follows. */
  announceModel(modelId: string, dir: string): Promise<void>;
  /** The model last announced (its id and its directory under the models root), or null: what a replica starting later rolls to. */
  rolledOutModel(): Promise<{ id: string; dir: string } | null>;
  /** True for the first caller ever to claim `name` (one-time work such as loading the demo world), false for every later one. */
  claimOnce(name: string): Promise<boolean>;
  /** The offset of the latest announced change: take it before reading a snapshot, follow from it after. */
  changesOffset(): Promise<string>;
  /**
   * Calls `onChanges` with each batch of changes other processes announced after `offset`, in
   * order, until stopped. `caughtUp` resolves once every change announced before the call has
   * been handled.
   */
  follow(offset: string, onChanges: (changes: StoreChange[]) => Promise<void>): { caughtUp: Promise<void>; stop(): Promise<void> };
}

/** A change a shared store announces to every replica: clusters published, users stored, a model rolled out. */
export interface StoreChange {
  offset: string;
  kind: 'clusters' | 'users' | 'model';
  /** Items, users, or (kind model) the one model id. */
  ids: string[];
  /** Kind model: the model's directory, relative to the models root. */
  dir?: string;
  /** When it was announced, epoch ms (the store's clock). */
  at: number;
}

/** An audience job claimed from a JobQueue, with what its runner owes the queue. */
export interface ClaimedJob {
  id: string;
  /** True when it was taken over from a runner that stopped heart-beating. */
  reclaimed: boolean;
  /** Renews the claim; false once another runner has taken the job over (this one must stop). */
  heartbeat(): Promise<boolean>;
  /** The job is finished (done, failed or cancelled): it leaves the queue. */
  done(): Promise<void>;
  /** Puts the job back for any runner (this one stops without finishing it). */
  release(): Promise<void>;
}

/**
 * The queue audience jobs are claimed from: in-process for the embedded store; on a shared store
 * one queue for every replica, where a job runs on whichever replica claims it, and a job whose
 * runner stopped heart-beating for `staleMs` is claimed again by another.
 */
export interface JobQueue {
  /** True where several processes share the queue. */
  readonly shared: boolean;
  /** This queue's name as a runner (host:pid:tag, and which of the process's queues). */
  readonly runner: string;
  /**
   * Adds a job (its record already stored); true when added. A shared queue adds a job only when
   * it is not in the queue already (false then), so that a job queued twice — by the replica that
   * stored it, and meanwhile by another that took it for lost — runs once.
   */
  push(id: string): Promise<boolean>;
  /**
   * The next job for this runner — one whose runner has not heart-beaten for `staleMs` first, else
   * a new one — or null when none comes within `waitMs` (or the queue is closed).
   */
  claim(waitMs: number, staleMs: number): Promise<ClaimedJob | null>;
  /** Takes a job that has not been claimed yet out of the queue; false where it cannot (a shared queue: its runner skips a cancelled job). */
  withdraw(id: string): Promise<boolean>;
  /** Jobs waiting to be claimed. */
  waiting(): Promise<number>;
  /**
   * A shared queue: the ids of every job in it, waiting or claimed (to find jobs whose record was
   * stored but that were never queued: the replica accepting them died in between).
   */
  queuedIds?(): Promise<Set<string>>;
  /** Ends a waiting claim (it answers null) and frees what the queue holds. */
  close(): Promise<void>;
}

export interface RalmStore {
  /** Present on a store shared by several replicas. */
  readonly coordination?: StoreCoordination;
  /** A queue of audience jobs for one runner (see JobQueue). */
  openJobQueue(): JobQueue;
  ingest(events: readonly ClickEvent[]): Promise<IngestResult>;
  putUsers(users: readonly UserInput[]): Promise<void>;
  getUsers(ids: readonly string[]): Promise<Array<UserRecord | undefined>>;
  /**
   * Copies the look-alike embeddings (width h) of `ids` stored under `modelVersion` into rows of
   * `out`, in order; returns 1 per id found, 0 where the user is unknown or was embedded by
   * another model.
   */
  readLookalikes(ids: readonly string[], modelVersion: string, h: number, out: Float32Array): Promise<Uint8Array>;
  putItemInfo(id: string, info: { metadata?: Record<string, unknown> | null; content?: Float32Array | null }): Promise<ItemInfo>;
  getItem(id: string): Promise<{ info: ItemInfo; clusters: ItemClusters | undefined } | undefined>;
  /**
   * The item's kept seeds, oldest first; `since` drops seeds that arrived earlier (epoch ms).
   * With `sample`, an item keeping more than `sample.count` seeds returns a uniform random sample
   * of that many seed positions (seeded), read without scanning the whole list.
   */
  seedsOf(itemId: string, since?: number, sample?: { count: number; seed: number }): Promise<SeedRecord[]>;
  /** Items whose seeds changed since they were last clustered, with the version to cluster. */
  dirtyItems(limit?: number): Promise<Array<{ id: string; seedVersion: number }>>;
  /**
   * Publishes clusters; an item stays dirty if clicks arrived after the version clustered. On a
   * shared store, an item published meanwhile under a newer lease is refused (RALM_ERR_STALE_LEASE).
   */
  saveClusters(clusters: readonly ItemClusters[]): Promise<void>;
  /** Records why an item could not be clustered (it keeps its previous clusters). */
  recordFailure(id: string, error: string): Promise<void>;
  /** Marks every item dirty (after a model change: centroids live in the transformed space). */
  markAllDirty(): Promise<number>;
  /** Queues the given items for re-clustering (unknown ids and items without seeds are ignored); returns how many were queued. */
  markDirty(ids: readonly string[]): Promise<number>;
  /** Every published cluster set, to restore the engine after a restart. */
  allClusters(): AsyncIterable<ItemClusters>;
  /** Seeds kept per item, for the distribution metric. */
  seedCounts(): AsyncIterable<number>;
  /** Every stored user (audience expansion builds its user table from them). */
  allUsers(): AsyncIterable<UserRecord>;
  /**
   * Stores a job record and, with `users`, its users: in chunks, each its own short commit (an
   * audience of a million users never holds the event loop in one encoding), the record last, so
   * a reader never sees it done without all of its users.
   */
  putAudience(record: AudienceRecord, users?: AudienceUsers): Promise<void>;
  getAudience(id: string): Promise<AudienceRecord | undefined>;
  /**
   * A shared store: stores a running job's progress on its record, for every replica to read —
   * only while the record is running under `runner` (false otherwise: cancelled, finished, or
   * taken over meanwhile). A store serving one process has no need of it and may leave it out.
   */
  putAudienceProgress?(id: string, runner: string, progress: { scored: number; total: number }): Promise<boolean>;
  /** An audience's users from `offset` (default 0), at most `limit` (default: all), with how many there are in all. */
  getAudienceUsers(id: string, range?: { offset?: number; limit?: number }): Promise<(AudienceUsers & { total: number }) | undefined>;
  deleteAudience(id: string): Promise<boolean>;
  allAudiences(): AsyncIterable<AudienceRecord>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
