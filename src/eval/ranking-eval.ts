/**
 * The ranking evaluation behind `ralm eval`: each method ranks the candidate items for each
 * evaluated user after a temporal split, and its lists are compared with what the user clicked in
 * the test period.
 *
 * Protocol.
 *   - Candidates: items with at least `minTrainClicks` positive training rows (what a model trained
 *     at the cut could know), optionally plus the items first clicked after the cut.
 *   - Evaluated users: at least `minTrainRows` training rows (so a model has their features and
 *     history) and at least one test positive on a candidate they had not clicked in training;
 *     optionally a seeded sample of them.
 *   - A user's positives ("clicked") are those test-period items; items the user clicked in
 *     training are left out of the lists, as a deployed system would, and so are not positives.
 *   - Top-K metrics per K: the paper's prec@K, recall@K, hit rate, averaged over users; long-tail
 *     share of the slots, catalog coverage, and category diversity of the lists.
 *   - AUC per user: the user's positives against `aucNegatives` candidates drawn uniformly among
 *     those the user never clicked (train or test). The draw depends only on (seed, user), so
 *     every method meets the same negatives. `auc` is the mean over users; `globalAuc` pools every
 *     user's pairs, which only means something for scores comparable across users.
 *
 * A recommender scores every candidate for a user in one call; the harness fills the output with
 * NaN first, so a score left unwritten is caught by the same NaN check as a NaN written.
 */
import { performance } from 'node:perf_hooks';
import { TopSelector } from '../core/top-k.js';
import type { Dataset } from '../data/dataset.js';
import type { FeatureColumn } from '../data/features.js';
import type { TemporalSplit } from '../data/split.js';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { uniformNegatives, userSeed, weightedAuc } from './negatives.js';
import {
  auc, catalogCoverage, categoryDiversity, headItems, hitRateAtK, longTailShare, meanSpread, precisionAtK, recallAtK,
  type ItemCategories, type ItemSet, type MeanSpread,
} from './metrics.js';

/** Item lists per evaluated user, CSR: row k belongs to the k-th evaluated user, items ascending. */
export class UserItems {
  constructor(readonly offsets: Uint32Array, readonly items: Uint32Array) {}

  get rows(): number {
    return this.offsets.length - 1;
  }

  /** Row k (a view). */
  row(k: number): Uint32Array {
    return this.items.subarray(this.offsets[k], this.offsets[k + 1]);
  }
}

export interface ContextOptions {
  /** Candidates need at least this many positive training rows (≥ 1). */
  minTrainClicks?: number;
  /** Also make the items first clicked after the cut candidates. */
  includeNewItems?: boolean;
  /** Evaluated users need at least this many training rows, of any label (≥ 0). */
  minTrainRows?: number;
  /** Evaluate at most this many users, a seeded sample (0: all). */
  maxUsers?: number;
  /** Seed of the user sample. */
  seed?: number;
  /**
   * The head is the most-clicked candidates making up this share of the candidates' training
   * clicks; the other candidates are the long tail (relative to what may be recommended, so a
   * click threshold on candidates does not leave every candidate in the head).
   */
  headShare?: number;
}

const CONTEXT_DEFAULTS: Required<ContextOptions> = { minTrainClicks: 1, includeNewItems: false, minTrainRows: 1, maxUsers: 0, seed: 1, headShare: 0.8 };

export interface EvalContext {
  readonly ds: Dataset;
  /** Training rows are [0, split.trainEnd), test rows the rest. */
  readonly split: TemporalSplit;
  /** Items a method may recommend, ascending. */
  readonly candidates: Uint32Array;
  /** Evaluated users, ascending. */
  readonly users: Uint32Array;
  /** Per item: its position in `candidates`, −1 when it is not one. */
  readonly candidateIndex: Int32Array;
  /** Per user: its position in `users`, −1 when it is not evaluated. */
  readonly userIndex: Int32Array;
  /** Per evaluated user: distinct test-period positives among the candidates, not clicked in training. */
  readonly clicked: UserItems;
  /** Per evaluated user: distinct items with a positive training row (left out of the lists). */
  readonly trainClicked: UserItems;
  /** Per item: positive training rows. */
  readonly popularity: Uint32Array;
  /** Per item: 1 = popularity head among the candidates (from `popularity` and `headShare`), 0 = long tail. */
  readonly head: Uint8Array;
  readonly options: Required<ContextOptions>;
}

/** A method under evaluation. */
export interface Recommender {
  readonly name: string;
  /** Scores for user `u` over `items` into `out` (same order, same length); higher = better. */
  score(u: number, items: Uint32Array, out: Float32Array): void | Promise<void>;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RalmError('RALM_ERR_VALIDATION', `${name}: expected an integer ≥ ${min}, got ${v}`, { field: name });
}

/** Positive rows of [from, to) grouped by user (CSR over all users, items in time order, repeats kept). */
function positivesByUser(ds: Dataset, from: number, to: number): UserItems {
  const { user, item, label } = ds.clicks;
  const offsets = new Uint32Array(ds.users.size + 1);
  for (let j = from; j < to; j++) if (label[j]) offsets[user[j] + 1]++;
  for (let u = 0; u < ds.users.size; u++) offsets[u + 1] += offsets[u];
  const next = offsets.slice(0, ds.users.size);
  const items = new Uint32Array(offsets[ds.users.size]);
  for (let j = from; j < to; j++) if (label[j]) items[next[user[j]]++] = item[j];
  return new UserItems(offsets, items);
}

/** Positive rows per item over the training rows of a split. */
export function trainingPopularity(ds: Dataset, split: TemporalSplit): Uint32Array {
  const { item, label } = ds.clicks;
  const counts = new Uint32Array(ds.items.size);
  for (let j = 0; j < split.trainEnd; j++) if (label[j]) counts[item[j]]++;
  return counts;
}

/** Builds the evaluation context of a split (see the module comment for the protocol). */
export function buildContext(ds: Dataset, split: TemporalSplit, options: ContextOptions = {}): EvalContext {
  const o: Required<ContextOptions> = { ...CONTEXT_DEFAULTS, ...options };
  checkInt('minTrainClicks', o.minTrainClicks, 1);
  checkInt('minTrainRows', o.minTrainRows, 0);
  checkInt('maxUsers', o.maxUsers, 0);
  if (split.trainEnd > ds.clickCount) throw new RalmError('RALM_ERR_VALIDATION', `split: trainEnd ${split.trainEnd} is past the ${ds.clickCount} rows of ${ds.name}`);
  const nu = ds.users.size;
  const ni = ds.items.size;

  const popularity = trainingPopularity(ds, split);
  const isCandidate = new Uint8Array(ni);
  for (let i = 0; i < ni; i++) isCandidate[i] = popularity[i] >= o.minTrainClicks ? 1 : 0;
  if (o.includeNewItems) for (const i of split.newItems) isCandidate[i] = 1;
  const candidateIndex = new Int32Array(ni).fill(-1);
  const cand: number[] = [];
  for (let i = 0; i < ni; i++) if (isCandidate[i]) candidateIndex[i] = cand.push(i) - 1;
  const candidates = Uint32Array.from(cand);
  if (candidates.length === 0) throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: no item has ${o.minTrainClicks} or more training clicks; nothing to recommend`);

  const trainRows = new Uint32Array(nu);
  for (let j = 0; j < split.trainEnd; j++) trainRows[ds.clicks.user[j]]++;
  const train = positivesByUser(ds, 0, split.trainEnd);
  const test = positivesByUser(ds, split.trainEnd, ds.clickCount);

  // mark[i] === stamp: i is in the current user's set; a fresh stamp per user avoids clearing.
  const mark = new Uint32Array(ni);
  let stamp = 0;
  const testPositives = (u: number, out: number[] | null): number => {
    stamp++;
    for (const i of train.row(u)) mark[i] = stamp;
    stamp++;
    let n = 0;
    for (const i of test.row(u)) {
      if (!isCandidate[i] || mark[i] >= stamp - 1) continue; // not a candidate, already clicked in training, or seen
      mark[i] = stamp;
      n++;
      out?.push(i);
    }
    return n;
  };

  let users: number[] = [];
  for (let u = 0; u < nu; u++) if (trainRows[u] >= o.minTrainRows && test.offsets[u + 1] > test.offsets[u] && testPositives(u, null) > 0) users.push(u);
  if (o.maxUsers > 0 && users.length > o.maxUsers) {
    users = new Rng(o.seed).shuffle(users, o.maxUsers).slice(0, o.maxUsers).sort((a, b) => a - b);
  }
  if (users.length === 0) {
    throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: no user has ${o.minTrainRows} or more training rows and a test click on a candidate item they had not clicked before`);
  }
  const userIndex = new Int32Array(nu).fill(-1);
  users.forEach((u, k) => (userIndex[u] = k));

  const clickedOffsets = new Uint32Array(users.length + 1);
  const trainOffsets = new Uint32Array(users.length + 1);
  const clickedItems: number[] = [];
  const trainItems: number[] = [];
  const row: number[] = [];
  users.forEach((u, k) => {
    row.length = 0;
    testPositives(u, row);
    clickedItems.push(...row.sort((a, b) => a - b));
    clickedOffsets[k + 1] = clickedItems.length;
    row.length = 0;
    stamp++;
    for (const i of train.row(u)) {
      if (mark[i] === stamp) continue;
      mark[i] = stamp;
      row.push(i);
    }
    trainItems.push(...row.sort((a, b) => a - b));
    trainOffsets[k + 1] = trainItems.length;
  });

  return {
    ds, split, candidates, users: Uint32Array.from(users), candidateIndex, userIndex,
    clicked: new UserItems(clickedOffsets, Uint32Array.from(clickedItems)),
    trainClicked: new UserItems(trainOffsets, Uint32Array.from(trainItems)),
    popularity, head: headItems(Float64Array.from(popularity, (c, i) => (isCandidate[i] ? c : 0)), o.headShare), options: o,
  };
}

/**
 * The AUC negatives of the k-th evaluated user: up to `count` distinct candidates the user never
 * clicked (train or test), drawn uniformly without replacement, as positions into
 * `ctx.candidates`, ascending. A function of (ctx, user, count, seed) only.
 */
export function aucNegatives(ctx: EvalContext, k: number, count: number, seed: number): Uint32Array {
  return uniformNegatives(ctx.candidates.length, clickedPositions(ctx, k), count, new Rng(userSeed(seed, ctx.users[k])));
}

/** Positions in `ctx.candidates` of the items the k-th evaluated user clicked (train or test). */
function clickedPositions(ctx: EvalContext, k: number): Set<number> {
  const clicked = new Set<number>();
  for (const i of ctx.trainClicked.row(k)) if (ctx.candidateIndex[i] >= 0) clicked.add(ctx.candidateIndex[i]);
  for (const i of ctx.clicked.row(k)) clicked.add(ctx.candidateIndex[i]);
  return clicked;
}

/**
 * AUC against exposure: every candidate the k-th user never clicked, weighted by its training
 * clicks (negatives.ts).
 */
function exposureAuc(ctx: EvalContext, k: number, scores: Float32Array): number {
  const clicked = clickedPositions(ctx, k);
  const neg: number[] = [];
  const w: number[] = [];
  for (let c = 0; c < ctx.candidates.length; c++) {
    if (clicked.has(c)) continue;
    neg.push(scores[c]);
    w.push(ctx.popularity[ctx.candidates[c]]);
  }
  return weightedAuc(Array.from(ctx.clicked.row(k), (i) => scores[ctx.candidateIndex[i]]), neg, w);
}

/** Per item, its categories from a single- or multi-valued item field. */
export function itemCategories(col: FeatureColumn): ItemCategories {
  if (col.type === 'multi') return { offsets: col.offsets, ids: col.ids };
  if (col.type === 'single') return { offsets: Uint32Array.from({ length: col.ids.length + 1 }, (_, i) => i), ids: col.ids };
  throw new RalmError('RALM_ERR_VALIDATION', `item field "${col.name}" is continuous; category diversity needs a categorical field`, { field: col.name });
}

/** The item field used for diversity: the named one, or (undefined) the first categorical field that is not item ids; null: none. */
function categoryField(ds: Dataset, name: string | null | undefined): FeatureColumn | null {
  if (name === null) return null;
  if (name !== undefined) return ds.itemField(name);
  const j = ds.schema.item.findIndex((f) => f.type !== 'continuous' && !f.itemIds);
  return j < 0 ? null : ds.itemFields[j];
}

export interface RankingOptions {
  /** Cut-offs of the top-K metrics (positive integers). */
  ks?: number[];
  /** Sampled negatives per user for AUC (≥ 1). */
  aucNegatives?: number;
  /** Seed of the AUC negatives. */
  seed?: number;
  /** Item field for category diversity; undefined: the first categorical item field; null: skip. */
  categoryField?: string | null;
  /** Return the top-max(ks) list of every evaluated user (for inspection or paired comparisons). */
  keepLists?: boolean;
  /** Called after each user with users done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface RankingResult {
  method: string;
  dataset: string;
  users: number;
  /** Users with an AUC (at least one negative was left to draw). */
  aucUsers: number;
  candidates: number;
  settings: { ks: number[]; aucNegatives: number; seed: number; categoryField: string | null; headShare: number };
  /**
   * Flat, for reports: `auc`, `aucExposure` (exposure negatives), `globalAuc`, and per K `prec@K`, `recall@K`, `hit@K`, `longTail@K`,
   * `coverage@K`, and with a category field `categories@K`, `entropy@K`.
   */
  metrics: Record<string, number>;
  /** Spread over users of the per-user metrics (`auc`, `prec@K`, `recall@K`, `hit@K`). */
  perUser: Record<string, MeanSpread>;
  /** Wall time inside `score` per user, and of the whole evaluation. */
  timing: { msPerUser: number; seconds: number };
  /** With `keepLists`: per evaluated user (ctx.users order), item ids best first. */
  lists?: Uint32Array[];
}

/** Membership in a per-user item set over a shared stamp array (no allocation per user). */
class StampSet implements ItemSet {
  size = 0;
  stamp = 0;
  constructor(private readonly marks: Uint32Array) {}

  reset(items: Uint32Array): void {
    this.stamp++;
    for (const i of items) this.marks[i] = this.stamp;
    this.size = items.length;
  }

  has(item: number): boolean {
    return this.marks[item] === this.stamp;
  }
}

/** Ranks the candidates for every evaluated user with `rec` and scores the lists. */
export async function evaluateRanking(ctx: EvalContext, rec: Recommender, options: RankingOptions = {}): Promise<RankingResult> {
  const t0 = performance.now();
  const ks = options.ks ?? [10, 50, 100];
  const negatives = options.aucNegatives ?? 100;
  const seed = options.seed ?? 1;
  if (ks.length === 0) throw new RalmError('RALM_ERR_VALIDATION', 'ks: expected at least one cut-off', { field: 'ks' });
  for (const k of ks) checkInt('K', k, 1);
  checkInt('aucNegatives', negatives, 1);
  const catCol = categoryField(ctx.ds, options.categoryField);
  const cats = catCol ? itemCategories(catCol) : null;

  const { candidates, users } = ctx;
  const C = candidates.length;
  const maxK = Math.max(...ks);
  const scores = new Float32Array(C);
  const excluded = new StampSet(new Uint32Array(ctx.ds.items.size));
  const clicked = new StampSet(new Uint32Array(ctx.ds.items.size));
  const lists: Uint32Array[] = [];
  const perUser: Record<string, number[]> = { auc: [], aucExposure: [] };
  for (const k of ks) for (const m of ['prec', 'recall', 'hit']) perUser[`${m}@${k}`] = [];
  const pooledPos: number[] = [];
  const pooledNeg: number[] = [];
  let scoreMs = 0;

  for (let k = 0; k < users.length; k++) {
    const u = users[k];
    scores.fill(NaN);
    const s0 = performance.now();
    const pending = rec.score(u, candidates, scores);
    if (pending) await pending;
    scoreMs += performance.now() - s0;
    for (let c = 0; c < C; c++) {
      if (Number.isNaN(scores[c])) {
        throw new RalmError('RALM_ERR_NON_FINITE', `${rec.name}: score of user ${ctx.ds.users.value(u)} for item ${ctx.ds.items.value(candidates[c])} (position ${c} of ${C}) is NaN or was not written`, { method: rec.name, user: u, item: candidates[c] });
      }
    }

    // Top-K over the candidates the user did not click in training; ties by candidate position.
    excluded.reset(ctx.trainClicked.row(k));
    const top = new TopSelector(maxK, -Infinity);
    for (let c = 0; c < C; c++) if (!excluded.has(candidates[c])) top.offer(scores[c], c, 0, 0);
    const list = top.result().position;
    for (let r = 0; r < list.length; r++) list[r] = candidates[list[r]];
    lists.push(list);

    const pos = ctx.clicked.row(k);
    clicked.reset(pos);
    for (const K of ks) {
      perUser[`prec@${K}`].push(precisionAtK(list, clicked, K));
      perUser[`recall@${K}`].push(recallAtK(list, clicked, K));
      perUser[`hit@${K}`].push(hitRateAtK(list, clicked, K));
    }

    const neg = aucNegatives(ctx, k, negatives, seed);
    if (neg.length > 0) {
      const ps = Float64Array.from(pos, (i) => scores[ctx.candidateIndex[i]]);
      const ns = Float64Array.from(neg, (c) => scores[c]);
      perUser.auc.push(auc(ps, ns));
      for (const x of ps) pooledPos.push(x);
      for (const x of ns) pooledNeg.push(x);
    }
    const ea = exposureAuc(ctx, k, scores);
    if (!Number.isNaN(ea)) perUser.aucExposure.push(ea);
    options.onProgress?.(k + 1, users.length);
  }

  const spread: Record<string, MeanSpread> = {};
  for (const [name, values] of Object.entries(perUser)) spread[name] = meanSpread(values);
  // Key order is column order in reports: AUCs, then per K the accuracy and the list properties.
  const metrics: Record<string, number> = { auc: spread.auc.mean, aucExposure: spread.aucExposure.mean, globalAuc: auc(pooledPos, pooledNeg) };
  for (const K of ks) {
    for (const m of ['prec', 'recall', 'hit']) metrics[`${m}@${K}`] = spread[`${m}@${K}`].mean;
    const at = lists.map((l) => l.subarray(0, Math.min(K, l.length)));
    metrics[`longTail@${K}`] = longTailShare(at, ctx.head);
    metrics[`coverage@${K}`] = catalogCoverage(at, C);
    if (cats) {
      const d = categoryDiversity(at, cats);
      metrics[`categories@${K}`] = d.categories;
      metrics[`entropy@${K}`] = d.entropy;
    }
  }
  return {
    method: rec.name, dataset: ctx.ds.name, users: users.length, aucUsers: spread.auc.n, candidates: C,
    settings: { ks: ks.slice(), aucNegatives: negatives, seed, categoryField: catCol?.name ?? null, headShare: ctx.options.headShare },
    metrics, perUser: spread,
    timing: { msPerUser: users.length ? scoreMs / users.length : 0, seconds: (performance.now() - t0) / 1000 },
    ...(options.keepLists ? { lists } : {}),
  };
}
