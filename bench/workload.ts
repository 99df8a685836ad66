/**
 * One benchmark configuration's inputs, shared by the engine and every peer so that they all see
 * the same bytes: N items of k centroids (width h) and a global vector each, B user embeddings,
 * and the model's W_l, α and β.
 */
import type { ItemCentroids } from '../src/engine/engine.js';
import { type RalmModel } from '../src/model/model.js';
import { randomModel } from '../src/model/random.js';
import { Rng } from '../src/util/rng.js';

export interface Workload {
  model: RalmModel;
  n: number;
  k: number;
  h: number;
  /** Item i's centroid j, element d is `centroids[(i*k + j)*h + d]`. */
  centroids: Float32Array;
  /** Item i's global vector: `globals[i*h .. (i+1)*h]`. */
  globals: Float32Array;
  ids: string[];
}

/** Normals shared by all sizes: items are windows into it at random offsets. */
const POOL_LEN = 1 << 20;
let pool: Float32Array | undefined;
function normalPool(): Float32Array {
  pool ??= new Rng(2).normals(POOL_LEN, 0.3);
  return pool;
}

export function benchModel(k: number, h: number): RalmModel {
  return randomModel({ h, m: h, k, attentionSize: 64, seed: 1 });
}

/**
 * Items with realistic values without generating gigabytes of normals: each item is a random
 * window of one pool of normals. Item i is the same for every N (a larger N only adds items).
 */
export function makeWorkload(n: number, k: number, h: number, model: RalmModel = benchModel(k, h)): Workload {
  const p = normalPool();
  const rng = new Rng(1000 + k * 7 + h);
  const centroids = new Float32Array(n * k * h);
  const globals = new Float32Array(n * h);
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const off = rng.int(POOL_LEN - k * h - h);
    centroids.set(p.subarray(off, off + k * h), i * k * h);
    globals.set(p.subarray(off + k * h, off + k * h + h), i * h);
    ids[i] = `i${i}`;
  }
  return { model, n, k, h, centroids, globals, ids };
}

/** The first `n` items of a workload, as views (no copy). */
export function prefix(w: Workload, n: number): Workload {
  if (n > w.n) throw new Error(`prefix: ${n} > ${w.n} items`);
  return { ...w, n, centroids: w.centroids.subarray(0, n * w.k * w.h), globals: w.globals.subarray(0, n * w.h), ids: w.ids.slice(0, n) };
}

/** Items [from, to) in the engine's upsert format, as views. */
export function engineItems(w: Workload, from: number, to: number): ItemCentroids[] {
  const { k, h } = w;
  const out: ItemCentroids[] = [];
  for (let i = from; i < to; i++) {
    out.push({ id: w.ids[i], centroids: w.centroids.subarray(i * k * h, (i + 1) * k * h), global: w.globals.subarray(i * h, (i + 1) * h) });
  }
  return out;
}

/** `b` user look-alike embeddings, row-major [b, h]. */
export function userBatch(b: number, h: number, seed = 3): Float32Array {
  return new Rng(seed).normals(b * h);
}

/** Bytes of item data in f32: what every subject must read at least once per request. */
export function itemBytesF32(n: number, k: number, h: number): number {
  return n * (k * h + h) * 4;
}
