/**
 * Options several commands share: which dataset to read (train, eval, eval audience, data
 * inspect: one table, one reading of it) and which store, model and backend to use (audience,
 * users import, events import; the service's own settings, read from the command line only).
 */
import { DATASET_KINDS, type DatasetKind, type OpenOptions } from '../data/open.js';
import { BAD_ROW_DEFAULTS, reportLines } from '../data/report.js';
import { SYNTHETIC_DEFAULTS } from '../data/synthetic.js';
import type { Dataset } from '../data/dataset.js';
import { SERVICE_OPTIONS } from '../server/config.js';
import { asDefault, bool, int, num, oneOf, str, UsageError, type OptionSpec } from '../util/options.js';
import type { Durability } from '../store/defaults.js';
import type { RalmStore } from '../store/store.js';

export { DATASET_KINDS };

/**
 * The dataset a command reads: `--dataset schema SCHEMA.json` (or the schema file alone),
 * `--dataset movielens|globo --data DIR`, or `--dataset synthetic`. Commands set the default.
 */
export const DATASET_OPTIONS = {
  dataset: { flag: 'dataset', arg: DATASET_KINDS.join('|'), help: 'the dataset to read; schema takes the schema file as the argument', parse: oneOf(DATASET_KINDS) },
  data: { flag: 'data', arg: 'DIR', help: 'movielens, globo: the dataset folder (required)', parse: str() },
  hours: { flag: 'hours', arg: 'N', defaultText: 'every file', help: 'globo: read only the first N hourly files', parse: int() },
  userValue: { flag: 'user-value', arg: 'most-frequent|latest', defaultText: 'most-frequent', help: 'globo: how a user\'s single value is chosen', parse: oneOf(['most-frequent', 'latest'] as const) },
  maxBadShare: { flag: 'max-bad-share', arg: 'X', defaultText: asDefault(BAD_ROW_DEFAULTS.maxBadShare), help: 'schema, movielens, globo: fail when a larger share of the rows is bad', parse: num(0, 1) },
  maxBadRows: { flag: 'max-bad-rows', arg: 'N', defaultText: 'no limit', help: 'schema, movielens, globo: fail after this many bad rows', parse: int(0) },
} as const;

/** The `--dataset` option with a default (train, eval, data inspect read the synthetic world unless told). */
export const DATASET_WITH_DEFAULT = { ...DATASET_OPTIONS.dataset, default: 'synthetic' } as const;

/** Commands that split the data: go ahead when user features may leak past the cut, with a warning. */
export const LEAKAGE_OPTION = {
  flag: 'allow-feature-leakage', boolean: true, parse: bool,
  help: 'split even when user features may leak past the cut (read later than it, or item ids from an undated user table); prints a warning',
} as const;

/** The synthetic world `train` and `eval` generate (`ralm gen` has every generator option). */
export const SYNTHETIC_OPTIONS = {
  genSeed: { flag: 'gen-seed', arg: 'N', default: asDefault(SYNTHETIC_DEFAULTS.seed), help: 'synthetic: the generator seed', parse: int() },
  users: { flag: 'users', arg: 'N', defaultText: asDefault(SYNTHETIC_DEFAULTS.users), help: 'synthetic: users generated', parse: int() },
  items: { flag: 'items', arg: 'N', defaultText: asDefault(SYNTHETIC_DEFAULTS.items), help: 'synthetic: items generated', parse: int() },
} as const;

/** The synthetic options as the dataset opener takes them; sizes only when given, as the manifest records them. */
export function syntheticSize(v: { genSeed: number; users?: number; items?: number }): { seed: number; users?: number; items?: number } {
  return { seed: v.genSeed, ...(v.users !== undefined ? { users: v.users } : {}), ...(v.items !== undefined ? { items: v.items } : {}) };
}

/** Flags of DATASET_OPTIONS that only some datasets use. */
const ONLY_FOR: Readonly<Record<string, readonly DatasetKind[]>> = {
  data: ['movielens', 'globo'], hours: ['globo'], 'user-value': ['globo'],
  'max-bad-share': ['schema', 'movielens', 'globo'], 'max-bad-rows': ['schema', 'movielens', 'globo'],
};

/** The flags of SYNTHETIC_OPTIONS, for commands that have them (datasetFrom's `onlyFor`). */
export const SYNTHETIC_ONLY: Readonly<Record<string, readonly DatasetKind[]>> = { 'gen-seed': ['synthetic'], users: ['synthetic'], items: ['synthetic'] };

/** Refuses `flags` (when given) for a dataset kind they do not apply to: no option is silently ignored. */
export function refuseUnused(command: string, kind: DatasetKind, given: ReadonlySet<string>, onlyFor: Readonly<Record<string, readonly DatasetKind[]>> = ONLY_FOR): void {
  for (const [flag, kinds] of Object.entries(onlyFor)) {
    if (given.has(flag) && !kinds.includes(kind)) throw new UsageError(`${command}: --${flag} applies to ${kinds.join(', ')} only, not ${kind}`);
  }
}

export interface DatasetValues {
  dataset?: DatasetKind;
  data?: string;
  hours?: number;
  userValue?: 'most-frequent' | 'latest';
  maxBadShare?: number;
  maxBadRows?: number;
}

/**
 * The dataset a command's arguments name, as openDataset takes it (paths resolved), after every
 * check: at most one schema file, which is the argument of `--dataset schema` (the file alone
 * means the same); `--data` for movielens and globo; no flag a kind cannot use (`onlyFor` adds
 * the command's own). `resolvePath` makes paths absolute.
 */
export function datasetFrom(command: string, v: DatasetValues, positionals: readonly string[], given: ReadonlySet<string>, resolvePath: (p: string) => string,
  onlyFor: Readonly<Record<string, readonly DatasetKind[]>> = {}): Omit<OpenOptions, 'synthetic'> & { kind: DatasetKind } {
  if (positionals.length > 1) throw new UsageError(`${command}: give at most one schema file, got ${positionals.map((p) => JSON.stringify(p)).join(', ')}`);
  const explicit = given.has('dataset') ? v.dataset : undefined;
  if (explicit !== undefined && explicit !== 'schema' && positionals.length === 1) {
    throw new UsageError(`${command}: ${JSON.stringify(positionals[0])}: a schema file goes with --dataset schema, not --dataset ${explicit}`);
  }
  const kind = positionals.length === 1 ? 'schema' : v.dataset;
  if (kind === undefined) throw new UsageError(`${command}: --dataset ${DATASET_KINDS.join('|')} is required`);
  if (kind === 'schema' && positionals.length === 0) throw new UsageError(`${command}: --dataset schema takes the schema file as the argument: ralm ${command} --dataset schema SCHEMA.json`);
  if ((kind === 'movielens' || kind === 'globo') && v.data === undefined) throw new UsageError(`${command}: --data DIR is required for ${kind}`);
  refuseUnused(command, kind, given, { ...ONLY_FOR, ...onlyFor });
  const path = kind === 'schema' ? resolvePath(positionals[0]) : v.data !== undefined ? resolvePath(v.data) : undefined;
  const out: Omit<OpenOptions, 'synthetic'> & { kind: DatasetKind } = { kind, path };
  if (v.hours !== undefined) out.hours = v.hours;
  if (v.userValue !== undefined) out.userValue = v.userValue;
  if (v.maxBadShare !== undefined) out.maxBadShare = v.maxBadShare;
  if (v.maxBadRows !== undefined) out.maxBadRows = v.maxBadRows;
  return out;
}

/** Prints what a read found that needs a look (bad rows, warnings, WARNING notes) to stderr; silent when clean. */
export function showRead(ds: Dataset): void {
  const [counts, ...warnings] = reportLines(ds.report);
  const loud = ds.notes.filter((n) => n.startsWith('WARNING'));
  if (ds.report.badRows > 0 || warnings.length > 0) process.stderr.write(`${ds.name}: ${counts}\n`);
  for (const line of [...warnings, ...loud]) process.stderr.write(`${ds.name}: ${line}\n`);
}

/** A service setting as a plain flag: commands other than `serve` do not read RALM_* variables. */
export function flagOnly<S extends OptionSpec<unknown>>(spec: S): Omit<S, 'env'> {
  const { env: _env, ...rest } = spec;
  return rest;
}

export const STORE_OPTIONS = {
  dataDir: flagOnly(SERVICE_OPTIONS.dataDir),
  store: flagOnly(SERVICE_OPTIONS.store),
  storeDurability: flagOnly(SERVICE_OPTIONS.storeDurability),
  storeReplicas: flagOnly(SERVICE_OPTIONS.storeReplicas),
  modelDir: { ...flagOnly(SERVICE_OPTIONS.modelDir), help: 'the model directory' },
};

interface StoreValues {
  dataDir: string;
  store: string | null;
  storeDurability: Durability;
  storeReplicas: number;
}

/** The store setting a command's flags name (checked before any work: one of --data-dir and --store). */
export function storeSpec(command: string, v: StoreValues, given: ReadonlySet<string>): string {
  if (v.store !== null && given.has('data-dir')) throw new UsageError(`${command}: give --data-dir or --store, not both`);
  return v.store ?? `lmdb:${v.dataDir}`;
}

/**
 * The store a command's `--store` (or `--data-dir`) names, opened as `ralm serve` opens it (one
 * factory, open-store.ts): the embedded LMDB store by default, or a Valkey/Redis store that
 * running replicas share — whose users and events they then see.
 */
export async function openCommandStore(command: string, v: StoreValues, given: ReadonlySet<string>): Promise<RalmStore> {
  const { openStore } = await import('../store/open-store.js');
  const opened = await openStore(storeSpec(command, v, given), { durability: v.storeDurability, replicas: v.storeReplicas });
  if (opened.warning) process.stderr.write(`warning: ${opened.warning}\n`);
  return opened.store;
}

export const BACKEND_OPTION = flagOnly(SERVICE_OPTIONS.backend);
