/**
 * Stage 2's examples. Every epoch each item's clickers are split at random into seeds (clustered
 * into the item's centroids) and targets, so a target is never among the seeds it is scored
 * against (the spec's leakage rule). Each target then anchors example groups of 1 + N pairs, the
 * positive first:
 *
 *   users: (target, item), then N users who did not click the item, against the same item —
 *          ranking users for an item, as audience expansion does (the paper's formulation);
 *   items: (target, item), then N items the target did not click, for the same user — ranking
 *          items for a user, as recommendation does and as `ralm eval` measures;
 *   full:  (target, item) alone: the negatives are every other item of the epoch's list, scored
 *          by the listwise objective (stage2-listwise.ts), so a group holds only its positive.
 *
 * The loss (stage2.ts) reads a group as independent labelled pairs (binary cross-entropy) or as
 * one softmax over its 1 + N scores.
 */
import { clusterBatch } from '../clustering/cluster-batch.js';
import { runKMeansJobs } from '../cpu/kmeans.js';
import { Rng } from '../util/rng.js';
import { toCsr, type Csr } from './click-factors.js';
import type { Centroids } from './stage2-model.js';

export interface TrainItem {
  item: number;
  /** Distinct clickers. */
  users: number[];
}

/** Which negatives make an example group (see the module comment). */
export type Objective = 'users' | 'items' | 'both' | 'full';

/** Example groups, flattened: group g is pairs [g·(1+N), (g+1)·(1+N)), its positive first. */
export interface Groups {
  size: number;
  count: number;
  /** Per pair: the user scored, and the item (an index into the epoch's item list). */
  user: Int32Array;
  item: Int32Array;
  /** Per group: the user whose x leaves out the positive item (the target), and that item's dataset id. */
  anchor: Int32Array;
  anchorItem: Int32Array;
}

/**
 * Fisher–Yates from the last position down (Rng.shuffle runs from the front; this order is kept
 * so that a trained model stays the same for the same seed).
 */
export function shuffleFromEnd<T>(a: T[], rng: Rng): T[] {
  for (let t = a.length - 1; t > 0; t--) {
    const j = rng.int(t + 1);
    [a[t], a[j]] = [a[j], a[t]];
  }
  return a;
}

/**
 * The items stage 2 trains on, from `items` (in their shuffled order): all of them when there are
 * at most `max` (or no cap); else `max` of them, kept in the shuffled order: the first (`sample`,
 * a seeded sample since the order is shuffled), those whose first click in `clickItems` (time
 * order) comes last (`latest`), or a seeded draw without replacement in proportion to each item's
 * clickers (`popular`: the items as the clicks weigh them, Efraimidis and Spirakis's keys
 * u^(1/w)).
 */
export function chooseTrainingItems(items: TrainItem[], max: number | undefined, choice: 'sample' | 'latest' | 'popular', clickItems: ArrayLike<number>, rng: Rng): TrainItem[] {
  if (max === undefined || items.length <= max) return items;
  if (choice === 'sample') return items.slice(0, max);
  let key: (t: TrainItem) => number;
  if (choice === 'latest') {
    const first = new Map<number, number>();
    for (let j = 0; j < clickItems.length; j++) if (!first.has(clickItems[j])) first.set(clickItems[j], j);
    key = (t) => first.get(t.item) ?? -1;
  } else {
    const keys = new Map(items.map((t) => [t, Math.log(1 - rng.next()) / Math.max(1, t.users.length)]));
    key = (t) => keys.get(t) as number;
  }
  const kept = new Set(items.slice().sort((a, b) => key(b) - key(a) || a.item - b.item).slice(0, max));
  return items.filter((t) => kept.has(t));
}

/** Draws indices in proportion to non-negative weights (cumulative sums, bisection); uniform when all are 0. */
export class WeightedDraw {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(weights: ArrayLike<number> | null, private readonly n: number) {
    this.cumulative = new Float64Array(n);
    let acc = 0;
    if (weights) for (let i = 0; i < n; i++) this.cumulative[i] = acc += weights[i];
    this.total = acc;
  }

  /** log of the probability that `draw` returns i. */
  logProbability(i: number): number {
    if (this.total === 0) return -Math.log(this.n);
    return Math.log(Math.max(this.cumulative[i] - (i > 0 ? this.cumulative[i - 1] : 0), 1e-12) / this.total);
  }

  draw(rng: Rng): number {
    if (this.total === 0) return rng.int(this.n);
    const target = rng.next() * this.total;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Whether user u clicked `item` (distinct clicks per user, sorted: CSR rows). */
export function clicked(c: Csr, u: number, item: number): boolean {
  let lo = c.ptr[u];
  let hi = c.ptr[u + 1];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (c.idx[mid] < item) lo = mid + 1;
    else hi = mid;
  }
  return lo < c.ptr[u + 1] && c.idx[lo] === item;
}

export interface SplitOptions {
  k: number;
  h: number;
  seedShare: number;
  maxSeeds: number;
  maxTargets: number;
  negatives: number;
  objective: Objective;
  seed: number;
}

/** Everything the epochs share: the clicks per user, and the two negative samplers. */
export class ExampleSource {
  readonly byUser: Csr;
  readonly users: WeightedDraw;

  constructor(readonly nu: number, ni: number, clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, userSampling: 'uniform' | 'activity') {
    this.byUser = toCsr(nu, ni, clicks.user, clicks.item);
    const activity = userSampling === 'activity' ? Float64Array.from({ length: nu }, (_, u) => this.byUser.ptr[u + 1] - this.byUser.ptr[u]) : null;
    this.users = new WeightedDraw(activity, nu);
  }

  /**
   * Splits each listed item's clickers into seeds and targets, clusters the seeds of every item
   * in the transformed space `e` (users × h), and builds the example groups of the targets.
   * Item negatives are drawn from the list by `itemDraw`. `seedsOnly` items follow the list's
   * (positions list.length + j): every clicker is a seed (at most maxSeeds) and none a target, so
   * the listwise objective can rank them as negatives without a positive among their seeds.
   */
  async epoch(list: readonly TrainItem[], e: Float32Array, rng: Rng, o: SplitOptions, itemDraw: WeightedDraw, seedsOnly: readonly TrainItem[] = []): Promise<{ cent: Centroids; groups: Groups; seeds: number[][] }> {
    const { h, k, objective } = o;
    const N = objective === 'full' ? 0 : o.negatives;
    const size = 1 + N;
    const seedLists: number[][] = [];
    const jobs: Array<{ points: Float32Array; n: number }> = [];
    const pu: number[] = [];
    const pi: number[] = [];
    const anchor: number[] = [];
    const anchorItem: number[] = [];
    const tryDraw = (draw: () => number, ok: (v: number) => boolean): number => {
      for (let tries = 0; tries < 20; tries++) {
        const v = draw();
        if (ok(v)) return v;
      }
      return -1;
    };
    list.forEach((t, ii) => {
      const us = shuffleFromEnd(t.users.slice(), rng);
      const ns = Math.max(1, Math.round(us.length * o.seedShare));
      const seeds = us.slice(0, Math.min(ns, o.maxSeeds));
      const targets = us.slice(ns, ns + o.maxTargets);
      const points = new Float32Array(seeds.length * h);
      seeds.forEach((u, r) => points.set(e.subarray(u * h, (u + 1) * h), r * h));
      jobs.push({ points, n: seeds.length });
      seedLists.push(seeds);
      for (const u of targets) {
        if (objective === 'full') {
          pu.push(u);
          pi.push(ii);
          anchor.push(u);
          anchorItem.push(t.item);
          continue;
        }
        if (objective !== 'items') {
          const negs: number[] = [];
          for (let n = 0; n < N; n++) {
            const v = tryDraw(() => this.users.draw(rng), (x) => !clicked(this.byUser, x, t.item));
            if (v >= 0) negs.push(v);
          }
          if (negs.length === N) {
            pu.push(u, ...negs);
            for (let n = 0; n < size; n++) pi.push(ii);
            anchor.push(u);
            anchorItem.push(t.item);
          }
        }
        if (objective !== 'users') {
          const negs: number[] = [];
          for (let n = 0; n < N; n++) {
            const j = tryDraw(() => itemDraw.draw(rng), (x) => x !== ii && !clicked(this.byUser, u, list[x].item));
            if (j >= 0) negs.push(j);
          }
          if (negs.length === N) {
            for (let n = 0; n < size; n++) pu.push(u);
            pi.push(ii, ...negs);
            anchor.push(u);
            anchorItem.push(t.item);
          }
        }
      }
    });
    for (const t of seedsOnly) {
      const seeds = t.users.length > o.maxSeeds ? shuffleFromEnd(t.users.slice(), rng).slice(0, o.maxSeeds) : t.users.slice();
      const points = new Float32Array(seeds.length * h);
      seeds.forEach((u, r) => points.set(e.subarray(u * h, (u + 1) * h), r * h));
      jobs.push({ points, n: seeds.length });
      seedLists.push(seeds);
    }
    const res = await clusterBatch(runKMeansJobs, jobs, h, k, { seed: o.seed });
    const c = new Float32Array(jobs.length * k * h);
    const mask = new Float32Array(jobs.length * k);
    res.forEach((r, ii) => {
      c.set(r.centroids.subarray(0, r.count * h), ii * k * h);
      mask.fill(1, ii * k, ii * k + r.count);
    });
    return {
      cent: { c, mask },
      seeds: seedLists,
      groups: { size, count: anchor.length, user: Int32Array.from(pu), item: Int32Array.from(pi), anchor: Int32Array.from(anchor), anchorItem: Int32Array.from(anchorItem) },
    };
  }
}

/** The groups in a seeded random order. */
export function shuffledGroups(g: Groups, rng: Rng): Groups {
  const order = shuffleFromEnd(Array.from({ length: g.count }, (_, i) => i), rng);
  const user = new Int32Array(g.user.length);
  const item = new Int32Array(g.item.length);
  order.forEach((from, to) => {
    user.set(g.user.subarray(from * g.size, (from + 1) * g.size), to * g.size);
    item.set(g.item.subarray(from * g.size, (from + 1) * g.size), to * g.size);
  });
  return { ...g, user, item, anchor: Int32Array.from(order, (i) => g.anchor[i]), anchorItem: Int32Array.from(order, (i) => g.anchorItem[i]) };
}
