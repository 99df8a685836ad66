/**
 * One entry point for every source of a Dataset, so commands (and later the trainer) take the
 * same `--dataset` / `--data` options: a schema file of the generic format, one of the two real
 * dataset adapters, or the synthetic generator. `openClickLog` opens the audience evaluation's
 * click log through the same adapters.
 */
import { RalmError } from '../util/errors.js';
import type { ClickLog, ClickLogNaming, Dataset } from './dataset.js';
import { readDataset } from './generic.js';
import { readGloboDataset } from './globo.js';
import { readMovieLensDataset } from './movielens.js';
import type { BadRowLimits } from './report.js';
import { generateSynthetic, syntheticLog, type SyntheticOptions } from './synthetic.js';

export const DATASET_KINDS = ['schema', 'movielens', 'globo', 'synthetic'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

export interface OpenOptions extends BadRowLimits {
  kind: DatasetKind;
  /** The schema file (kind 'schema') or the dataset folder (movielens, globo). */
  path?: string;
  /** Adapters: user fields from rows strictly before this time (epoch ms). */
  featuresAsOf?: number;
  /** Globo.com: the first N hourly files only. */
  hours?: number;
  /** Globo.com: how a user's single value is chosen. */
  userValue?: 'most-frequent' | 'latest';
  /** MovieLens: a per-user temporal split with this training share (see the adapter). */
  perUserSplit?: number;
  /** MovieLens: also keep ratings below 4, as label 0. */
  keepNegatives?: boolean;
  synthetic?: SyntheticOptions;
  onFile?: (file: string, rows: number) => void;
}

export async function openDataset(o: OpenOptions): Promise<Dataset> {
  const limits: BadRowLimits = { maxBadRows: o.maxBadRows, maxBadShare: o.maxBadShare, keepLines: o.keepLines };
  for (const k of Object.keys(limits) as Array<keyof BadRowLimits>) if (limits[k] === undefined) delete limits[k];
  if (o.kind === 'synthetic') return generateSynthetic(o.synthetic).dataset;
  if (o.path === undefined) throw new RalmError('RALM_ERR_VALIDATION', `path: the ${o.kind === 'schema' ? 'schema file' : `${o.kind} folder`} is required`);
  if (o.kind === 'schema') return readDataset(o.path, limits);
  if (o.kind === 'movielens') return readMovieLensDataset(o.path, { ...limits, featuresAsOf: o.featuresAsOf, keepNegatives: o.keepNegatives, perUserSplit: o.perUserSplit });
  return readGloboDataset(o.path, { ...limits, featuresAsOf: o.featuresAsOf, hours: o.hours, userValue: o.userValue, onFile: o.onFile });
}

export type ClickLogKind = 'movielens' | 'globo' | 'synthetic';

/**
 * The names `ralm eval audience` gives the real logs and their ids: its published results carry
 * these names, and prefixed ids say which kind of entity they are.
 */
const CLICK_LOG_NAMING: Record<Exclude<ClickLogKind, 'synthetic'>, ClickLogNaming> = {
  movielens: { name: 'ml-latest-small', userPrefix: 'u', itemPrefix: 'm' },
  globo: { name: 'globo-news', userPrefix: 'u', itemPrefix: 'a' },
};

/**
 * The click log the audience evaluation reads: a real dataset through its adapter (clicks only),
 * or the planted `syntheticLog` drawn from `seed`.
 */
export async function openClickLog(o: { kind: ClickLogKind; path?: string; hours?: number; seed?: number }): Promise<ClickLog> {
  if (o.kind === 'synthetic') return syntheticLog({ seed: o.seed });
  const dataset = await openDataset({ kind: o.kind, path: o.path, hours: o.hours });
  return dataset.toClickLog(CLICK_LOG_NAMING[o.kind]);
}
