/**
 * The account of a read: how many rows each file gave, how many were kept, and every rejected
 * row counted under its reason with the first few locations (`file:line`). Readers never drop a
 * row without recording it here, and a threshold turns "too many bad rows" into an error
 * instead of a quietly shrunken dataset.
 */
import { basename } from 'node:path';
import { RalmError } from '../util/errors.js';

export interface BadRowLimits {
  /** Fail as soon as more than this many rows are bad (all reasons together). Default: no limit. */
  maxBadRows?: number;
  /** Fail at the end of the read when bad rows exceed this share of data rows. Default 0.01. */
  maxBadShare?: number;
  /** Locations kept per reason. Default 10. */
  keepLines?: number;
}

/** The limits of a read unless the caller sets them: no count limit, 1 % of the rows, 10 lines kept per reason. */
export const BAD_ROW_DEFAULTS: Readonly<Required<BadRowLimits>> = { maxBadRows: Infinity, maxBadShare: 0.01, keepLines: 10 };

export interface BadReason {
  count: number;
  /** The first `keepLines` locations, as `file:line` (1-based physical line, header is line 1). */
  first: string[];
}

export interface ReadReportJson {
  files: Array<{ file: string; rows: number }>;
  rows: number;
  kept: number;
  blankLines: number;
  badRows: number;
  bad: Record<string, BadReason>;
  /** Rows kept but worth a look (e.g. text that is not valid UTF-8), counted like bad rows; absent: none. */
  warnings?: Record<string, BadReason>;
}

export class ReadReport {
  /** Data rows seen (not counting headers and blank lines). */
  rows = 0;
  /** Rows that became part of the dataset. */
  kept = 0;
  /** Empty lines: not rows, so not bad, but counted so nothing goes unaccounted. */
  blankLines = 0;
  readonly files: Array<{ file: string; rows: number }> = [];
  private readonly bad = new Map<string, BadReason>();
  private readonly warned = new Map<string, BadReason>();
  private badTotal = 0;
  private readonly limits: Required<BadRowLimits>;

  constructor(limits: BadRowLimits = {}) {
    const d = BAD_ROW_DEFAULTS;
    this.limits = { maxBadRows: limits.maxBadRows ?? d.maxBadRows, maxBadShare: limits.maxBadShare ?? d.maxBadShare, keepLines: limits.keepLines ?? d.keepLines };
  }

  get badRows(): number {
    return this.badTotal;
  }

  /** Starts the tally of one file; rows are then counted against it. */
  beginFile(path: string): void {
    this.files.push({ file: basename(path), rows: 0 });
  }

  row(): void {
    this.rows++;
    const f = this.files[this.files.length - 1];
    if (f) f.rows++;
  }

  private tally(into: Map<string, BadReason>, reason: string, file: string, line: number): void {
    let r = into.get(reason);
    if (!r) into.set(reason, (r = { count: 0, first: [] }));
    r.count++;
    if (r.first.length < this.limits.keepLines) r.first.push(`${basename(file)}:${line}`);
  }

  /** Records a row that is kept but suspicious; warnings never fail a read. */
  warn(reason: string, file: string, line: number): void {
    this.tally(this.warned, reason, file, line);
  }

  /** Records one rejected row. Throws when the absolute limit is passed. */
  reject(reason: string, file: string, line: number): void {
    this.tally(this.bad, reason, file, line);
    this.badTotal++;
    if (this.badTotal > this.limits.maxBadRows) {
      throw new RalmError('RALM_ERR_VALIDATION', `more than ${this.limits.maxBadRows} bad rows (latest: ${reason} at ${basename(file)}:${line}); ${this.describeBad()}`, { report: this.toJSON() });
    }
  }

  /** Throws when the share of bad rows is above the limit; readers call it once at the end. */
  check(): void {
    const share = this.rows === 0 ? 0 : this.badTotal / this.rows;
    if (share > this.limits.maxBadShare) {
      throw new RalmError('RALM_ERR_VALIDATION',
        `${this.badTotal} of ${this.rows} rows are bad (${(share * 100).toFixed(2)} %, limit ${(this.limits.maxBadShare * 100).toFixed(2)} %): ${this.describeBad()}`,
        { report: this.toJSON() });
    }
  }

  /** One line per reason: `reason ×count (file:line, …)`. */
  describeBad(): string {
    return this.badTotal === 0 ? 'no bad rows' : describeReasons(Object.fromEntries(this.bad));
  }

  toJSON(): ReadReportJson {
    return {
      files: this.files.map((f) => ({ ...f })), rows: this.rows, kept: this.kept, blankLines: this.blankLines, badRows: this.badTotal,
      bad: copyReasons(this.bad), warnings: copyReasons(this.warned),
    };
  }
}

function copyReasons(m: Map<string, BadReason>): Record<string, BadReason> {
  return Object.fromEntries([...m].map(([k, v]) => [k, { count: v.count, first: v.first.slice() }]));
}

/** `reason ×count (file:line, …)` per reason, joined by `; ` (bad rows or warnings of a report). */
export function describeReasons(reasons: Record<string, BadReason>): string {
  return Object.entries(reasons).map(([reason, r]) => `${reason} ×${r.count} (${r.first.join(', ')}${r.count > r.first.length ? ', …' : ''})`).join('; ');
}

/** A read in lines: rows read, kept and bad (by reason, with their first lines), then any warnings. */
export function reportLines(r: ReadReportJson): string[] {
  const lines = [`rows read ${r.rows}, kept ${r.kept}, bad ${r.badRows}${r.badRows ? `: ${describeReasons(r.bad)}` : ''}${r.blankLines ? `; ${r.blankLines} blank lines` : ''}`];
  if (r.warnings && Object.keys(r.warnings).length > 0) lines.push(`WARNING: ${describeReasons(r.warnings)}`);
  return lines;
}
