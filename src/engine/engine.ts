/**
 * The engine: the one entry point that decides CPU or WebGPU. It validates input, keeps the
 * item table, pins a table snapshot per batch, prepares each request's q = W_l e once, and
 * hands arithmetic to the backend. If the GPU device is lost, work continues on the CPU from
 * the authoritative host table while the engine tries to get a device back.
 */
import { performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import type { Backend, BackendKind, PreparedRequest, ScoredRows } from '../core/backend.js';
import { clusterBatch, type ClusterInput, type ClusterOptions, type ClusterResult, type KMeansRunner } from '../clustering/cluster-batch.js';
import { ItemTable, paddedStride, type CentroidStorage } from '../core/item-table.js';
import { floatToHalfBits, halfBitsToFloat } from '../util/half.js';
import { CpuBackend, defaultCpuKernel, type CpuKernel } from '../cpu/cpu-backend.js';
import { transformCpu } from '../model/transform.js';
import { kernelModule, scratchBytes } from '../cpu/wasm-kernel.js';
import { GpuBackend } from '../gpu/gpu-backend.js';
import { openGpu, type GpuContext } from '../gpu/device.js';
import type { RalmModel } from '../model/model.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { RalmError } from '../util/errors.js';
import { assertFiniteValues, finiteVector } from './validate.js';
import type { ScanHits, ScanJob } from '../core/scan.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface EngineOptions {
  /**
   * `auto` uses WebGPU when a hardware adapter exists, else the CPU (a software rasteriser such as
   * lavapipe is correct but slower than the CPU backend); `webgpu` insists on WebGPU, software or
   * not; `cpu` never opens a device. Default `auto`.
   */
  backend?: BackendChoice;
  /** Centroid storage on the device; `f16` halves memory and bandwidth. Default `f32`. */
  storage?: CentroidStorage;
  /** Substring of the adapter name to use. */
  adapter?: string;
  /** Slots per table page; default: as many as fit min(device binding limit, maxPageBytes). */
  slotsPerPage?: number;
  /** Upper bound on one page's centroid bytes on the device. Default 256 MiB. */
  maxPageBytes?: number;
  /** CPU scoring kernel: WebAssembly SIMD (default where available) or the scalar TypeScript loop. */
  cpuKernel?: CpuKernel;
  /** Threads for large CPU requests (1 or 2; the wasm kernel only). Default 2 when the host has 2+ cores. */
  cpuThreads?: number;
  /** Try to reacquire a device after a loss. Default true. */
  recoverDevice?: boolean;
  /** First retry delay after a device loss, doubled per failure up to 30 s. Default 1000 ms. */
  recoveryDelayMs?: number;
  /** Receives operational events (device lost, recovered, fallbacks). */
  onEvent?: (event: EngineEvent) => void;
}

export type EngineEvent =
  | { type: 'device-lost'; reason: string; message: string }
  | { type: 'device-recovered'; adapter: string }
  | { type: 'device-recovery-failed'; error: string; retryInMs: number }
  | { type: 'cpu-fallback'; operation: string; error: string }
  | { type: 'software-adapter-skipped'; adapter: string };

/**
 * A user, exactly one of: the look-alike embedding e (width h); the universal embedding x (width m)
 * to run through T; or raw features `{fieldName: value}` to run through the model's user tower
 * (src/model/user-tower.ts) and then T.
 */
export interface UserInput {
  embedding?: ArrayLike<number>;
  universal?: ArrayLike<number>;
  features?: Readonly<Record<string, unknown>>;
}

export interface RankRequest {
  user: UserInput;
  /** Item ids to rank; every item in the table when omitted. Duplicates are ranked once. */
  candidates?: readonly string[];
  /** How many results. */
  k: number;
  /** Item ids never to return. */
  exclude?: readonly string[];
}

export interface RankedItem {
  id: string;
  score: number;
  cosGlobal: number;
  cosLocal: number;
  /** The item was published as cold (too few seeds for the look-alike to be trusted). */
  cold: boolean;
}

export interface ResultInfo {
  backend: BackendKind;
  adapter: string;
  modelVersion: string;
  /** Milliseconds from the batch's start to its results. */
  elapsedMs: number;
}

export interface RankResult extends ResultInfo {
  items: RankedItem[];
  /** Candidates actually scored (after de-duplication and exclusions). */
  candidates: number;
}

export interface ScoreRequest {
  user: UserInput;
  /** Item ids; scores come back in this order, duplicates included. */
  items: readonly string[];
}

export interface ScoreResult extends ResultInfo {
  scores: Float32Array;
  cosGlobal: Float32Array;
  cosLocal: Float32Array;
  /** 1 where the item is cold. */
  cold: Uint8Array;
}

export interface ItemCentroids {
  id: string;
  /** `count` rows of width h, row-major (count = length / h, 1 ≤ count ≤ k). */
  centroids: ArrayLike<number>;
  /**
   * The item's global vector (width h) when already known (restored from a store, exported by a
   * trainer). When absent it is computed by global attention on the backend.
   */
  global?: ArrayLike<number>;
  /** Below the cold-start seed threshold: scored like any item, and flagged `cold` in results. */
  cold?: boolean;
}

export interface EngineStats {
  batches: number;
  requests: number;
  candidates: number;
  cpuFallbacks: number;
  deviceLosses: number;
  deviceRecoveries: number;
  itemsUpserted: number;
  itemsRemoved: number;
}

const DEFAULT_MAX_PAGE_BYTES = 256 * 1024 * 1024;
/** The binding size every WebGPU device supports; used for page sizing when no device is open. */
const SPEC_DEFAULT_BINDING = 128 * 1024 * 1024;

export class RalmEngine {
  readonly model: RalmModel;
  readonly table: ItemTable;
  readonly stats: EngineStats = {
    batches: 0, requests: 0, candidates: 0, cpuFallbacks: 0, deviceLosses: 0, deviceRecoveries: 0, itemsUpserted: 0, itemsRemoved: 0,
  };

  private readonly options: Required<Omit<EngineOptions, 'adapter' | 'slotsPerPage' | 'onEvent' | 'cpuKernel' | 'cpuThreads'>> &
    Pick<EngineOptions, 'adapter' | 'onEvent'> & { cpuKernel: CpuKernel; cpuThreads: number };
  private readonly cpu: CpuBackend;
  private gpu: GpuBackend | undefined;
  private gpuCtx: GpuContext | undefined;
  private updateTail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private recoveryTimer: NodeJS.Timeout | undefined;

  private constructor(model: RalmModel, table: ItemTable, options: RalmEngine['options']) {
    this.model = model;
    this.table = table;
    this.options = options;
    this.cpu = new CpuBackend(model, options.cpuKernel, options.cpuThreads);
  }

  /** Opens the engine. With backend `webgpu` and no adapter, fails with RALM_ERR_BACKEND_UNAVAILABLE. */
  static async create(model: RalmModel, options: EngineOptions = {}): Promise<RalmEngine> {
    const o = {
      backend: options.backend ?? 'auto',
      storage: options.storage ?? 'f32',
      maxPageBytes: options.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES,
      recoverDevice: options.recoverDevice ?? true,
      recoveryDelayMs: options.recoveryDelayMs ?? 1000,
      adapter: options.adapter,
      onEvent: options.onEvent,
      cpuKernel: options.cpuKernel ?? defaultCpuKernel(),
      cpuThreads: options.cpuThreads ?? Math.min(2, availableParallelism()),
    };
    if (o.cpuThreads !== 1 && o.cpuThreads !== 2) {
      throw new RalmError('RALM_ERR_VALIDATION', `cpuThreads: expected 1 or 2, got ${JSON.stringify(o.cpuThreads)}`);
    }
    if (o.cpuKernel !== 'wasm' && o.cpuKernel !== 'scalar') {
      throw new RalmError('RALM_ERR_VALIDATION', `cpuKernel: expected "wasm" or "scalar", got ${JSON.stringify(o.cpuKernel)}`);
    }
    if (o.cpuKernel === 'wasm' && !kernelModule()) {
      throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'cpuKernel "wasm" was requested but the WebAssembly kernel is not built or this runtime lacks WebAssembly SIMD');
    }
    if (!['auto', 'webgpu', 'cpu'].includes(o.backend)) {
      throw new RalmError('RALM_ERR_VALIDATION', `backend: expected "auto", "webgpu" or "cpu", got ${JSON.stringify(o.backend)}`);
    }
    if (o.storage !== 'f32' && o.storage !== 'f16') {
      throw new RalmError('RALM_ERR_VALIDATION', `storage: expected "f32" or "f16", got ${JSON.stringify(o.storage)}`);
    }
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
    const slotsPerPage = options.slotsPerPage ?? Math.max(1, Math.floor(Math.min(limit, o.maxPageBytes) / bytesPerSlot));
    if (slotsPerPage * bytesPerSlot > limit) {
      throw new RalmError('RALM_ERR_VALIDATION', `slotsPerPage ${slotsPerPage} makes a ${slotsPerPage * bytesPerSlot}-byte page, above the device binding limit of ${limit}`);
    }
    const table = new ItemTable({ h, k, storage: o.storage, slotsPerPage, wasmScratchBytes: o.cpuKernel === 'wasm' ? scratchBytes(paddedStride(h), k) : undefined });
    const engine = new RalmEngine(model, table, o);
    if (ctx) {
      try {
        await engine.attachGpu(ctx);
      } catch (err) {
        ctx.destroy();
        if (o.backend === 'webgpu') throw err;
        o.onEvent?.({ type: 'cpu-fallback', operation: 'open', error: (err as Error).message });
      }
    }
    return engine;
  }

  private async attachGpu(ctx: GpuContext): Promise<void> {
    const backend = await GpuBackend.create(ctx, this.model, { storage: this.table.storage });
    const all = this.table.allSlots().slots;
    backend.syncSlots(this.table, Array.from(all));
    this.gpu = backend;
    this.gpuCtx = ctx;
    void ctx.lost.then((info) => this.onDeviceLost(ctx, info));
  }

  private onDeviceLost(ctx: GpuContext, info: GPUDeviceLostInfo): void {
    if (this.gpuCtx !== ctx || this.closed) return;
    this.gpu = undefined;
    this.gpuCtx = undefined;
    this.stats.deviceLosses++;
    this.options.onEvent?.({ type: 'device-lost', reason: String(info.reason), message: info.message });
    if (this.options.recoverDevice) this.scheduleRecovery(this.options.recoveryDelayMs);
  }

  private scheduleRecovery(delay: number): void {
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = undefined;
      void this.exclusiveUpdate(async () => {
        if (this.closed || this.gpu) return;
        try {
          const ctx = await openGpu({ adapter: this.options.adapter });
          if (!ctx) throw new Error('no adapter');
          try {
            await this.attachGpu(ctx);
          } catch (err) {
            ctx.destroy();
            throw err;
          }
          this.stats.deviceRecoveries++;
          this.options.onEvent?.({ type: 'device-recovered', adapter: ctx.adapterName });
        } catch (err) {
          const next = Math.min(delay * 2, 30_000);
          this.options.onEvent?.({ type: 'device-recovery-failed', error: (err as Error).message, retryInMs: next });
          if (!this.closed) this.scheduleRecovery(next);
        }
      });
    }, delay);
    this.recoveryTimer.unref();
  }

  /** The backend serving requests now. */
  get backendKind(): BackendKind {
    return this.gpu ? 'webgpu' : 'cpu';
  }

  get adapterName(): string {
    return this.gpu ? this.gpu.adapterName : this.cpu.adapterName;
  }

  /** True when the WebGPU adapter is a software rasteriser (lavapipe): correct but slow. */
  get isSoftwareAdapter(): boolean {
    return this.gpuCtx?.isSoftware ?? false;
  }

  /** WebGPU errors that no error scope caught (validation, out-of-memory); empty when healthy. */
  get gpuErrors(): readonly string[] {
    return this.gpuCtx?.uncapturedErrors ?? [];
  }

  /** Device memory held by the WebGPU backend, in bytes (0 on the CPU). */
  get deviceBytes(): number {
    return this.gpu?.memory.bytes ?? 0;
  }

  private get backend(): Backend {
    return this.gpu ?? this.cpu;
  }

  private exclusiveUpdate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.updateTail.then(fn, fn);
    this.updateTail = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new RalmError('RALM_ERR_CLOSED', 'the engine is closed');
  }

  /**
   * Runs `fn` on the current backend; if that is the GPU and the device turns out to be lost,
   * runs it again on the CPU. Any other GPU error propagates: a wrong answer is worse than an error.
   */
  private async onBackend<T>(operation: string, fn: (b: Backend) => Promise<T>): Promise<{ value: T; backend: Backend }> {
    const b = this.backend;
    try {
      return { value: await fn(b), backend: b };
    } catch (err) {
      if (b === this.cpu) throw err;
      const ctx = (b as GpuBackend) === this.gpu ? this.gpuCtx : undefined;
      const lost = ctx === undefined || (await Promise.race([ctx.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]));
      if (!lost) throw err;
      this.stats.cpuFallbacks++;
      this.options.onEvent?.({ type: 'cpu-fallback', operation, error: (err as Error).message });
      return { value: await fn(this.cpu), backend: this.cpu };
    }
  }

  // ------------------------------------------------------------------ users

  /** A centroid value as the table stores it: in f16 mode every backend scores half-precision values. */
  private stored(v: number): number {
    return this.table.storage === 'f16' ? halfBitsToFloat(floatToHalfBits(v)) : v;
  }

  /** The look-alike embedding e of a user input, validated. */
  userEmbedding(user: UserInput, field = 'user'): Float32Array {
    const { h, m } = this.model.manifest;
    if (user === null || typeof user !== 'object') throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected an object with "embedding", "universal" or "features"`, { field });
    const hasE = user.embedding !== undefined;
    const hasX = user.universal !== undefined;
    const hasF = user.features !== undefined;
    if (Number(hasE) + Number(hasX) + Number(hasF) !== 1) {
      throw new RalmError('RALM_ERR_VALIDATION', `${field}: give exactly one of "embedding" (width ${h}), "universal" (width ${m}) or "features"`, { field });
    }
    if (hasF) return transformCpu(this.model, embedUserFeatures(this.model, user.features, `${field}.features`).universal, 1);
    const name = hasE ? `${field}.embedding` : `${field}.universal`;
    const v = finiteVector(hasE ? user.embedding : user.universal, name, hasE ? h : m);
    return hasE ? v : transformCpu(this.model, v, 1);
  }

  private prepare(e: Float32Array, slots: Uint32Array, topK: number): PreparedRequest {
    const { h } = this.model.manifest;
    const stride = this.table.stride;
    const W = this.model.weights.localWeight;
    const q = new Float32Array(stride);
    const ep = new Float32Array(stride);
    let ee = 0;
    for (let o = 0; o < h; o++) {
      let z = 0;
      for (let i = 0; i < h; i++) z += W[o * h + i] * e[i];
      q[o] = z;
      ep[o] = e[o];
      ee += e[o] * e[o];
    }
    return { slots, q, e: ep, eNorm: Math.sqrt(ee), topK };
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
    const seen = new Set<string>();
    const counts = new Uint32Array(items.length);
    const compact = new Float32Array(items.length * k * h);
    items.forEach((it, i) => {
      const field = `items[${i}]`;
      if (typeof it?.id !== 'string' || it.id.length === 0) throw new RalmError('RALM_ERR_VALIDATION', `${field}.id: expected a non-empty string`, { field: `${field}.id` });
      if (seen.has(it.id)) throw new RalmError('RALM_ERR_VALIDATION', `${field}.id: "${it.id}" appears twice in one update`, { field: `${field}.id` });
      seen.add(it.id);
      const c = it.centroids;
      if (!c || typeof c.length !== 'number' || c.length === 0 || c.length % h !== 0 || c.length / h > k) {
        throw new RalmError('RALM_ERR_DIMENSION', `${field}.centroids: expected 1 to ${k} rows of ${h} values (a multiple of ${h} up to ${k * h}), got ${c?.length}`, { field: `${field}.centroids` });
      }
      assertFiniteValues(c, `${field}.centroids`);
      for (let j = 0; j < c.length; j++) compact[i * k * h + j] = this.stored(c[j]);
      counts[i] = c.length / h;
      if (it.global !== undefined) finiteVector(it.global, `${field}.global`, h);
    });
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
      const computed = need.length > 0 ? (await this.onBackend('global-attention', (b) => b.globalAttention(needCentroids, needCounts))).value : undefined;
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
          this.table.writeSlot(slots[i], compact.subarray(i * k * h, i * k * h + counts[i] * h), counts[i], globals.subarray(i * h, (i + 1) * h), norms[i], it.cold === true);
        });
        this.gpu?.syncSlots(this.table, slots);
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
    requests.forEach((r, i) => {
      if (!Number.isSafeInteger(r.k) || r.k < 1) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].k: expected an integer >= 1, got ${String(r.k)}`, { field: `requests[${i}].k` });
      if (r.candidates !== undefined && !Array.isArray(r.candidates)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].candidates: expected an array of item ids`, { field: `requests[${i}].candidates` });
      if (r.exclude !== undefined && !Array.isArray(r.exclude)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].exclude: expected an array of item ids`, { field: `requests[${i}].exclude` });
    });
    const snapshot = this.table.acquire();
    try {
      const ids: Array<readonly string[]> = [];
      const prepared = requests.map((r, i) => {
        const cand = this.table.candidates(r.candidates, r.exclude, `requests[${i}].candidates`);
        ids.push(cand.ids);
        return this.prepare(es[i], cand.slots, Math.min(r.k, Math.max(1, cand.slots.length)));
      });
      const nonEmpty = prepared.map((p, i) => (p.slots.length > 0 ? i : -1)).filter((i) => i >= 0);
      const { value: rows, backend } = nonEmpty.length > 0
        ? await this.onBackend('rank', (b) => b.run(nonEmpty.map((i) => prepared[i]), this.table))
        : { value: [] as ScoredRows[], backend: this.backend };
      this.count(prepared);
      const elapsedMs = performance.now() - t0;
      const info = { backend: backend.kind, adapter: backend.adapterName, modelVersion: this.model.manifest.modelVersion, elapsedMs };
      const out: RankResult[] = prepared.map((p) => ({ ...info, items: [], candidates: p.slots.length }));
      nonEmpty.forEach((ri, j) => {
        const rr = rows[j];
        const slots = prepared[ri].slots;
        out[ri].items = Array.from(rr.index, (pos, t) => ({
          id: ids[ri][pos], score: rr.score[t], cosGlobal: rr.cosGlobal[t], cosLocal: rr.cosLocal[t], cold: this.table.isCold(slots[pos]),
        }));
      });
      return out;
    } finally {
      snapshot.release();
    }
  }

  /** Scores the given items for each request, in input order. */
  async score(requests: readonly ScoreRequest[]): Promise<ScoreResult[]> {
    this.checkOpen();
    const t0 = performance.now();
    const es = requests.map((r, i) => this.userEmbedding(r?.user, `requests[${i}].user`));
    requests.forEach((r, i) => {
      if (!Array.isArray(r.items)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].items: expected an array of item ids`, { field: `requests[${i}].items` });
    });
    const snapshot = this.table.acquire();
    try {
      const prepared = requests.map((r, i) => this.prepare(es[i], this.table.resolve(r.items, `requests[${i}].items`), 0));
      const nonEmpty = prepared.map((p, i) => (p.slots.length > 0 ? i : -1)).filter((i) => i >= 0);
      const { value: rows, backend } = nonEmpty.length > 0
        ? await this.onBackend('score', (b) => b.run(nonEmpty.map((i) => prepared[i]), this.table))
        : { value: [] as ScoredRows[], backend: this.backend };
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
    const { m } = this.model.manifest;
    if (!Number.isSafeInteger(count) || count < 0 || x.length !== count * m) {
      throw new RalmError('RALM_ERR_DIMENSION', `transform: expected ${count} vectors of width ${m} (${count * m} values), got ${x.length}`);
    }
    const xs = finiteVector(x, 'transform', count * m);
    const { value } = await this.onBackend('transform', (b) => b.transform(xs, count));
    return value;
  }

  /**
   * Clusters several items' points (seed users in the transformed space, width h) into at most k
   * centroids each, on the current backend, batched (see src/clustering/cluster-batch.ts).
   */
  async clusterPoints(items: readonly ClusterInput[], options: ClusterOptions = {}): Promise<ClusterResult[]> {
    this.checkOpen();
    const { h, k } = this.model.manifest;
    const run: KMeansRunner = async (jobs, dim, maxIterations, tolerance) => (await this.onBackend('kmeans', (b) => b.kmeans(jobs, dim, maxIterations, tolerance))).value;
    return clusterBatch(run, items, h, k, options);
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
    if (this.table.storage === 'f16') for (let i = 0; i < compact.length; i++) compact[i] = this.stored(compact[i]);
    return (await this.onBackend('global-attention', (b) => b.globalAttention(compact, counts))).value;
  }

  /**
   * Audience expansion's user scan on the current backend (the CPU when the device cannot hold
   * the scan's scores); re-run on the CPU if the device is lost mid-scan.
   */
  async scanUsers(job: ScanJob): Promise<{ hits: ScanHits[]; backend: BackendKind; adapter: string }> {
    this.checkOpen();
    const positions = job.pool ? job.pool.length : job.snapshot.rowCount;
    const gpuFits = this.gpu?.canScan(positions, job.sets.length) ?? false;
    if (this.gpu && !gpuFits) {
      const hits = await this.cpu.scanUsers(job);
      return { hits, backend: 'cpu', adapter: this.cpu.adapterName };
    }
    const { value, backend } = await this.onBackend('audience', (b) => b.scanUsers(job));
    return { hits: value, backend: backend.kind, adapter: backend.adapterName };
  }

  /** Destroys the GPU device as a driver reset would; for tests and drills. */
  simulateDeviceLoss(): void {
    this.gpuCtx?.destroy();
  }

  /** Releases the device (so the process can exit) and rejects further calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    await this.updateTail;
    const gpu = this.gpu;
    this.gpu = undefined;
    this.gpuCtx = undefined;
    gpu?.destroy();
    this.cpu.destroy();
  }
}
