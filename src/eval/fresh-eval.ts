/**
 * The fresh-candidates protocol: the setting RALM was built for (the latest news, new and
 * long-tail content). At a request time t the candidates are the items first clicked in the
 * window [t − W, t) that have at least `minSeeds` distinct clickers before t; an item's seeds
 * are those clickers (the latest `maxSeeds`). A user is asked at t and their positives are the
 * candidates they click after t (within the horizon) and had not clicked before.
 *
 *   global split (news): requests every step S, at t = cut, cut + S, cut + 2S, …; the horizon is
 *     [t, t + S); users are those with training rows (the model knows them);
 *   per-user split (catalogues): each user is asked once, at their own cut, in the log's real
 *     clock; the horizon is the rest of their log.
 *
 * The seeds of a request are real-time clicks before t, test-period clicks of other users
 * included (as the running system would have them); a user's own clicks at or after t are never
 * seeds of that request. Metrics per request, averaged over requests: AUC against candidates the
 * user never clicked, drawn uniformly and weighted by exposure (clicks before t: negatives.ts),
 * prec@K (the paper's) and recall@K.
 */
import type { Dataset } from '../data/dataset.js';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { auc, meanSpread, precisionAtK, recallAtK } from './metrics.js';
import { uniformNegatives, userSeed, weightedAuc } from './negatives.js';

export interface FreshOptions {
  /** The window W (ms) in which a candidate was first clicked. */
  windowMs: number;
  /** Global split: the time between requests, and each request's horizon (ms). */
  stepMs: number;
  /** Candidates need this many distinct clickers before the request. */
  minSeeds: number;
  /** Seeds per candidate at most (the latest). */
  maxSeeds: number;
  /** Requests evaluated at most (a seeded sample). */
  maxRequests: number;
  aucNegatives: number;
  ks: number[];
  seed: number;
}

/** One request time and what it offers. */
export interface FreshSlot {
  time: number;
  /** Candidate items (dataset indices) and, per candidate, its seeds (dataset user indices, time order). */
  items: Uint32Array;
  seeds: Uint32Array[];
  /** Per candidate: distinct clickers before t (the seeds before the cap). */
  clickers: Uint32Array;
  /** Per request at this time: the user, the candidate positions they clicked after t (positives), those clicked before t (left out of the list), and every one they ever clicked (never a negative). */
  requests: Array<{ user: number; positives: Uint32Array; before: Uint32Array; clickedEver: Set<number> }>;
}

/** A method under the protocol: scores each listed user against a slot's candidates. */
export interface FreshScorer {
  readonly name: string;
  scoreSlot(slot: FreshSlot, users: readonly number[]): Promise<Float32Array[]> | Float32Array[];
}

/** The clicks in the log's real clock, in the dataset's indices: all positives, time-sorted, and per user their cut. */
export interface RealTimeLog {
  user: Uint32Array;
  item: Uint32Array;
  ts: Float64Array;
  /** Per user: the time of their first test row (Infinity: none). */
  userCut: Float64Array;
  kind: 'global' | 'per-user';
  /** For a global split: the cut. */
  cut: number;
}

/**
 * The real-time log of a per-user split, from the same data read without the split (`plain`):
 * each user's first n_u rows are their training rows, n_u counted in the split dataset, so a
 * user's cut is the time of their (n_u + 1)-th row; a user's rows beyond those the split
 * dataset holds (a validation split's dropped test rows) are left out.
 */
export function perUserRealTime(ds: Dataset, trainEnd: number, plain: Dataset): RealTimeLog {
  const nTrain = new Uint32Array(ds.users.size);
  const nAll = new Uint32Array(ds.users.size);
  for (let j = 0; j < trainEnd; j++) nTrain[ds.clicks.user[j]]++;
  for (let j = 0; j < ds.clickCount; j++) nAll[ds.clicks.user[j]]++;
  const uMap = Int32Array.from(plain.users.values(), (id) => ds.users.id(id));
  const iMap = Int32Array.from(plain.items.values(), (id) => ds.items.id(id));
  const seen = new Uint32Array(ds.users.size);
  const userCut = new Float64Array(ds.users.size).fill(Infinity);
  const u: number[] = [];
  const i: number[] = [];
  const t: number[] = [];
  for (let j = 0; j < plain.clickCount; j++) {
    const du = uMap[plain.clicks.user[j]];
    if (du < 0 || seen[du] >= nAll[du]) continue;
    if (seen[du]++ === nTrain[du] && userCut[du] === Infinity) userCut[du] = plain.clicks.ts[j];
    const di = iMap[plain.clicks.item[j]];
    if (!plain.clicks.label[j] || di < 0) continue;
    u.push(du); i.push(di); t.push(plain.clicks.ts[j]);
  }
  return { user: Uint32Array.from(u), item: Uint32Array.from(i), ts: Float64Array.from(t), userCut, kind: 'per-user', cut: NaN };
}

/** The real-time log of a global split: the dataset's own clock. */
export function globalRealTime(ds: Dataset, cut: number): RealTimeLog {
  const u: number[] = [];
  const i: number[] = [];
  const t: number[] = [];
  for (let j = 0; j < ds.clickCount; j++) {
    if (!ds.clicks.label[j]) continue;
    u.push(ds.clicks.user[j]); i.push(ds.clicks.item[j]); t.push(ds.clicks.ts[j]);
  }
  return { user: Uint32Array.from(u), item: Uint32Array.from(i), ts: Float64Array.from(t), userCut: new Float64Array(ds.users.size).fill(cut), kind: 'global', cut };
}

/** Builds the protocol's slots (see the module comment); `known[u]` = 1 for users the models embed from training data. */
export function freshSlots(log: RealTimeLog, users: number, items: number, known: Uint8Array, o: FreshOptions): FreshSlot[] {
  const n = log.ts.length;
  const first = new Float64Array(items).fill(Infinity);
  const clickersOf: Array<Array<[number, number]>> = Array.from({ length: items }, () => []);
  const byUser: Array<Array<[number, number]>> = Array.from({ length: users }, () => []);
  for (let j = 0; j < n; j++) {
    const it = log.item[j];
    if (first[it] === Infinity) first[it] = log.ts[j];
    clickersOf[it].push([log.user[j], log.ts[j]]);
    byUser[log.user[j]].push([it, log.ts[j]]);
  }
  const candidatesAt = (t: number): { items: Uint32Array; seeds: Uint32Array[]; clickers: Uint32Array } => {
    const its: number[] = [];
    const seeds: Uint32Array[] = [];
    const clickers: number[] = [];
    for (let it = 0; it < items; it++) {
      if (!(first[it] >= t - o.windowMs && first[it] < t)) continue;
      const s: number[] = [];
      const seen = new Set<number>();
      for (const [u, ts] of clickersOf[it]) if (ts < t && !seen.has(u)) { seen.add(u); s.push(u); }
      if (s.length < o.minSeeds) continue;
      its.push(it);
      seeds.push(Uint32Array.from(s.slice(-o.maxSeeds)));
      clickers.push(s.length);
    }
    return { items: Uint32Array.from(its), seeds, clickers: Uint32Array.from(clickers) };
  };
  const request = (u: number, t: number, end: number, pos: Map<number, number>): FreshSlot['requests'][number] | null => {
    const before = new Set<number>();
    const after = new Set<number>();
    const ever = new Set<number>();
    for (const [it, ts] of byUser[u]) {
      ever.add(it);
      const c = pos.get(it);
      if (c === undefined) continue;
      if (ts < t) before.add(c);
      else if (ts < end) after.add(c);
    }
    for (const c of before) after.delete(c);
    if (after.size === 0) return null;
    const clickedEver = new Set<number>();
    for (const [it, c] of pos) if (ever.has(it)) clickedEver.add(c);
    return { user: u, positives: Uint32Array.from(after).sort(), before: Uint32Array.from(before).sort(), clickedEver };
  };
  const slots: FreshSlot[] = [];
  if (log.kind === 'global') {
    const end = n ? log.ts[n - 1] : log.cut;
    for (let t = log.cut; t <= end; t += o.stepMs) {
      const c = candidatesAt(t);
      if (c.items.length < 2) continue;
      const pos = new Map(Array.from(c.items, (it, k) => [it, k]));
      const reqs: FreshSlot['requests'] = [];
      const asked = new Set<number>();
      const lo = lowerBound(log.ts, t);
      for (let j = lo; j < n && log.ts[j] < t + o.stepMs; j++) {
        const u = log.user[j];
        if (!known[u] || asked.has(u) || !pos.has(log.item[j])) continue;
        asked.add(u);
        const r = request(u, t, t + o.stepMs, pos);
        if (r) reqs.push(r);
      }
      if (reqs.length) slots.push({ time: t, ...c, requests: reqs });
    }
  } else {
    for (let u = 0; u < users; u++) {
      const t = log.userCut[u];
      if (!known[u] || !Number.isFinite(t)) continue;
      const c = candidatesAt(t);
      if (c.items.length < 2) continue;
      const r = request(u, t, Infinity, new Map(Array.from(c.items, (it, k) => [it, k])));
      if (r) slots.push({ time: t, ...c, requests: [r] });
    }
  }
  // A seeded sample of the requests, slots kept whole where they survive.
  const total = slots.reduce((s, sl) => s + sl.requests.length, 0);
  if (total > o.maxRequests) {
    const keep = new Set(new Rng(o.seed).shuffle(Array.from({ length: total }, (_, i) => i), o.maxRequests).slice(0, o.maxRequests));
    let k = 0;
    for (const sl of slots) sl.requests = sl.requests.filter(() => keep.has(k++));
    return slots.filter((sl) => sl.requests.length > 0);
  }
  return slots;
}

function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Most popular in real time: a candidate's clicks before the request (its seeds), an online counter. */
export const freshPopularity: FreshScorer = {
  name: 'most popular',
  scoreSlot: (slot, users) => users.map(() => Float32Array.from(slot.clickers)),
};

/** Runs one method over the slots; metrics averaged over requests. */
export async function evaluateFresh(slots: readonly FreshSlot[], scorer: FreshScorer, o: Pick<FreshOptions, 'aucNegatives' | 'ks' | 'seed'>): Promise<Record<string, number>> {
  if (slots.length === 0) throw new RalmError('RALM_ERR_VALIDATION', 'fresh candidates: no request has a candidate to find; widen the window or lower minSeeds');
  const per: Record<string, number[]> = { auc: [], aucExposure: [] };
  for (const k of o.ks) { per[`prec@${k}`] = []; per[`recall@${k}`] = []; }
  let candidates = 0;
  for (const slot of slots) {
    const scores = await scorer.scoreSlot(slot, slot.requests.map((r) => r.user));
    slot.requests.forEach((r, q) => {
      const s = scores[q];
      const before = new Set(r.before);
      const ranked = Array.from({ length: slot.items.length }, (_, c) => c).filter((c) => !before.has(c)).sort((a, b) => s[b] - s[a] || a - b);
      const clicked = new Set(r.positives);
      for (const K of o.ks) {
        per[`prec@${K}`].push(precisionAtK(ranked, clicked, K));
        per[`recall@${K}`].push(recallAtK(ranked, clicked, K));
      }
      const ps = Array.from(r.positives, (c) => s[c]);
      const un = uniformNegatives(slot.items.length, r.clickedEver, o.aucNegatives, new Rng(userSeed(o.seed, r.user) ^ (slot.time % 2147483647)));
      if (un.length) per.auc.push(auc(ps, Array.from(un, (c) => s[c])));
      const free = Array.from({ length: slot.items.length }, (_, c) => c).filter((c) => !r.clickedEver.has(c));
      const ea = weightedAuc(ps, free.map((c) => s[c]), free.map((c) => slot.clickers[c]));
      if (!Number.isNaN(ea)) per.aucExposure.push(ea);
      candidates += slot.items.length;
    });
  }
  const requests = slots.reduce((s, sl) => s + sl.requests.length, 0);
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(per)) out[name] = meanSpread(v).mean;
  out.requests = requests;
  out.candidatesPerRequest = candidates / requests;
  return out;
}
