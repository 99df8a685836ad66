/**
 * The WebGPU backend. Buffers are persistent: the item table's pages, the model weights and
 * growable per-batch buffers are created once and reused (creating and destroying buffers per
 * request leaks memory in dawn.node). Batches are serialised: one batch is on the queue at a time.
 *
 * A ranking batch is one command buffer: one scorer dispatch per table page that the batch
 * touches (a single dispatch when the table fits one page), the top-K select passes, and a
 * gather; only K rows per request are read back.
 */
import type { Backend, KMeansJob, KMeansRun, PreparedRequest, ScoredRows } from '../core/backend.js';
import { paddedStride } from '../core/item-table.js';
import type { ItemTable } from '../core/item-table.js';
import { floatToHalfBits } from '../util/half.js';
import type { RalmModel } from '../model/model.js';
import { ZERO_NORM } from '../model/reference.js';
import { rowsFromScores } from '../core/top-k.js';
import { RalmError } from '../util/errors.js';
import type { GpuContext } from './device.js';
import {
  assembleShader,
  audienceProgram,
  dispatchSize,
  globalAttentionProgram,
  kmeansAssignProgram,
  kmeansUpdateProgram,
  scoreProgram,
  shaderLocation,
  topKGatherProgram,
  topKSelectProgram,
  transformProgram,
  type ProgramInfo,
} from './programs.js';
import { checkModelFits, GPU_LIMITS } from './limits.js';
import { packUniforms, type UniformValues } from './uniforms.js';
import { cancelled, scanPositions, type ScanHits, type ScanJob } from '../core/scan.js';
import { TopSelector } from '../core/top-k.js';
import type { UserTable } from '../core/user-table.js';

const STORAGE = 0x0080; // GPUBufferUsage.STORAGE
const UNIFORM = 0x0040;
const COPY_DST = 0x0008;
const COPY_SRC = 0x0004;
const MAP_READ = 0x0001;
const MAP_MODE_READ = 0x0001;
/** Scores at or below this are the audience kernel's "skipped" sentinel (-3e38), never real scores. */
const SKIPPED_ABOVE = -1e38;

/** A buffer that is replaced (rarely) by a larger one; `generation` invalidates cached bind groups. */
class GrowableBuffer {
  buffer: GPUBuffer;
  capacity: number;
  generation = 0;
  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
    private readonly usage: number,
    private readonly counter: { bytes: number },
    initial = 256,
    /** Growth never goes past this (the binding limit), so a buffer that fits stays bindable. */
    private readonly limit = Number.MAX_SAFE_INTEGER,
  ) {
    this.capacity = initial;
    this.buffer = device.createBuffer({ label, size: initial, usage });
    counter.bytes += initial;
  }
  ensure(bytes: number): GPUBuffer {
    if (bytes > this.capacity) {
      const size = Math.max(Math.ceil(bytes / 256) * 256, Math.min(this.capacity * 2, this.limit));
      this.buffer.destroy();
      this.counter.bytes -= this.capacity;
      this.buffer = this.device.createBuffer({ label: this.label, size, usage: this.usage });
      this.counter.bytes += size;
      this.capacity = size;
      this.generation++;
    }
    return this.buffer;
  }
  destroy(): void {
    this.buffer.destroy();
  }
}

interface GpuPage {
  centroids: GPUBuffer;
  globals: GPUBuffer;
  meta: GPUBuffer;
  uniform: GPUBuffer;
}

export interface GpuBackendOptions {
  storage: 'f32' | 'f16';
}

export class GpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly adapterName: string;
  /** Bytes of device memory this backend holds. */
  readonly memory = { bytes: 0 };

  private readonly ctx: GpuContext;
  private readonly device: GPUDevice;
  private readonly model: RalmModel;
  private readonly f16: boolean;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pages: GpuPage[] = [];
  private readonly weights: Record<'tw' | 'tb' | 'tp' | 'gm' | 'gv', GPUBuffer>;
  private readonly buf: Record<
    | 'users' | 'norms' | 'work' | 'results' | 'tiles' | 'pairsA' | 'pairsB' | 'rows' | 'readback' | 'in1' | 'in2' | 'out1' | 'out2'
    | 'kmPoints' | 'kmPointItem' | 'kmItems' | 'kmCentroids' | 'kmAssign' | 'kmChanged'
    | 'audList' | 'audSets' | 'audD' | 'audGram' | 'audSkip' | 'audResults',
    GrowableBuffer
  >;
  private readonly passUniforms: GPUBuffer[] = [];
  private readonly miscUniform: GPUBuffer;
  private queueTail: Promise<unknown> = Promise.resolve();
  /** Audience scans run one at a time (they share the audience buffers); other GPU work interleaves between their pages. */
  private scanTail: Promise<unknown> = Promise.resolve();
  private userMirror: { tableId: number; pages: Array<{ rows: GPUBuffer; norms: GPUBuffer; uniform: GPUBuffer }> } | undefined;
  private destroyed = false;

  private constructor(ctx: GpuContext, model: RalmModel, options: GpuBackendOptions) {
    this.ctx = ctx;
    this.device = ctx.device;
    this.model = model;
    this.f16 = options.storage === 'f16';
    this.adapterName = ctx.adapterName;
    checkModelFits(model.manifest);
    const w = model.weights;
    this.weights = {
      tw: this.upload('transform.weight', w.transformWeight),
      tb: this.upload('transform.bias', w.transformBias),
      tp: this.upload('transform.prelu', w.transformPrelu),
      gm: this.upload('global.weight', w.globalWeight),
      gv: this.upload('global.vector', w.globalVector),
    };
    const bindLimit = Math.floor(ctx.limits.maxStorageBufferBindingSize / 256) * 256;
    const g = (label: string, usage: number): GrowableBuffer => new GrowableBuffer(this.device, label, usage, this.memory, 256, usage & STORAGE ? bindLimit : Number.MAX_SAFE_INTEGER);
    this.buf = {
      users: g('users', STORAGE | COPY_DST),
      norms: g('user norms', STORAGE | COPY_DST),
      work: g('work list', STORAGE | COPY_DST),
      results: g('scores', STORAGE | COPY_SRC),
      tiles: g('top-k tiles', STORAGE | COPY_DST),
      pairsA: g('top-k pairs A', STORAGE),
      pairsB: g('top-k pairs B', STORAGE),
      rows: g('top-k rows', STORAGE | COPY_SRC),
      readback: g('readback', MAP_READ | COPY_DST),
      in1: g('kernel input 1', STORAGE | COPY_DST),
      in2: g('kernel input 2', STORAGE | COPY_DST),
      out1: g('kernel output 1', STORAGE | COPY_SRC),
      out2: g('kernel output 2', STORAGE | COPY_SRC),
      kmPoints: g('k-means points', STORAGE | COPY_DST),
      kmPointItem: g('k-means point items', STORAGE | COPY_DST),
      kmItems: g('k-means items', STORAGE | COPY_DST),
      kmCentroids: g('k-means centroids', STORAGE | COPY_DST | COPY_SRC),
      kmAssign: g('k-means assignments', STORAGE | COPY_DST | COPY_SRC),
      kmChanged: g('k-means changes', STORAGE | COPY_DST | COPY_SRC),
      audList: g('audience pool list', STORAGE | COPY_DST),
      audSets: g('audience sets', STORAGE | COPY_DST),
      audD: g('audience D', STORAGE | COPY_DST),
      audGram: g('audience Gram', STORAGE | COPY_DST),
      audSkip: g('audience skip masks', STORAGE | COPY_DST),
      audResults: g('audience scores', STORAGE | COPY_SRC),
    };
    this.miscUniform = this.createBuffer('misc uniforms', 256, UNIFORM | COPY_DST);
  }

  /** Compiles every pipeline (reporting WGSL errors with their line) before the backend is used. */
  static async create(ctx: GpuContext, model: RalmModel, options: GpuBackendOptions): Promise<GpuBackend> {
    const backend = new GpuBackend(ctx, model, options);
    const programs = [
      scoreProgram(backend.f16), globalAttentionProgram, transformProgram, topKSelectProgram, topKGatherProgram, kmeansAssignProgram, kmeansUpdateProgram,
      audienceProgram,
    ];
    await Promise.all(programs.map((p) => backend.pipeline(p)));
    return backend;
  }

  private createBuffer(label: string, size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
    this.memory.bytes += b.size;
    return b;
  }

  private upload(label: string, data: Float32Array): GPUBuffer {
    const b = this.createBuffer(label, data.byteLength, STORAGE | COPY_DST);
    this.device.queue.writeBuffer(b, 0, data);
    return b;
  }

  private async pipeline(p: ProgramInfo): Promise<GPUComputePipeline> {
    const cached = this.pipelines.get(p.cacheKey);
    if (cached) return cached;
    const shader = assembleShader(p.shaderFile);
    const module = this.device.createShaderModule({ label: p.shaderFile, code: shader.code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      throw new Error(`${p.shaderFile}: ${errors.map((m) => `${shaderLocation(shader, m.lineNum)}:${m.linePos} ${m.message}`).join('; ')}`);
    }
    const pipeline = await this.device.createComputePipelineAsync({
      label: p.name,
      layout: 'auto',
      compute: { module, entryPoint: p.entryPoint, constants: p.constants },
    });
    this.pipelines.set(p.cacheKey, pipeline);
    return pipeline;
  }

  private pipelineSync(p: ProgramInfo): GPUComputePipeline {
    const pl = this.pipelines.get(p.cacheKey);
    if (!pl) throw new Error(`pipeline ${p.name} was not compiled`);
    return pl;
  }

  /**
   * Serialises GPU work (each call waits for the previous one) and runs it inside validation and
   * out-of-memory error scopes: a GPU error becomes an exception, never a silently wrong result.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const scoped = async (): Promise<T> => {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      let result: T | undefined;
      let failure: unknown;
      try {
        result = await fn();
      } catch (err) {
        failure = err;
      }
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (failure !== undefined) throw failure;
      const gpuError = validation ?? oom;
      if (gpuError) throw new Error(`WebGPU error: ${gpuError.message}`);
      return result as T;
    };
    const run = this.queueTail.then(scoped, scoped);
    this.queueTail = run.catch(() => undefined);
    return run;
  }

  private writeUniform(buffer: GPUBuffer, p: ProgramInfo, values: UniformValues, offset = 0): void {
    this.device.queue.writeBuffer(buffer, offset, packUniforms(p.uniforms, values));
  }

  /**
   * Binds `entries` (index = binding number; null for a binding this entry point does not use,
   * which its 'auto' layout omits) and dispatches enough workgroups for `invocations`.
   */
  private dispatch(pass: GPUComputePassEncoder, p: ProgramInfo, entries: Array<GPUBuffer | null>, invocations: number): void {
    const pl = this.pipelineSync(p);
    // Bind groups are cheap, immutable views; buffers, which are not, are pooled.
    const bindGroup = this.device.createBindGroup({
      layout: pl.getBindGroupLayout(0),
      entries: entries.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
    });
    pass.setPipeline(pl);
    pass.setBindGroup(0, bindGroup);
    const [x, y] = dispatchSize(invocations, p.unitsPerWorkgroup, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    pass.dispatchWorkgroups(x, y);
  }

  private async readBack(copies: Array<{ src: GPUBuffer; bytes: number }>, encoder: GPUCommandEncoder): Promise<ArrayBuffer[]> {
    const total = copies.reduce((a, c) => a + Math.ceil(c.bytes / 4) * 4, 0);
    const rb = this.buf.readback.ensure(Math.max(4, total));
    let off = 0;
    for (const c of copies) {
      if (c.bytes > 0) encoder.copyBufferToBuffer(c.src, 0, rb, off, c.bytes);
      off += Math.ceil(c.bytes / 4) * 4;
    }
    this.device.queue.submit([encoder.finish()]);
    await rb.mapAsync(MAP_MODE_READ, 0, Math.max(4, total));
    const mapped = rb.getMappedRange(0, Math.max(4, total));
    const out: ArrayBuffer[] = [];
    off = 0;
    for (const c of copies) {
      out.push(mapped.slice(off, off + c.bytes));
      off += Math.ceil(c.bytes / 4) * 4;
    }
    rb.unmap();
    return out;
  }

  // ---------------------------------------------------------------- item table mirror

  private ensurePages(table: ItemTable): void {
    const bytesPerSlotCentroids = table.k * table.stride * (this.f16 ? 2 : 4);
    while (this.pages.length < table.pages.length) {
      const p = this.pages.length;
      this.pages.push({
        centroids: this.createBuffer(`page ${p} centroids`, table.slotsPerPage * bytesPerSlotCentroids, STORAGE | COPY_DST),
        globals: this.createBuffer(`page ${p} globals`, table.slotsPerPage * table.stride * 4, STORAGE | COPY_DST),
        meta: this.createBuffer(`page ${p} meta`, table.slotsPerPage * 8, STORAGE | COPY_DST),
        uniform: this.createBuffer(`page ${p} uniforms`, 256, UNIFORM | COPY_DST),
      });
    }
  }

  /**
   * Uploads host data. The host table lives in shared (SharedArrayBuffer-backed) memory, and
   * handing such a view to dawn.node's writeBuffer crashes the process: copy it first.
   */
  private writeHost(buffer: GPUBuffer, byteOffset: number, view: Float32Array | Uint32Array): void {
    const data = view.buffer instanceof SharedArrayBuffer ? view.slice() : view;
    this.device.queue.writeBuffer(buffer, byteOffset, data);
  }

  syncSlots(table: ItemTable, slots: readonly number[]): void {
    this.ensurePages(table);
    const sorted = Array.from(slots).sort((a, b) => a - b);
    const spp = table.slotsPerPage;
    const slotFloats = table.k * table.stride;
    // Coalesce runs of consecutive slots in one page into one write per buffer.
    for (let i = 0; i < sorted.length; ) {
      let j = i + 1;
      while (j < sorted.length && sorted[j] === sorted[j - 1] + 1 && Math.floor(sorted[j] / spp) === Math.floor(sorted[i] / spp)) j++;
      const page = Math.floor(sorted[i] / spp);
      const first = sorted[i] % spp;
      const n = j - i;
      const host = table.pages[page];
      const dev = this.pages[page];
      if (this.f16) {
        const src = host.centroids.subarray(first * slotFloats, (first + n) * slotFloats);
        const packed = new Uint32Array(src.length / 2);
        for (let t = 0; t < packed.length; t++) packed[t] = floatToHalfBits(src[2 * t]) | (floatToHalfBits(src[2 * t + 1]) << 16);
        this.device.queue.writeBuffer(dev.centroids, first * slotFloats * 2, packed);
      } else {
        this.writeHost(dev.centroids, first * slotFloats * 4, host.centroids.subarray(first * slotFloats, (first + n) * slotFloats));
      }
      this.writeHost(dev.globals, first * table.stride * 4, host.globals.subarray(first * table.stride, (first + n) * table.stride));
      this.writeHost(dev.meta, first * 8, host.meta.subarray(first * 2, (first + n) * 2));
      i = j;
    }
  }

  // ---------------------------------------------------------------- scoring

  run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    return this.exclusive(() => this.runNow(requests, table));
  }

  private async runNow(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    if (this.destroyed) throw new RalmError('RALM_ERR_DEVICE_LOST', 'the WebGPU device was released');
    this.ensurePages(table);
    const B = requests.length;
    const stride = table.stride;
    const spp = table.slotsPerPage;
    const offsets = new Uint32Array(B + 1);
    for (let r = 0; r < B; r++) offsets[r + 1] = offsets[r] + requests[r].slots.length;
    const total = offsets[B];

    // Users: q then e per request.
    const users = new Float32Array(B * 2 * stride);
    const norms = new Float32Array(Math.max(1, B));
    requests.forEach((r, i) => {
      users.set(r.q.subarray(0, stride), i * 2 * stride);
      users.set(r.e.subarray(0, stride), i * 2 * stride + stride);
      norms[i] = r.eNorm;
    });

    // Work list grouped by page.
    const perPage = new Uint32Array(table.pages.length);
    for (const r of requests) for (let c = 0; c < r.slots.length; c++) perPage[Math.floor(r.slots[c] / spp)]++;
    const pageStart = new Uint32Array(table.pages.length + 1);
    for (let p = 0; p < perPage.length; p++) pageStart[p + 1] = pageStart[p] + perPage[p];
    const fill = pageStart.slice(0, perPage.length);
    const work = new Uint32Array(Math.max(4, total * 4));
    requests.forEach((r, ri) => {
      for (let c = 0; c < r.slots.length; c++) {
        const s = r.slots[c];
        const p = Math.floor(s / spp);
        const at = fill[p]++ * 4;
        work[at] = s - p * spp;
        work[at + 1] = ri;
        work[at + 2] = offsets[ri] + c;
      }
    });

    const q = this.device.queue;
    q.writeBuffer(this.buf.users.ensure(users.byteLength), 0, users);
    q.writeBuffer(this.buf.norms.ensure(norms.byteLength), 0, norms);
    q.writeBuffer(this.buf.work.ensure(work.byteLength), 0, work);
    const results = this.buf.results.ensure(Math.max(16, total * 16));

    const encoder = this.device.createCommandEncoder({ label: 'ralm batch' });
    const pass = encoder.beginComputePass({ label: 'score + top-k' });
    const sp = scoreProgram(this.f16);
    const { alpha, beta } = this.model.manifest;
    for (let p = 0; p < perPage.length; p++) {
      if (perPage[p] === 0) continue;
      const page = this.pages[p];
      this.writeUniform(page.uniform, sp, {
        work_start: pageStart[p], work_count: perPage[p], k: table.k, row_vec4: stride / 4,
        alpha, beta, zero_norm: ZERO_NORM, _pad: 0,
      });
      this.dispatch(pass, sp, [page.uniform, page.centroids, page.globals, page.meta, this.buf.users.buffer, this.buf.norms.buffer, this.buf.work.buffer, results], perPage[p]);
    }

    const allScores = requests.every((r) => r.topK === 0);
    const hostSelect = requests.some((r) => r.topK > GPU_LIMITS.maxTopK);
    if (allScores || hostSelect) {
      pass.end();
      const [raw] = await this.readBack([{ src: results, bytes: total * 16 }], encoder);
      const f = new Float32Array(raw);
      return requests.map((r, ri) => {
        const n = r.slots.length;
        const score = new Float32Array(n);
        const cosGlobal = new Float32Array(n);
        const cosLocal = new Float32Array(n);
        for (let c = 0; c < n; c++) {
          const at = (offsets[ri] + c) * 4;
          score[c] = f[at];
          cosGlobal[c] = f[at + 1];
          cosLocal[c] = f[at + 2];
        }
        return rowsFromScores(score, cosGlobal, cosLocal, r.topK);
      });
    }
    return this.topK(requests.map((r) => ({ count: r.slots.length, keep: r.topK })), offsets, encoder, pass, results);
  }

  /**
   * Encodes the top-K passes and the gather for `lists` (list r: `count` results from
   * results[offsets[r]], keep the best `keep`), ends the pass, submits and reads back the rows.
   */
  private async topK(
    sources: ReadonlyArray<{ count: number; keep: number }>,
    offsets: Uint32Array,
    encoder: GPUCommandEncoder,
    pass: GPUComputePassEncoder,
    results: GPUBuffer,
  ): Promise<ScoredRows[]> {
    const B = sources.length;
    const keep = sources.map((r) => Math.min(r.keep, r.count));
    // Plan the passes on the host: lists[r] = (start, length) of list r's candidates in the current source.
    const descs: number[] = [];
    const passes: Array<{ descOffset: number; tiles: number; first: boolean }> = [];
    let lists = sources.map((r, i) => ({ start: offsets[i], length: r.count }));
    let first = true;
    let pairsNeeded = 0;
    for (;;) {
      const descOffset = descs.length / 4;
      let tiles = 0;
      let dst = 0;
      let more = false;
      const next: Array<{ start: number; length: number }> = [];
      lists.forEach((l, r) => {
        const nTiles = Math.max(1, Math.ceil(l.length / GPU_LIMITS.topKTile));
        if (nTiles > 1) more = true;
        const start = dst;
        for (let t = 0; t < nTiles; t++) {
          const count = Math.min(GPU_LIMITS.topKTile, l.length - t * GPU_LIMITS.topKTile);
          descs.push(l.start + t * GPU_LIMITS.topKTile, count, dst, t * GPU_LIMITS.topKTile, keep[r], 0, 0, 0);
          dst += Math.min(keep[r], count);
          tiles++;
        }
        next.push({ start, length: dst - start });
      });
      pairsNeeded = Math.max(pairsNeeded, dst);
      passes.push({ descOffset, tiles, first });
      lists = next;
      first = false;
      if (!more) break;
    }
    const gatherOffset = descs.length / 4;
    let rowCount = 0;
    lists.forEach((l, r) => {
      descs.push(l.start, l.length, offsets[r], rowCount);
      rowCount += l.length;
    });

    const q = this.device.queue;
    const tilesData = Uint32Array.from(descs);
    q.writeBuffer(this.buf.tiles.ensure(tilesData.byteLength), 0, tilesData);
    const pairBytes = Math.max(16, pairsNeeded * 8);
    const pairs = [this.buf.pairsA.ensure(pairBytes), this.buf.pairsB.ensure(pairBytes)];
    const rows = this.buf.rows.ensure(Math.max(16, rowCount * 16));
    while (this.passUniforms.length < passes.length + 1) {
      this.passUniforms.push(this.createBuffer(`top-k pass ${this.passUniforms.length} uniforms`, 256, UNIFORM | COPY_DST));
    }
    passes.forEach((p, i) => {
      this.writeUniform(this.passUniforms[i], topKSelectProgram, { tile_count: p.tiles, desc_offset: p.descOffset, first_pass: p.first ? 1 : 0, _pad: 0 });
      const src = pairs[(i + 1) % 2];
      const dst = pairs[i % 2];
      this.dispatch(pass, topKSelectProgram, [this.passUniforms[i], this.buf.tiles.buffer, results, src, dst], p.tiles);
    });
    const finalPairs = pairs[(passes.length - 1) % 2];
    const gu = this.passUniforms[passes.length];
    this.writeUniform(gu, topKGatherProgram, { tile_count: B, desc_offset: gatherOffset, first_pass: 0, _pad: 0 });
    // Binding 4 (dst) is unused by gather, so its auto layout omits it.
    this.dispatch(pass, topKGatherProgram, [gu, this.buf.tiles.buffer, results, finalPairs, null, rows], B);
    pass.end();

    const [raw] = await this.readBack([{ src: rows, bytes: rowCount * 16 }], encoder);
    const u = new Uint32Array(raw);
    const f = new Float32Array(raw);
    let at = 0;
    return lists.map((l) => {
      const n = l.length;
      const out = { index: new Uint32Array(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n) };
      for (let i = 0; i < n; i++, at++) {
        out.index[i] = u[at * 4];
        out.score[i] = f[at * 4 + 1];
        out.cosGlobal[i] = f[at * 4 + 2];
        out.cosLocal[i] = f[at * 4 + 3];
      }
      return out;
    });
  }

  // ---------------------------------------------------------------- audience expansion

  /** Bytes of the score buffer a scan of `positions` × `sets` needs, and whether this device can hold it. */
  canScan(positions: number, sets: number): boolean {
    const bytes = positions * sets * 16;
    return bytes <= this.ctx.limits.maxStorageBufferBindingSize && bytes <= this.ctx.limits.maxBufferSize;
  }

  /** Mirrors the user table's pages (rows and norms) into device buffers, uploading only what changed. */
  private syncUsers(table: UserTable, pages: number): void {
    if (this.userMirror?.tableId !== table.tableId) {
      for (const p of this.userMirror?.pages ?? []) {
        p.rows.destroy();
        p.norms.destroy();
        p.uniform.destroy();
        this.memory.bytes -= p.rows.size + p.norms.size + p.uniform.size;
      }
      this.userMirror = { tableId: table.tableId, pages: [] };
    }
    const mirror = this.userMirror;
    const rpp = table.rowsPerPage;
    const stride = table.stride;
    for (let p = 0; p < pages; p++) {
      const host = table.pages[p];
      let lo = host.dirtyLo;
      let hi = host.dirtyHi;
      if (p >= mirror.pages.length) {
        mirror.pages.push({
          rows: this.createBuffer(`user page ${p} rows`, rpp * stride * 4, STORAGE | COPY_DST),
          norms: this.createBuffer(`user page ${p} norms`, rpp * 4, STORAGE | COPY_DST),
          uniform: this.createBuffer(`user page ${p} uniforms`, 256, UNIFORM | COPY_DST),
        });
        lo = 0;
        hi = Math.min(rpp, table.rowCount - p * rpp);
      }
      if (lo < hi) {
        const dev = mirror.pages[p];
        this.writeHost(dev.rows, lo * stride * 4, host.rows.subarray(lo * stride, hi * stride));
        this.writeHost(dev.norms, lo * 4, host.norms.subarray(lo, hi));
      }
      host.dirtyLo = 0;
      host.dirtyHi = 0;
    }
  }

  /**
   * Scores the users of `job` against its seed sets: one dispatch per user-table page (all sets
   * at once), each page its own submission so that progress is reported, cancellation is honoured
   * and ranking requests interleave; then top-N on the GPU (N ≤ 512) or a host selection over
   * every score read back.
   */
  scanUsers(job: ScanJob): Promise<ScanHits[]> {
    const run = this.scanTail.then(() => this.scanUsersNow(job));
    this.scanTail = run.catch(() => undefined);
    return run;
  }

  private async scanUsersNow(job: ScanJob): Promise<ScanHits[]> {
    const { table, snapshot, pool, sets } = job;
    const P = scanPositions(job);
    const S = sets.length;
    if (P === 0 || S === 0) return sets.map(() => new TopSelector(0, 0).result());
    if (!this.canScan(P, S)) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `a scan of ${P} users × ${S} seed sets exceeds this device's buffer limit`);
    for (const s of sets) {
      if (s.set.count > GPU_LIMITS.maxK) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `the WebGPU audience kernel supports k <= ${GPU_LIMITS.maxK}`);
    }
    const rpp = table.rowsPerPage;
    const rv = table.stride / 4;
    const pages = Math.ceil(snapshot.rowCount / rpp);

    // Set descriptors, D and G back to back, skip masks (dense: dead | excluded, per set).
    const setsData = new Uint32Array(S * 8);
    const dRows = sets.reduce((a, s) => a + s.set.rows, 0);
    const dData = new Float32Array(dRows * table.stride);
    const gData = new Float32Array(Math.max(1, sets.reduce((a, s) => a + s.set.gram.length, 0)));
    const words = Math.ceil(snapshot.rowCount / 32);
    const skipData = new Uint32Array(Math.max(1, pool ? 1 : S * words));
    let dAt = 0;
    let gAt = 0;
    sets.forEach((s, i) => {
      setsData.set([s.set.count, dAt, gAt, s.set.kPad, pool ? 0 : i * words, 0, 0, 0], i * 8);
      dData.set(s.set.d, dAt * table.stride);
      gData.set(s.set.gram, gAt);
      dAt += s.set.rows;
      gAt += s.set.gram.length;
      if (!pool) {
        for (let w = 0; w < words; w++) skipData[i * words + w] = snapshot.dead[w] | (s.skip?.[w] ?? 0);
      }
    });
    // Pool: (page-local row, position) pairs grouped by page.
    const perPage = new Uint32Array(pages + 1);
    let listData = new Uint32Array(2);
    if (pool) {
      for (let i = 0; i < pool.length; i++) perPage[Math.floor(pool[i] / rpp) + 1]++;
      for (let p = 0; p < pages; p++) perPage[p + 1] += perPage[p];
      const fill = perPage.slice(0, pages);
      listData = new Uint32Array(Math.max(2, pool.length * 2));
      for (let i = 0; i < pool.length; i++) {
        const p = Math.floor(pool[i] / rpp);
        const at = fill[p]++ * 2;
        listData[at] = pool[i] - p * rpp;
        listData[at + 1] = i;
      }
    }

    const results = await this.exclusive(async () => {
      if (this.destroyed) throw new RalmError('RALM_ERR_DEVICE_LOST', 'the WebGPU device was released');
      this.syncUsers(table, pages);
      const q = this.device.queue;
      q.writeBuffer(this.buf.audSets.ensure(setsData.byteLength), 0, setsData);
      q.writeBuffer(this.buf.audD.ensure(dData.byteLength), 0, dData);
      q.writeBuffer(this.buf.audGram.ensure(gData.byteLength), 0, gData);
      q.writeBuffer(this.buf.audSkip.ensure(skipData.byteLength), 0, skipData);
      q.writeBuffer(this.buf.audList.ensure(listData.byteLength), 0, listData);
      return this.buf.audResults.ensure(P * S * 16);
    });

    const { alpha, beta } = job;
    let done = 0;
    for (let p = 0; p < pages; p++) {
      if (job.signal?.aborted) throw cancelled();
      const count = pool ? perPage[p + 1] - perPage[p] : Math.min(rpp, snapshot.rowCount - p * rpp);
      if (count === 0) continue;
      await this.exclusive(async () => {
        if (this.destroyed) throw new RalmError('RALM_ERR_DEVICE_LOST', 'the WebGPU device was released');
        const dev = (this.userMirror as NonNullable<GpuBackend['userMirror']>).pages[p];
        this.writeUniform(dev.uniform, audienceProgram, {
          count, set_count: S, row_vec4: rv, pool_mode: pool ? 1 : 0, row_base: 0, pos_base: p * rpp, list_base: pool ? perPage[p] : 0,
          positions: P, page_first_row: p * rpp, alpha, beta, zero_norm: ZERO_NORM,
        });
        const encoder = this.device.createCommandEncoder({ label: `audience page ${p}` });
        const pass = encoder.beginComputePass();
        this.dispatch(pass, audienceProgram, [
          dev.uniform, dev.rows, dev.norms, this.buf.audList.buffer, this.buf.audSets.buffer, this.buf.audD.buffer, this.buf.audGram.buffer,
          this.buf.audSkip.buffer, results,
        ], count * S);
        pass.end();
        this.device.queue.submit([encoder.finish()]);
        await this.device.queue.onSubmittedWorkDone();
      });
      done += count * S;
      job.onProgress?.(done, P * S);
    }
    if (job.signal?.aborted) throw cancelled();

    const offsets = Uint32Array.from({ length: S + 1 }, (_, i) => i * P);
    const onGpu = sets.every((s) => s.topN <= GPU_LIMITS.maxTopK);
    const keptRows = await this.exclusive(async (): Promise<ScoredRows[]> => {
      const encoder = this.device.createCommandEncoder({ label: 'audience selection' });
      const pass = encoder.beginComputePass();
      if (onGpu) return this.topK(sets.map((s) => ({ count: P, keep: s.topN })), offsets, encoder, pass, results);
      pass.end();
      const [raw] = await this.readBack([{ src: results, bytes: P * S * 16 }], encoder);
      const f = new Float32Array(raw);
      return sets.map((s, si) => {
        const sel = new TopSelector(s.topN, s.threshold);
        for (let i = 0; i < P; i++) {
          const at = (si * P + i) * 4;
          if (f[at] > SKIPPED_ABOVE) sel.offer(f[at], i, f[at + 1], f[at + 2]);
        }
        const h = sel.result();
        return { index: h.position, score: h.score, cosGlobal: h.cosGlobal, cosLocal: h.cosLocal };
      });
    });
    return keptRows.map((r, si) => {
      // Drop skipped rows (sentinel scores) and, for a GPU selection, scores under the threshold.
      const sel = new TopSelector(sets[si].topN, sets[si].threshold);
      for (let i = 0; i < r.index.length; i++) if (r.score[i] > SKIPPED_ABOVE) sel.offer(r.score[i], r.index[i], r.cosGlobal[i], r.cosLocal[i]);
      return sel.result();
    });
  }

  // ---------------------------------------------------------------- item-change and batch kernels

  globalAttention(centroids: Float32Array, counts: Uint32Array): Promise<{ globals: Float32Array; norms: Float32Array }> {
    return this.exclusive(async () => {
      const { h, k, attentionSize: s } = this.model.manifest;
      const items = counts.length;
      if (items === 0) return { globals: new Float32Array(0), norms: new Float32Array(0) };
      const q = this.device.queue;
      q.writeBuffer(this.buf.in1.ensure(centroids.byteLength), 0, centroids);
      q.writeBuffer(this.buf.in2.ensure(counts.byteLength), 0, counts);
      const out = this.buf.out1.ensure(items * h * 4);
      const outN = this.buf.out2.ensure(items * 4);
      this.writeUniform(this.miscUniform, globalAttentionProgram, { item_count: items, k, h, s });
      const encoder = this.device.createCommandEncoder({ label: 'global attention' });
      const pass = encoder.beginComputePass();
      this.dispatch(pass, globalAttentionProgram, [this.miscUniform, this.buf.in1.buffer, this.buf.in2.buffer, this.weights.gm, this.weights.gv, out, outN], items);
      pass.end();
      const [g, n] = await this.readBack([{ src: out, bytes: items * h * 4 }, { src: outN, bytes: items * 4 }], encoder);
      return { globals: new Float32Array(g), norms: new Float32Array(n) };
    });
  }

  transform(x: Float32Array, count: number): Promise<Float32Array> {
    return this.exclusive(async () => {
      const { h, m } = this.model.manifest;
      if (count === 0) return new Float32Array(0);
      this.device.queue.writeBuffer(this.buf.in1.ensure(x.byteLength), 0, x, 0, count * m);
      const out = this.buf.out1.ensure(count * h * 4);
      this.writeUniform(this.miscUniform, transformProgram, { count, m, h, _pad: 0 });
      const encoder = this.device.createCommandEncoder({ label: 'transform' });
      const pass = encoder.beginComputePass();
      this.dispatch(pass, transformProgram, [this.miscUniform, this.buf.in1.buffer, this.weights.tw, this.weights.tb, this.weights.tp, out], count * h);
      pass.end();
      const [raw] = await this.readBack([{ src: out, bytes: count * h * 4 }], encoder);
      return new Float32Array(raw);
    });
  }

  kmeans(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]> {
    return this.exclusive(async () => {
      if (jobs.length === 0) return [];
      const { k } = this.model.manifest;
      const stride = paddedStride(dim);
      const rv = stride / 4;
      const B = jobs.length;
      const total = jobs.reduce((a, j) => a + j.n, 0);
      const points = new Float32Array(Math.max(4, total * stride));
      const pointItem = new Uint32Array(Math.max(1, total));
      const items = new Uint32Array(B * 4);
      const centroids = new Float32Array(B * k * stride);
      let at = 0;
      jobs.forEach((j, i) => {
        if (j.count > k) throw new Error(`k-means job ${i}: ${j.count} starting centroids, the model's k is ${k}`);
        for (let p = 0; p < j.n; p++) {
          points.set(j.points.subarray(p * dim, (p + 1) * dim), (at + p) * stride);
          pointItem[at + p] = i;
        }
        items.set([j.count, at, j.n, 1], i * 4);
        for (let c = 0; c < j.count; c++) centroids.set(j.init.subarray(c * dim, (c + 1) * dim), (i * k + c) * stride);
        at += j.n;
      });
      const q = this.device.queue;
      const bPoints = this.buf.kmPoints.ensure(points.byteLength);
      const bPointItem = this.buf.kmPointItem.ensure(pointItem.byteLength);
      const bItems = this.buf.kmItems.ensure(items.byteLength);
      const bCentroids = this.buf.kmCentroids.ensure(centroids.byteLength);
      const bAssign = this.buf.kmAssign.ensure(pointItem.byteLength);
      const bChanged = this.buf.kmChanged.ensure(B * 4);
      q.writeBuffer(bPoints, 0, points);
      q.writeBuffer(bPointItem, 0, pointItem);
      q.writeBuffer(bCentroids, 0, centroids);
      q.writeBuffer(bAssign, 0, new Uint32Array(Math.max(1, total)).fill(0xffffffff));
      this.writeUniform(this.miscUniform, kmeansAssignProgram, { total, item_count: B, k, row_vec4: rv });
      const entries = [this.miscUniform, bPoints, bPointItem, bItems, bCentroids, bAssign, bChanged];
      const iterations = new Uint32Array(B);
      const converged = new Uint8Array(B);
      let updateFirst = false;
      for (;;) {
        q.writeBuffer(bItems, 0, items);
        q.writeBuffer(bChanged, 0, new Uint32Array(B));
        const encoder = this.device.createCommandEncoder({ label: 'k-means iteration' });
        const pass = encoder.beginComputePass();
        // point_item (binding 2) and changed (binding 6) are unused by the update entry point.
        if (updateFirst) this.dispatch(pass, kmeansUpdateProgram, entries.map((b, i) => (i === 2 || i === 6 ? null : b)), B * k);
        this.dispatch(pass, kmeansAssignProgram, entries, total);
        pass.end();
        const [raw] = await this.readBack([{ src: bChanged, bytes: B * 4 }], encoder);
        const changed = new Uint32Array(raw);
        let active = 0;
        jobs.forEach((j, i) => {
          if (items[i * 4 + 3] === 0) return;
          if (updateFirst) iterations[i]++;
          if (iterations[i] > 0 && changed[i] <= tolerance * j.n) {
            converged[i] = 1;
            items[i * 4 + 3] = 0;
          } else if (iterations[i] === maxIterations) {
            items[i * 4 + 3] = 0;
          } else {
            active++;
          }
        });
        if (active === 0) break;
        updateFirst = true;
      }
      const encoder = this.device.createCommandEncoder({ label: 'k-means result' });
      const [rc, ra] = await this.readBack([{ src: bCentroids, bytes: centroids.byteLength }, { src: bAssign, bytes: total * 4 }], encoder);
      const outC = new Float32Array(rc);
      const outA = new Uint32Array(ra);
      at = 0;
      return jobs.map((j, i) => {
        const c = new Float32Array(j.count * dim);
        for (let r = 0; r < j.count; r++) c.set(outC.subarray((i * k + r) * stride, (i * k + r) * stride + dim), r * dim);
        const assignments = outA.slice(at, at + j.n);
        at += j.n;
        return { centroids: c, assignments, iterations: iterations[i], converged: converged[i] === 1 };
      });
    });
  }

  destroy(): void {
    if (this.destroyed) return;
    this.userMirror = undefined;
    this.destroyed = true;
    this.ctx.destroy();
  }
}
