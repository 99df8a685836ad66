/**
 * The learned methods of the ranking evaluation as Recommenders: RALM served through the engine
 * (each candidate published with centroids of its seeds in the model's transformed space, as in
 * production) and the YouTube-DNN-style scorer x_u · v_i + b_i from stage 1's sampled softmax.
 */
import { shrinkCentroids } from '../clustering/shrink.js';
import { RalmEngine } from '../engine/engine.js';
import { ItemLeveller, levelSampleIds, type ItemLevelOptions } from '../engine/item-levels.js';
import type { RalmModel } from '../model/model.js';
import type { Stage1Result } from '../train/stage1.js';
import type { FreshScorer, FreshSlot } from './fresh-eval.js';
import type { Recommender } from './ranking-eval.js';

/** x_u · v_i + b_i from stage 1's sampled softmax. */
export class YoutubeDnn implements Recommender, FreshScorer {
  readonly name = 'YouTube-DNN-style';
  constructor(private readonly s1: Stage1Result) {}
  score(u: number, items: Uint32Array, out: Float32Array): void {
    const { m, x, itemEmbeddings: v, itemBias: b } = this.s1;
    for (let j = 0; j < items.length; j++) {
      const i = items[j];
      let s = b[i];
      for (let d = 0; d < m; d++) s += x[u * m + d] * v[i * m + d];
      out[j] = s;
    }
  }

  scoreSlot(slot: FreshSlot, users: readonly number[]): Float32Array[] {
    return users.map((u) => {
      const out = new Float32Array(slot.items.length);
      this.score(u, slot.items, out);
      return out;
    });
  }
}

/** Centroids shrunk toward a prior in the transformed space (clustering/shrink.ts), `strength` pseudo-seeds strong. */
export interface CentroidShrinkage {
  prior: Float32Array;
  strength: number;
}

/** How a RalmRecommender serves beyond the model's own settings. */
export interface RalmRecommenderOptions {
  /** Overrides the model's popularity-prior λ (a sweep, or 0 for the look-alike score alone). */
  popularityPrior?: number;
  /** Shrinks every published centroid toward a prior (an evaluation option, not served). */
  shrink?: CentroidShrinkage | null;
  /**
   * Level offsets (engine/item-levels.ts) published with every item, as the serving system's
   * re-clustering does: the sample is drawn from `users` (the users known before the cut).
   */
  levels?: { users: ArrayLike<number>; options?: ItemLevelOptions } | null;
  /** The fresh-candidates protocol's requests keep the level offsets (default true) or, false, leave them out as a fresh-only feed may (RankRequest.itemLevels). */
  freshItemLevels?: boolean;
}

/**
 * RALM through the engine: candidates published with centroids of their training clickers and
 * their clicker count (the popularity prior's c: all of them, before the seed sample's cap).
 */
export class RalmRecommender implements Recommender, FreshScorer {
  private ids: string[] = [];
  private idsFor: Uint32Array | null = null;

  private leveller: ItemLeveller | null = null;

  private constructor(readonly name: string, readonly engine: RalmEngine, private readonly x: Float32Array, private readonly m: number, private readonly shrink: CentroidShrinkage | null, private readonly freshItemLevels = true) {}

  /** The mean look-alike embedding T(x) of `users` under `model`: the prior of a shrinkage. */
  static async meanLookalike(model: RalmModel, x: Float32Array, users: ArrayLike<number>): Promise<Float32Array> {
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    try {
      const { m, h } = model.manifest;
      const sum = new Float64Array(h);
      for (let b = 0; b < users.length; b += 4096) {
        const n = Math.min(4096, users.length - b);
        const xs = new Float32Array(n * m);
        for (let r = 0; r < n; r++) xs.set(x.subarray(users[b + r] * m, (users[b + r] + 1) * m), r * m);
        const e = await engine.transform(xs, n);
        for (let j = 0; j < e.length; j++) sum[j % h] += e[j];
      }
      return Float32Array.from(sum, (v) => v / Math.max(1, users.length));
    } finally {
      await engine.close();
    }
  }

  /** The universal embedding of user u. */
  universal(u: number): Float32Array {
    return this.x.subarray(u * this.m, (u + 1) * this.m);
  }

  /** The model's own λ and no shrinkage unless `opts` says otherwise. */
  static async create(name: string, model: RalmModel, x: Float32Array, seedsOf: (i: number) => ArrayLike<number>, items: Uint32Array, seed: number, clickersOf: (i: number) => number, opts: RalmRecommenderOptions = {}): Promise<RalmRecommender> {
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false, popularityPrior: opts.popularityPrior });
    const r = new RalmRecommender(name, engine, x, model.manifest.m, opts.shrink ?? null, opts.freshItemLevels ?? true);
    if (opts.levels) {
      const lo = opts.levels.options ?? {};
      const users = levelSampleIds(Array.from(opts.levels.users, String), lo.sampleUsers ?? 200, lo.seed ?? 1).map(Number);
      const xs = new Float32Array(users.length * r.m);
      users.forEach((u, j) => xs.set(r.universal(u), j * r.m));
      r.leveller = new ItemLeveller(model, await engine.transform(xs, users.length), lo);
    }
    for (let b = 0; b < items.length; b += 512) {
      const chunk = items.subarray(b, b + 512);
      const clusters = await r.centroidsFor(Array.from(chunk, (i) => seedsOf(i)), seed);
      await r.publish(clusters.map((c, j) => ({ id: String(chunk[j]), centroids: c, clickers: clickersOf(chunk[j]) })));
    }
    return r;
  }

  /** Publishes items on the engine, with their level offsets when this recommender levels. */
  async publish(items: Array<{ id: string; centroids: Float32Array; clickers: number }>): Promise<void> {
    const levels = this.leveller ? await this.leveller.forEngine(this.engine, items) : null;
    await this.engine.upsertItems(items.map((it, j) => ({ ...it, ...(levels ? levels[j] : {}) })));
  }

  /** Centroids (count × h) of each seed list, in the model's transformed space. */
  async centroidsFor(seedLists: Array<ArrayLike<number>>, seed: number): Promise<Float32Array[]> {
    const { m } = this;
    const h = this.engine.model.manifest.h;
    const jobs = [];
    for (const seeds of seedLists) {
      const xs = new Float32Array(seeds.length * m);
      for (let r = 0; r < seeds.length; r++) xs.set(this.x.subarray(seeds[r] * m, (seeds[r] + 1) * m), r * m);
      const e = await this.engine.transform(xs, seeds.length);
      jobs.push({ points: e, n: seeds.length });
    }
    const res = await this.engine.clusterPoints(jobs, { seed });
    const { shrink } = this;
    return res.map((c) => (shrink ? shrinkCentroids(c, h, shrink.prior, shrink.strength) : c.centroids.slice(0, c.count * h)));
  }

  async score(u: number, items: Uint32Array, out: Float32Array): Promise<void> {
    if (this.idsFor !== items) {
      this.ids = Array.from(items, String);
      this.idsFor = items;
    }
    const [r] = await this.engine.score([{ user: { universal: this.universal(u) }, items: this.ids }]);
    out.set(r.scores);
  }

  /** Fresh candidates: each published from its seeds at the request time, scored, then removed. */
  async scoreSlot(slot: FreshSlot, users: readonly number[]): Promise<Float32Array[]> {
    const ids = Array.from(slot.items, (i) => `fresh:${slot.time}:${i}`);
    const cents = await this.centroidsFor(slot.seeds, 1);
    await this.publish(cents.map((c, j) => ({ id: ids[j], centroids: c, clickers: slot.clickers[j] })));
    try {
      const res = await this.engine.score(users.map((u) => ({ user: { universal: this.universal(u) }, items: ids, itemLevels: this.freshItemLevels })));
      return res.map((r) => Float32Array.from(r.scores));
    } finally {
      await this.engine.removeItems(ids);
    }
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
