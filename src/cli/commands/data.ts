/** `ralm data inspect`: read a dataset and report what it holds, what was dropped, and a temporal split. */
import { basename, resolve } from 'node:path';
import { SYNTHETIC_DEFAULTS } from '../../data/synthetic.js';
import { asDefault, int, num, oneOf, time, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand, type CommandGroup } from '../command.js';
import { emit } from '../output.js';
import { DATASET_OPTIONS, requireData } from '../shared-options.js';

/** A share of the rows (0.8, .8) or a time (ISO 8601 or epoch ms). */
function splitAt(raw: string): { share: number } | { time: number } {
  return /^0?\.\d+$/.test(raw) ? { share: Number(raw) } : { time: time(raw) };
}

const INSPECT_OPTIONS = {
  ...DATASET_OPTIONS,
  asOf: { flag: 'as-of', arg: 'TIME', defaultText: 'the --split time, else the whole log', help: 'adapters: user features from rows before this time (ISO 8601 or epoch ms)', parse: time },
  userValue: { flag: 'user-value', arg: 'most-frequent|latest', default: 'most-frequent', help: 'Globo.com: how a user\'s single value is chosen', parse: oneOf(['most-frequent', 'latest'] as const) },
  split: { flag: 'split', arg: 'TIME|SHARE', help: 'report the split at this time, or after this share of the rows (e.g. 0.8)', parse: splitAt },
  maxBadShare: { flag: 'max-bad-share', arg: 'X', defaultText: '0.01', help: 'fail when a larger share of the rows is bad', parse: num() },
  maxBadRows: { flag: 'max-bad-rows', arg: 'N', defaultText: 'no limit', help: 'fail after this many bad rows', parse: int() },
  seed: { flag: 'seed', arg: 'N', default: asDefault(SYNTHETIC_DEFAULTS.seed), help: 'synthetic: the generator seed', parse: int() },
} as const satisfies OptionTable;

const inspect = defineCommand({
  name: 'data inspect',
  usage: 'data inspect SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR] [options]',
  summary: 'Reads a dataset: counts, fields, bad rows, and with --split a temporal split.',
  notes: ['SCHEMA.json describes a dataset in the generic format; --dataset reads one through its adapter.'],
  options: INSPECT_OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    if (positionals.length > 1) throw new UsageError('data inspect: give at most one schema file');
    const kind = positionals.length === 1 ? 'schema' as const : v.dataset;
    if (positionals.length === 1 && given.has('dataset')) throw new UsageError('data inspect: give a schema file or --dataset, not both');
    requireData('data inspect', kind, v.data);
    const { openDataset } = await import('../../data/open.js');
    const { temporalSplit, cutAtShare } = await import('../../data/split.js');
    const share = v.split !== undefined && 'share' in v.split ? v.split.share : undefined;
    const splitTime = v.split !== undefined && 'time' in v.split ? v.split.time : undefined;
    const featuresAsOf = v.asOf ?? splitTime;
    const json = v.json;
    const started = performance.now();
    const ds = await openDataset({
      kind, path: kind === 'schema' ? resolve(positionals[0]) : v.data !== undefined ? resolve(v.data) : undefined,
      featuresAsOf, hours: v.hours, userValue: v.userValue, maxBadShare: v.maxBadShare, maxBadRows: v.maxBadRows,
      synthetic: { seed: v.seed },
      onFile: json ? undefined : (file, rows) => void process.stderr.write(`\rread ${rows} rows (${basename(file)})`),
    });
    const readMs = performance.now() - started;
    if (!json && kind === 'globo') process.stderr.write('\n');
    const summary = ds.summary();
    let split = null;
    if (v.split !== undefined) {
      const cut = share !== undefined ? cutAtShare(ds, share) : (splitTime as number);
      const s = temporalSplit(ds, cut, { allowFeatureLeakage: share !== undefined && featuresAsOf === undefined });
      split = { ...s, cut: new Date(cut).toISOString(), newItems: s.newItems.length, featuresLeak: ds.featuresAsOf !== null && ds.featuresAsOf > cut };
    }
    const r = summary.report;
    const fieldLine = (f: (typeof summary.userFields)[number]): string => `    ${f.name.padEnd(14)} ${f.type.padEnd(10)} ${f.type === 'continuous'
      ? `raw range ${f.min} … ${f.max}`
      : `${f.vocabulary} values${f.meanValues !== undefined ? `, ${f.meanValues.toFixed(1)} per row with values` : ''}`}; ${f.rowsWithValue} rows with a value`;
    emit(json, { ...summary, readMs, split }, [
      `${summary.name}: ${summary.users} users, ${summary.items} items, ${summary.clicks} rows (${summary.positives} clicks), ${summary.firstClick ?? '–'} … ${summary.lastClick ?? '–'}; read in ${(readMs / 1000).toFixed(1)} s`,
      `  rows read ${r.rows}, kept ${r.kept}, bad ${r.badRows}${r.badRows ? `: ${Object.entries(r.bad).map(([k, b]) => `${k} ×${b.count} (${b.first.join(', ')})`).join('; ')}` : ''}${r.blankLines ? `; ${r.blankLines} blank lines` : ''}`,
      `  user features as of: ${summary.featuresAsOf ?? 'static table'}`,
      `  user fields:`, ...summary.userFields.map(fieldLine),
      ...(summary.itemFields.length ? ['  item fields:', ...summary.itemFields.map(fieldLine)] : []),
      ...summary.notes.map((n) => `  note: ${n}`),
      ...(split ? [`  split at ${split.cut}: ${split.trainRows} train rows, ${split.testRows} test rows; test users ${split.testUsers} (${split.newUsers} without training rows), test items ${split.testItems} (${split.newItems} new, with ${split.newItemTestClicks} test clicks)${split.featuresLeak ? '; WARNING: user features were computed past the cut (pass --as-of)' : ''}`] : []),
    ].join('\n'));
  },
});

export const command: CommandGroup = {
  kind: 'group', name: 'data', noun: 'subcommand',
  summary: 'Datasets: read one and report what it holds.',
  subcommands: { inspect },
};
