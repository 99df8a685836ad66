/**
 * Stage 2's validation, on items held out of training. Each held-out item's clickers are split
 * once into seeds and targets (the same split every epoch; the centroids are recomputed with the
 * current transform). Two measures:
 *
 *   items per user: for each target, its item against (up to `itemNegatives`) other held-out
 *     items the target did not click, the AUC of that comparison averaged over targets — the
 *     question `ralm eval` asks (rank items for a user), on items never trained on;
 *   users per item: the targets against users who did not click the item, one pooled AUC — the
 *     question audience expansion asks (rank users for an item).
 */
import { Rng } from '../util/rng.js';
import { clicked, shuffleFromEnd, type ExampleSource, type TrainItem } from './stage2-data.js';

/** Which measure picks the weights: these two, or `ranking` (stage2-ranking.ts). */
export type ValidationMetric = 'items' | 'users' | 'ranking';

/** Scores pairs (user, item index into the held-out list); `leaveOut` ≥ 0: embed the user without that dataset item. */
export type PairScorer = (user: Int32Array, item: Int32Array, leaveOut: Int32Array, seeds: ReadonlyArray<readonly number[]>) => Promise<Float32Array>;

/** AUC of positives vs negatives by ranks (ties count ½). */
export function pooledAuc(scores: Float32Array, labels: Uint8Array): number {
  const idx = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let pos = 0;
  for (let r = 0; r < idx.length;) {
    let e = r;
    while (e + 1 < idx.length && scores[idx[e + 1]] === scores[idx[r]]) e++;
    const avg = (r + e) / 2 + 1;
    for (let t = r; t <= e; t++) if (labels[idx[t]]) {
      rankSum += avg;
      pos++;
    }
    r = e + 1;
  }
  const neg = idx.length - pos;
  return pos === 0 || neg === 0 ? 0.5 : (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface ValidationOptions {
  seedShare: number;
  maxSeeds: number;
  maxTargets: number;
  userNegatives: number;
  itemNegatives: number;
  /** Targets in the items-per-user measure at most (sampled). */
  maxItemTargets: number;
  seed: number;
}

export class ValidationSet {
  /** Per held-out item: its seeds (fixed). */
  readonly seeds: number[][] = [];
  private readonly users: { user: Int32Array; item: Int32Array; leaveOut: Int32Array; label: Uint8Array };
  private readonly items: { user: Int32Array; item: Int32Array; leaveOut: Int32Array; rows: number[] };

  constructor(readonly list: readonly TrainItem[], source: ExampleSource, o: ValidationOptions) {
    const rng = new Rng(o.seed);
    const uu: number[] = [];
    const ui: number[] = [];
    const ul: number[] = [];
    const lab: number[] = [];
    const targets: Array<[number, number]> = [];
    list.forEach((t, ii) => {
      const us = shuffleFromEnd(t.users.slice(), rng);
      const ns = Math.max(1, Math.round(us.length * o.seedShare));
      this.seeds.push(us.slice(0, Math.min(ns, o.maxSeeds)));
      for (const u of us.slice(ns, ns + o.maxTargets)) {
        targets.push([u, ii]);
        uu.push(u); ui.push(ii); ul.push(t.item); lab.push(1);
        for (let n = 0; n < o.userNegatives; n++) {
          let v = source.users.draw(rng);
          for (let tries = 0; clicked(source.byUser, v, t.item) && tries < 20; tries++) v = source.users.draw(rng);
          if (!clicked(source.byUser, v, t.item)) { uu.push(v); ui.push(ii); ul.push(-1); lab.push(0); }
        }
      }
    });
    this.users = { user: Int32Array.from(uu), item: Int32Array.from(ui), leaveOut: Int32Array.from(ul), label: Uint8Array.from(lab) };
    const chosen = targets.length > o.maxItemTargets ? rng.shuffle(targets.slice(), o.maxItemTargets).slice(0, o.maxItemTargets) : targets;
    const iu: number[] = [];
    const iiArr: number[] = [];
    const il: number[] = [];
    const rows: number[] = [0];
    for (const [u, ii] of chosen) {
      const free: number[] = [];
      for (let jj = 0; jj < list.length; jj++) if (jj !== ii && !clicked(source.byUser, u, list[jj].item)) free.push(jj);
      const negs = free.length > o.itemNegatives ? rng.shuffle(free, o.itemNegatives).slice(0, o.itemNegatives) : free;
      if (negs.length === 0) continue;
      for (const jj of [ii, ...negs]) { iu.push(u); iiArr.push(jj); il.push(list[ii].item); }
      rows.push(iu.length);
    }
    this.items = { user: Int32Array.from(iu), item: Int32Array.from(iiArr), leaveOut: Int32Array.from(il), rows };
  }

  /** Both measures for the weights behind `score`. */
  async evaluate(score: PairScorer): Promise<{ items: number; users: number }> {
    const us = await score(this.users.user, this.users.item, this.users.leaveOut, this.seeds);
    const users = pooledAuc(us, this.users.label);
    let items = 0.5;
    const { rows } = this.items;
    if (rows.length > 1) {
      const s = await score(this.items.user, this.items.item, this.items.leaveOut, this.seeds);
      let sum = 0;
      for (let r = 0; r + 1 < rows.length; r++) {
        const pos = s[rows[r]];
        let below = 0;
        for (let j = rows[r] + 1; j < rows[r + 1]; j++) below += s[j] < pos ? 1 : s[j] === pos ? 0.5 : 0;
        sum += below / (rows[r + 1] - rows[r] - 1);
      }
      items = sum / (rows.length - 1);
    }
    return { items, users };
  }
}
