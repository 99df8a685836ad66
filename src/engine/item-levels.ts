/**
 * Item levels: putting a few-seed item's scores on the established items' level.
 *
 * A cosine against the centroids of one or five seed users is lower *for everyone* than a cosine
 * against centroids of tens to hundreds of users, so a new item loses to established ones even
 * for its own later clickers (docs/quality.md, "New items: why the AUC was below chance"). Its
 * *level* is its mean look-alike score over a fixed, seeded sample of known users; the *typical*
 * level is the mean level of the established items (clickers ≥ `establishedClickers`), kept by
 * the item table as running sums (core/item-terms.ts). An item with fewer than `levelBelow`
 * clickers is published with the offset typical − own level (plus, with `withPrior`, the
 * established items' mean prior − its own; with `shiftPrior`, one lift of the prior for every such
 * item, which keeps their order by clickers), added to its score in the slot the popularity prior
 * uses, so every backend ranks with the same sum. The offset is computed once, here, on the host,
 * when the item's cluster set is published, and stored with it; the engine only adds it.
 * Per item the offset is a constant, so whom an item reaches first (its audience) is unchanged.
 */
import { ESTABLISHED_CLICKERS, type TypicalLevel } from '../core/item-terms.js';
import type { RalmModel } from '../model/model.js';
import { popularityPrior } from '../model/prior.js';
import { hashString } from '../util/rng.js';
import { TimeSlicer } from '../util/time-slice.js';
import type { RalmEngine } from './engine.js';

export interface ItemLevelOptions {
  /** Publish level offsets at all (off: every offset 0, the score as before). */
  enabled?: boolean;
  /** Items with fewer clickers than this get an offset (Infinity: every item). */
  levelBelow?: number;
  /** Items with at least this many clickers are established: the typical level is their mean. */
  establishedClickers?: number;
  /** The offset also replaces the item's popularity prior by the established items' mean prior. */
  withPrior?: boolean;
  /**
   * Without `withPrior`: the offset lifts the item's prior by one constant, the established
   * items' mean prior − the prior at `levelBelow` clickers (never below 0), so an item just below
   * the line sits near the established items' prior and the items below it keep their order by
   * clickers (popularity among fresh candidates survives).
   */
  shiftPrior?: boolean;
  /** The offset fades linearly with the clicker count: full at 0 clickers, none at `levelBelow`. */
  fade?: boolean;
  /** Users in the level sample. */
  sampleUsers?: number;
  /** Seed of the sample's draw. */
  seed?: number;
}

/** Chosen on MovieLens's validation split (docs/quality.md, "New items: the level offset served"). */
export const ITEM_LEVEL_DEFAULTS: Required<ItemLevelOptions> = {
  enabled: true,
  levelBelow: 10,
  establishedClickers: ESTABLISHED_CLICKERS,
  withPrior: true,
  shiftPrior: false,
  fade: false,
  sampleUsers: 200,
  seed: 1,
};

/**
 * A fixed, seeded sample of `n` ids: the n with the smallest seeded hash. It does not depend on the
 * order ids are listed in, and a growing population changes it only where a newcomer hashes lower.
 */
export function levelSampleIds(ids: Iterable<string>, n: number, seed: number): string[] {
  const keyed: Array<[number, string]> = [];
  for (const id of ids) keyed.push([hashString(`${seed}\u0000${id}`), id]);
  keyed.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return keyed.slice(0, n).map(([, id]) => id);
}

/** What a publication carries: the item's level and the offset to store and serve with it. */
export interface ItemLevel {
  /** Absent when there is no sample to measure it on. */
  level?: number;
  offset: number;
}

interface LevelInput {
  /** count rows of width h. */
  centroids: ArrayLike<number>;
  global: ArrayLike<number>;
  clickers?: number;
}

export class ItemLeveller {
  readonly options: Required<ItemLevelOptions>;
  readonly sampleSize: number;
  private readonly e: Float32Array;
  private readonly q: Float32Array;
  private readonly eNorm: Float32Array;

  /** `sample`: the look-alike embeddings e = T(x) of the level sample, `n` rows of width h. */
  constructor(private readonly model: RalmModel, sample: Float32Array, options: ItemLevelOptions = {}) {
    this.options = { ...ITEM_LEVEL_DEFAULTS, ...options };
    const { h } = model.manifest;
    const n = Math.floor(sample.length / h);
    this.sampleSize = n;
    this.e = sample.slice(0, n * h);
    this.q = new Float32Array(n * h);
    this.eNorm = new Float32Array(n);
    const W = model.weights.localWeight;
    for (let u = 0; u < n; u++) {
      let ee = 0;
      for (let o = 0; o < h; o++) {
        let z = 0;
        for (let i = 0; i < h; i++) z += W[o * h + i] * this.e[u * h + i];
        this.q[u * h + o] = z;
        ee += this.e[u * h + o] ** 2;
      }
      this.eNorm[u] = Math.sqrt(ee);
    }
  }

  /** An item's level: its mean look-alike score α·cos(e, global) + β·cos(e, local) over the sample (NaN without one). */
  level(it: LevelInput): number {
    const { h, alpha, beta } = this.model.manifest;
    const C = it.centroids;
    const k = Math.floor(C.length / h);
    const gram = new Float64Array(k * k);
    for (let a = 0; a < k; a++) {
      for (let b = a; b < k; b++) {
        let d = 0;
        for (let i = 0; i < h; i++) d += C[a * h + i] * C[b * h + i];
        gram[a * k + b] = gram[b * k + a] = d;
      }
    }
    let gg = 0;
    for (let i = 0; i < h; i++) gg += it.global[i] * it.global[i];
    const gNorm = Math.sqrt(gg);
    const att = new Float64Array(k);
    const ec = new Float64Array(k);
    let sum = 0;
    for (let u = 0; u < this.sampleSize; u++) {
      let eg = 0;
      for (let i = 0; i < h; i++) eg += this.e[u * h + i] * it.global[i];
      let top = -Infinity;
      for (let j = 0; j < k; j++) {
        let cq = 0;
        let ce = 0;
        for (let i = 0; i < h; i++) {
          cq += C[j * h + i] * this.q[u * h + i];
          ce += C[j * h + i] * this.e[u * h + i];
        }
        att[j] = Math.tanh(cq);
        ec[j] = ce;
        top = Math.max(top, att[j]);
      }
      let z = 0;
      for (let j = 0; j < k; j++) z += (att[j] = Math.exp(att[j] - top));
      let num = 0;
      let ll = 0;
      for (let a = 0; a < k; a++) {
        num += att[a] * ec[a];
        for (let b = 0; b < k; b++) ll += att[a] * att[b] * gram[a * k + b];
      }
      const en = this.eNorm[u];
      const lNorm = Math.sqrt(Math.max(0, ll)) / z;
      const cosL = en > 0 && lNorm > 0 ? num / z / (en * lNorm) : 0;
      const cosG = en > 0 && gNorm > 0 ? eg / (en * gNorm) : 0;
      sum += alpha * cosG + beta * cosL;
    }
    return this.sampleSize > 0 ? sum / this.sampleSize : NaN;
  }

  /**
   * Levels and offsets for a publication, against `typical` (the table's established items). The
   * established items of the publication itself join the typical level first, so a first
   * publication of a whole catalogue levels its new items against its own established ones.
   * About 1 ms an item at h = 64 over 200 users, so it hands the event loop back between items
   * (util/time-slice.ts): a re-clustering batch of 256 items would otherwise hold it ~0.26 s.
   */
  async levels(items: readonly LevelInput[], typical: TypicalLevel | undefined, lambda: number): Promise<ItemLevel[]> {
    const o = this.options;
    const slicer = new TimeSlicer();
    const levels: number[] = [];
    for (const it of items) {
      levels.push(this.sampleSize > 0 ? this.level(it) : NaN);
      await slicer.tick();
    }
    let sumL = typical ? typical.level * typical.items : 0;
    let sumP = typical ? typical.prior * typical.items : 0;
    let n = typical?.items ?? 0;
    items.forEach((it, i) => {
      if ((it.clickers ?? 0) < o.establishedClickers || !Number.isFinite(levels[i])) return;
      sumL += levels[i];
      sumP += popularityPrior(lambda, it.clickers ?? 0);
      n++;
    });
    return items.map((it, i) => {
      const level = levels[i];
      const c = it.clickers ?? 0;
      if (!Number.isFinite(level)) return { offset: 0 };
      if (!o.enabled || n === 0 || c >= o.levelBelow) return { level, offset: 0 };
      const prior = o.withPrior ? sumP / n - popularityPrior(lambda, c)
        : o.shiftPrior && Number.isFinite(o.levelBelow) ? Math.max(0, sumP / n - popularityPrior(lambda, o.levelBelow)) : 0;
      const weight = o.fade && Number.isFinite(o.levelBelow) ? 1 - c / o.levelBelow : 1;
      return { level, offset: Math.fround(weight * (sumL / n - level + prior)) };
    });
  }

  /** Levels and offsets of items about to be published on `engine` (global vectors computed where absent). */
  async forEngine(engine: RalmEngine, items: ReadonlyArray<{ centroids: ArrayLike<number>; global?: ArrayLike<number>; clickers?: number }>): Promise<ItemLevel[]> {
    const { h } = engine.model.manifest;
    const need = items.flatMap((it, i) => (it.global === undefined ? [i] : []));
    const computed = need.length > 0 ? await engine.globalVectors(need.map((i) => ({ centroids: Float32Array.from(items[i].centroids), count: items[i].centroids.length / h }))) : undefined;
    const globals = new Map(need.map((i, t) => [i, (computed as { globals: Float32Array }).globals.subarray(t * h, (t + 1) * h)]));
    return this.levels(items.map((it, i) => ({ centroids: it.centroids, global: it.global ?? (globals.get(i) as Float32Array), clickers: it.clickers })), engine.table.typicalLevel, engine.table.popularityPrior);
  }
}
