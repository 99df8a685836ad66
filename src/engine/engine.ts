/**
 * The engine: the one entry point that decides CPU or WebGPU. It validates input (validate.ts),
 * keeps the item table, pins a table snapshot per batch, prepares each request's q = W_l e once,
 * and hands arithmetic to the backend chosen by its device supervisor (device-supervisor.ts),
 * which falls back to the CPU when the GPU device is lost.
 */
import { performance } from 'node:perf_hooks';
import type { BackendKind, PreparedRequest, ScoredRows } from '../core/backend.js';
import { clusterBatch, type ClusterInput, type ClusterOptions, type ClusterResult, type KMeansRunner } from '../clustering/cluster-batch.js';
import { ItemTable, paddedStride } from '../core/item-table.js';
import type { ScanHits, ScanJob } from '../core/scan.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import { scratchBytes } from '../cpu/wasm-kernel.js';
import { openGpu, type GpuContext } from '../gpu/device.js';
import { GpuBackend } from '../gpu/gpu-backend.js';
import { modelId } from '../model/identity.js';
import type { RalmModel } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import { DeviceSupervisor } from './device-supervisor.js';
import { resolveEngineOptions, SPEC_DEFAULT_BINDING, type EngineOptions } from './options.js';
import type { EngineStats, ItemCentroids, RankRequest, RankResult, ScoreRequest, ScoreResult, UserInput } from './types.js';
import { prepareQuery, prepareRank, PreparedRank, rankedItems, SharedCandidates } from './prepared-rank.js';
import { assertProduced, checkRankFields, checkRankRequest, checkScoreFields, finiteVector, packStored, roundStored, userEmbedding, VALUE_LIMIT } from './validate.js';

export type * from './types.js';
export type { BackendChoice, EngineOptions } from './options.js';
export type { PreparedRank } from './prepared-rank.js';
export { ENGINE_DEFAULTS } from './options.js';

export class RalmEngine {
  readonly model: RalmModel;
  readonly modelId: string; // name@weights checksum (model/identity.ts): the key of stored embeddings and clusters
  readonly table: ItemTable;
  readonly stats: EngineStats = {
    batches: 0, requests: 0, candidates: 0, cpuFallbacks: 0, deviceLosses: 0, deviceRecoveries: 0, itemsUpserted: 0, itemsRemoved: 0,
  };

  private readonly devices: DeviceSupervisor;
  private updateTail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(model: RalmModel, table: ItemTable, o: ReturnType<typeof resolveEngineOptions>) {
    this.model = model;
    this.modelId = modelId(model);
    this.table = table;
    this.devices = new DeviceSupervisor(new CpuBackend(model, o.cpuKernel, o.cpuThreads, o.cpuOffload, o.cpuWorkerNice), {
      adapter: o.adapter, recoverDevice: o.recoverDevice, recoveryDelayMs: o.recoveryDelayMs, onEvent: o.onEvent, stats: this.stats,
      attach: async (ctx) => {
        const backend = await GpuBackend.create(ctx, this.model, { storage: this.table.storage, scorer: o.gpuScorer });
        backend.syncSlots(this.table, Array.from(this.table.allSlots().slots));
        return backend;
      },
      exclusive: (fn) => this.exclusiveUpdate(fn),
    });
  }

  /** Opens the engine. With backend `webgpu` and no adapter, fails with RALM_ERR_BACKEND_UNAVAILABLE. */
  static async create(model: RalmModel, options: EngineOptions = {}): Promise<RalmEngine> {
    const o = resolveEngineOptions(options);
    const { h, k } = model.manifest;
    let ctx: GpuContext | null = null;
    if (o.backend !== 'cpu') {
      ctx = await openGpu({ adapter: o.adapter });
      if (ctx && ctx.isSoftware && o.backend === 'auto') {
        o.onEvent?.({ type: 'software-adapter-skipped', adapter: ctx.adapterName });
        ctx.destroy();
        ctx = null;
      }
      if (!ctx && o.backend === 'webgpu') {
        throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'backend "webgpu" was requested but no WebGPU adapter was found (on a host without a GPU, install Mesa lavapipe)');
      }
    }
    const bytesPerSlot = k * paddedStride(h) * (o.storage === 'f16' ? 2 : 4);
    const limit = ctx ? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) : SPEC_DEFAULT_BINDING;
    const slotsPerPage = o.slotsPerPage ?? Math.max(1, Math.floor(Math.min(limit, o.maxPageBytes) / bytesPerSlot));
    if (slotsPerPage * bytesPerSlot > limit) {
      ctx?.destroy();
      throw new RalmError('RALM_ERR_VALIDATION', `slotsPerPage ${slotsPerPage} makes a ${slotsPerPage * bytesPerSlot}-byte page, above the device binding limit of ${limit}`);
    }
    const popularityPrior = o.popularityPrior ?? model.manifest.popularityPrior ?? 0;
    const table = new ItemTable({ h, k, storage: o.storage, slotsPerPage, popularityPrior, wasmScratchBytes: o.cpuKernel !== 'scalar' ? scratchBytes(paddedStride(h), k) : undefined });
    const engine = new RalmEngine(model, table, o);
    if (ctx) {
      try {
        await engine.devices.adopt(ctx);
      } catch (err) {
        if (o.backend === 'webgpu') throw err;
        o.onEvent?.({ type: 'cpu-fallback', operation: 'open', error: (err as Error).message });
      }
    }
    return engine;
  }

  /** The backend serving requests now. */
  get backendKind(): BackendKind {
    return this.devices.backend.kind;
  }

  get adapterName(): string {
    return this.devices.backend.adapterName;
  }

  /** True when the WebGPU adapter is a software rasteriser (lavapipe): correct but slow. */
  get isSoftwareAdapter(): boolean {
    return this.devices.context?.isSoftware ?? false;
  }

  /** WebGPU errors that no error scope caught (validation, out-of-memory); empty when healthy. */
  get gpuErrors(): readonly string[] {
    return this.devices.context?.uncapturedErrors ?? [];
  }

  /** How many WebGPU errors no error scope caught on the current device (0 on the CPU). */
  get gpuErrorCount(): number {
    return this.devices.context?.uncapturedErrorCount ?? 0;
  }

  /** Bytes of device memory the WebGPU backend holds now (0 on the CPU). */
  get gpuMemoryBytes(): number {
    return this.devices.gpu?.memory.bytes ?? 0;
  }

  /** GPU time of the last rank/score call's kernels (timestamp queries), ms; undefined on the CPU or without them. */
  get lastGpuKernelMs(): number | undefined {
    return this.devices.gpu?.lastRankKernelMs;
  }

  private exclusiveUpdate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.updateTail.then(fn, fn);
    this.updateTail = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new RalmError('RALM_ERR_CLOSED', 'the engine is closed');
  }

  // ------------------------------------------------------------------ users

  /** The look-alike embedding e of a user input, validated. */
  userEmbedding(user: UserInput, field = 'user'): Float32Array {
    return userEmbedding(this.model, user, field);
  }

  // ------------------------------------------------------------------ items

  /**
   * Inserts or replaces items. The global vectors are computed here (global attention on the
   * backend) and the new data is published atomically: a concurrent request sees each item
   * entirely old or entirely new.
   */
  async upsertItems(items: readonly ItemCentroids[]): Promise<{ upserted: number }> {
    this.checkOpen();
    const { h, k } = this.model.manifest;
    const { compact, counts } = packStored(items, h, k, this.table.storage);
    // Global attention runs only for the items that did not bring their global vector.
    const need = items.map((it, i) => (it.global === undefined ? i : -1)).filter((i) => i >= 0);
    let needCentroids = compact;
    if (need.length < items.length) {
      needCentroids = new Float32Array(need.length * k * h);
      need.forEach((i, t) => needCentroids.set(compact.subarray(i * k * h, (i + 1) * k * h), t * k * h));
    }
    const needCounts = Uint32Array.from(need, (i) => counts[i]);
    return this.exclusiveUpdate(async () => {
      this.checkOpen();
      if (items.length === 0) return { upserted: 0 };
      const computed = need.length > 0 ? (await this.devices.run('global-attention', (b) => b.globalAttention(needCentroids, needCounts))).value : undefined;
      const globals = new Float32Array(items.length * h);
      const norms = new Float32Array(items.length);
      items.forEach((it, i) => {
        if (it.global === undefined) return;
        let nn = 0;
        for (let j = 0; j < h; j++) {
          globals[i * h + j] = it.global[j];
          nn += globals[i * h + j] * globals[i * h + j];
        }
        norms[i] = Math.sqrt(nn);
      });
      need.forEach((i, t) => {
        globals.set((computed as { globals: Float32Array }).globals.subarray(t * h, (t + 1) * h), i * h);
        norms[i] = (computed as { norms: Float32Array }).norms[t];
      });
      const { slots } = this.table.allocate(items.length);
      try {
        items.forEach((it, i) => {
          this.table.writeSlot(slots[i], compact.subarray(i * k * h, i * k * h + counts[i] * h), counts[i], globals.subarray(i * h, (i + 1) * h), norms[i], it.cold === true, it.clickers ?? 0, it.level ?? NaN, it.offset ?? 0);
        });
        this.devices.gpu?.syncSlots(this.table, slots);
      } catch (err) {
        this.table.unreserve(slots);
        throw err;
      }
      this.table.publish(items.map((it) => it.id), slots);
      this.stats.itemsUpserted += items.length;
      return { upserted: items.length };
    });
  }

  /** Removes items; unknown ids are reported, not an error. */
  async removeItems(ids: readonly string[]): Promise<{ removed: number; missing: string[] }> {
    this.checkOpen();
    return this.exclusiveUpdate(async () => {
      const missing = this.table.remove(ids);
      this.stats.itemsRemoved += ids.length - missing.length;
      return { removed: ids.length - missing.length, missing };
    });
  }

  // ------------------------------------------------------------------ scoring

  /** Ranks candidates for a batch of requests in one backend call (one GPU submission). */
  async rank(requests: readonly RankRequest[]): Promise<RankResult[]> {
    this.checkOpen();
    const t0 = performance.now();
    const es = requests.map((r, i) => this.userEmbedding(r?.user, `requests[${i}].user`));
    checkRankFields(requests);
    const prepared: PreparedRank[] = [];
    try {
      const shared = new SharedCandidates(this.table);
      requests.forEach((r, i) => prepared.push(prepareRank(this.model, this.table, es[i], r, `requests[${i}].`, shared)));
      return await this.runPrepared(prepared, t0);
    } finally {
      for (const p of prepared) p.release();
    }
  }

  /**
   * Checks one rank request and resolves it against the table as it is now, pinning what it
   * resolved until the result's release() (prepared-rank.ts); errors name fields after `prefix`.
   * A server prepares each request as it arrives and ranks batches of them later (rankPrepared).
   */
  prepareRank(request: RankRequest, prefix = ''): PreparedRank {
    this.checkOpen();
    const e = this.userEmbedding(request?.user, `${prefix}user`);
    checkRankRequest(request, prefix);
    return prepareRank(this.model, this.table, e, request, prefix);
  }

  /** Ranks prepared requests in one backend call, in the given order; the caller releases them. */
  async rankPrepared(batch: readonly PreparedRank[]): Promise<RankResult[]> {
    this.checkOpen();
    for (const p of batch) p.checkUsable(this.table);
    return this.runPrepared(batch, performance.now());
  }

  private async runPrepared(batch: readonly PreparedRank[], t0: number): Promise<RankResult[]> {
    const nonEmpty = batch.map((p, i) => (p.candidates > 0 ? i : -1)).filter((i) => i >= 0);
    const { value: rows, backend } = nonEmpty.length > 0
      ? await this.devices.run('rank', (b) => b.run(nonEmpty.map((i) => batch[i].request), this.table))
      : { value: [] as ScoredRows[], backend: this.devices.backend };
    this.count(batch.map((p) => p.request));
    const elapsedMs = performance.now() - t0;
    const info = { backend: backend.kind, adapter: backend.adapterName, modelVersion: this.model.manifest.modelVersion, elapsedMs };
    const out: RankResult[] = batch.map((p) => ({ ...info, items: [], candidates: p.candidates }));
    nonEmpty.forEach((ri, j) => (out[ri].items = rankedItems(batch[ri], rows[j])));
    return out;
  }

  /** Scores the given items for each request, in input order. */
  async score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]> {
    this.checkOpen();
    const t0 = performance.now();
    const es = requests.map((r, i) => this.userEmbedding(r?.user, `requests[${i}].user`));
    checkScoreFields(requests);
    const snapshot = this.table.acquire();
    try {
      const shared = new SharedCandidates(this.table);
      const prepared = requests.map((r, i) => prepareQuery(this.model, this.table.stride, es[i], shared.items(r.items, `requests[${i}].items`), 0, r.itemLevels !== false));
      const nonEmpty = prepared.map((p, i) => (p.slots.length > 0 ? i : -1)).filter((i) => i >= 0);
      const { value: rows, backend } = nonEmpty.length > 0
        ? await this.devices.run('score', (b) => b.run(nonEmpty.map((i) => prepared[i]), this.table))
        : { value: [] as ScoredRows[], backend: this.devices.backend };
      this.count(prepared);
      const elapsedMs = performance.now() - t0;
      const info = { backend: backend.kind, adapter: backend.adapterName, modelVersion: this.model.manifest.modelVersion, elapsedMs };
      const out: ScoreResult[] = prepared.map((p) => ({
        ...info, scores: new Float32Array(0), cosGlobal: new Float32Array(0), cosLocal: new Float32Array(0), cold: Uint8Array.from(p.slots, (s) => (this.table.isCold(s) ? 1 : 0)),
      }));
      nonEmpty.forEach((ri, j) => {
        out[ri].scores = rows[j].score;
        out[ri].cosGlobal = rows[j].cosGlobal;
        out[ri].cosLocal = rows[j].cosLocal;
      });
      return out;
    } finally {
      snapshot.release();
    }
  }

  private count(prepared: readonly PreparedRequest[]): void {
    this.stats.batches++;
    this.stats.requests += prepared.length;
    for (const p of prepared) this.stats.candidates += p.slots.length;
  }

  /** The shared transform for `count` universal embeddings (width m) → look-alike embeddings (width h). */
  async transform(x: ArrayLike<number>, count: number): Promise<Float32Array> {
    this.checkOpen();
    const { m, h } = this.model.manifest;
    if (!Number.isSafeInteger(count) || count < 0 || x.length !== count * m) {
      throw new RalmError('RALM_ERR_DIMENSION', `transform: expected ${count} vectors of width ${m} (${count * m} values), got ${x.length}`);
    }
    const xs = finiteVector(x, 'transform', count * m);
    const { value } = await this.devices.run('transform', (b) => b.transform(xs, count));
    for (let i = 0; i < value.length; i++) {
      if (!(Math.abs(value[i]) <= VALUE_LIMIT)) assertProduced(value.subarray(Math.floor(i / h) * h, (Math.floor(i / h) + 1) * h), `transform: row ${Math.floor(i / h)}`, 'T(x)');
    }
    return value;
  }

  /**
   * Clusters several items' points (seed users in the transformed space, width h) into at most k
   * centroids each, on the current backend, batched (see src/clustering/cluster-batch.ts).
   */
  async clusterPoints(items: readonly ClusterInput[], options: ClusterOptions = {}): Promise<ClusterResult[]> {
    this.checkOpen();
    const { h, k } = this.model.manifest;
    const run: KMeansRunner = async (jobs, dim, maxIterations, tolerance) => (await this.devices.run('kmeans', (b) => b.kmeans(jobs, dim, maxIterations, tolerance))).value;
    return clusterBatch(run, items, h, k, options);
  }

  /**
   * The transform for stored universal vectors, where one vector the model maps out of range must
   * not fail the others: rows that fail are zero and flagged 0 in `ok`.
   */
  async transformUsable(x: Float32Array, count: number): Promise<{ e: Float32Array; ok: Uint8Array }> {
    const { h, m } = this.model.manifest;
    try {
      return { e: await this.transform(x, count), ok: new Uint8Array(count).fill(1) };
    } catch (err) {
      if (!(err instanceof RalmError) || err.code !== 'RALM_ERR_NON_FINITE') throw err;
    }
    const e = new Float32Array(count * h);
    const ok = new Uint8Array(count);
    for (let r = 0; r < count; r++) {
      try {
        e.set(await this.transform(x.subarray(r * m, (r + 1) * m), 1), r * h);
        ok[r] = 1;
      } catch (err) {
        if (!(err instanceof RalmError) || err.code !== 'RALM_ERR_NON_FINITE') throw err;
      }
    }
    return { e, ok };
  }

  /**
   * Checks items as upsertItems would (ids, widths, range, the table's storage), without
   * publishing anything: a caller that must persist before publishing checks first.
   */
  checkItems(items: readonly ItemCentroids[]): void {
    const { h, k } = this.model.manifest;
    packStored(items, h, k, this.table.storage);
  }

  /** Global vectors (and norms) for items' centroids, without publishing them. */
  async globalVectors(items: ReadonlyArray<{ centroids: Float32Array; count: number }>): Promise<{ globals: Float32Array; norms: Float32Array }> {
    this.checkOpen();
    const { h, k } = this.model.manifest;
    const compact = new Float32Array(items.length * k * h);
    const counts = new Uint32Array(items.length);
    items.forEach((it, i) => {
      if (it.count < 1 || it.count > k || it.centroids.length < it.count * h) throw new RalmError('RALM_ERR_DIMENSION', `items[${i}]: expected 1 to ${k} centroids of width ${h}`);
      compact.set(it.centroids.subarray(0, it.count * h), i * k * h);
      counts[i] = it.count;
    });
    roundStored(compact, h, this.table.storage);
    return (await this.devices.run('global-attention', (b) => b.globalAttention(compact, counts))).value;
  }

  /**
   * Audience expansion's user scan on the current backend (the CPU when the device cannot hold
   * the scan's scores); re-run on the CPU if the device is lost mid-scan.
   */
  async scanUsers(job: ScanJob): Promise<{ hits: ScanHits[]; backend: BackendKind; adapter: string }> {
    this.checkOpen();
    const positions = job.pool ? job.pool.length : job.snapshot.rowCount;
    const gpu = this.devices.gpu;
    if (gpu && !gpu.canScan(positions, job.sets.length)) {
      const cpu = this.devices.cpu;
      return { hits: await cpu.scanUsers(job), backend: cpu.kind, adapter: cpu.adapterName };
    }
    const { value, backend } = await this.devices.run('audience', (b) => b.scanUsers(job));
    return { hits: value, backend: backend.kind, adapter: backend.adapterName };
  }

  /** Destroys the GPU device as a driver reset would; for tests and drills. */
  simulateDeviceLoss(): void {
    this.devices.simulateLoss();
  }

  /** Releases the device (so the process can exit) and rejects further calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.devices.stopRecovery();
    await this.updateTail;
    this.devices.release();
  }
}
