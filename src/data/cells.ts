/**
 * Parsing the cells of a click log, shared by the generic reader and `ralm events import`, so a
 * time or a label means the same wherever a log is read.
 */
import type { TimestampUnit } from './schema.js';

/** Parses a time cell into epoch ms, or NaN. */
export function parseTimestamp(cell: string, unit: TimestampUnit): number {
  const t = cell.trim();
  if (t === '') return NaN;
  if (unit === 'iso') return Date.parse(t);
  const x = Number(t);
  return unit === 's' ? x * 1000 : x;
}

/** What a time unit expects, for error messages. */
export function describeUnit(unit: TimestampUnit): string {
  return unit === 'iso' ? 'an ISO 8601 date' : `epoch ${unit === 's' ? 'seconds' : 'milliseconds'}`;
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
