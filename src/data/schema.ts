/**
 * The schema file of the generic input format: where the click log and the optional user and
 * item feature tables are, which columns hold what, and the type of each feature field. It is
 * small JSON so a dataset can be described without code; every mistake is reported with the
 * JSON path of the offending entry and what was expected there. The README shows a full example.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RalmError } from '../util/errors.js';
import { ENCODINGS, type TextEncoding } from './delimited.js';

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
  /** Categorical only: the values are item ids of the dataset, sharing the item vocabulary (default false). */
  itemIds: boolean;
}

/** A user table's time column: each row is the user's values from that time on. */
export interface TableTime {
  column: string;
  unit: TimestampUnit;
}

export interface TableSpec {
  path: string;
  format: 'csv' | 'tsv' | undefined;
  /** Default: the schema's encoding. */
  encoding: TextEncoding | undefined;
  /** The column holding the user (or item) id, matched against the click log's ids. */
  key: string;
  /** User tables only: rows are dated, and a user's values at a time are their latest row before it. */
  timestamp: TableTime | null;
  fields: FieldSpec[];
}

/**
 * A user field computed from the click log (positive rows strictly before the user's features
 * time): `recent-items` the last `count` distinct items clicked, newest first (item ids);
 * `top-values` the values of item field `itemField` over the items clicked, most frequent first
 * (at most `count`); `activity` log(1 + clicks).
 */
export type HistorySpec =
  | { name: string; derive: 'recent-items'; count: number }
  | { name: string; derive: 'top-values'; itemField: string; count: number }
  | { name: string; derive: 'activity' };
export const HISTORY_KINDS = ['recent-items', 'top-values', 'activity'] as const;

export type TimestampUnit = 'ms' | 's' | 'iso';

export interface ClicksSpec {
  path: string;
  format: 'csv' | 'tsv' | undefined;
  /** Default: the schema's encoding. */
  encoding: TextEncoding | undefined;
  /** `id`: an event id per row, used by `ralm events import` to make a re-import idempotent. */
  columns: { user: string; item: string; timestamp: string; label: string | undefined; id?: string };
  timestamp: TimestampUnit;
  /** With a label column: a row is a click when its label is ≥ this (default 1); others are kept as label 0. */
  positiveLabel: number;
}

export interface DataSchema {
  version: 1;
  name: string;
  /** The files' text encoding unless a table names its own (default utf-8). */
  encoding: TextEncoding;
  clicks: ClicksSpec;
  userFeatures: TableSpec | null;
  itemFeatures: TableSpec | null;
  /** User fields derived from the click log, after the user table's fields. */
  history: HistorySpec[];
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

function encoding(v: unknown, where: string): TextEncoding | undefined {
  return v === undefined ? undefined : oneOf(v, where, ENCODINGS);
}

function count(v: unknown, where: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(where, 'a positive integer', v);
  return v as number;
}

function field(name: string, v: unknown, where: string): FieldSpec {
  const o = object(v, where, ['type', 'column', 'separator', 'maxValues', 'itemIds']);
  const type = oneOf(o.type, `${where}.type`, FIELD_TYPES);
  if (o.itemIds !== undefined && typeof o.itemIds !== 'boolean') fail(`${where}.itemIds`, 'true or false', o.itemIds);
  if (o.itemIds === true && type === 'continuous') fail(`${where}.itemIds`, 'item ids on a "single" or "multi" field only, not "continuous"', o.itemIds);
  if (type !== 'multi' && (o.separator !== undefined || o.maxValues !== undefined)) {
    throw new RalmError('RALM_ERR_VALIDATION', `${where}: "separator" and "maxValues" apply to multi-valued fields only, this field is "${type}"`, { field: where });
  }
  const separator = o.separator === undefined ? '|' : string(o.separator, `${where}.separator`, 'the separator between values in a cell');
  const maxValues = count(o.maxValues, `${where}.maxValues`, Infinity);
  return { name, type, column: optString(o.column, `${where}.column`, 'the column holding the field') ?? name, separator, maxValues, itemIds: o.itemIds === true };
}

function tableTime(v: unknown, where: string): TableTime | null {
  if (v === undefined) return null;
  const o = object(v, where, ['column', 'unit']);
  return { column: string(o.column, `${where}.column`, 'the column holding each row\'s time'), unit: oneOf(o.unit, `${where}.unit`, ['ms', 's', 'iso'] as const) };
}

function table(v: unknown, where: string, users: boolean): TableSpec {
  const o = object(v, where, ['path', 'format', 'encoding', 'key', 'fields', ...(users ? ['timestamp'] : [])]);
  const fieldsObj = object(o.fields, `${where}.fields`, Object.keys((o.fields ?? {}) as object));
  const names = Object.keys(fieldsObj);
  if (names.length === 0) fail(`${where}.fields`, 'at least one field (name → {"type": "single" | "multi" | "continuous"})', o.fields);
  const key = string(o.key, `${where}.key`, 'the id column');
  const fields = names.map((n) => field(n, fieldsObj[n], `${where}.fields.${n}`));
  for (const f of fields) if (f.column === key) throw new RalmError('RALM_ERR_VALIDATION', `${where}.fields.${f.name}: column "${key}" is the table's key, not a feature`, { field: `${where}.fields.${f.name}` });
  const timestamp = tableTime(o.timestamp, `${where}.timestamp`);
  if (timestamp && (timestamp.column === key || fields.some((f) => f.column === timestamp.column))) fail(`${where}.timestamp.column`, 'a column that is neither the key nor a field', timestamp.column);
  return {
    path: string(o.path, `${where}.path`, 'the table file, relative to the schema file'), format: format(o.format, `${where}.format`),
    encoding: encoding(o.encoding, `${where}.encoding`), key, timestamp, fields,
  };
}

function history(v: unknown, where: string, userFields: readonly FieldSpec[], itemFields: readonly FieldSpec[]): HistorySpec[] {
  if (v === undefined) return [];
  const named = object(v, where, Object.keys((v ?? {}) as object));
  return Object.entries(named).map(([name, spec]): HistorySpec => {
    const at = `${where}.${name}`;
    if (userFields.some((f) => f.name === name)) fail(at, `a name that is not already a userFeatures field ("${name}" is one)`, name);
    const kind = oneOf(object(spec, at, ['derive', 'count', 'itemField']).derive, `${at}.derive`, HISTORY_KINDS);
    const o = object(spec, at, kind === 'activity' ? ['derive'] : kind === 'recent-items' ? ['derive', 'count'] : ['derive', 'count', 'itemField']);
    if (kind === 'activity') return { name, derive: kind };
    if (kind === 'recent-items') return { name, derive: kind, count: count(o.count, `${at}.count`, 20) };
    const itemField = string(o.itemField, `${at}.itemField`, 'a categorical itemFeatures field');
    const f = itemFields.find((x) => x.name === itemField);
    if (!f || f.type === 'continuous') fail(`${at}.itemField`, `a "single" or "multi" field of itemFeatures (${itemFields.filter((x) => x.type !== 'continuous').map((x) => `"${x.name}"`).join(', ') || 'there is none'})`, itemField);
    return { name, derive: kind, itemField, count: count(o.count, `${at}.count`, 5) };
  });
}

/** Validates a parsed schema document; `where` prefixes every error path. */
export function parseSchema(doc: unknown, where = 'schema'): DataSchema {
  const o = object(doc, where, ['version', 'name', 'encoding', 'clicks', 'userFeatures', 'itemFeatures', 'history']);
  if (o.version !== undefined && o.version !== 1) fail(`${where}.version`, '1', o.version);
  const c = object(o.clicks, `${where}.clicks`, ['path', 'format', 'encoding', 'columns', 'timestamp', 'positiveLabel']);
  const cols = object(c.columns, `${where}.clicks.columns`, ['user', 'item', 'timestamp', 'label', 'id']);
  const id = optString(cols.id, `${where}.clicks.columns.id`, 'the event id column');
  const columns = {
    user: string(cols.user, `${where}.clicks.columns.user`, 'the user id column'),
    item: string(cols.item, `${where}.clicks.columns.item`, 'the item id column'),
    timestamp: string(cols.timestamp, `${where}.clicks.columns.timestamp`, 'the time column'),
    label: optString(cols.label, `${where}.clicks.columns.label`, 'the label column'),
    ...(id !== undefined ? { id } : {}),
  };
  if (c.positiveLabel !== undefined && (typeof c.positiveLabel !== 'number' || !Number.isFinite(c.positiveLabel))) fail(`${where}.clicks.positiveLabel`, 'a finite number', c.positiveLabel);
  if (c.positiveLabel !== undefined && columns.label === undefined) fail(`${where}.clicks.columns.label`, 'a label column when positiveLabel is given', undefined);
  const userFeatures = o.userFeatures === undefined ? null : table(o.userFeatures, `${where}.userFeatures`, true);
  const itemFeatures = o.itemFeatures === undefined ? null : table(o.itemFeatures, `${where}.itemFeatures`, false);
  for (const f of itemFeatures?.fields ?? []) if (f.itemIds) fail(`${where}.itemFeatures.fields.${f.name}.itemIds`, 'item ids in user fields only', true);
  return {
    version: 1,
    name: optString(o.name, `${where}.name`, 'the dataset name') ?? 'dataset',
    encoding: encoding(o.encoding, `${where}.encoding`) ?? 'utf-8',
    clicks: {
      path: string(c.path, `${where}.clicks.path`, 'the click log file, relative to the schema file'),
      format: format(c.format, `${where}.clicks.format`),
      encoding: encoding(c.encoding, `${where}.clicks.encoding`),
      columns,
      timestamp: oneOf(c.timestamp, `${where}.clicks.timestamp`, ['ms', 's', 'iso'] as const),
      positiveLabel: (c.positiveLabel as number | undefined) ?? 1,
    },
    userFeatures, itemFeatures,
    history: history(o.history, `${where}.history`, userFeatures?.fields ?? [], itemFeatures?.fields ?? []),
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
    path: t.path, ...(t.format ? { format: t.format } : {}), ...(t.encoding ? { encoding: t.encoding } : {}), key: t.key,
    ...(t.timestamp ? { timestamp: { ...t.timestamp } } : {}),
    fields: Object.fromEntries(t.fields.map((f) => [f.name, {
      type: f.type, ...(f.column !== f.name ? { column: f.column } : {}),
      ...(f.type === 'multi' && f.separator !== '|' ? { separator: f.separator } : {}),
      ...(f.type === 'multi' && Number.isFinite(f.maxValues) ? { maxValues: f.maxValues } : {}),
      ...(f.itemIds ? { itemIds: true } : {}),
    }])),
  });
  const { label, ...cols } = s.clicks.columns;
  return {
    version: 1, name: s.name, ...(s.encoding !== 'utf-8' ? { encoding: s.encoding } : {}),
    clicks: {
      path: s.clicks.path, ...(s.clicks.format ? { format: s.clicks.format } : {}), ...(s.clicks.encoding ? { encoding: s.clicks.encoding } : {}),
      columns: { ...cols, ...(label ? { label } : {}) }, timestamp: s.clicks.timestamp,
      ...(label && s.clicks.positiveLabel !== 1 ? { positiveLabel: s.clicks.positiveLabel } : {}),
    },
    ...(s.userFeatures ? { userFeatures: tableJson(s.userFeatures) } : {}),
    ...(s.itemFeatures ? { itemFeatures: tableJson(s.itemFeatures) } : {}),
    ...(s.history.length ? { history: Object.fromEntries(s.history.map(({ name, ...h }) => [name, h])) } : {}),
  };
}

/** A field spec for readers that build columns in code rather than from a schema file. */
export function fieldSpec(name: string, type: FieldType, maxValues = Infinity): FieldSpec {
  return { name, type, column: name, separator: '|', maxValues, itemIds: false };
}
