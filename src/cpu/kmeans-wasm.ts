/**
 * Host side of the WebAssembly k-means assignment kernel (`wasm/kmeans-kernel.wat`): one memory
 * per thread, grown as problems grow, holding the padded points, centroids, assignments and
 * distances of the item being clustered.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const wasmPath = fileURLToPath(new URL('./wasm/kmeans-kernel.wasm', import.meta.url));

type AssignFn = (pts: number, n: number, cent: number, count: number, rowBytes: number, asg: number, dist: number) => number;

let shared: KMeansAssigner | null | undefined;

export class KMeansAssigner {
  private readonly memory: WebAssembly.Memory;
  private readonly fn: AssignFn;
  private n = 0;
  private dim = 0;
  private stride = 0;
  private centOff = 0;
  private asgOff = 0;
  private distOff = 0;

  private constructor(mod: WebAssembly.Module) {
    this.memory = new WebAssembly.Memory({ initial: 16 });
    this.fn = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports.assign as AssignFn;
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
    const need = this.distOff + n * 4;
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / 65536));
    const f = new Float32Array(this.memory.buffer, 0, n * this.stride);
    if (this.stride === dim) f.set(points.subarray(0, n * dim));
    else {
      f.fill(0);
      for (let i = 0; i < n; i++) f.set(points.subarray(i * dim, (i + 1) * dim), i * this.stride);
    }
  }

  /** One assignment step against `count` centroids (rows of width dim); updates `assignments`/`dist`. */
  assign(centroids: Float32Array, count: number, assignments: Uint32Array, dist: Float64Array): { inertia: number; changed: number } {
    const { n, dim, stride } = this;
    const buf = this.memory.buffer;
    const c = new Float32Array(buf, this.centOff, count * stride);
    if (stride === dim) c.set(centroids.subarray(0, count * dim));
    else {
      c.fill(0);
      for (let i = 0; i < count; i++) c.set(centroids.subarray(i * dim, (i + 1) * dim), i * stride);
    }
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
