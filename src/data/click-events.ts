/**
 * A click log as a stream of events for a store (`ralm events import`): the click file a schema
 * names, read with its columns, time unit, labels and encoding, or a plain CSV/TSV with the
 * header `user,item,ts[,id]`. Rows come in batches, in file order, with their line numbers; the
 * reader waits for each batch to be handed on, so a log of any length takes bounded memory.
 *
 * Every event has an id, so importing the same file twice stores each click once: the id column
 * when the file has one, else a hash of (user, item, time) — two rows with the same user, item
 * and time are then the same click.
 */
import { createHash } from 'node:crypto';
import { extname, resolve } from 'node:path';
import { RalmError } from '../util/errors.js';
import { describeUnit, parseLabel, parseTimestamp } from './cells.js';
import { columnIndex, delimiterFor, readDelimited, type TextEncoding } from './delimited.js';
import type { ReadReport } from './report.js';
import { loadSchemaFile, type ClicksSpec, type TimestampUnit } from './schema.js';

export interface ClickEventRow {
  user: string;
  item: string;
  /** Epoch ms. */
  ts: number;
  id: string;
}

/** Where the events are and how to read them. */
export interface ClickEventSource {
  path: string;
  format: 'csv' | 'tsv' | undefined;
  encoding: TextEncoding;
  columns: ClicksSpec['columns'];
  /** The plain format: the `id` column may be absent. */
  optionalId: boolean;
  timestamp: TimestampUnit;
  positiveLabel: number;
}

/** The columns of the plain format. */
export const PLAIN_COLUMNS = { user: 'user', item: 'item', timestamp: 'ts', id: 'id' } as const;

/**
 * The source `file` names: a schema file (`.json`: its click log), or a plain CSV/TSV with times
 * in `timestamp` units (default ms). The plain file's `id` column is optional.
 */
export async function clickEventSource(file: string, timestamp?: TimestampUnit): Promise<ClickEventSource> {
  if (extname(file).toLowerCase() === '.json') {
    if (timestamp !== undefined) throw new RalmError('RALM_ERR_VALIDATION', `timestamp: ${file} is a schema file, whose clicks.timestamp gives the time unit`, { field: 'timestamp' });
    const { schema, baseDir } = await loadSchemaFile(file);
    const c = schema.clicks;
    return { path: resolve(baseDir, c.path), format: c.format, encoding: c.encoding ?? schema.encoding, columns: c.columns, optionalId: false, timestamp: c.timestamp, positiveLabel: c.positiveLabel };
  }
  return { path: file, format: undefined, encoding: 'utf-8', columns: { ...PLAIN_COLUMNS, label: undefined }, optionalId: true, timestamp: timestamp ?? 'ms', positiveLabel: 1 };
}

/** The id of a row without one: the same (user, item, time) always gives the same id. */
export function derivedEventId(user: string, item: string, ts: number): string {
  return `h:${createHash('sha1').update(`${user}\u0000${item}\u0000${ts}`).digest('base64url').slice(0, 22)}`;
}

export interface ClickEventCounts {
  /** Rows that became events. */
  events: number;
  /** Labelled rows below the positive label: not clicks, not sent. */
  nonClicks: number;
  /** Rows earlier than a row before them in the file. */
  outOfOrder: number;
}

/**
 * Streams the source's rows to `onBatch` in batches of `batchSize` events (the last one
 * smaller), awaiting each. Bad rows (empty ids, a bad time or label, an id longer than a store
 * takes) are counted in `report` with their lines, never sent.
 */
export async function readClickEvents(src: ClickEventSource, report: ReadReport, batchSize: number, onBatch: (events: ClickEventRow[]) => Promise<void>): Promise<ClickEventCounts> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RalmError('RALM_ERR_VALIDATION', `batchSize: expected a positive integer, got ${batchSize}`);
  const counts: ClickEventCounts = { events: 0, nonClicks: 0, outOfOrder: 0 };
  let pending: ClickEventRow[] = [];
  let latest = -Infinity;
  const path = src.path;
  const c = src.columns;
  await readDelimited(path, report, (header) => {
    const cu = columnIndex(path, header, c.user, 'user');
    const ci = columnIndex(path, header, c.item, 'item');
    const ct = columnIndex(path, header, c.timestamp, 'timestamp');
    const cl = c.label === undefined ? -1 : columnIndex(path, header, c.label, 'label');
    const cid = c.id === undefined || (src.optionalId && !header.includes(c.id)) ? -1 : columnIndex(path, header, c.id, 'event id');
    return (fields, line) => {
      const user = fields[cu].trim();
      const item = fields[ci].trim();
      if (user === '') return report.reject('empty user id', path, line);
      if (item === '') return report.reject('empty item id', path, line);
      if (user.length > 256 || item.length > 256) return report.reject('user or item id longer than 256 characters', path, line);
      const ts = parseTimestamp(fields[ct], src.timestamp);
      if (!Number.isFinite(ts) || ts < 0) return report.reject(`bad timestamp (expected ${describeUnit(src.timestamp)}, not before 1970)`, path, line);
      if (cl >= 0) {
        const label = parseLabel(fields[cl], src.positiveLabel);
        if (label === null) return report.reject('bad label (expected a number, true or false)', path, line);
        if (label === 0) {
          counts.nonClicks++;
          report.kept++;
          return;
        }
      }
      const given = cid >= 0 ? fields[cid].trim() : '';
      if (given.length > 256) return report.reject('event id longer than 256 characters', path, line);
      if (ts < latest) counts.outOfOrder++;
      else latest = ts;
      pending.push({ user, item, ts, id: given !== '' ? given : derivedEventId(user, item, ts) });
      counts.events++;
      report.kept++;
    };
  }, {
    delimiter: delimiterFor(path, src.format), encoding: src.encoding,
    afterChunk: async () => {
      while (pending.length >= batchSize) {
        const batch = pending.slice(0, batchSize);
        pending = pending.slice(batchSize);
        await onBatch(batch);
      }
    },
  });
  if (pending.length > 0) await onBatch(pending);
  return counts;
}
