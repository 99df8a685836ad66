/**
 * The validation split of a training period: the same kind of split as the evaluation's, made
 * inside the rows the evaluation trains on, so that choices (hyper-parameters, epochs, which
 * weights to keep) are made without the test rows ever being read.
 *
 *   global:   the evaluation trains on rows before the cut at `trainShare` of the rows; the
 *             validation split trains on rows before the cut at `trainShare × validationShare`
 *             and tests on the rows between the two cuts. Rows from the evaluation's cut on are
 *             dropped.
 *   per-user: the evaluation trains on each user's first `trainShare` of rows; the validation
 *             split trains on each user's first `trainShare × validationShare` and tests on the
 *             rest of the user's first `trainShare`. Each user's later rows are dropped.
 *
 * User features are as of the validation cut (the adapters compute them there), so nothing from
 * the validation period leaks into them either.
 */
import { Dataset } from '../data/dataset.js';
import { cutAtShare, temporalSplit, type TemporalSplit } from '../data/split.js';
import { RalmError } from '../util/errors.js';
import { openSplit, type RecommendEvalOptions } from './recommend-eval.js';
import { RECOMMEND_EVAL_DEFAULTS } from './defaults.js';

/** The share of the training period the validation split trains on (the rest validates). */
export const VALIDATION_SHARE = 0.8;

/** A copy of `ds` with only the rows where `keep` is 1. */
function keepRows(ds: Dataset, keep: Uint8Array): Dataset {
  const n = keep.reduce((s, x) => s + x, 0);
  const c = { user: new Uint32Array(n), item: new Uint32Array(n), ts: new Float64Array(n), label: new Uint8Array(n) };
  for (let j = 0, k = 0; j < keep.length; j++) {
    if (!keep[j]) continue;
    c.user[k] = ds.clicks.user[j];
    c.item[k] = ds.clicks.item[j];
    c.ts[k] = ds.clicks.ts[j];
    c.label[k++] = ds.clicks.label[j];
  }
  return new Dataset({
    name: ds.name, users: ds.users, items: ds.items, clicks: c, userFields: ds.userFields, itemFields: ds.itemFields,
    featuresAsOf: ds.featuresAsOf, report: ds.report, notes: [...ds.notes, 'validation split of the training period: the evaluation\'s test rows are not read'],
  });
}

/** Opens the validation split of the evaluation split `o` describes (see the module comment). */
export async function openValidationSplit(o: Pick<RecommendEvalOptions, 'data' | 'split' | 'trainShare'>, validationShare = VALIDATION_SHARE): Promise<{ ds: Dataset; split: TemporalSplit; kind: 'global' | 'per-user' }> {
  if (!(validationShare > 0 && validationShare < 1)) throw new RalmError('RALM_ERR_VALIDATION', `validationShare: expected a share between 0 and 1, got ${validationShare}`, { field: 'validationShare' });
  const share = o.trainShare ?? RECOMMEND_EVAL_DEFAULTS.trainShare;
  const inner = await openSplit({ ...o, trainShare: share * validationShare });
  const { ds } = inner;
  const n = ds.clickCount;
  const keep = new Uint8Array(n);
  if (inner.kind === 'global') {
    const testCut = cutAtShare(ds, share);
    for (let j = 0; j < n; j++) keep[j] = ds.clicks.ts[j] < testCut ? 1 : 0;
  } else {
    // Per user, rows keep their time order (training part first), so a row's ordinal among the
    // user's rows is its ordinal in the original log.
    const count = new Uint32Array(ds.users.size);
    for (let j = 0; j < n; j++) count[ds.clicks.user[j]]++;
    const seen = new Uint32Array(ds.users.size);
    for (let j = 0; j < n; j++) {
      const u = ds.clicks.user[j];
      keep[j] = seen[u]++ < Math.max(1, Math.floor(count[u] * share)) ? 1 : 0;
    }
  }
  const vds = keepRows(ds, keep);
  // The inner split has already passed (or been allowed past) the feature-time check.
  const allowFeatureLeakage = ds.featuresAsOf !== null && ds.featuresAsOf > inner.split.cut;
  return { ds: vds, split: temporalSplit(vds, inner.split.cut, { allowFeatureLeakage }), kind: inner.kind };
}
