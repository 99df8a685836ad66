/**
 * One entry point for every source of a Dataset, so commands (and the trainer) take the same
 * `--dataset` / `--data` options: a schema file of the generic format, one of the two real
 * dataset adapters, or the synthetic generator. `openAtCut` and `openWithSplit` read a dataset
 * for a temporal split with user features as of the cut, the same way for every source;
 * `openClickLog` opens the audience evaluation's click log through the same readers.
 */
import { RalmError } from '../util/errors.js';
import { Dataset, type ClickLog, type ClickLogNaming } from './dataset.js';
import { readDataset } from './generic.js';
import { readGloboDataset } from './globo.js';
import { readMovieLensDataset } from './movielens.js';
import type { BadRowLimits } from './report.js';
import { cutAtShare, featureLeakage, splitPerUser, temporalSplit, type TemporalSplit } from './split.js';
import { generateSynthetic, syntheticLog, type SyntheticOptions } from './synthetic.js';

export const DATASET_KINDS = ['schema', 'movielens', 'globo', 'synthetic'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

export interface OpenOptions extends BadRowLimits {
  kind: DatasetKind;
  /** The schema file (kind 'schema') or the dataset folder (movielens, globo). */
  path?: string;
  /** User features (adapters, and a schema's dated user table and history fields) from rows strictly before this time (epoch ms). */
  featuresAsOf?: number;
  /** Globo.com: the first N hourly files only. */
  hours?: number;
  /** Globo.com: how a user's single value is chosen. */
  userValue?: 'most-frequent' | 'latest';
  /** A per-user temporal split with this training share (see `splitPerUser`), for every kind. */
  perUserSplit?: number;
  /** MovieLens: also keep ratings below 4, as label 0. */
  keepNegatives?: boolean;
  synthetic?: SyntheticOptions;
  /**
   * openAtCut and openWithSplit: when user features may leak past the cut (read later than it,
   * or item ids from an undated table), go ahead with a warning in the dataset's notes instead
   * of refusing.
   */
  allowFeatureLeakage?: boolean;
  onFile?: (file: string, rows: number) => void;
  /** openAtCut, openWithSplit and openClickLog: called once with the dataset they read (to show its read report and notes). */
  onRead?: (ds: Dataset) => void;
}

/** The synthetic world's user fields have no time: a per-user split only reorders its rows. */
function splitSynthetic(ds: Dataset, share: number): Dataset {
  const split = splitPerUser(ds.clicks, ds.users.size, share);
  return new Dataset({
    name: ds.name, users: ds.users, items: ds.items, clicks: split.clicks, userFields: ds.userFields, itemFields: ds.itemFields,
    featuresAsOf: split.cut, report: ds.report,
    notes: [...ds.notes, `per-user temporal split: each user's first ${(share * 100).toFixed(0)}% of rows are training (the generated user fields have no time); test rows are shifted in time past the last training row`],
  });
}

export async function openDataset(o: OpenOptions): Promise<Dataset> {
  const limits: BadRowLimits = { maxBadRows: o.maxBadRows, maxBadShare: o.maxBadShare, keepLines: o.keepLines };
  for (const k of Object.keys(limits) as Array<keyof BadRowLimits>) if (limits[k] === undefined) delete limits[k];
  if (o.kind === 'synthetic') {
    const ds = generateSynthetic(o.synthetic).dataset;
    return o.perUserSplit === undefined ? ds : splitSynthetic(ds, o.perUserSplit);
  }
  if (o.path === undefined) throw new RalmError('RALM_ERR_VALIDATION', `path: the ${o.kind === 'schema' ? 'schema file' : `${o.kind} folder`} is required`);
  const asOf = { featuresAsOf: o.featuresAsOf, perUserSplit: o.perUserSplit };
  if (o.kind === 'schema') return readDataset(o.path, { ...limits, ...asOf });
  if (o.kind === 'movielens') return readMovieLensDataset(o.path, { ...limits, ...asOf, keepNegatives: o.keepNegatives });
  return readGloboDataset(o.path, { ...limits, ...asOf, hours: o.hours, userValue: o.userValue, onFile: o.onFile });
}

/** Refuses features that leak past the cut, or with `allow` adds a loud note to the dataset instead. */
function checkLeakage(ds: Dataset, cut: number, allow = false): void {
  const leak = featureLeakage(ds, cut);
  if (leak === null) return;
  if (!allow) throw new RalmError('RALM_ERR_VALIDATION', `${leak}; read the dataset with features as of the cut (or allow the leakage explicitly: allowFeatureLeakage, on the command line --allow-feature-leakage)`);
  ds.notes.push(`WARNING: feature leakage allowed: ${leak}; test-period behaviour may be in the training features, so metrics are optimistic`);
}

/**
 * Reads a dataset for training on the rows before a cut (a time, or the time that puts the
 * first `trainShare` of the rows in training), with user features as of the cut; refuses
 * features that leak past it (see featureLeakage) unless `allowFeatureLeakage`, which notes them
 * loudly instead. Without a cut: every row, and features from the whole log.
 */
export async function openAtCut(data: OpenOptions, cut?: number, trainShare?: number): Promise<{ ds: Dataset; cut: number | null }> {
  if (cut !== undefined && trainShare !== undefined) throw new RalmError('RALM_ERR_VALIDATION', 'give a cut time or a training share, not both');
  let ds: Dataset | null = null;
  if (trainShare !== undefined) {
    ds = await openDataset(data);
    cut = cutAtShare(ds, trainShare);
    // Features that depend on time are read again, as of the cut.
    if (ds.featuresAsOf !== null && data.kind !== 'synthetic') ds = null;
  }
  if (cut === undefined) {
    ds = await openDataset(data);
    data.onRead?.(ds);
    return { ds, cut: null };
  }
  ds ??= await openDataset(data.kind === 'synthetic' || data.featuresAsOf !== undefined ? data : { ...data, featuresAsOf: cut });
  checkLeakage(ds, cut, data.allowFeatureLeakage);
  data.onRead?.(ds);
  return { ds, cut };
}

/**
 * Reads a dataset and splits it: one global cut after `trainShare` of the rows, or each user's
 * own (`per-user`: their first `trainShare` of rows), user features as of the cut either way.
 * The split refuses features that leak past the cut unless `data.allowFeatureLeakage`.
 */
export async function openWithSplit(data: OpenOptions, o: { split: 'global' | 'per-user'; trainShare: number }): Promise<{ ds: Dataset; split: TemporalSplit }> {
  if (o.split === 'per-user') {
    const ds = await openDataset({ ...data, perUserSplit: o.trainShare });
    checkLeakage(ds, ds.featuresAsOf as number, data.allowFeatureLeakage);
    data.onRead?.(ds);
    return { ds, split: temporalSplit(ds, ds.featuresAsOf as number, { allowFeatureLeakage: true }) };
  }
  const { ds, cut } = await openAtCut(data, undefined, o.trainShare);
  return { ds, split: temporalSplit(ds, cut as number, { allowFeatureLeakage: true }) };
}

export type ClickLogKind = DatasetKind;

/**
 * The names `ralm eval audience` gives the real logs and their ids: its published results carry
 * these names, and prefixed ids say which kind of entity they are. A schema's log keeps its own.
 */
const CLICK_LOG_NAMING: Record<'movielens' | 'globo', ClickLogNaming> = {
  movielens: { name: 'ml-latest-small', userPrefix: 'u', itemPrefix: 'm' },
  globo: { name: 'globo-news', userPrefix: 'u', itemPrefix: 'a' },
};

/**
 * The click log the audience evaluation reads: a real dataset or a schema file through its
 * reader (clicks only), or the planted `syntheticLog` drawn from `seed`.
 */
export async function openClickLog(o: { kind: ClickLogKind; path?: string; hours?: number; seed?: number; onRead?: OpenOptions['onRead'] } & BadRowLimits): Promise<ClickLog> {
  if (o.kind === 'synthetic') return syntheticLog({ seed: o.seed });
  const { kind, path, hours, seed: _seed, onRead, ...limits } = o;
  const dataset = await openDataset({ kind, path, hours, ...limits });
  onRead?.(dataset);
  return dataset.toClickLog(kind === 'schema' ? {} : CLICK_LOG_NAMING[kind]);
}
