/**
 * The command line of the analysis scripts run as `node dist/bench/<script>.js --dataset … --data
 * DIR …` (merge-analysis, new-items-diagnosis, validation-gap): one reader, so each script states
 * only its own options, and a bad dataset or seed stops with the usage line instead of running on a
 * cast value.
 */

export type AnalysisDataset = 'movielens' | 'globo';

export interface AnalysisArgs {
  /** The value after `--name`, or the fallback. */
  arg(name: string, fallback?: string): string | undefined;
  /** Whether the bare flag `--name` was given. */
  flag(name: string): boolean;
  kind: AnalysisDataset;
  dataDir: string;
  seed: number;
}

export function analysisArgs(script: string, options: string, defaultKind: AnalysisDataset, argv = process.argv.slice(2)): AnalysisArgs {
  const arg = (name: string, fallback?: string): string | undefined => {
    const j = argv.indexOf(`--${name}`);
    return j >= 0 ? argv[j + 1] : fallback;
  };
  const kinds: AnalysisDataset[] = defaultKind === 'globo' ? ['globo', 'movielens'] : ['movielens', 'globo'];
  const fail = (why: string): never => {
    process.stderr.write(`${why}\nusage: node dist/bench/${script}.js --dataset ${kinds.join('|')} --data DIR ${options}\n`);
    process.exit(2);
  };
  const kind = arg('dataset', defaultKind) as string;
  if (!kinds.includes(kind as AnalysisDataset)) fail(`--dataset: expected ${kinds.join(' or ')}, got ${JSON.stringify(kind)}`);
  const dataDir = arg('data');
  if (!dataDir) return fail('--data: the dataset\'s directory is required');
  const seed = Number(arg('seed', '1'));
  if (!Number.isSafeInteger(seed)) fail(`--seed: expected an integer, got ${JSON.stringify(arg('seed'))}`);
  return { arg, flag: (name) => argv.includes(`--${name}`), kind: kind as AnalysisDataset, dataDir, seed };
}
