/**
 * The generic reader: a schema file (see schema.ts) names a click log and optional user and item
 * feature tables; this turns them into a Dataset. Users and items are numbered in order of first
 * appearance — the click log first, then the feature tables — so a user who only appears in the
 * user table still gets a row (a candidate for audience expansion) and a clicker missing from it
 * gets missing values (−1, no values, NaN), not an error.
 */
import { resolve } from 'node:path';
import { readDelimited, columnIndex, delimiterFor } from './delimited.js';
import { ClickBuilder, Dataset } from './dataset.js';
import { FeatureTableBuilder, type FeatureColumn } from './features.js';
import { ReadReport, type BadRowLimits } from './report.js';
import { loadSchemaFile, type DataSchema, type TableSpec, type TimestampUnit } from './schema.js';
import { Vocabulary } from './vocabulary.js';

export type ReadOptions = BadRowLimits;

/** Parses a time cell into epoch ms, or NaN. */
export function parseTimestamp(cell: string, unit: TimestampUnit): number {
  const t = cell.trim();
  if (t === '') return NaN;
  if (unit === 'iso') return Date.parse(t);
  const x = Number(t);
  return unit === 's' ? x * 1000 : x;
}

/** Parses a label cell: true/false, or a number compared with `positiveLabel`; null when neither. */
export function parseLabel(cell: string, positiveLabel: number): 0 | 1 | null {
  const t = cell.trim().toLowerCase();
  if (t === 'true') return 1;
  if (t === 'false') return 0;
  const x = t === '' ? NaN : Number(t);
  if (!Number.isFinite(x)) return null;
  return x >= positiveLabel ? 1 : 0;
}

async function readTable(path: string, spec: TableSpec, rows: Vocabulary, builder: FeatureTableBuilder, report: ReadReport): Promise<void> {
  const seen = new Set<number>();
  await readDelimited(path, report, (header) => {
    const key = columnIndex(path, header, spec.key, 'the key');
    const cols = spec.fields.map((f) => columnIndex(path, header, f.column, `field ${f.name}`));
    const cells: string[] = new Array<string>(cols.length);
    return (fields, line) => {
      const id = fields[key].trim();
      if (id === '') return report.reject(`empty ${spec.key}`, path, line);
      for (let f = 0; f < cols.length; f++) {
        cells[f] = fields[cols[f]];
        if (spec.fields[f].type === 'continuous' && FeatureTableBuilder.parseNumber(cells[f]) === null) return report.reject(`field ${spec.fields[f].name}: not a number`, path, line);
      }
      const row = rows.add(id);
      if (seen.has(row)) return report.reject(`duplicate ${spec.key} (the first row is kept)`, path, line);
      seen.add(row);
      builder.setRow(row, cells);
      report.kept++;
    };
  }, { delimiter: delimiterFor(path, spec.format) });
}

/**
 * Reads a dataset described by a schema file (a path) or an already-validated schema with the
 * folder its relative paths start from. Throws RALM_ERR_VALIDATION for schema or header errors,
 * and when bad rows pass the limits; otherwise the bad rows are in `dataset.report`.
 */
export async function readDataset(source: string | { schema: DataSchema; baseDir: string }, opts: ReadOptions = {}): Promise<Dataset> {
  const { schema, baseDir } = typeof source === 'string' ? await loadSchemaFile(source) : source;
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
      if (!Number.isFinite(ts)) return report.reject(`bad timestamp (expected ${c.timestamp === 'iso' ? 'an ISO 8601 date' : `epoch ${c.timestamp === 's' ? 'seconds' : 'milliseconds'}`})`, clickPath, line);
      const label = cl < 0 ? 1 : parseLabel(fields[cl], c.positiveLabel);
      if (label === null) return report.reject('bad label (expected a number, true or false)', clickPath, line);
      clicks.push(users.add(u), items.add(i), ts, label);
      report.kept++;
    };
  }, { delimiter: delimiterFor(clickPath, c.format) });

  const table = async (spec: TableSpec | null, rows: Vocabulary): Promise<FeatureTableBuilder | null> => {
    if (!spec) return null;
    const b = new FeatureTableBuilder(spec.fields);
    await readTable(resolve(baseDir, spec.path), spec, rows, b, report);
    return b;
  };
  const userTable = await table(schema.userFeatures, users);
  const itemTable = await table(schema.itemFeatures, items);
  report.check();
  const finish = (b: FeatureTableBuilder | null, n: number): FeatureColumn[] => (b ? b.finish(n) : []);
  return new Dataset({
    name: schema.name, users, items, clicks: clicks.finish(),
    userFields: finish(userTable, users.size), itemFields: finish(itemTable, items.size),
    featuresAsOf: null, report: report.toJSON(),
  });
}
