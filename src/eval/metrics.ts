/**
 * Ranking metrics, as pure functions over plain arrays: the two the paper reports offline (AUC on
 * held-out clicks, prec@K with its min(K, |clicked|) denominator) and the properties of top-K lists
 * its online test measured (exposure of long-tail items, category diversity), plus recall, hit
 * rate, catalog coverage and a mean-with-spread summary.
 *
 * Conventions. Items are dense indices. A ranked list is best first and holds distinct items; it
 * may be shorter than K (then top-K is the whole list). A metric that is undefined for its input
 * (no positives, no negatives, no clicked items, no lists) returns NaN rather than a made-up 0 or
 * 1, so a caller has to decide explicitly what to leave out. A NaN score is an error, never
 * silently ranked.
 */
import { RalmError } from '../util/errors.js';

/** Items a user clicked: a Set, or anything with the same two members. */
export interface ItemSet {
  has(item: number): boolean;
  readonly size: number;
}

/** Per item, its categories: a CSR table (row i is ids[offsets[i] .. offsets[i + 1])); ids < 0 are ignored. */
export interface ItemCategories {
  readonly offsets: Uint32Array;
  readonly ids: Int32Array;
}

function sortedCopy(xs: ArrayLike<number>, what: string): Float64Array {
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x)) throw new RalmError('RALM_ERR_NON_FINITE', `auc: ${what} score at index ${i} is NaN; a NaN cannot be ranked`, { field: what, index: i });
    out[i] = x;
  }
  return out.sort();
}

/**
 * Area under the ROC curve of positive vs negative scores: the probability that a random positive
 * scores above a random negative, a tie counting ½ (the Mann–Whitney U statistic over P·N).
 * O(P log P + N log N): both sides sorted, then one merge walk. ±Infinity are ordinary (extreme)
 * scores; NaN throws RALM_ERR_NON_FINITE. NaN when either side is empty.
 */
export function auc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const p = sortedCopy(pos, 'positive');
  const n = sortedCopy(neg, 'negative');
  if (p.length === 0 || n.length === 0) return NaN;
  // below = negatives < p[i]; upTo = negatives ≤ p[i]; both only grow as p[i] grows.
  let below = 0;
  let upTo = 0;
  let u = 0;
  for (let i = 0; i < p.length; i++) {
    const x = p[i];
    while (below < n.length && n[below] < x) below++;
    if (upTo < below) upTo = below;
    while (upTo < n.length && n[upTo] <= x) upTo++;
    u += below + 0.5 * (upTo - below);
  }
  return u / (p.length * n.length);
}

function checkK(k: number): void {
  if (!Number.isSafeInteger(k) || k < 1) throw new RalmError('RALM_ERR_VALIDATION', `K: expected a positive integer, got ${k}`, { field: 'K' });
}

/** Distinct clicked items among the first K of `ranked` (a repeated item counts once). */
export function hitsAtK(ranked: ArrayLike<number>, clicked: ItemSet, k: number): number {
  checkK(k);
  const top = Math.min(k, ranked.length);
  let hits = 0;
  let seen: Set<number> | undefined;
  for (let r = 0; r < top; r++) {
    const item = ranked[r];
    if (!clicked.has(item)) continue;
    seen ??= new Set();
    if (seen.has(item)) continue;
    seen.add(item);
    hits++;
  }
  return hits;
}

/**
 * The paper's precision: |top-K ∩ clicked| / min(K, |clicked|), so a user with fewer clicked items
 * than K can still reach 1. NaN when nothing was clicked.
 */
export function precisionAtK(ranked: ArrayLike<number>, clicked: ItemSet, k: number): number {
  const hits = hitsAtK(ranked, clicked, k);
  return clicked.size === 0 ? NaN : hits / Math.min(k, clicked.size);
}

/** |top-K ∩ clicked| / |clicked|; NaN when nothing was clicked. */
export function recallAtK(ranked: ArrayLike<number>, clicked: ItemSet, k: number): number {
  const hits = hitsAtK(ranked, clicked, k);
  return clicked.size === 0 ? NaN : hits / clicked.size;
}

/** 1 when any of the first K is clicked, else 0; NaN when nothing was clicked. */
export function hitRateAtK(ranked: ArrayLike<number>, clicked: ItemSet, k: number): number {
  const hits = hitsAtK(ranked, clicked, k);
  return clicked.size === 0 ? NaN : hits > 0 ? 1 : 0;
}

/**
 * The popularity head: the fewest most-clicked items whose clicks reach `share` of all clicks
 * (items by decreasing count, equal counts by lower index). Returns a mask, 1 = head; every other
 * item — including any never clicked — is the long tail. `counts` is clicks per item, typically
 * over the training rows. With no clicks at all the head is empty.
 */
export function headItems(counts: ArrayLike<number>, share = 0.8): Uint8Array {
  if (!(share >= 0 && share <= 1)) throw new RalmError('RALM_ERR_VALIDATION', `share: expected a number in [0, 1], got ${share}`, { field: 'share' });
  const n = counts.length;
  const head = new Uint8Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = counts[i];
    if (!(c >= 0 && Number.isFinite(c))) throw new RalmError('RALM_ERR_VALIDATION', `counts: item ${i} has count ${c}, expected a finite number ≥ 0`, { field: 'counts', index: i });
    total += c;
  }
  if (total === 0) return head;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => counts[b] - counts[a] || a - b);
  const target = share * total;
  let sum = 0;
  for (let r = 0; r < n && sum < target; r++) {
    const i = order[r];
    if (counts[i] === 0) break;
    head[i] = 1;
    sum += counts[i];
  }
  return head;
}

/** Share of all recommended slots (pooled over the lists) that go to long-tail items; NaN with no slots. */
export function longTailShare(lists: ReadonlyArray<ArrayLike<number>>, head: Uint8Array): number {
  let slots = 0;
  let tail = 0;
  for (const list of lists) {
    for (let r = 0; r < list.length; r++) tail += head[list[r]] ? 0 : 1;
    slots += list.length;
  }
  return slots === 0 ? NaN : tail / slots;
}

/** Distinct items over all lists / the number of items that could have been recommended. */
export function catalogCoverage(lists: ReadonlyArray<ArrayLike<number>>, candidateCount: number): number {
  if (!(Number.isSafeInteger(candidateCount) && candidateCount >= 1)) {
    throw new RalmError('RALM_ERR_VALIDATION', `candidateCount: expected a positive integer, got ${candidateCount}`, { field: 'candidateCount' });
  }
  const seen = new Set<number>();
  for (const list of lists) for (let r = 0; r < list.length; r++) seen.add(list[r]);
  return seen.size / candidateCount;
}

/**
 * Category spread of one list: the number of distinct categories its items carry, and the Shannon
 * entropy (bits) of the list's category distribution, where each item with categories counts
 * once, split evenly over its categories (a three-genre film adds ⅓ to each). Items without a
 * category add nothing; entropy is NaN when no item has one.
 */
export function listCategories(list: ArrayLike<number>, cats: ItemCategories): { categories: number; entropy: number } {
  const mass = new Map<number, number>();
  let total = 0;
  for (let r = 0; r < list.length; r++) {
    const item = list[r];
    const lo = cats.offsets[item];
    const hi = cats.offsets[item + 1];
    let valid = 0;
    for (let j = lo; j < hi; j++) if (cats.ids[j] >= 0) valid++;
    if (valid === 0) continue;
    for (let j = lo; j < hi; j++) {
      const c = cats.ids[j];
      if (c >= 0) mass.set(c, (mass.get(c) ?? 0) + 1 / valid);
    }
    total++;
  }
  if (total === 0) return { categories: 0, entropy: NaN };
  let h = 0;
  for (const m of mass.values()) {
    const p = m / total;
    h -= p * Math.log2(p);
  }
  return { categories: mass.size, entropy: h === 0 ? 0 : h };
}

/**
 * Mean over lists of the distinct categories per list, and mean intra-list entropy over the lists
 * that have any categorized item (NaN when none has, or when there are no lists).
 */
export function categoryDiversity(lists: ReadonlyArray<ArrayLike<number>>, cats: ItemCategories): { categories: number; entropy: number } {
  let categories = 0;
  let entropy = 0;
  let withEntropy = 0;
  for (const list of lists) {
    const d = listCategories(list, cats);
    categories += d.categories;
    if (!Number.isNaN(d.entropy)) {
      entropy += d.entropy;
      withEntropy++;
    }
  }
  return { categories: lists.length ? categories / lists.length : NaN, entropy: withEntropy ? entropy / withEntropy : NaN };
}

export interface MeanSpread {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
  sd: number;
  min: number;
  max: number;
  n: number;
}

/** Mean, sample SD, min and max; all NaN for no values. A NaN value throws: leave undefined cases out first. */
export function meanSpread(values: ArrayLike<number>): MeanSpread {
  const n = values.length;
  if (n === 0) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n: 0 };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = values[i];
    if (Number.isNaN(x)) throw new RalmError('RALM_ERR_NON_FINITE', `meanSpread: value at index ${i} is NaN`, { index: i });
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, sd: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, min, max, n };
}

/** Pearson's correlation of paired values; NaN with fewer than 3 pairs or no spread. */
export function pearson(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  const n = xs.length;
  if (n !== ys.length) throw new RalmError('RALM_ERR_VALIDATION', `pearson: ${n} values against ${ys.length}`);
  if (n < 3) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) { mx += xs[i] / n; my += ys[i] / n; }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman's rank correlation (Pearson's over average ranks, ties sharing theirs). */
export function spearman(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  const ranks = (v: ArrayLike<number>): Float64Array => {
    const idx = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b]);
    const r = new Float64Array(v.length);
    for (let s = 0; s < idx.length;) {
      let e = s;
      while (e + 1 < idx.length && v[idx[e + 1]] === v[idx[s]]) e++;
      for (let t = s; t <= e; t++) r[idx[t]] = (s + e) / 2;
      s = e + 1;
    }
    return r;
  };
  return pearson(ranks(xs), ranks(ys));
}
