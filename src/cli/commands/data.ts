/** `ralm data inspect`: read a dataset and report what it holds, what was dropped, and a temporal split. */
import { basename, resolve } from 'node:path';
import { share as shareOf, time, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit } from '../output.js';
import { DATASET_OPTIONS, DATASET_WITH_DEFAULT, datasetFrom, LEAKAGE_OPTION, SYNTHETIC_ONLY, SYNTHETIC_OPTIONS, syntheticSize } from '../shared-options.js';

type SplitAt = { share: number } | { time: number } | { perUser: number };

/** A share of the rows (0.8, .8), a time (ISO 8601 or epoch ms), or `per-user` with an optional share (`per-user:0.7`). */
function splitAt(raw: string): SplitAt {
  const perUser = /^per-user(?::(.*))?$/.exec(raw);
  if (perUser) return { perUser: perUser[1] === undefined ? 0.8 : shareOf(perUser[1]) };
  return /^0?\.\d+$/.test(raw) ? { share: Number(raw) } : { time: time(raw) };
}

const INSPECT_OPTIONS = {
  ...DATASET_OPTIONS,
  dataset: DATASET_WITH_DEFAULT,
  asOf: { flag: 'as-of', arg: 'TIME', defaultText: 'the --split time, else the whole log', help: 'user features that depend on time from rows before this time (ISO 8601 or epoch ms)', parse: time },
  split: { flag: 'split', arg: 'TIME|SHARE|per-user[:SHARE]', help: 'report the split at this time, after this share of the rows (e.g. 0.8), or each user\'s own (default share 0.8)', parse: splitAt },
  allowFeatureLeakage: LEAKAGE_OPTION,
  ...SYNTHETIC_OPTIONS,
} as const satisfies OptionTable;

const inspect = defineCommand({
  name: 'data inspect',
  usage: 'data inspect [--dataset schema] SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR] [options]',
  summary: 'Reads a dataset: counts, fields, bad rows, and with --split a temporal split.',
  notes: ['SCHEMA.json describes a dataset in the generic format; --dataset reads one through its adapter.', 'With --split, user features are read as of the cut, as ralm train and ralm eval read them.'],
  options: INSPECT_OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    const data = datasetFrom('data inspect', v, positionals, given, resolve, { ...SYNTHETIC_ONLY, 'as-of': ['schema', 'movielens', 'globo'] });
    const perUser = v.split !== undefined && 'perUser' in v.split ? v.split.perUser : undefined;
    if (perUser !== undefined && v.asOf !== undefined) throw new UsageError('data inspect: --as-of does not go with --split per-user (each user\'s own cut is their features time)');
    if (v.allowFeatureLeakage && v.split === undefined) throw new UsageError('data inspect: --allow-feature-leakage applies with --split');
    const { openAtCut, openDataset, openWithSplit } = await import('../../data/open.js');
    const { featureLeakage } = await import('../../data/split.js');
    const { reportLines } = await import('../../data/report.js');
    if (v.asOf !== undefined && data.kind === 'schema') {
      const { loadSchemaFile } = await import('../../data/schema.js');
      const { hasTimedFeatures } = await import('../../data/generic.js');
      if (!hasTimedFeatures((await loadSchemaFile(data.path as string)).schema)) throw new UsageError(`data inspect: --as-of: ${positionals[0]} has no user features that depend on time (a dated user table or history fields)`);
    }
    const json = v.json;
    const open = {
      ...data, synthetic: syntheticSize(v), allowFeatureLeakage: v.allowFeatureLeakage, featuresAsOf: v.asOf,
      onFile: json ? undefined : (file: string, rows: number) => void process.stderr.write(`\rread ${rows} rows (${basename(file)})`),
    };
    const started = performance.now();
    let ds;
    let cut: number | null = null;
    if (perUser !== undefined) {
      ({ ds } = await openWithSplit(open, { split: 'per-user', trainShare: perUser }));
      cut = ds.featuresAsOf as number;
    } else if (v.split !== undefined) {
      ({ ds, cut } = await openAtCut(open, 'time' in v.split ? v.split.time : undefined, 'share' in v.split ? v.split.share : undefined));
    } else {
      ds = await openDataset(open);
    }
    const readMs = performance.now() - started;
    if (!json && data.kind === 'globo') process.stderr.write('\n');
    const summary = ds.summary();
    let split = null;
    if (cut !== null) {
      const { temporalSplit } = await import('../../data/split.js');
      const s = temporalSplit(ds, cut, { allowFeatureLeakage: true });
      split = { kind: perUser !== undefined ? 'per-user' : 'global', ...s, cut: new Date(cut).toISOString(), newItems: s.newItems.length, featuresLeak: featureLeakage(ds, cut) !== null };
    }
    const fieldLine = (f: (typeof summary.userFields)[number]): string => `    ${f.name.padEnd(14)} ${f.type.padEnd(10)} ${f.type === 'continuous'
      ? `raw range ${f.min} … ${f.max}`
      : `${f.vocabulary} values${f.meanValues !== undefined ? `, ${f.meanValues.toFixed(1)} per row with values` : ''}`}; ${f.rowsWithValue} rows with a value`;
    const itemIds = new Set(ds.schema.user.filter((f) => f.itemIds).map((f) => f.name));
    emit(json, { ...summary, readMs, split }, [
      `${summary.name}: ${summary.users} users, ${summary.items} items, ${summary.clicks} rows (${summary.positives} clicks), ${summary.firstClick ?? '–'} … ${summary.lastClick ?? '–'}; read in ${(readMs / 1000).toFixed(1)} s`,
      ...reportLines(summary.report).map((l) => `  ${l}`),
      `  user features as of: ${summary.featuresAsOf ?? 'static table'}`,
      `  user fields:`, ...summary.userFields.map((f) => `${fieldLine(f)}${itemIds.has(f.name) ? '; item ids' : ''}`),
      ...(summary.itemFields.length ? ['  item fields:', ...summary.itemFields.map(fieldLine)] : []),
      ...summary.notes.map((n) => `  note: ${n}`),
      ...(split ? [`  ${split.kind} split at ${split.cut}: ${split.trainRows} train rows, ${split.testRows} test rows; test users ${split.testUsers} (${split.newUsers} without training rows), test items ${split.testItems} (${split.newItems} new, with ${split.newItemTestClicks} test clicks)${split.featuresLeak ? '; WARNING: user features may leak past the cut' : ''}`] : []),
    ].join('\n'));
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'data', noun: 'subcommand',
  summary: 'Datasets: read one and report what it holds.',
  subcommands: { inspect },
};
