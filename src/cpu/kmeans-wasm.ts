/**
 * Host side of the WebAssembly k-means assignment kernel (`wasm/kmeans-kernel.wat`): one memory
 * per thread, grown as problems grow, holding the padded points, centroids, assignments and
 * distances of the item being clustered.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const wasmPath = fileURLToPath(new URL('./wasm/kmeans-kernel.wasm', import.meta.url));

type AssignFn = (pts: number, n: number, cent: number, count: number, rowBytes: number, asg: number, dist: number) => number;
type UpdateFn = (pts: number, n: number, cent: number, count: number, rowBytes: number, asg: number, sums: number, sizes: number) => void;

let shared: KMeansAssigner | null | undefined;

export class KMeansAssigner {
  private readonly memory: WebAssembly.Memory;
  private readonly fn: AssignFn;
  private readonly updateFn: UpdateFn;
  private n = 0;
  private dim = 0;
  private stride = 0;
  private centOff = 0;
  private asgOff = 0;
  private distOff = 0;
  private sumsOff = 0;
  private sizesOff = 0;

  private constructor(mod: WebAssembly.Module) {
    this.memory = new WebAssembly.Memory({ initial: 16 });
    const exports = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports;
    this.fn = exports.assign as AssignFn;
    this.updateFn = exports.update as UpdateFn;
  }

  /** The process-wide instance, or null when the kernel is not built. */
  static shared(): KMeansAssigner | null {
    if (shared === undefined) {
      try {
        shared = existsSync(wasmPath) ? new KMeansAssigner(new WebAssembly.Module(readFileSync(wasmPath))) : null;
      } catch {
        shared = null;
      }
    }
    return shared;
  }

  /** Copies the points (n rows of width dim) in, padded; reserves room for up to 1024 centroids. */
  loadPoints(points: Float32Array, n: number, dim: number): void {
    this.n = n;
    this.dim = dim;
    this.stride = Math.ceil(dim / 8) * 8;
    const rowBytes = this.stride * 4;
    this.centOff = n * rowBytes;
    this.asgOff = this.centOff + 1024 * rowBytes;
    this.distOff = this.asgOff + n * 4;
    this.sumsOff = this.distOff + n * 4;
    this.sizesOff = this.sumsOff + 1024 * rowBytes;
    const need = this.sizesOff + 1024 * 4;
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / 65536));
    const f = new Float32Array(this.memory.buffer, 0, n * this.stride);
    if (this.stride === dim) f.set(points.subarray(0, n * dim));
    else {
      f.fill(0);
      for (let i = 0; i < n; i++) f.set(points.subarray(i * dim, (i + 1) * dim), i * this.stride);
    }
  }

  /** Loads centroids (rows of width dim) into the kernel's memory. */
  setCentroids(centroids: Float32Array, count: number): void {
    const { dim, stride } = this;
    const c = new Float32Array(this.memory.buffer, this.centOff, count * stride);
    if (stride === dim) c.set(centroids.subarray(0, count * dim));
    else {
      c.fill(0);
      for (let i = 0; i < count; i++) c.set(centroids.subarray(i * dim, (i + 1) * dim), i * stride);
    }
  }

  /** Copies the kernel's centroids back out (rows of width dim). */
  getCentroids(centroids: Float32Array, count: number): void {
    const { dim, stride } = this;
    const c = new Float32Array(this.memory.buffer, this.centOff, count * stride);
    for (let i = 0; i < count; i++) centroids.set(c.subarray(i * stride, i * stride + dim), i * dim);
  }

  /** The update step on the kernel's centroids and the last assignments. */
  update(count: number): void {
    this.updateFn(0, this.n, this.centOff, count, this.stride * 4, this.asgOff, this.sumsOff, this.sizesOff);
  }

  /** One assignment step against the kernel's `count` centroids; updates `assignments`/`dist`. */
  assign(count: number, assignments: Uint32Array, dist: Float64Array): { inertia: number; changed: number } {
    const { n, stride } = this;
    const buf = this.memory.buffer;
    const a = new Uint32Array(buf, this.asgOff, n);
    a.set(assignments);
    const changed = this.fn(0, n, this.centOff, count, stride * 4, this.asgOff, this.distOff);
    assignments.set(a);
    const d = new Float32Array(buf, this.distOff, n);
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      dist[i] = d[i];
      inertia += d[i];
    }
    return { inertia, changed };
  }
}
