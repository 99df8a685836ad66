/**
 * Options several commands share: which dataset to read (train, eval, data inspect) and which
 * store, model and backend to use (audience, users import; the service's own settings, read
 * from the command line only).
 */
import { DATASET_KINDS as ALL_KINDS, type DatasetKind } from '../data/open.js';
import { SYNTHETIC_DEFAULTS } from '../data/synthetic.js';
import { SERVICE_OPTIONS } from '../server/config.js';
import { asDefault, int, oneOf, str, UsageError, type OptionSpec } from '../util/options.js';

/** The datasets `--dataset` names (a schema file is given as an argument instead). */
export const DATASET_KINDS = ALL_KINDS.filter((k): k is Exclude<DatasetKind, 'schema'> => k !== 'schema');

export const DATASET_OPTIONS = {
  dataset: { flag: 'dataset', arg: 'movielens|globo|synthetic', default: 'synthetic', help: 'the dataset to read', parse: oneOf(DATASET_KINDS) },
  data: { flag: 'data', arg: 'DIR', help: 'the dataset folder (required for movielens and globo)', parse: str() },
  hours: { flag: 'hours', arg: 'N', defaultText: 'every file', help: 'Globo.com: read only the first N hourly files', parse: int() },
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

/** movielens and globo read a folder. */
export function requireData(command: string, kind: string, data: string | undefined): void {
  if ((kind === 'movielens' || kind === 'globo') && data === undefined) throw new UsageError(`${command}: --data DIR is required for ${kind}`);
}

/** A service setting as a plain flag: commands other than `serve` do not read RALM_* variables. */
function flagOnly<S extends OptionSpec<unknown>>(spec: S): Omit<S, 'env'> {
  const { env: _env, ...rest } = spec;
  return rest;
}

export const STORE_OPTIONS = {
  dataDir: flagOnly(SERVICE_OPTIONS.dataDir),
  modelDir: { ...flagOnly(SERVICE_OPTIONS.modelDir), help: 'the model directory' },
};

export const BACKEND_OPTION = flagOnly(SERVICE_OPTIONS.backend);
