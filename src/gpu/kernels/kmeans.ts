/**
 * Batched k-means (kmeans.wgsl): Lloyd iterations for many items at once, one submission per
 * iteration (update, then assign), with the convergence test on the host between iterations from
 * the per-item change counters. The rules are src/clustering/kmeans.ts's.
 */
import type { KMeansJob, KMeansRun } from '../../core/backend.js';
import { paddedStride } from '../../core/item-table.js';
import { kmeansAssignProgram, kmeansUpdateProgram, type UniformsOf } from '../programs.js';
import { Usage, UniformPool, type GpuRuntime, type GrowableBuffer } from '../runtime.js';

export interface KMeansPlan {
  readonly stride: number;
  /** Points of every job, rows padded to stride (zero padding does not change distances). */
  readonly points: Float32Array;
  /** The job of each point. */
  readonly pointItem: Uint32Array;
  /** Per job: (centroid count, first point, point count, active); the host clears `active` as jobs finish. */
  readonly items: Uint32Array;
  /** Per job, k rows of stride floats: the starts, then the running centroids. */
  readonly centroids: Float32Array;
  readonly total: number;
  readonly params: UniformsOf<typeof kmeansAssignProgram>;
}

/** Lays out a batch of k-means jobs (points of width dim, at most k centroids each) for the kernels. */
export function planKMeans(jobs: readonly KMeansJob[], dim: number, k: number): KMeansPlan {
  const stride = paddedStride(dim);
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
  return { stride, points, pointItem, items, centroids, total, params: { total, item_count: B, k, row_vec4: stride / 4 } };
}

/** Where each job stands between iterations. */
export interface KMeansProgress {
  readonly iterations: Uint32Array;
  readonly converged: Uint8Array;
}

/**
 * Books one iteration's change counts: a job converges when at most tolerance · n assignments
 * changed (after at least one update), stops at maxIterations, and otherwise stays active.
 * Clears the active flag in `items` of every job that stops; returns how many remain active.
 * `updated` is false for the first submission, which only assigns.
 */
export function bookIteration(
  jobs: readonly KMeansJob[],
  items: Uint32Array,
  progress: KMeansProgress,
  changed: Uint32Array,
  updated: boolean,
  maxIterations: number,
  tolerance: number,
): number {
  const { iterations, converged } = progress;
  let active = 0;
  jobs.forEach((j, i) => {
    if (items[i * 4 + 3] === 0) return;
    if (updated) iterations[i]++;
    if (iterations[i] > 0 && changed[i] <= tolerance * j.n) {
      converged[i] = 1;
      items[i * 4 + 3] = 0;
    } else if (iterations[i] === maxIterations) {
      items[i * 4 + 3] = 0;
    } else {
      active++;
    }
  });
  return active;
}

/** Each job's centroids (compact rows of width dim) and assignments from the kernels' buffers. */
export function unpackKMeans(jobs: readonly KMeansJob[], centroids: Float32Array, assignments: Uint32Array, plan: Pick<KMeansPlan, 'stride'>, dim: number, k: number, progress: KMeansProgress): KMeansRun[] {
  const { stride } = plan;
  let at = 0;
  return jobs.map((j, i) => {
    const c = new Float32Array(j.count * dim);
    for (let r = 0; r < j.count; r++) c.set(centroids.subarray((i * k + r) * stride, (i * k + r) * stride + dim), r * dim);
    const a = assignments.slice(at, at + j.n);
    at += j.n;
    return { centroids: c, assignments: a, iterations: progress.iterations[i], converged: progress.converged[i] === 1 };
  });
}

export class KMeansKernel {
  private readonly points: GrowableBuffer;
  private readonly pointItem: GrowableBuffer;
  private readonly items: GrowableBuffer;
  private readonly centroids: GrowableBuffer;
  private readonly assignments: GrowableBuffer;
  private readonly changed: GrowableBuffer;
  private readonly uniforms: UniformPool;

  constructor(
    private readonly runtime: GpuRuntime,
    private readonly k: number,
  ) {
    this.points = runtime.growable('k-means points', Usage.STORAGE | Usage.COPY_DST);
    this.pointItem = runtime.growable('k-means point items', Usage.STORAGE | Usage.COPY_DST);
    this.items = runtime.growable('k-means items', Usage.STORAGE | Usage.COPY_DST);
    this.centroids = runtime.growable('k-means centroids', Usage.STORAGE | Usage.COPY_DST | Usage.COPY_SRC);
    this.assignments = runtime.growable('k-means assignments', Usage.STORAGE | Usage.COPY_DST | Usage.COPY_SRC);
    this.changed = runtime.growable('k-means changes', Usage.STORAGE | Usage.COPY_DST | Usage.COPY_SRC);
    this.uniforms = new UniformPool(runtime, 'k-means uniforms');
  }

  /** Runs `jobs` to convergence or maxIterations. Runs inside the runtime's exclusive section. */
  async run(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]> {
    if (jobs.length === 0) return [];
    const rt = this.runtime;
    const k = this.k;
    const B = jobs.length;
    const plan = planKMeans(jobs, dim, k);
    const points = this.points.ensure(plan.points.byteLength);
    const pointItem = this.pointItem.ensure(plan.pointItem.byteLength);
    const items = this.items.ensure(plan.items.byteLength);
    const centroids = this.centroids.ensure(plan.centroids.byteLength);
    const assignments = this.assignments.ensure(plan.pointItem.byteLength);
    const changed = this.changed.ensure(B * 4);
    rt.write(points, 0, plan.points);
    rt.write(pointItem, 0, plan.pointItem);
    rt.write(centroids, 0, plan.centroids);
    rt.write(assignments, 0, new Uint32Array(Math.max(1, plan.total)).fill(0xffffffff));
    const params = this.uniforms.at(0);
    rt.writeUniforms(params, kmeansAssignProgram, plan.params);
    const progress: KMeansProgress = { iterations: new Uint32Array(B), converged: new Uint8Array(B) };
    let updated = false;
    for (;;) {
      rt.write(items, 0, plan.items);
      rt.write(changed, 0, new Uint32Array(B));
      const encoder = rt.device.createCommandEncoder({ label: 'k-means iteration' });
      const pass = encoder.beginComputePass();
      if (updated) rt.dispatch(pass, kmeansUpdateProgram, { params, points, items, centroids, assignments }, B * k);
      rt.dispatch(pass, kmeansAssignProgram, { params, points, point_item: pointItem, items, centroids, assignments, changed }, plan.total);
      pass.end();
      const [raw] = await rt.readBack([{ src: changed, bytes: B * 4 }], encoder);
      if (bookIteration(jobs, plan.items, progress, new Uint32Array(raw), updated, maxIterations, tolerance) === 0) break;
      updated = true;
    }
    const encoder = rt.device.createCommandEncoder({ label: 'k-means result' });
    const [rc, ra] = await rt.readBack([{ src: centroids, bytes: plan.centroids.byteLength }, { src: assignments, bytes: plan.total * 4 }], encoder);
    return unpackKMeans(jobs, new Float32Array(rc), new Uint32Array(ra), plan, dim, k, progress);
  }
}
