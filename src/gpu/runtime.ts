/**
 * What every kernel runs on: persistent buffers with a byte counter, the pipeline cache, one
 * queue of serialised work inside error scopes, dispatch with named bindings, and read-back.
 *
 * Buffers are created once and reused, growing rarely: creating and destroying buffers per
 * request leaks memory in dawn.node. Host data goes through `write`, which never hands a
 * SharedArrayBuffer-backed view to writeBuffer (that crashes dawn.node).
 */
import { RalmError } from '../util/errors.js';
import { withErrorScopes, type GpuContext } from './device.js';
import { assembleShader, dispatchSize, shaderLocation, type ProgramInfo } from './programs.js';
import { packUniforms, type UniformValues } from './uniforms.js';

/** GPUBufferUsage flags (the globals are only installed once a device is opened). */
export const Usage = Object.freeze({ MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080, QUERY_RESOLVE: 0x0200 });
const MAP_MODE_READ = 0x0001;
/** Bytes of one uniform buffer: every kernel's Params struct fits. */
const UNIFORM_BYTES = 256;

/** A buffer replaced (rarely) by a larger one when a request needs more room. */
export class GrowableBuffer {
  buffer: GPUBuffer;
  capacity: number;
  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
    private readonly usage: number,
    private readonly counter: { bytes: number },
    /** Growth never goes past this (the binding limit), so a buffer that fits stays bindable. */
    private readonly limit: number,
    initial = 256,
  ) {
    this.capacity = initial;
    this.buffer = device.createBuffer({ label, size: initial, usage });
    counter.bytes += initial;
  }

  /** The buffer, replaced first by one of at least `bytes` when it is smaller. */
  ensure(bytes: number): GPUBuffer {
    if (bytes > this.capacity) {
      const size = Math.max(Math.ceil(bytes / 256) * 256, Math.min(this.capacity * 2, this.limit));
      this.buffer.destroy();
      this.counter.bytes -= this.capacity;
      this.buffer = this.device.createBuffer({ label: this.label, size, usage: this.usage });
      this.counter.bytes += size;
      this.capacity = size;
    }
    return this.buffer;
  }
}

/**
 * Uniform buffers for the dispatches of one submission. Each dispatch needs its own: writeBuffer
 * runs on the queue before the command buffer, so dispatches sharing one would all see the last
 * values written.
 */
export class UniformPool {
  private readonly buffers: GPUBuffer[] = [];
  constructor(
    private readonly runtime: GpuRuntime,
    private readonly label: string,
  ) {}

  /** The i-th buffer of the pool, created on first use. */
  at(i: number): GPUBuffer {
    while (this.buffers.length <= i) {
      this.buffers.push(this.runtime.createBuffer(`${this.label} ${this.buffers.length}`, UNIFORM_BYTES, Usage.UNIFORM | Usage.COPY_DST));
    }
    return this.buffers[i];
  }
}

export class GpuRuntime {
  readonly device: GPUDevice;
  /** Bytes of device memory held, kept by every buffer made here. */
  readonly memory = { bytes: 0 };
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly readback: GrowableBuffer;
  private readonly bindLimit: number;
  private queueTail: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  /** GPU time of the last timed pass (timestamp queries), ms; undefined where the device has none. */
  lastPassMs: number | undefined;
  private readonly timer: { querySet: GPUQuerySet; resolve: GPUBuffer } | null = null;
  private timedEncoder: GPUCommandEncoder | null = null;

  constructor(private readonly ctx: GpuContext) {
    this.device = ctx.device;
    this.bindLimit = Math.floor(ctx.limits.maxStorageBufferBindingSize / 256) * 256;
    this.readback = this.growable('readback', Usage.MAP_READ | Usage.COPY_DST);
    if (ctx.timestamps) {
      this.timer = { querySet: this.device.createQuerySet({ label: 'pass timestamps', type: 'timestamp', count: 2 }), resolve: this.createBuffer('pass timestamps', 16, Usage.QUERY_RESOLVE | Usage.COPY_SRC) };
    }
  }

  /**
   * Begins a compute pass whose GPU time (from timestamp queries written at its start and end) the
   * next readBack of the same encoder stores in lastPassMs, where the device has timestamp queries.
   */
  timedPass(encoder: GPUCommandEncoder, label: string): GPUComputePassEncoder {
    if (!this.timer) return encoder.beginComputePass({ label });
    this.timedEncoder = encoder;
    return encoder.beginComputePass({ label, timestampWrites: { querySet: this.timer.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  }

  get limits(): GpuContext['limits'] {
    return this.ctx.limits;
  }

  /** A fixed-size buffer of at least `size` bytes (rounded up to 16). */
  createBuffer(label: string, size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 16) * 16), usage });
    this.memory.bytes += b.size;
    return b;
  }

  /** A growable buffer; a storage buffer never grows past the binding limit. */
  growable(label: string, usage: number): GrowableBuffer {
    return new GrowableBuffer(this.device, label, usage, this.memory, usage & Usage.STORAGE ? this.bindLimit : Number.MAX_SAFE_INTEGER);
  }

  /** A storage buffer holding `data`, for data that never changes (model weights). */
  upload(label: string, data: Float32Array): GPUBuffer {
    const b = this.createBuffer(label, data.byteLength, Usage.STORAGE | Usage.COPY_DST);
    this.write(b, 0, data);
    return b;
  }

  /** Destroys a buffer made by createBuffer and stops counting it. */
  release(buffer: GPUBuffer): void {
    buffer.destroy();
    this.memory.bytes -= buffer.size;
  }

  /** Queues a write of host data; a view of shared memory is copied first (see the module comment). */
  write(buffer: GPUBuffer, byteOffset: number, view: Float32Array | Uint32Array): void {
    const data = view.buffer instanceof SharedArrayBuffer ? view.slice() : view;
    this.device.queue.writeBuffer(buffer, byteOffset, data);
  }

  writeUniforms<U extends string>(buffer: GPUBuffer, p: ProgramInfo<string, U>, values: UniformValues<U>): void {
    this.device.queue.writeBuffer(buffer, 0, packUniforms(p.uniforms, values));
  }

  /** Compiles `p` (once per cache key), reporting WGSL errors with the file and line they are in. */
  async compile(p: ProgramInfo): Promise<GPUComputePipeline> {
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

  /**
   * Serialises GPU work (each call waits for the previous one) and runs it inside validation and
   * out-of-memory error scopes: a GPU error becomes an exception, never a silently wrong result.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const scoped = (): Promise<T> => withErrorScopes(this.device, ['out-of-memory', 'validation'], fn);
    const run = this.queueTail.then(scoped, scoped);
    this.queueTail = run.catch(() => undefined);
    return run;
  }

  /** Throws RALM_ERR_DEVICE_LOST once destroy() has run. */
  assertAlive(): void {
    if (this.destroyed) throw new RalmError('RALM_ERR_DEVICE_LOST', 'the WebGPU device was released');
  }

  /**
   * Binds `bindings` by name (exactly the program's bindings: a missing or extra name throws) and
   * dispatches enough workgroups for `units` of work.
   */
  dispatch<B extends string>(pass: GPUComputePassEncoder, p: ProgramInfo<B>, bindings: Readonly<Record<B, GPUBuffer>>, units: number): void {
    const pipeline = this.pipelines.get(p.cacheKey);
    if (!pipeline) throw new Error(`pipeline ${p.name} was not compiled`);
    // Bind groups are cheap, immutable views; buffers, which are not, are pooled.
    const bindGroup = this.device.createBindGroup({ label: p.name, layout: pipeline.getBindGroupLayout(0), entries: bindEntries(p, bindings) });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y] = dispatchSize(units, p.unitsPerWorkgroup, this.ctx.limits.maxComputeWorkgroupsPerDimension);
    pass.dispatchWorkgroups(x, y);
  }

  /** Copies `copies` into the read-back buffer, submits `encoder` and returns each copy's bytes. */
  async readBack(asked: ReadonlyArray<{ src: GPUBuffer; bytes: number }>, encoder: GPUCommandEncoder): Promise<ArrayBuffer[]> {
    const timer = this.timedEncoder === encoder ? this.timer : null;
    this.timedEncoder = null;
    if (timer) encoder.resolveQuerySet(timer.querySet, 0, 2, timer.resolve, 0);
    const copies = timer ? [...asked, { src: timer.resolve, bytes: 16 }] : asked;
    const total = copies.reduce((a, c) => a + Math.ceil(c.bytes / 4) * 4, 0);
    const rb = this.readback.ensure(Math.max(4, total));
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
    if (timer) {
      const [begin, end] = new BigUint64Array(out.pop() as ArrayBuffer);
      this.lastPassMs = end > begin ? Number(end - begin) / 1e6 : undefined;
    }
    return out;
  }

  /** Destroys the device (through the device module); later work throws RALM_ERR_DEVICE_LOST. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ctx.destroy();
  }
}

/** Bind-group entries for `bindings`, checked against the program's binding list. */
export function bindEntries<B extends string, R>(p: ProgramInfo<B>, bindings: Readonly<Record<B, R>>): Array<{ binding: number; resource: { buffer: R } }> {
  const names = Object.keys(p.bindings) as B[];
  const missing = names.filter((n) => !(n in bindings));
  const extra = Object.keys(bindings).filter((n) => !(n in p.bindings));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`${p.name}: bindings ${missing.length > 0 ? `missing ${missing.join(', ')}` : ''}${missing.length > 0 && extra.length > 0 ? '; ' : ''}${extra.length > 0 ? `not in the program: ${extra.join(', ')}` : ''}`);
  }
  return names.map((n) => ({ binding: p.bindings[n], resource: { buffer: bindings[n] } }));
}
