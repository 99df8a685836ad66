/**
 * Temporal evaluation helpers: a split at a cut time (train on what happened before, test on
 * what came after, as the system would be used), with the count of test items that are new —
 * first clicked after the cut, the case RALM exists for — and the spec's leakage rule for stage
 * 2: an item's seeds for a training example are only the users who clicked it strictly earlier.
 */
import { RalmError } from '../util/errors.js';
import type { Clicks, Dataset } from './dataset.js';

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
 * What leaks into user features at `cut`, in words, or null when nothing does: features computed
 * from rows at or after the cut, and item-id fields from a table with no time (history of unknown
 * date).
 */
export function featureLeakage(ds: Dataset, cut: number): string | null {
  const why: string[] = [];
  if (ds.featuresAsOf !== null && ds.featuresAsOf > cut) {
    why.push(`user features were computed from rows ${Number.isFinite(ds.featuresAsOf) ? `up to ${new Date(ds.featuresAsOf).toISOString()}` : 'over the whole log'}, after the cut ${new Date(cut).toISOString()}`);
  }
  if (ds.untimedItemFields.length > 0) {
    const many = ds.untimedItemFields.length > 1;
    why.push(`user field${many ? 's' : ''} ${ds.untimedItemFields.map((f) => `"${f}"`).join(', ')} ${many ? 'hold' : 'holds'} item ids from a table with no time, so ${many ? 'they' : 'it'} may hold clicks from after the cut (give the table a timestamp column, or derive the field from the click log)`);
  }
  return why.length ? `${ds.name}: ${why.join('; ')}` : null;
}

/**
 * Splits at `cut`. Refuses when user features may carry test-period behaviour into training
 * (see featureLeakage) unless `allowFeatureLeakage`.
 */
export function temporalSplit(ds: Dataset, cut: number, opts: { allowFeatureLeakage?: boolean } = {}): TemporalSplit {
  if (!Number.isFinite(cut)) throw new RalmError('RALM_ERR_VALIDATION', `cut: expected a finite time in epoch ms, got ${cut}`);
  const leak = opts.allowFeatureLeakage ? null : featureLeakage(ds, cut);
  if (leak !== null) throw new RalmError('RALM_ERR_VALIDATION', `${leak}; read the dataset with features as of the cut (or allow the leakage explicitly)`);
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

/**
 * Reorders time-sorted clicks so that each user's first `share` of rows (at least one) come
 * first, in time order, then the rest, shifted by one constant so they follow the last training
 * row. Returns the reordered clicks and each user's cut (the time of their first test row in the
 * original clock; Infinity when they have none).
 */
export function splitPerUser(c: Clicks, users: number, share: number): { clicks: Clicks; userCut: Float64Array; cut: number; trainRows: number } {
  if (!(share > 0 && share < 1)) throw new RalmError('RALM_ERR_VALIDATION', `perUserSplit: expected a share between 0 and 1, got ${share}`, { field: 'perUserSplit' });
  const n = c.ts.length;
  const count = new Uint32Array(users);
  for (let j = 0; j < n; j++) count[c.user[j]]++;
  const seen = new Uint32Array(users);
  const userCut = new Float64Array(users).fill(Infinity);
  const isTrain = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const u = c.user[j];
    const keep = Math.max(1, Math.floor(count[u] * share));
    if (seen[u]++ < keep) isTrain[j] = 1;
    else if (userCut[u] === Infinity) userCut[u] = c.ts[j];
  }
  let lastTrain = -Infinity;
  let firstTest = Infinity;
  for (let j = 0; j < n; j++) {
    if (isTrain[j]) lastTrain = Math.max(lastTrain, c.ts[j]);
    else firstTest = Math.min(firstTest, c.ts[j]);
  }
  const shift = firstTest <= lastTrain ? lastTrain - firstTest + 1000 : 0;
  const out: Clicks = { user: new Uint32Array(n), item: new Uint32Array(n), ts: new Float64Array(n), label: new Uint8Array(n) };
  let k = 0;
  let trainRows = 0;
  for (const pass of [1, 0]) {
    if (pass === 0) trainRows = k;
    for (let j = 0; j < n; j++) {
      if (isTrain[j] !== pass) continue;
      out.user[k] = c.user[j];
      out.item[k] = c.item[j];
      out.ts[k] = c.ts[j] + (pass ? 0 : shift);
      out.label[k++] = c.label[j];
    }
  }
  return { clicks: out, userCut, cut: trainRows < n ? out.ts[trainRows] : Infinity, trainRows };
}
