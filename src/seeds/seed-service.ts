/**
 * The online asynchronous half of RALM: clicks append seeds; every `intervalMs` (paper: 5
 * minutes), and on demand, each item whose seeds changed is re-clustered in the transformed space,
 * its global vector recomputed, and the result published atomically to the engine and durably to
 * the store. A run never blocks serving (the engine publishes per item, copy-on-write), and an
 * item that fails keeps its previous centroids and is reported.
 *
 * Cold start: the model format has no content tower yet, so an item with fewer than `minSeeds`
 * distinct usable seeds is served by the look-alike math over the seeds it has (one centroid per
 * distinct seed up to k) and flagged `cold` in every result, so a caller can blend or filter it.
 * An item with no usable seed (no click, or only clicks by users without an embedding) is not
 * servable; it stays queued and is clustered once a usable seed exists.
 */
import { performance } from 'node:perf_hooks';
import type { RalmEngine } from '../engine/engine.js';
import { ITEM_LEVEL_DEFAULTS, ItemLeveller, levelSampleIds, type ItemLevelOptions } from '../engine/item-levels.js';
import { clustersItem, type ClickEvent, type IngestResult, type ItemClusters, type RalmStore } from '../store/store.js';
import { RalmError } from '../util/errors.js';
import { finiteVector } from '../engine/validate.js';
import { validateEvents } from '../store/lmdb-store.js';
import { SEED_DEFAULTS } from './defaults.js';
import { underLease } from './lease.js';
import { prepareItem, type Prepared } from './prepare.js';
import { PROCESS_NAME } from '../util/process-name.js';

/** Seed services made in this process so far: each holds the lease under a name of its own. */
let made = 0;

export { SEED_DEFAULTS };

export interface SeedServiceOptions {
  /** Re-clustering period. Default 300,000 ms (the paper's 5 minutes). */
  intervalMs?: number;
  /** Distinct usable seeds below which an item is cold. Default 100 (the paper's threshold). */
  minSeeds?: number;
  /** Seeds sampled per item for k-means when it has more (uniform, seeded). Default 20,000. */
  maxClusterPoints?: number;
  /** Only seeds that arrived within this many ms count; null keeps every kept seed. Default null. */
  timeWindowMs?: number | null;
  /** Items clustered per batch (one batched k-means and attention call). Default 256. */
  batchItems?: number;
  /** Events per store commit when ingesting (a larger batch is committed in chunks). Default 2,000. */
  ingestChunk?: number;
  maxIterations?: number;
  /** k-means convergence: fraction of points allowed to change cluster. Default 0.001. */
  tolerance?: number;
  seed?: number;
  /** On a shared store: the re-clustering lease's time to live, ms (renewed while a run lasts). Default 10,000. */
  leaseMs?: number;
  /**
   * Level offsets published with each cluster set (engine/item-levels.ts); `false` publishes
   * offset 0 (levels are still measured and stored, so turning it on later has its typical level).
   */
  itemLevels?: ItemLevelOptions | false;
  /** Clock (epoch ms); injectable for tests and replays. */
  now?: () => number;
  /** Called after each run (scheduled or on demand). */
  onRun?: (report: RunReport) => void;
  /** Called when a scheduled run fails as a whole (e.g. its lease was taken over: RALM_ERR_STALE_LEASE). */
  onError?: (err: Error) => void;
}

export interface RunReport {
  trigger: 'schedule' | 'demand';
  startedAt: number;
  durationMs: number;
  /** Items whose seeds had changed. */
  itemsConsidered: number;
  /** Items published (including cold ones). */
  itemsClustered: number;
  itemsCold: number;
  /** Items still waiting for a usable seed. */
  itemsWithoutUsableSeeds: number;
  /** Items that became servable for the first time in this run. */
  itemsNewlyServable: number;
  newlyServable: string[];
  seedsUsed: number;
  failures: Array<{ id: string; error: string }>;
  backend: string;
  /** The seed service (host:pid:tag/n) that ran it: on a shared store, the lease holder. */
  ranBy: string;
}

export interface SeedMetrics {
  eventsIngested: number;
  eventsDuplicate: number;
  eventsUnknownUser: number;
  runs: number;
  itemsClustered: number;
  failures: number;
  lastRun: RunReport | null;
  runDurationsMs: number[];
  /** Time from an item's first click to its first servable centroids, ms (most recent 10,000). */
  freshnessMs: number[];
}


const RECENT = 10_000;

const isStale = (err: unknown): boolean => (err as RalmError | undefined)?.code === 'RALM_ERR_STALE_LEASE';

function pushBounded(arr: number[], v: number): void {
  arr.push(v);
  if (arr.length > RECENT) arr.splice(0, arr.length - RECENT);
}

export class SeedService {
  readonly store: RalmStore;
  readonly engine: RalmEngine;
  readonly metrics: SeedMetrics = {
    eventsIngested: 0, eventsDuplicate: 0, eventsUnknownUser: 0, runs: 0, itemsClustered: 0, failures: 0, lastRun: null, runDurationsMs: [], freshnessMs: [],
  };
  private readonly o: Required<Omit<SeedServiceOptions, 'onRun' | 'onError' | 'timeWindowMs' | 'itemLevels'>> & Pick<SeedServiceOptions, 'onRun' | 'onError'> & { timeWindowMs: number | null };
  private readonly levelOptions: Required<ItemLevelOptions>;
  private levels: ItemLeveller | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RunReport> | undefined;
  /** This service's name as the re-clustering lease's holder. */
  readonly holder = `${PROCESS_NAME}/${++made}`;

  constructor(store: RalmStore, engine: RalmEngine, options: SeedServiceOptions = {}) {
    this.store = store;
    this.engine = engine;
    const { itemLevels, ...rest } = options;
    this.o = { ...SEED_DEFAULTS, now: Date.now, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    this.levelOptions = { ...ITEM_LEVEL_DEFAULTS, ...(itemLevels === false ? { enabled: false } : itemLevels ?? {}) };
    for (const [k, v] of Object.entries({ intervalMs: this.o.intervalMs, minSeeds: this.o.minSeeds, maxClusterPoints: this.o.maxClusterPoints, batchItems: this.o.batchItems, ingestChunk: this.o.ingestChunk })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RalmError('RALM_ERR_VALIDATION', `${k}: expected a positive integer, got ${v}`);
    }
  }

  /**
   * Stores click events durably (see RalmStore.ingest) in chunks of `ingestChunk`, each committed
   * and flushed before the next (a commit runs on the event loop: 100,000 events in one held it
   * ~0.7 s); resolves once all are durable. A bad event stores nothing (the batch is validated
   * first); a failure part way leaves earlier chunks stored, so retrying clients send event ids.
   */
  async ingest(events: readonly ClickEvent[]): Promise<IngestResult> {
    validateEvents(events);
    const t: IngestResult = { accepted: 0, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] };
    for (let i = 0; i === 0 || i < events.length; i += this.o.ingestChunk) {
      const r = await this.store.ingest(events.length <= this.o.ingestChunk ? events : events.slice(i, i + this.o.ingestChunk));
      t.accepted += r.accepted;
      t.duplicates += r.duplicates;
      t.unknownUserEvents += r.unknownUserEvents;
      t.unknownUsers = [...new Set([...t.unknownUsers, ...r.unknownUsers])].slice(0, 100);
      this.metrics.eventsIngested += r.accepted;
      this.metrics.eventsDuplicate += r.duplicates;
      this.metrics.eventsUnknownUser += r.unknownUserEvents;
    }
    return t;
  }

  /** Stores users' universal embeddings with their look-alike embeddings under the current model. */
  async putUsers(users: ReadonlyArray<{ id: string; universal: ArrayLike<number>; features?: Record<string, unknown> }>): Promise<void> {
    const { m } = this.engine.model.manifest;
    const x = new Float32Array(users.length * m);
    users.forEach((u, i) => {
      if (typeof u?.id !== 'string' || u.id.length === 0) throw new RalmError('RALM_ERR_VALIDATION', `users[${i}].id: expected a non-empty string`, { field: `users[${i}].id` });
      x.set(finiteVector(u.universal, `users[${i}].universal`, m), i * m);
    });
    const e = await this.engine.transform(x, users.length);
    const h = this.engine.model.manifest.h;
    const modelVersion = this.engine.modelId;
    await this.store.putUsers(users.map((u, i) => ({
      id: u.id, universal: x.slice(i * m, (i + 1) * m), lookalike: e.slice(i * h, (i + 1) * h), modelVersion, features: u.features,
    })));
    for (const listener of this.usersListeners) listener(users.map((u) => u.id), e);
  }

  private readonly usersListeners: Array<(ids: string[], lookalikes: Float32Array) => void> = [];

  /** Calls `listener` with users (and their look-alike embeddings) once they are stored. */
  onUsersStored(listener: (ids: string[], lookalikes: Float32Array) => void): void {
    this.usersListeners.push(listener);
  }

  /**
   * Publishes every stored cluster set to the engine (after a restart). Sets computed under
   * another model are not loaded; their items are queued for re-clustering instead. A set the
   * engine refuses (a damaged or out-of-range record) is skipped, reported and queued too: no
   * stored record can stop the service from starting.
   */
  async restore(): Promise<{ loaded: number; stale: number; skipped: Array<{ id: string; error: string }> }> {
    const version = this.engine.modelId;
    let batch: ItemClusters[] = [];
    let loaded = 0;
    let stale = 0;
    const skipped: Array<{ id: string; error: string }> = [];
    const upsert = (list: ItemClusters[]): Promise<unknown> => this.engine.upsertItems(list.map(clustersItem));
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      try {
        await upsert(batch);
        loaded += batch.length;
      } catch {
        // One bad record must not hold back the others: retry one by one, skipping the bad ones.
        for (const c of batch) {
          try {
            await upsert([c]);
            loaded++;
          } catch (err) {
            skipped.push({ id: c.id, error: err instanceof Error ? err.message : String(err) });
          }
        }
      }
      batch = [];
    };
    for await (const c of this.store.allClusters()) {
      if (c.modelVersion !== version) {
        stale++;
        continue;
      }
      batch.push(c);
      if (batch.length >= 1024) await flush();
    }
    await flush();
    if (stale > 0) await this.store.markAllDirty();
    if (skipped.length > 0) {
      await this.store.markDirty(skipped.map((x) => x.id));
      for (const x of skipped) await this.store.recordFailure(x.id, `stored clusters refused at start: ${x.error}`);
    }
    return { loaded, stale, skipped };
  }

  /** Starts the periodic schedule (the timer never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) {
        void this.recluster('schedule').catch((err: Error) => {
          // Skipping while another replica holds the lease is the schedule working as meant.
          if ((err as RalmError).code !== 'RALM_ERR_STORE_UNAVAILABLE' || !/holds the re-clustering lease/.test(err.message)) this.o.onError?.(err);
        });
      }
    }, this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /**
   * Re-clusters every item whose seeds changed; concurrent calls share one run. On a shared store
   * the run holds the re-clustering lease: a scheduled run skips while another replica holds it;
   * one on demand asks the holder for a run and answers with that run's report, or runs itself
   * once the lease is free (waiting up to twice its time to live; see lease.ts).
   */
  recluster(trigger: RunReport['trigger'] = 'demand'): Promise<RunReport> {
    if (this.running) return this.running;
    const wait = trigger === 'demand' ? 2 * this.o.leaseMs : 0;
    this.running = underLease(this.store.coordination, this.holder, this.o.leaseMs, wait, (signal) => this.run(trigger, signal)).finally(() => (this.running = undefined));
    return this.running;
  }

  /** `signal` aborts when the run's lease is lost: it then stops before its next publication. */
  private async run(trigger: RunReport['trigger'], signal: AbortSignal): Promise<RunReport> {
    const t0 = performance.now();
    const startedAt = this.o.now();
    const report: RunReport = {
      trigger, startedAt, durationMs: 0, itemsConsidered: 0, itemsClustered: 0, itemsCold: 0, itemsWithoutUsableSeeds: 0, itemsNewlyServable: 0, newlyServable: [],
      seedsUsed: 0, failures: [], backend: this.engine.backendKind, ranBy: this.holder,
    };
    const dirty = await this.store.dirtyItems();
    report.itemsConsidered = dirty.length;
    for (let i = 0; i < dirty.length; i += this.o.batchItems) {
      signal.throwIfAborted();
      await this.runBatch(dirty.slice(i, i + this.o.batchItems), report, signal);
    }
    report.durationMs = performance.now() - t0;
    this.metrics.runs++;
    this.metrics.itemsClustered += report.itemsClustered;
    this.metrics.failures += report.failures.length;
    this.metrics.lastRun = report;
    pushBounded(this.metrics.runDurationsMs, report.durationMs);
    this.o.onRun?.(report);
    return report;
  }

  private async runBatch(batch: Array<{ id: string; seedVersion: number }>, report: RunReport, signal: AbortSignal): Promise<void> {
    const ready: Prepared[] = [];
    for (const d of batch) {
      try {
        const p = await prepareItem(this.store, this.engine, this.o, d.id, d.seedVersion);
        if (p) ready.push(p);
        else report.itemsWithoutUsableSeeds++;
      } catch (err) {
        await this.fail(d.id, err, report);
      }
    }
    if (ready.length === 0) return;
    try {
      await this.publish(ready, report, signal);
    } catch (err) {
      // The lease was lost (a newer leader published): this run ends; nothing of it is an item's failure.
      if (isStale(err)) throw err;
      // Isolate the failure: one item at a time, so one bad item cannot hold back the others.
      for (const p of ready) {
        try {
          await this.publish([p], report, signal);
        } catch (err) {
          if (isStale(err)) throw err;
          await this.fail(p.id, err, report);
        }
      }
    }
  }

  /**
   * The level sample: the look-alike embeddings, under this engine's model, of the stored users
   * with the smallest seeded hash of their id (engine/item-levels.ts), so a restart draws the same
   * users. Drawn again at each run while the store holds fewer users than the sample wants.
   */
  private async leveller(): Promise<ItemLeveller> {
    if (this.levels && this.levels.sampleSize >= this.levelOptions.sampleUsers) return this.levels;
    const version = this.engine.modelId;
    const ids: string[] = [];
    for await (const u of this.store.allUsers()) if (u.modelVersion === version) ids.push(u.id);
    const chosen = levelSampleIds(ids, this.levelOptions.sampleUsers, this.levelOptions.seed);
    const { h } = this.engine.model.manifest;
    const e = new Float32Array(chosen.length * h);
    const found = await this.store.readLookalikes(chosen, version, h, e);
    const rows = chosen.flatMap((_, i) => (found[i] ? [i] : []));
    const sample = new Float32Array(rows.length * h);
    rows.forEach((i, r) => sample.set(e.subarray(i * h, (i + 1) * h), r * h));
    this.levels = new ItemLeveller(this.engine.model, sample, this.levelOptions);
    return this.levels;
  }

  private async publish(items: Prepared[], report: RunReport, signal: AbortSignal): Promise<void> {
    const clustered = await this.engine.clusterPoints(
      items.map((p) => ({ points: p.points, n: p.n, init: p.previous?.centroids ?? null, initCount: p.previous?.count ?? 0 })),
      { maxIterations: this.o.maxIterations, tolerance: this.o.tolerance, seed: this.o.seed },
    );
    const { globals } = await this.engine.globalVectors(clustered.map((c) => ({ centroids: c.centroids, count: c.count })));
    const h = this.engine.model.manifest.h;
    const { table } = this.engine;
    const levels = await (await this.leveller()).levels(clustered.map((c, i) => ({ centroids: c.centroids.subarray(0, c.count * h), global: globals.subarray(i * h, (i + 1) * h), clickers: items[i].n })), table.typicalLevel, table.popularityPrior);
    const now = this.o.now();
    const version = this.engine.modelId;
    const results: ItemClusters[] = items.map((p, i) => {
      const distinctSeeds = p.n;
      return {
        id: p.id, seedVersion: p.seedVersion, modelVersion: version, clusteredAt: now, count: clustered[i].count,
        centroids: clustered[i].centroids, global: globals.slice(i * h, (i + 1) * h), seeds: distinctSeeds,
        cold: distinctSeeds < this.o.minSeeds, firstServableAt: p.previous?.firstServableAt ?? now, ...levels[i],
      };
    });
    // Checked, then durable, then visible: nothing the engine would refuse is ever stored, and a
    // crash between saving and publishing re-publishes from the store on restart.
    this.engine.checkItems(results.map((c) => ({ id: c.id, centroids: c.centroids.subarray(0, c.count * h), global: c.global })));
    signal.throwIfAborted();
    try {
      await this.store.saveClusters(results);
    } catch (err) {
      // Refused items stand as the newer leader published them; the rest were published here and are served here too.
      const refused = isStale(err) ? new Set((err as RalmError).details?.refused as string[] | undefined) : undefined;
      const kept = refused ? results.filter((c) => !refused.has(c.id)) : [];
      if (kept.length > 0) await this.engine.upsertItems(kept.map(clustersItem));
      throw err;
    }
    await this.engine.upsertItems(results.map(clustersItem));
    for (let i = 0; i < results.length; i++) {
      report.itemsClustered++;
      report.seedsUsed += items[i].n;
      if (results[i].cold) report.itemsCold++;
      if (!items[i].previous) {
        report.itemsNewlyServable++;
        report.newlyServable.push(items[i].id);
        if (items[i].firstSeedAt !== null) pushBounded(this.metrics.freshnessMs, now - (items[i].firstSeedAt as number));
      }
    }
  }

  private async fail(id: string, err: unknown, report: RunReport): Promise<void> {
    const error = err instanceof Error ? err.message : String(err);
    report.failures.push({ id, error });
    await this.store.recordFailure(id, error).catch(() => undefined);
  }

  /** Seeds kept per item: count, quantiles and max. */
  async seedDistribution(): Promise<{ items: number; p50: number; p90: number; p99: number; max: number }> {
    const counts: number[] = [];
    for await (const c of this.store.seedCounts()) counts.push(c);
    counts.sort((a, b) => a - b);
    const q = (p: number): number => (counts.length ? counts[Math.min(counts.length - 1, Math.floor(p * counts.length))] : 0);
    return { items: counts.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: counts[counts.length - 1] ?? 0 };
  }
}
