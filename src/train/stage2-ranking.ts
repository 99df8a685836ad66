/**
 * Stage 2's ranking validation: the question `ralm eval` asks, asked inside the training period.
 * A seeded sample of users each have their latest clicks on candidate items held out of stage 2's
 * training (the clicks arrive in time order, so "latest" is by time, as the evaluation's per-user
 * split cuts). Every held-out click is one row: the user, embedded without that item (the target
 * rule of stage 2's examples), ranks every candidate they had not clicked, with the held-out item
 * among them; the row scores 1 when the item is in the top 10. The measure is the mean over rows:
 * the paper's prec@10 with one positive per list, |top-10 ∩ {item}| / min(10, 1). The candidates
 * are the items stage 2 knows (a seeded sample of at most `maxCandidates`), each described by the
 * centroids of its clickers (held-out clicks excluded), as the engine serves them.
 *
 * The scores are the forward pass of stage2-model.ts (local and global attention, two cosines,
 * the blend), computed for a block of rows against every candidate at once: the local vector's
 * length comes from each item's centroid Gram matrix, so no (row, item) pair copies centroids.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { withDefaults } from '../util/options.js';
import { clickersByItem } from '../data/dataset.js';
import { candidateTensors, disposeCandidates, globalUnits, scoreMatrix, type Centroids, type Params } from './stage2-model.js';
import { RANKING_VALIDATION_DEFAULTS } from './defaults.js';

export interface RankingValidationOptions {
  /** Users sampled for validation at most. */
  users: number;
  /** Latest clicks held out per validation user: at least this many (as far as minTrainClicks allows). */
  perUser: number;
  /**
   * Or each validation user's latest `share` of their clicks when that is more, up to
   * `maxPerUser`: more held-out clicks per user make the bootstrap SD of prec@10 small enough to
   * separate the gains stage 2 is asked to decide (docs/quality.md, "A validation that can decide").
   */
  share: number;
  maxPerUser: number;
  /** Validation users keep at least this many training clicks. */
  minTrainClicks: number;
  /** Candidate items at most (a seeded sample). */
  maxCandidates: number;
  /** List length. */
  topK: number;
  seed: number;
}

/**
 * The popularity-prior weights λ tried on the kept weights (RankingValidation.withPrior), the
 * served score being score + λ · ln(1 + clickers) (model/prior.ts); 0 is the measure itself.
 */
export const PRIOR_WEIGHTS = [0.02, 0.05, 0.1, 0.2, 0.5] as const;

/** How λ was set: chosen on this validation (`auto`) or fixed by the caller, and what each λ tried scored. */
export interface PriorChoice {
  lambda: number;
  /** prec@10 of the held-out clicks with that λ (without the prior for a fixed λ off the grid). */
  ranking: number;
  chosen: 'validation' | 'fixed';
  /** prec@10 of the held-out clicks with λ = 0 and each weight of PRIOR_WEIGHTS, on the weights kept. */
  grid: Array<{ lambda: number; ranking: number }>;
}

/**
 * λ for a set of weights: `fixed` as given, or (`auto`) the weight of PRIOR_WEIGHTS with the best
 * validation prec@10, 0 unless one beats λ = 0; ties go to the smaller λ. Stage 2 keeps the
 * weights whose prec@10 with their λ is best, since that is the score they are served with.
 */
export function choosePrior(setting: number | 'auto', base: number, withPrior: readonly number[]): PriorChoice {
  const grid = [{ lambda: 0, ranking: base }, ...PRIOR_WEIGHTS.map((lambda, i) => ({ lambda, ranking: withPrior[i] ?? Number.NaN }))];
  if (setting !== 'auto') return { lambda: setting, ranking: grid.find((g) => g.lambda === setting)?.ranking ?? base, chosen: 'fixed', grid };
  let best = grid[0];
  for (const g of grid) if (g.ranking > best.ranking) best = g;
  return { lambda: best.lambda, ranking: best.ranking, chosen: 'validation', grid };
}

/** How many of a user's latest clicks (of `clicks` in all) the ranking validation holds out at most. */
export function heldPerUser(clicks: number, o: Pick<RankingValidationOptions, 'perUser' | 'share' | 'maxPerUser'>): number {
  return Math.max(o.perUser, Math.min(o.maxPerUser, Math.round(o.share * clicks)));
}

/** Rows of the ranking validation: user, held-out item (dataset id), and the candidates each row leaves out. */
export class RankingValidation {
  /** Candidate items (dataset ids), and each one's position. */
  readonly candidates: number[];
  readonly rowUser: Int32Array;
  readonly rowItem: Int32Array;
  /** Per row: candidate positions not ranked (the user's other clicks; the row's item is ranked). */
  private readonly rowSkip: number[][];
  /** Held-out pairs, as user · items + item. */
  private readonly heldOut: Set<number>;
  /**
   * Per candidate, its training clickers (set by holdOutForRanking); with it, `evaluate` records
   * the mean clickers of the top-10 items in `topClickers` — whether a model's lists lean to the
   * head or the tail (a diagnostic for the training log, not a measure that chooses).
   */
  clickers: Float64Array | null = null;
  topClickers = Number.NaN;
  /**
   * prec@10 of the last `evaluate` with λ · ln(1 + clickers) added to every score, for λ in
   * PRIOR_WEIGHTS: what the engine's popularity prior would make of these weights (choosePrior).
   */
  withPrior: number[] = [];
  /**
   * Per row, which half of the validation users it belongs to (seeded, by user): 0 the selection
   * half, 1 the check half. With `split` set, `evaluate` and `withPrior` read only the selection
   * half (epochs and λ are chosen there), and the check half stays untouched by every choice, for
   * the keep decision (stage2-keep.ts): a maximum over epochs and λ on the rows that choose it is
   * biased upward, the same weights measured on other rows are not.
   */
  readonly rowPart: Uint8Array;
  split = false;
  /** Per row, whether the last `evaluate` ranked its item in the top 10: index 0 without the prior, then one per PRIOR_WEIGHTS. */
  lastHits: Uint8Array[] = [];

  /** The last evaluation's diagnostics, for the training log. */
  diagnostics(): string {
    if (!this.clickers) return '';
    return `top 10: ${this.topClickers.toFixed(1)} clickers an item; with a popularity prior λ·ln(1 + clickers), λ = ${PRIOR_WEIGHTS.join('/')}: ${this.withPrior.map((v) => v.toFixed(4)).join('/')}`;
  }

  private constructor(candidates: number[], rows: Array<[number, number, number[]]>, heldOut: Set<number>, private readonly ni: number, checkUsers: ReadonlySet<number>) {
    this.candidates = candidates;
    this.rowPart = Uint8Array.from(rows, (r) => (checkUsers.has(r[0]) ? 1 : 0));
    this.rowUser = Int32Array.from(rows, (r) => r[0]);
    this.rowItem = Int32Array.from(rows, (r) => r[1]);
    this.rowSkip = rows.map((r) => r[2]);
    this.heldOut = heldOut;
  }

  get rows(): number {
    return this.rowUser.length;
  }

  /** Whether (user, item) is held out of training. */
  isHeldOut(user: number, item: number): boolean {
    return this.heldOut.has(user * this.ni + item);
  }

  /**
   * Chooses the rows from distinct clicks in time order. `eligible` lists the items stage 2 can
   * rank (enough clickers); held-out clicks are taken among the sampled candidates only.
   */
  static build(clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, ni: number, eligible: readonly number[], options: Partial<RankingValidationOptions> = {}): RankingValidation {
    const o = withDefaults(RANKING_VALIDATION_DEFAULTS, options);
    const rng = new Rng(o.seed);
    const cands = eligible.length > o.maxCandidates ? rng.shuffle(eligible.slice(), o.maxCandidates).slice(0, o.maxCandidates) : eligible.slice();
    cands.sort((a, b) => a - b);
    const pos = new Map<number, number>(cands.map((it, j) => [it, j]));
    const byUser = new Map<number, number[]>();
    for (let j = 0; j < clicks.user.length; j++) {
      let l = byUser.get(clicks.user[j]);
      if (!l) byUser.set(clicks.user[j], (l = []));
      l.push(clicks.item[j]);
    }
    const pool = [...byUser.keys()].filter((u) => (byUser.get(u)?.length ?? 0) > o.minTrainClicks).sort((a, b) => a - b);
    const users = pool.length > o.users ? rng.shuffle(pool, o.users).slice(0, o.users).sort((a, b) => a - b) : pool;
    const rows: Array<[number, number, number[]]> = [];
    const heldOut = new Set<number>();
    for (const u of users) {
      const items = byUser.get(u) ?? [];
      const held: number[] = [];
      const want = heldPerUser(items.length, o);
      for (let j = items.length - 1; j >= 0 && held.length < want && items.length - held.length > o.minTrainClicks; j--) {
        if (pos.has(items[j])) held.push(items[j]);
      }
      const clickedPos = items.filter((it) => pos.has(it)).map((it) => pos.get(it) as number);
      for (const it of held) {
        heldOut.add(u * ni + it);
        const p = pos.get(it) as number;
        rows.push([u, it, clickedPos.filter((q) => q !== p)]);
      }
    }
    // The check half: drawn after everything above, so the rows are the same with or without it.
    const withRows = [...new Set(rows.map((r) => r[0]))];
    const check = new Set(rng.shuffle(withRows, Math.floor(withRows.length / 2)).slice(0, Math.floor(withRows.length / 2)));
    return new RankingValidation(cands, rows, heldOut, ni, check);
  }

  /** Distinct clicks without the held-out ones. */
  trainingClicks(clicks: { user: ArrayLike<number>; item: ArrayLike<number> }): { user: Int32Array; item: Int32Array } {
    const u: number[] = [];
    const i: number[] = [];
    for (let j = 0; j < clicks.user.length; j++) {
      if (this.isHeldOut(clicks.user[j], clicks.item[j])) continue;
      u.push(clicks.user[j]);
      i.push(clicks.item[j]);
    }
    return { user: Int32Array.from(u), item: Int32Array.from(i) };
  }

  /**
   * prec@10 (topK) over the rows for parameters `p`: `x` gives the rows' scaled inputs (each user
   * without its row's item), `cent` the candidates' centroids in the current transform.
   */
  async evaluate(p: Params, x: Float32Array, m: number, cent: Centroids, k: number, h: number, alpha: number, beta: number, topK = RANKING_VALIDATION_DEFAULTS.topK): Promise<number> {
    const n = this.rows;
    if (n === 0) return 0;
    const scores = rankingScores(p, x, n, m, cent, this.candidates.length, k, h, alpha, beta);
    const I = this.candidates.length;
    const pos = new Map<number, number>(this.candidates.map((it, j) => [it, j]));
    const lnPop = this.clickers ? Float64Array.from(this.clickers, (c) => Math.log1p(c)) : null;
    const weights = lnPop ? [0, ...PRIOR_WEIGHTS] : [0];
    const hits = weights.map(() => new Uint8Array(n));
    let topSum = 0;
    for (let r = 0; r < n; r++) {
      const row = scores.subarray(r * I, (r + 1) * I);
      const target = pos.get(this.rowItem[r]) as number;
      const skip = new Set(this.rowSkip[r]);
      weights.forEach((w, wi) => {
        const at = (j: number): number => row[j] + (lnPop && w > 0 ? w * lnPop[j] : 0);
        const s = at(target);
        let above = 0;
        let ties = 0;
        for (let j = 0; j < I; j++) {
          if (j === target || skip.has(j)) continue;
          const v = at(j);
          if (v > s) above++;
          else if (v === s) ties++;
        }
        hits[wi][r] = above + ties / 2 < topK ? 1 : 0;
      });
      if (this.clickers) topSum += meanOfTop(row, skip, this.clickers, topK);
    }
    this.topClickers = this.clickers ? topSum / n : Number.NaN;
    this.lastHits = hits;
    const chosenRows = this.split ? 0 : null;
    this.withPrior = hits.slice(1).map((h) => this.mean(h, chosenRows));
    return this.mean(hits[0], chosenRows);
  }

  /** The mean of per-row hits over one half of the rows (0: selection, 1: check), or over every row (null). */
  mean(hits: Uint8Array, part: 0 | 1 | null): number {
    let s = 0;
    let c = 0;
    for (let r = 0; r < hits.length; r++) {
      if (part !== null && this.rowPart[r] !== part) continue;
      s += hits[r];
      c++;
    }
    return c === 0 ? 0 : s / c;
  }

  /** The last evaluation's per-row hits with λ (0 or one of PRIOR_WEIGHTS; another λ reads as 0). */
  hitsAt(lambda: number): Uint8Array {
    const j = PRIOR_WEIGHTS.indexOf(lambda as (typeof PRIOR_WEIGHTS)[number]);
    return (j >= 0 ? this.lastHits[j + 1] : undefined) ?? this.lastHits[0];
  }
}

/**
 * The ranking validation of distinct clicks (in time order), the clicks left for training, their
 * clickers per item, the item id bound, and each candidate's seeds (its training clickers, at most
 * `maxSeeds`, a fixed seeded sample).
 */
export function holdOutForRanking(clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, minClickers: number, maxSeeds: number, seed: number, options: Partial<RankingValidationOptions> = {}): {
  ranking: RankingValidation; training: { user: Int32Array; item: Int32Array }; byItem: Map<number, number[]>; ni: number; seeds: number[][];
} {
  let ni = 0;
  for (let i = 0; i < clicks.item.length; i++) ni = Math.max(ni, clicks.item[i] + 1);
  const all = clickersByItem(clicks);
  const eligible = [...all.entries()].filter(([, us]) => new Set(us).size >= minClickers).map(([item]) => item);
  const ranking = RankingValidation.build(clicks, ni, eligible, { seed: seed + 11, ...options });
  const training = ranking.trainingClicks(clicks);
  const byItem = clickersByItem(training);
  const rng = new Rng(seed + 13);
  ranking.clickers = Float64Array.from(ranking.candidates, (it) => new Set(byItem.get(it) ?? []).size);
  const seeds = ranking.candidates.map((it) => {
    const us = [...new Set(byItem.get(it) ?? [])];
    return us.length > maxSeeds ? rng.shuffle(us, maxSeeds).slice(0, maxSeeds) : us;
  });
  return { ranking, training, byItem, ni, seeds };
}

/**
 * RALM's scores of n users (scaled x, n × m) against I items' centroids, row-major n × I: the
 * same function as forwardScore on every (user, item) pair, blocked over users.
 */
export function rankingScores(p: Params, x: Float32Array, n: number, m: number, cent: Centroids, I: number, k: number, h: number, alpha: number, beta: number): Float32Array {
  const out = new Float32Array(n * I);
  const t = candidateTensors(cent, I, k, h);
  const gUnit = tf.tidy(() => globalUnits(p, t));
  const block = Math.max(1, Math.floor(4_000_000 / Math.max(1, I * k)));
  try {
    for (let r0 = 0; r0 < n; r0 += block) {
      const nb = Math.min(block, n - r0);
      const s = tf.tidy(() => scoreMatrix(p, tf.tensor2d(x.subarray(r0 * m, (r0 + nb) * m), [nb, m]), t, gUnit, alpha, beta));
      out.set(s.dataSync() as Float32Array, r0 * I);
      s.dispose();
    }
  } finally {
    disposeCandidates(t);
    gUnit.dispose();
  }
  return out;
}

/** The mean of `value` over the topK positions of `row` by score (positions in `skip` left out). */
function meanOfTop(row: Float32Array, skip: ReadonlySet<number>, value: Float64Array, topK: number): number {
  const top: number[] = [];
  for (let j = 0; j < row.length; j++) {
    if (skip.has(j)) continue;
    if (top.length < topK) top.push(j);
    else {
      let low = 0;
      for (let t = 1; t < top.length; t++) if (row[top[t]] < row[top[low]]) low = t;
      if (row[j] > row[top[low]]) top[low] = j;
    }
  }
  return top.reduce((s, j) => s + value[j], 0) / Math.max(1, top.length);
}
