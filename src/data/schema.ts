/**
 * The schema file of the generic input format: where the click log and the optional user and
 * item feature tables are, which columns hold what, and the type of each feature field. It is
 * small JSON so a dataset can be described without code; every mistake is reported with the
 * JSON path of the offending entry and what was expected there. The README shows a full example.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RalmError } from '../util/errors.js';

/** The three kinds of user feature field the spec's stage 1 embeds. */
export type FieldType = 'single' | 'multi' | 'continuous';
export const FIELD_TYPES: readonly FieldType[] = ['single', 'multi', 'continuous'];

export interface FieldSpec {
  name: string;
  type: FieldType;
  /** Column of the table holding the field (default: the field's name). */
  column: string;
  /** Multi-valued only: the separator between values inside the cell (default `|`). */
  separator: string;
  /** Multi-valued only: keep at most this many distinct values per row, the first ones (default: all). */
  maxValues: number;
}

export interface TableSpec {
  path: string;
  format: 'csv' | 'tsv' | undefined;
  /** The column holding the user (or item) id, matched against the click log's ids. */
  key: string;
  fields: FieldSpec[];
}

export type TimestampUnit = 'ms' | 's' | 'iso';

export interface ClicksSpec {
  path: string;
  format: 'csv' | 'tsv' | undefined;
  columns: { user: string; item: string; timestamp: string; label: string | undefined };
  timestamp: TimestampUnit;
  /** With a label column: a row is a click when its label is ≥ this (default 1); others are kept as label 0. */
  positiveLabel: number;
}

export interface DataSchema {
  version: 1;
  name: string;
  clicks: ClicksSpec;
  userFeatures: TableSpec | null;
  itemFeatures: TableSpec | null;
}

function fail(where: string, expected: string, got: unknown): never {
  throw new RalmError('RALM_ERR_VALIDATION', `${where}: expected ${expected}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`, { field: where });
}

function object(v: unknown, where: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'an object', v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new RalmError('RALM_ERR_VALIDATION', `${where}: unknown key "${k}"; expected one of ${allowed.join(', ')}`, { field: `${where}.${k}` });
  }
  return o;
}

function string(v: unknown, where: string, what: string): string {
  if (typeof v !== 'string' || v === '') fail(where, `a non-empty string (${what})`, v);
  return v as string;
}

function optString(v: unknown, where: string, what: string): string | undefined {
  return v === undefined ? undefined : string(v, where, what);
}

function oneOf<T extends string>(v: unknown, where: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(where, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
  return v as T;
}

function format(v: unknown, where: string): 'csv' | 'tsv' | undefined {
  return v === undefined ? undefined : oneOf(v, where, ['csv', 'tsv'] as const);
}

function field(name: string, v: unknown, where: string): FieldSpec {
  const o = object(v, where, ['type', 'column', 'separator', 'maxValues']);
  const type = oneOf(o.type, `${where}.type`, FIELD_TYPES);
  if (type !== 'multi' && (o.separator !== undefined || o.maxValues !== undefined)) {
    throw new RalmError('RALM_ERR_VALIDATION', `${where}: "separator" and "maxValues" apply to multi-valued fields only, this field is "${type}"`, { field: where });
  }
  const separator = o.separator === undefined ? '|' : string(o.separator, `${where}.separator`, 'the separator between values in a cell');
  let maxValues = Infinity;
  if (o.maxValues !== undefined) {
    if (!Number.isSafeInteger(o.maxValues) || (o.maxValues as number) < 1) fail(`${where}.maxValues`, 'a positive integer', o.maxValues);
    maxValues = o.maxValues as number;
  }
  return { name, type, column: optString(o.column, `${where}.column`, 'the column holding the field') ?? name, separator, maxValues };
}

function table(v: unknown, where: string): TableSpec {
  const o = object(v, where, ['path', 'format', 'key', 'fields']);
  const fieldsObj = object(o.fields, `${where}.fields`, Object.keys((o.fields ?? {}) as object));
  const names = Object.keys(fieldsObj);
  if (names.length === 0) fail(`${where}.fields`, 'at least one field (name → {"type": "single" | "multi" | "continuous"})', o.fields);
  const key = string(o.key, `${where}.key`, 'the id column');
  const fields = names.map((n) => field(n, fieldsObj[n], `${where}.fields.${n}`));
  for (const f of fields) if (f.column === key) throw new RalmError('RALM_ERR_VALIDATION', `${where}.fields.${f.name}: column "${key}" is the table's key, not a feature`, { field: `${where}.fields.${f.name}` });
  return { path: string(o.path, `${where}.path`, 'the table file, relative to the schema file'), format: format(o.format, `${where}.format`), key, fields };
}

/** Validates a parsed schema document; `where` prefixes every error path. */
export function parseSchema(doc: unknown, where = 'schema'): DataSchema {
  const o = object(doc, where, ['version', 'name', 'clicks', 'userFeatures', 'itemFeatures']);
  if (o.version !== undefined && o.version !== 1) fail(`${where}.version`, '1', o.version);
  const c = object(o.clicks, `${where}.clicks`, ['path', 'format', 'columns', 'timestamp', 'positiveLabel']);
  const cols = object(c.columns, `${where}.clicks.columns`, ['user', 'item', 'timestamp', 'label']);
  const columns = {
    user: string(cols.user, `${where}.clicks.columns.user`, 'the user id column'),
    item: string(cols.item, `${where}.clicks.columns.item`, 'the item id column'),
    timestamp: string(cols.timestamp, `${where}.clicks.columns.timestamp`, 'the time column'),
    label: optString(cols.label, `${where}.clicks.columns.label`, 'the label column'),
  };
  if (c.positiveLabel !== undefined && (typeof c.positiveLabel !== 'number' || !Number.isFinite(c.positiveLabel))) fail(`${where}.clicks.positiveLabel`, 'a finite number', c.positiveLabel);
  if (c.positiveLabel !== undefined && columns.label === undefined) fail(`${where}.clicks.columns.label`, 'a label column when positiveLabel is given', undefined);
  return {
    version: 1,
    name: optString(o.name, `${where}.name`, 'the dataset name') ?? 'dataset',
    clicks: {
      path: string(c.path, `${where}.clicks.path`, 'the click log file, relative to the schema file'),
      format: format(c.format, `${where}.clicks.format`),
      columns,
      timestamp: oneOf(c.timestamp, `${where}.clicks.timestamp`, ['ms', 's', 'iso'] as const),
      positiveLabel: (c.positiveLabel as number | undefined) ?? 1,
    },
    userFeatures: o.userFeatures === undefined ? null : table(o.userFeatures, `${where}.userFeatures`),
    itemFeatures: o.itemFeatures === undefined ? null : table(o.itemFeatures, `${where}.itemFeatures`),
  };
}

/** Reads and validates a schema file; relative paths inside it are resolved against its folder. */
export async function loadSchemaFile(path: string): Promise<{ schema: DataSchema; baseDir: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RalmError('RALM_ERR_VALIDATION', `${path}: cannot read the schema file (${(err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RalmError('RALM_ERR_VALIDATION', `${path}: not valid JSON (${(err as Error).message})`);
  }
  return { schema: parseSchema(doc, path), baseDir: dirname(resolve(path)) };
}

/** The schema as written to a file: the inverse of parseSchema for the fields that differ from their defaults. */
export function schemaToJson(s: DataSchema): Record<string, unknown> {
  const tableJson = (t: TableSpec): Record<string, unknown> => ({
    path: t.path, ...(t.format ? { format: t.format } : {}), key: t.key,
    fields: Object.fromEntries(t.fields.map((f) => [f.name, {
      type: f.type, ...(f.column !== f.name ? { column: f.column } : {}),
      ...(f.type === 'multi' && f.separator !== '|' ? { separator: f.separator } : {}),
      ...(f.type === 'multi' && Number.isFinite(f.maxValues) ? { maxValues: f.maxValues } : {}),
    }])),
  });
  const { label, ...cols } = s.clicks.columns;
  return {
    version: 1, name: s.name,
    clicks: {
      path: s.clicks.path, ...(s.clicks.format ? { format: s.clicks.format } : {}), columns: { ...cols, ...(label ? { label } : {}) }, timestamp: s.clicks.timestamp,
      ...(label && s.clicks.positiveLabel !== 1 ? { positiveLabel: s.clicks.positiveLabel } : {}),
    },
    ...(s.userFeatures ? { userFeatures: tableJson(s.userFeatures) } : {}),
    ...(s.itemFeatures ? { itemFeatures: tableJson(s.itemFeatures) } : {}),
  };
}

/** A field spec for readers that build columns in code rather than from a schema file. */
export function fieldSpec(name: string, type: FieldType, maxValues = Infinity): FieldSpec {
  return { name, type, column: name, separator: '|', maxValues };
}
