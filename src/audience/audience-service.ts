/**
 * Audience expansion (the advertising look-alike): seed users in, the N users most like them out.
 * The seeds are matched against the platform's users (ids that do not match are counted and
 * left out), clustered into at most k centroids in the look-alike space with the engine's
 * k-means, given a global vector by global attention, and every user — or an explicit candidate
 * pool — is scored against that one seed set with RALM's own score (local attention over the
 * seed centroids, two cosines, the α/β blend). The seeds themselves are excluded by default.
 *
 * The service owns the in-memory user table for its engine's model: built from the store at
 * start, kept current as users are stored.
 */
import { performance } from 'node:perf_hooks';
import type { RalmEngine } from '../engine/engine.js';
import type { RalmStore } from '../store/store.js';
import { RalmError } from '../util/errors.js';
import { inRange } from '../engine/validate.js';
import type { AudienceSpec } from './request.js';

export { MAX_IDS, parseAudienceRequest, specToJson, type AudienceSpec } from './request.js';
import { AUDIENCE_DEFAULTS } from './defaults.js';

export { AUDIENCE_DEFAULTS };
import { Rng } from '../util/rng.js';
import { TimeSlicer } from '../util/time-slice.js';
import { bit, type ScanHits, type ScanJob, type ScanSet } from '../core/scan.js';
import { prepareSeedSet } from '../core/seed-set.js';
import { DEFAULT_ROWS_PER_PAGE, UserTable, type UserStorage } from '../core/user-table.js';
import { paddedStride } from '../core/item-table.js';
import { scanTwoPass, TWO_PASS_DEFAULTS, type AudienceScanMode, type TwoPassOptions } from '../core/two-pass.js';

export interface AudienceServiceOptions {
  /** Most seeds clustered per audience; a larger seed set is sampled (seeded) down to this. */
  maxClusterSeeds?: number;
  /** Largest N a request may ask for. */
  maxSize?: number;
  /** Rows per user-table page (default: 128 MiB of rows, at most 262,144). */
  rowsPerPage?: number;
  /** User-table storage: `int8` has the CPU scan read int8 codes with integer dot products. Default AUDIENCE_DEFAULTS.storage. */
  storage?: UserStorage;
  /**
   * `two-pass`: a cheap first pass keeps candidateFactor × N users, the exact score ranks them
   * (core/two-pass.ts; recall against `exact` measured in docs/benchmarks.md). Default AUDIENCE_DEFAULTS.scan.
   */
  scan?: AudienceScanMode;
  /** Two-pass candidates per audience: this many times its N (default TWO_PASS_DEFAULTS.factor). */
  candidateFactor?: number;
}

/** An audience request, validated (see `parseAudienceRequest`). */

export interface AudienceUser {
  id: string;
  score: number;
  cosGlobal: number;
  cosLocal: number;
}

export interface AudienceResult {
  seeds: {
    given: number;
    matched: number;
    unmatched: number;
    /** Up to 100 of the ids that matched no user. */
    unmatchedIds: string[];
    /** Seeds that went into clustering (after sampling). */
    clustered: number;
    centroids: number;
  };
  pool: { given: number; matched: number; unmatched: number } | null;
  /** Users scored (the pool, or every user), before exclusions. */
  scored: number;
  excluded: number;
  users: AudienceUser[];
  timing: { resolveMs: number; clusterMs: number; scanMs: number; totalMs: number };
  backend: string;
  adapter: string;
  modelVersion: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export class AudienceService {
  readonly users: UserTable;
  readonly maxClusterSeeds: number;
  readonly maxSize: number;
  readonly scan: AudienceScanMode;
  private readonly twoPass: TwoPassOptions;
  private loaded: Promise<{ users: number; reembedded: number }> | undefined;

  /** `store` null: no stored users; the table holds what addUsers() puts there (evaluation, tests). */
  constructor(private readonly engine: RalmEngine, private readonly store: RalmStore | null, options: AudienceServiceOptions = {}) {
    const { h, k } = engine.model.manifest;
    this.maxClusterSeeds = options.maxClusterSeeds ?? AUDIENCE_DEFAULTS.maxClusterSeeds;
    this.maxSize = options.maxSize ?? AUDIENCE_DEFAULTS.maxSize;
    this.scan = options.scan ?? AUDIENCE_DEFAULTS.scan;
    if (this.scan !== 'exact' && this.scan !== 'two-pass') {
      throw new RalmError('RALM_ERR_VALIDATION', `scan: expected "exact" or "two-pass", got ${JSON.stringify(this.scan)}`, { field: 'scan' });
    }
    const factor = options.candidateFactor ?? TWO_PASS_DEFAULTS.factor;
    if (!Number.isFinite(factor) || factor < 1) {
      throw new RalmError('RALM_ERR_VALIDATION', `candidateFactor: expected a number ≥ 1, got ${String(factor)}`, { field: 'candidateFactor' });
    }
    this.twoPass = { ...TWO_PASS_DEFAULTS, factor };
    const byBinding = Math.floor((128 * 1024 * 1024) / (paddedStride(h) * 4));
    this.users = new UserTable({ h, maxCentroids: k, rowsPerPage: options.rowsPerPage ?? Math.min(DEFAULT_ROWS_PER_PAGE, byBinding), storage: options.storage ?? AUDIENCE_DEFAULTS.storage });
  }

  /**
   * Fills the user table from the store. Users embedded under another model are transformed
   * with this one (and stored back, so clustering finds them too). Idempotent.
   */
  load(): Promise<{ users: number; reembedded: number }> {
    this.loaded ??= this.loadNow();
    return this.loaded;
  }

  private async loadNow(): Promise<{ users: number; reembedded: number }> {
    const { h, m } = this.engine.model.manifest;
    const modelVersion = this.engine.modelId;
    const BATCH = 4096;
    let ids: string[] = [];
    let rows = new Float32Array(BATCH * h);
    let stale: Array<{ id: string; universal: Float32Array; features?: Record<string, unknown> }> = [];
    let reembedded = 0;
    const flushFresh = (): void => {
      if (ids.length === 0) return;
      this.users.upsert(ids, rows.subarray(0, ids.length * h));
      ids = [];
      rows = new Float32Array(BATCH * h);
    };
    const flushStale = async (): Promise<void> => {
      if (stale.length === 0) return;
      const x = new Float32Array(stale.length * m);
      stale.forEach((u, i) => x.set(u.universal, i * m));
      // A stored user the model maps out of range is left out of the table rather than failing the load.
      const { e, ok } = await this.engine.transformUsable(x, stale.length);
      const usable = stale.flatMap((u, i) => (ok[i] ? [{ u, e: e.slice(i * h, (i + 1) * h) }] : []));
      await (this.store as RalmStore).putUsers(usable.map(({ u, e: row }) => ({ id: u.id, universal: u.universal, lookalike: row, modelVersion, features: u.features })));
      const rowsOf = new Float32Array(usable.length * h);
      usable.forEach((x, i) => rowsOf.set(x.e, i * h));
      this.users.upsert(usable.map((x) => x.u.id), rowsOf);
      reembedded += usable.length;
      stale = [];
    };
    const store = this.store;
    if (!store) {
      await this.warmUp();
      return { users: this.users.size, reembedded: 0 };
    }
    for await (const u of store.allUsers()) {
      if (u.modelVersion === modelVersion && u.lookalike.length === h && inRange(u.lookalike)) {
        rows.set(u.lookalike, ids.length * h);
        ids.push(u.id);
        if (ids.length === BATCH) flushFresh();
      } else if (u.universal.length === m && inRange(u.universal)) {
        stale.push({ id: u.id, universal: u.universal, features: u.features });
        if (stale.length === BATCH) await flushStale();
      }
    }
    flushFresh();
    await flushStale();
    await this.warmUp();
    return { users: this.users.size, reembedded };
  }

  /** One tiny scan, so the first request does not pay for starting the scan threads and compiling kernels. */
  private async warmUp(): Promise<void> {
    const first = this.users.ids().next();
    if (first.done) return;
    const { alpha, beta } = this.engine.model.manifest;
    const e = this.users.embedding(first.value) as Float32Array;
    const set = prepareSeedSet(this.engine.model, e, 1, e);
    const snapshot = this.users.acquire();
    try {
      const row = this.users.rowOf(first.value) as number;
      await this.engine.scanUsers({ table: this.users, snapshot, pool: Uint32Array.of(row), sets: [{ set, topN: 1, threshold: -Infinity }], alpha, beta });
    } finally {
      snapshot.release();
    }
  }

  /** Keeps the table current: called with users just stored under this service's model. */
  addUsers(ids: readonly string[], lookalikes: Float32Array): void {
    this.users.upsert(ids, lookalikes);
  }

  /** Users scored by a request (its pool, or every user): what decides whether it runs as a job. */
  workOf(spec: AudienceSpec): number {
    return spec.pool ? spec.pool.length : this.users.size;
  }

  /** Runs one audience request to completion. */
  async run(spec: AudienceSpec, options: RunOptions = {}): Promise<AudienceResult> {
    const [r] = await this.runMany([spec], options);
    return r;
  }

  /**
   * Runs several audiences in one scan of the user table (one dispatch per page on the GPU).
   * They must all score every user, or all the same pool.
   */
  async runMany(specs: readonly AudienceSpec[], options: RunOptions = {}): Promise<AudienceResult[]> {
    if (specs.length === 0) return [];
    const poolKey = (s: AudienceSpec): string => (s.pool ? s.pool.join('\u0000') : '');
    if (specs.length > 1 && specs.some((s) => poolKey(s) !== poolKey(specs[0]))) throw new RalmError('RALM_ERR_VALIDATION', 'audiences scanned together must share the same pool');
    await this.load();
    const t0 = performance.now();
    const { h, alpha, beta, modelVersion } = this.engine.model.manifest;
    const table = this.users;
    const snapshot = table.acquire();
    try {
      // Resolve seeds, exclusions and the pool under the snapshot (lists of up to millions of ids: in time slices).
      const words = Math.ceil(snapshot.rowCount / 32);
      const slicer = new TimeSlicer();
      const resolved: Array<{ spec: AudienceSpec; seedRows: number[]; unmatched: number; unmatchedIds: string[]; skip: Uint32Array; excluded: number }> = [];
      for (const spec of specs) {
        const seedRows: number[] = [];
        const unmatchedIds: string[] = [];
        let unmatched = 0;
        const seen = new Set<number>();
        for (const [i, id] of spec.seeds.entries()) {
          if (i % 4096 === 4095) await slicer.tick();
          const r = table.rowOf(id);
          if (r === undefined || r >= snapshot.rowCount) {
            unmatched++;
            if (unmatchedIds.length < 100) unmatchedIds.push(id);
          } else if (!seen.has(r)) {
            seen.add(r);
            seedRows.push(r);
          }
        }
        const skip = new Uint32Array(words);
        let excluded = 0;
        const mark = (r: number | undefined): void => {
          if (r === undefined || r >= snapshot.rowCount || bit(skip, r)) return;
          skip[r >>> 5] |= 1 << (r & 31);
          excluded++;
        };
        if (spec.excludeSeeds) for (const r of seedRows) mark(r);
        for (const [i, id] of spec.exclude.entries()) {
          if (i % 4096 === 4095) await slicer.tick();
          mark(table.rowOf(id));
        }
        resolved.push({ spec, seedRows, unmatched, unmatchedIds, skip, excluded });
      }
      let pool: Uint32Array | undefined;
      let poolInfo: AudienceResult['pool'] = null;
      if (specs[0].pool) {
        // Distinct known pool users, in the caller's order; exclusions apply per audience below.
        const rows: number[] = [];
        const seen = new Set<number>();
        for (const [i, id] of specs[0].pool.entries()) {
          if (i % 4096 === 4095) await slicer.tick();
          const r = table.rowOf(id);
          if (r !== undefined && r < snapshot.rowCount && !seen.has(r)) {
            seen.add(r);
            rows.push(r);
          }
        }
        poolInfo = { given: specs[0].pool.length, matched: rows.length, unmatched: specs[0].pool.length - rows.length };
        pool = Uint32Array.from(rows);
      }
      const t1 = performance.now();

      // Cluster each seed set in the look-alike space and compute its global vector.
      const points = resolved.map((r) => this.seedPoints(r.seedRows, r.spec));
      const clusters = await this.engine.clusterPoints(points.map((p) => ({ points: p.points, n: p.n })), { seed: specs[0].seed });
      const globals = await this.engine.globalVectors(clusters.map((c) => ({ centroids: c.centroids, count: c.count })));
      const t2 = performance.now();

      // A pool scan has no skip masks: excluded users are dropped from a per-audience view of the pool.
      // Audiences sharing one scan must then share exclusions; when they differ, scan them one by one.
      if (pool && specs.length > 1 && resolved.some((r) => r.excluded > 0)) {
        const out: AudienceResult[] = [];
        for (const spec of specs) out.push(...(await this.runMany([spec], options)));
        return out;
      }
      let poolForScan = pool;
      let poolExcluded = 0;
      if (pool && resolved[0].excluded > 0) {
        const keep = pool.filter((r) => !bit(resolved[0].skip, r));
        poolExcluded = pool.length - keep.length;
        poolForScan = keep;
      }
      const sets: ScanSet[] = resolved.map((r, i) => ({
        set: prepareSeedSet(this.engine.model, clusters[i].centroids, clusters[i].count, globals.globals.subarray(i * h, (i + 1) * h)),
        skip: pool ? undefined : r.skip,
        topN: r.spec.size,
        threshold: r.spec.threshold ?? -Infinity,
      }));
      const scan = await this.scanUsers({ table, snapshot, pool: poolForScan, sets, alpha, beta, onProgress: options.onProgress, signal: options.signal });
      const t3 = performance.now();
      const users: AudienceUser[][] = [];
      for (const hits of scan.hits) users.push(await this.toUsers(hits, poolForScan, snapshot.idOf));
      return resolved.map((r, i) => ({
        seeds: {
          given: r.spec.seeds.length + r.spec.seedEmbeddings.length,
          matched: r.seedRows.length + r.spec.seedEmbeddings.length,
          unmatched: r.unmatched,
          unmatchedIds: r.unmatchedIds,
          clustered: points[i].n,
          centroids: clusters[i].count,
        },
        pool: poolInfo,
        scored: pool ? pool.length : table.size,
        excluded: pool ? poolExcluded : r.excluded,
        users: users[i],
        timing: { resolveMs: t1 - t0, clusterMs: t2 - t1, scanMs: t3 - t2, totalMs: t3 - t0 },
        backend: scan.backend,
        adapter: scan.adapter,
        modelVersion,
      }));
    } finally {
      snapshot.release();
    }
  }

  /** The user scan in the configured mode, on the engine's backend (both passes on the same one). */
  private async scanUsers(job: ScanJob): Promise<{ hits: ScanHits[]; backend: string; adapter: string }> {
    if (this.scan === 'exact') return this.engine.scanUsers(job);
    let last = { backend: '', adapter: '' };
    const hits = await scanTwoPass(async (j) => {
      const r = await this.engine.scanUsers(j);
      last = { backend: r.backend, adapter: r.adapter };
      return r.hits;
    }, job, this.twoPass);
    return { hits, ...last };
  }

  /** The seed set's points (look-alike embeddings), sampled down to maxClusterSeeds when larger. */
  private seedPoints(rows: number[], spec: AudienceSpec): { points: Float32Array; n: number } {
    const { h } = this.engine.model.manifest;
    const table = this.users;
    let chosen = rows;
    const budget = Math.max(0, this.maxClusterSeeds - spec.seedEmbeddings.length);
    if (chosen.length > budget) {
      chosen = new Rng(spec.seed).shuffle(rows.slice(), budget).slice(0, budget);
    }
    const embeddings = spec.seedEmbeddings.slice(0, this.maxClusterSeeds);
    const n = chosen.length + embeddings.length;
    if (n === 0) {
      throw new RalmError('RALM_ERR_VALIDATION', `seeds: none of the ${spec.seeds.length} seed users matched a known user`, { field: 'seeds' });
    }
    const points = new Float32Array(n * h);
    const stride = table.stride;
    chosen.forEach((r, i) => {
      const page = table.pages[Math.floor(r / table.rowsPerPage)];
      const at = (r % table.rowsPerPage) * stride;
      points.set(page.rows.subarray(at, at + h), i * h);
    });
    embeddings.forEach((e, i) => points.set(e, (chosen.length + i) * h));
    return { points, n };
  }

  /** The hits as users, in time slices (a million take ~250 ms in all). */
  private async toUsers(h: ScanHits, pool: Uint32Array | undefined, idOf: (row: number) => string): Promise<AudienceUser[]> {
    const n = h.position.length;
    const out = new Array<AudienceUser>(n);
    const slicer = new TimeSlicer();
    for (let i = 0; i < n; ) {
      for (const end = Math.min(n, i + 4096); i < end; i++) {
        const p = h.position[i];
        out[i] = { id: idOf(pool ? pool[p] : p), score: h.score[i], cosGlobal: h.cosGlobal[i], cosLocal: h.cosLocal[i] };
      }
      await slicer.tick();
    }
    return out;
  }
}
