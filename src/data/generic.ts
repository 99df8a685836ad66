/**
 * The generic reader: a schema file (see schema.ts) names a click log, optional user and item
 * feature tables and optional user fields derived from the log; this turns them into a Dataset.
 * Users and items are numbered in order of first appearance — the click log first, then the item
 * table, then the user table — so a user who only appears in the user table still gets a row (a
 * candidate for audience expansion) and a clicker missing from it gets missing values (−1, no
 * values, NaN), not an error.
 *
 * User features as of a time: fields from a dated user table and fields derived from the log
 * (`history`) use only what is known strictly before `featuresAsOf`, or before each user's own
 * cut with `perUserSplit`; then `featuresAsOf` on the dataset says so and a split earlier than it
 * is refused. An undated user table is taken as known before any cut (`featuresAsOf` null when
 * it is the only source of user fields).
 */
import { resolve } from 'node:path';
import { RalmError } from '../util/errors.js';
import { readDelimited, columnIndex, delimiterFor } from './delimited.js';
import { describeUnit, parseLabel, parseTimestamp } from './cells.js';
import { ClickBuilder, Dataset } from './dataset.js';
import { FeatureTableBuilder } from './features.js';
import { deriveHistory } from './history.js';
import { ReadReport, type BadRowLimits } from './report.js';
import { loadSchemaFile, type DataSchema } from './schema.js';
import { splitPerUser } from './split.js';
import { readTable, sharedVocabularies } from './user-table.js';
import { Vocabulary } from './vocabulary.js';

export { parseLabel, parseTimestamp } from './cells.js';

export interface ReadOptions extends BadRowLimits {
  /** Dated user rows and history fields from before this time (epoch ms). Default: the whole log. */
  featuresAsOf?: number;
  /**
   * A per-user temporal split with this training share (see `splitPerUser`): each user's
   * features from before their own cut, test rows shifted past the last training row.
   */
  perUserSplit?: number;
}

/** True when the schema has user features that depend on time: a dated user table or history fields. */
export function hasTimedFeatures(schema: DataSchema): boolean {
  return schema.history.length > 0 || schema.userFeatures?.timestamp != null;
}

/**
 * Reads a dataset described by a schema file (a path) or an already-validated schema with the
 * folder its relative paths start from. Throws RALM_ERR_VALIDATION for schema or header errors,
 * and when bad rows pass the limits; otherwise the bad rows are in `dataset.report`.
 */
export async function readDataset(source: string | { schema: DataSchema; baseDir: string }, opts: ReadOptions = {}): Promise<Dataset> {
  const { schema, baseDir } = typeof source === 'string' ? await loadSchemaFile(source) : source;
  if (opts.perUserSplit !== undefined && opts.featuresAsOf !== undefined) {
    throw new RalmError('RALM_ERR_VALIDATION', 'perUserSplit sets each user\'s features time; do not give featuresAsOf as well', { field: 'featuresAsOf' });
  }
  const report = new ReadReport(opts);
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const clicks = new ClickBuilder();
  const c = schema.clicks;
  const clickPath = resolve(baseDir, c.path);
  await readDelimited(clickPath, report, (header) => {
    const cu = columnIndex(clickPath, header, c.columns.user, 'user');
    const ci = columnIndex(clickPath, header, c.columns.item, 'item');
    const ct = columnIndex(clickPath, header, c.columns.timestamp, 'timestamp');
    const cl = c.columns.label === undefined ? -1 : columnIndex(clickPath, header, c.columns.label, 'label');
    return (fields, line) => {
      const u = fields[cu].trim();
      const i = fields[ci].trim();
      if (u === '') return report.reject('empty user id', clickPath, line);
      if (i === '') return report.reject('empty item id', clickPath, line);
      const ts = parseTimestamp(fields[ct], c.timestamp);
      if (!Number.isFinite(ts)) return report.reject(`bad timestamp (expected ${describeUnit(c.timestamp)})`, clickPath, line);
      const label = cl < 0 ? 1 : parseLabel(fields[cl], c.positiveLabel);
      if (label === null) return report.reject('bad label (expected a number, true or false)', clickPath, line);
      clicks.push(users.add(u), items.add(i), ts, label);
      report.kept++;
    };
  }, { delimiter: delimiterFor(clickPath, c.format), encoding: c.encoding ?? schema.encoding });

  const itemSpec = schema.itemFeatures;
  const itemTable = itemSpec ? new FeatureTableBuilder(itemSpec.fields) : null;
  if (itemSpec && itemTable) await readTable(resolve(baseDir, itemSpec.path), itemSpec, itemSpec.encoding ?? schema.encoding, items, itemTable, report);
  const userSpec = schema.userFeatures;
  const userTable = userSpec ? new FeatureTableBuilder(userSpec.fields, sharedVocabularies(userSpec, items)) : null;
  const dated = userSpec && userTable ? await readTable(resolve(baseDir, userSpec.path), userSpec, userSpec.encoding ?? schema.encoding, users, userTable, report) : null;
  report.check();

  // Each user's features time: one for all, or their own first test row's under a per-user split.
  let log = clicks.finish();
  const inOwnClock = log;
  const userCut = new Float64Array(users.size).fill(opts.featuresAsOf ?? Infinity);
  let splitAt = opts.featuresAsOf ?? Infinity;
  if (opts.perUserSplit !== undefined) {
    const split = splitPerUser(log, users.size, opts.perUserSplit);
    userCut.set(split.userCut);
    log = split.clicks;
    splitAt = split.cut;
  }
  const asOf = (u: number): number => userCut[u];
  const notes: string[] = [];
  if (dated && userTable && userSpec?.timestamp) {
    const picked = dated.pick(userTable, asOf);
    notes.push(`user table dated by ${userSpec.timestamp.column}: ${picked.users} users have a row before their features time; ${picked.later} later rows unused`);
  }
  const itemFields = itemTable ? itemTable.finish(items.size) : [];
  const history = deriveHistory(schema.history, inOwnClock, users.size, items, itemFields, asOf);
  const timed = hasTimedFeatures(schema) || opts.perUserSplit !== undefined;
  if (schema.history.length) notes.push(`history fields ${schema.history.map((h) => h.name).join(', ')}: from each user's clicks before their features time`);
  const cutGiven = opts.featuresAsOf !== undefined || opts.perUserSplit !== undefined;
  if (cutGiven && userSpec && !userSpec.timestamp) notes.push('user table without a timestamp: its values are taken as known before any cut');
  if (opts.perUserSplit !== undefined) {
    notes.push(`per-user temporal split: each user's first ${(opts.perUserSplit * 100).toFixed(0)}% of rows are training, user features from before each user's own cut; test rows are shifted in time past the last training row (order and spacing kept), so the split is at featuresAsOf`);
  }
  return new Dataset({
    name: schema.name, users, items, clicks: log,
    userFields: [...(userTable ? userTable.finish(users.size) : []), ...history], itemFields,
    featuresAsOf: timed ? splitAt : null,
    untimedItemFields: userSpec && !userSpec.timestamp ? userSpec.fields.filter((f) => f.itemIds).map((f) => f.name) : [],
    report: report.toJSON(), notes,
  });
}
