/**
 * A user's click history as a stage-1 field, and click factors to start its embeddings from.
 *
 * History. The paper's stage 1 reads each user's historically read items; every dataset has
 * them, in its click log. `historyColumn` derives the field from the training rows only (rows
 * before the cut, so the leakage rule holds): each user's latest `max` distinct clicked items,
 * newest first, as item ids. The trainer leaves an example's own positive out of the bag, and
 * stage 2 embeds a target without the item it is asked about (see stage2.ts), so no example
 * sees its own answer.
 *
 * Click factors. A rank-r SVD of the training clicks, A ≈ U Σ Vᵀ, gives each item a row of V;
 * a user's U Σ row is the sum of the V rows of the items they clicked. So an item-id field,
 * mean-pooled, whose embedding rows start as V rows starts as the users' click factors — which
 * rank items for look-alike far better than the untrained tower (see
 * docs/training-and-evaluation.md). `clickFactorInit` returns those rows, scaled so that a
 * pooled history has about unit length.
 */
import type { Dataset } from '../data/dataset.js';
import type { MultiColumn } from '../data/features.js';
import { RalmError } from '../util/errors.js';
import { clickSvd, toCsr } from './click-factors.js';

/** The name of the derived field in the model's tower. */
export const HISTORY_FIELD = 'history';

/** Each user's latest `max` distinct positives among rows [0, trainEnd), newest first (item ids). */
export function historyColumn(ds: Dataset, trainEnd: number, max: number): MultiColumn {
  if (!(Number.isSafeInteger(max) && max >= 1)) throw new RalmError('RALM_ERR_VALIDATION', `history: expected a positive number of items, got ${max}`, { field: 'history' });
  if (ds.userFields.some((c) => c.name === HISTORY_FIELD)) {
    throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: the dataset already has a user field named "${HISTORY_FIELD}"; the derived click history would shadow it`, { field: 'history' });
  }
  const nu = ds.users.size;
  const lists: number[][] = Array.from({ length: nu }, () => []);
  const seen = Array.from({ length: nu }, () => new Set<number>());
  const { user, item, label } = ds.clicks;
  // Newest first: walk backwards, keep first sightings.
  for (let j = trainEnd - 1; j >= 0; j--) {
    if (!label[j]) continue;
    const u = user[j];
    if (lists[u].length >= max || seen[u].has(item[j])) continue;
    seen[u].add(item[j]);
    lists[u].push(item[j]);
  }
  const offsets = new Uint32Array(nu + 1);
  for (let u = 0; u < nu; u++) offsets[u + 1] = offsets[u] + lists[u].length;
  const ids = new Int32Array(offsets[nu]);
  lists.forEach((l, u) => ids.set(l, offsets[u]));
  return { name: HISTORY_FIELD, type: 'multi', vocab: ds.items, offsets, ids };
}

/**
 * Item rows (items × m) from a rank-m SVD of the clicks (user, item) given — the training
 * positives, without any held out for validation — scaled so that the mean-pooled rows of a
 * user's clicked items have unit root-mean-square length over the users with clicks. Ranks
 * beyond the data's are zero.
 */
export function clickFactorInit(nu: number, ni: number, clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, m: number, seed: number): Float32Array {
  const a = toCsr(nu, ni, clicks.user, clicks.item);
  const rank = Math.min(m, Math.max(1, Math.min(nu, ni) - 1));
  const svd = clickSvd(a, { rank, seed });
  const v = new Float32Array(ni * m);
  for (let it = 0; it < ni; it++) for (let t = 0; t < rank; t++) v[it * m + t] = svd.items[it * rank + t];
  // RMS length of pooled rows over users with clicks.
  let ss = 0;
  let users = 0;
  const pooled = new Float64Array(m);
  for (let r = 0; r < nu; r++) {
    const lo = a.ptr[r];
    const hi = a.ptr[r + 1];
    if (hi === lo) continue;
    pooled.fill(0);
    for (let p = lo; p < hi; p++) for (let t = 0; t < m; t++) pooled[t] += v[a.idx[p] * m + t] / (hi - lo);
    for (let t = 0; t < m; t++) ss += pooled[t] * pooled[t];
    users++;
  }
  const rms = users > 0 ? Math.sqrt(ss / users) : 0;
  if (rms > 0) for (let j = 0; j < v.length; j++) v[j] /= rms;
  return v;
}
