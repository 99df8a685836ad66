/**
 * Temporal evaluation helpers: a split at a cut time (train on what happened before, test on
 * what came after, as the system would be used), with the count of test items that are new —
 * first clicked after the cut, the case RALM exists for — and the spec's leakage rule for stage
 * 2: an item's seeds for a training example are only the users who clicked it strictly earlier.
 */
import { RalmError } from '../util/errors.js';
import type { Dataset } from './dataset.js';

export interface TemporalSplit {
  /** Epoch ms: rows with ts < cut are training rows, the rest test rows. */
  cut: number;
  /** Clicks are sorted by time, so training rows are [0, trainEnd) and test rows [trainEnd, n). */
  trainEnd: number;
  trainRows: number;
  testRows: number;
  /** Distinct users and items with a positive test row. */
  testUsers: number;
  testItems: number;
  /** Test users with no training row at all (cold users). */
  newUsers: number;
  /** Items whose first positive row is in the test period, ascending by index. */
  newItems: Uint32Array;
  /** Positive test rows on those items. */
  newItemTestClicks: number;
}

/** The time that puts the first `share` of the rows in training (ties at the cut go to test). */
export function cutAtShare(ds: Dataset, share: number): number {
  const n = ds.clickCount;
  if (!(share > 0 && share < 1)) throw new RalmError('RALM_ERR_VALIDATION', `share: expected a number between 0 and 1, got ${share}`);
  if (n === 0) throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: no clicks to split`);
  return ds.clicks.ts[Math.min(n - 1, Math.floor(share * n))];
}

/** First row index whose time is ≥ t (binary search over the sorted times). */
export function lowerBound(ts: Float64Array, t: number, lo = 0, hi = ts.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Splits at `cut`. Refuses when the dataset's user features were computed from rows at or after
 * the cut (they would carry test-period behaviour into training) unless `allowFeatureLeakage`.
 */
export function temporalSplit(ds: Dataset, cut: number, opts: { allowFeatureLeakage?: boolean } = {}): TemporalSplit {
  if (!Number.isFinite(cut)) throw new RalmError('RALM_ERR_VALIDATION', `cut: expected a finite time in epoch ms, got ${cut}`);
  if (ds.featuresAsOf !== null && ds.featuresAsOf > cut && !opts.allowFeatureLeakage) {
    const when = Number.isFinite(ds.featuresAsOf) ? `up to ${new Date(ds.featuresAsOf).toISOString()}` : 'over the whole log';
    throw new RalmError('RALM_ERR_VALIDATION',
      `${ds.name}: user features were computed from rows ${when}, after the cut ${new Date(cut).toISOString()}; read the dataset with features as of the cut (or allow the leakage explicitly)`);
  }
  const { user, item, ts, label } = ds.clicks;
  const n = ts.length;
  const trainEnd = lowerBound(ts, cut);
  const userInTrain = new Uint8Array(ds.users.size);
  const itemInTrain = new Uint8Array(ds.items.size);
  for (let j = 0; j < trainEnd; j++) {
    userInTrain[user[j]] = 1;
    if (label[j]) itemInTrain[item[j]] = 1;
  }
  const testUser = new Uint8Array(ds.users.size);
  const testItem = new Uint8Array(ds.items.size);
  let testUsers = 0;
  let testItems = 0;
  let newUsers = 0;
  let newItemTestClicks = 0;
  for (let j = trainEnd; j < n; j++) {
    if (!label[j]) continue;
    const u = user[j];
    const i = item[j];
    if (!testUser[u]) {
      testUser[u] = 1;
      testUsers++;
      if (!userInTrain[u]) newUsers++;
    }
    if (!testItem[i]) {
      testItem[i] = 1;
      testItems++;
    }
    if (!itemInTrain[i]) newItemTestClicks++;
  }
  const fresh: number[] = [];
  for (let i = 0; i < ds.items.size; i++) if (testItem[i] && !itemInTrain[i]) fresh.push(i);
  return { cut, trainEnd, trainRows: trainEnd, testRows: n - trainEnd, testUsers, testItems, newUsers, newItems: Uint32Array.from(fresh), newItemTestClicks };
}

/**
 * Each item's clickers in time order (positive rows of [from, to)), for the leakage rule: the
 * seeds of a training example (u, i, t) are `seedsBefore(i, t)`, the users who clicked i strictly
 * before t, so u's own click never describes the item it is asked to predict. A user who clicked
 * an item twice appears twice; deduplicate where that matters.
 */
export class ItemSeeds {
  readonly offsets: Uint32Array;
  readonly users: Uint32Array;
  readonly ts: Float64Array;

  constructor(ds: Dataset, from = 0, to = ds.clickCount) {
    const { user, item, ts, label } = ds.clicks;
    const counts = new Uint32Array(ds.items.size + 1);
    for (let j = from; j < to; j++) if (label[j]) counts[item[j] + 1]++;
    for (let i = 0; i < ds.items.size; i++) counts[i + 1] += counts[i];
    this.offsets = counts.slice();
    this.users = new Uint32Array(this.offsets[ds.items.size]);
    this.ts = new Float64Array(this.users.length);
    const next = counts;
    for (let j = from; j < to; j++) {
      if (!label[j]) continue;
      const k = next[item[j]]++;
      this.users[k] = user[j];
      this.ts[k] = ts[j];
    }
  }

  /** All seeds of `item` in the range, in time order (a view). */
  seeds(item: number): Uint32Array {
    return this.users.subarray(this.offsets[item], this.offsets[item + 1]);
  }

  /** The users who clicked `item` strictly before `t` (a view). */
  seedsBefore(item: number, t: number): Uint32Array {
    const lo = this.offsets[item];
    return this.users.subarray(lo, lowerBound(this.ts, t, lo, this.offsets[item + 1]));
  }
}
