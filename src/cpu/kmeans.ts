/**
 * Lloyd's iterations on the CPU, following the rules stated in src/clustering/kmeans.ts: the
 * assignment and update steps in TypeScript, and the same two steps in the WebAssembly SIMD
 * kernel (`wasm/kmeans-kernel.wat`) when it is built. The kernel's host side keeps one memory,
 * grown as problems grow, holding the padded points, centroids, assignments and distances of the
 * item being clustered.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KMeansJob, KMeansRun } from '../core/backend.js';
import { yieldToEventLoop } from '../util/time-slice.js';

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

/** What Lloyd's iterations report; the centroids are updated in place. */
export interface LloydRun {
  assignments: Uint32Array;
  iterations: number;
  converged: boolean;
  /** Sum of squared distances to the assigned centroid, after each assignment step. */
  inertia: number[];
}

/** Squared Euclidean distance between row ai of a and row bi of b. */
export function sqDist(a: Float32Array, ai: number, b: Float32Array, bi: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[ai + d] - b[bi + d];
    s += x * x;
  }
  return s;
}

/** Nearest centroid per point (ties → lower index); returns inertia and how many assignments changed. */
export function assign(points: Float32Array, n: number, dim: number, centroids: Float32Array, count: number, assignments: Uint32Array, dist: Float64Array): { inertia: number; changed: number } {
  let inertia = 0;
  let changed = 0;
  for (let i = 0; i < n; i++) {
    let bestC = 0;
    let bestD = Infinity;
    for (let c = 0; c < count; c++) {
      const d = sqDist(points, i * dim, centroids, c * dim, dim);
      if (d < bestD) {
        bestD = d;
        bestC = c;
      }
    }
    if (assignments[i] !== bestC) changed++;
    assignments[i] = bestC;
    dist[i] = bestD;
    inertia += bestD;
  }
  return { inertia, changed };
}

/** Centroids ← means of their points (summed in point order); an empty cluster keeps its centroid. */
export function update(points: Float32Array, n: number, dim: number, centroids: Float32Array, count: number, assignments: Uint32Array): void {
  const sums = new Float64Array(count * dim);
  const sizes = new Uint32Array(count);
  for (let i = 0; i < n; i++) {
    const c = assignments[i];
    sizes[c]++;
    for (let d = 0; d < dim; d++) sums[c * dim + d] += points[i * dim + d];
  }
  for (let c = 0; c < count; c++) {
    if (sizes[c] === 0) continue;
    for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d] / sizes[c];
  }
}

/**
 * Lloyd iterations from a given start (mutates `centroids`). Both steps run in the WebAssembly
 * SIMD kernel when it is built — f32 sums of squared differences, and centroid sums in f32 in
 * point order divided by the count, as the WGSL kernels compute them — else in TypeScript.
 */
export function lloyd(points: Float32Array, n: number, dim: number, centroids: Float32Array, count: number, maxIterations: number, tolerance: number): LloydRun {
  const assignments = new Uint32Array(n).fill(0xffffffff);
  const dist = new Float64Array(n);
  const inertia: number[] = [];
  const fast = KMeansAssigner.shared();
  if (fast) {
    fast.loadPoints(points, n, dim);
    fast.setCentroids(centroids, count);
  }
  let iterations = 0;
  let converged = false;
  for (;;) {
    const a = fast ? fast.assign(count, assignments, dist) : assign(points, n, dim, centroids, count, assignments, dist);
    inertia.push(a.inertia);
    if (iterations > 0 && a.changed <= tolerance * n) {
      converged = true;
      break;
    }
    if (iterations === maxIterations) break;
    if (fast) fast.update(count);
    else update(points, n, dim, centroids, count, assignments);
    iterations++;
  }
  if (fast) fast.getCentroids(centroids, count);
  return { assignments, iterations, converged, inertia };
}

/**
 * Lloyd's iterations for a batch of started items, one after the other, yielding to the event
 * loop between items: serving on the same thread waits at most one item.
 */
export async function runKMeansJobs(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]> {
  const out: KMeansRun[] = [];
  for (const j of jobs) {
    await yieldToEventLoop();
    const centroids = j.init.slice(0, j.count * dim);
    const r = lloyd(j.points, j.n, dim, centroids, j.count, maxIterations, tolerance);
    out.push({ centroids, assignments: r.assignments, iterations: r.iterations, converged: r.converged });
  }
  return out;
}
