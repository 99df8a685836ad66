/**
 * Feature tables of the generic format. An item table, or a user table without a time column,
 * holds one row per id: its values are taken as known before any cut. A user table with a time
 * column (`"timestamp": {"column", "unit"}`) holds dated rows, each a user's values from that time
 * on, and a user's features as of a time are their latest row strictly before it, so a split at
 * that time reads what was known then. Values only rows after the cut hold never enter a
 * vocabulary or a min-max range.
 */
import { columnIndex, delimiterFor, readDelimited, type TextEncoding } from './delimited.js';
import { FeatureTableBuilder } from './features.js';
import { describeUnit, parseTimestamp } from './cells.js';
import { Growable } from './growable.js';
import type { ReadReport } from './report.js';
import type { TableSpec } from './schema.js';
import type { Vocabulary } from './vocabulary.js';

/** The vocabularies a table's fields share: item-id fields take the dataset's items. */
export function sharedVocabularies(spec: TableSpec, items: Vocabulary): Record<string, Vocabulary> {
  return Object.fromEntries(spec.fields.filter((f) => f.itemIds).map((f) => [f.name, items]));
}

/** Dated rows held until the cut of each user is known; `pick` then fills the builder. */
export class DatedRows {
  private readonly row = new Growable(Uint32Array);
  private readonly ts = new Growable(Float64Array);
  private readonly cells: string[][] = [];

  add(row: number, ts: number, cells: string[]): void {
    this.row.push(row);
    this.ts.push(ts);
    this.cells.push(cells);
  }

  /**
   * Sets each row's values from its latest dated row strictly before `asOf(row)`, in file order
   * of the chosen rows (so vocabulary ids follow first appearance). Returns how many rows had a
   * dated row before their time and how many dated rows were left unused because they came later.
   */
  pick(builder: FeatureTableBuilder, asOf: (row: number) => number): { users: number; later: number } {
    const best = new Map<number, number>();
    let later = 0;
    for (let j = 0; j < this.cells.length; j++) {
      const r = this.row.get(j);
      const t = this.ts.get(j);
      if (!(t < asOf(r))) {
        later++;
        continue;
      }
      const b = best.get(r);
      if (b === undefined || t > this.ts.get(b)) best.set(r, j);
    }
    const chosen = [...best.values()].sort((a, b) => a - b);
    for (const j of chosen) builder.setRow(this.row.get(j), this.cells[j]);
    return { users: chosen.length, later };
  }
}

/**
 * Reads a feature table into `builder` (undated) or into the returned DatedRows (dated user
 * tables). Row ids are added to `rows` in order of appearance. Bad rows are counted in `report`:
 * an empty key, a continuous cell that is not a number, a bad time, a repeated key (or, dated,
 * a repeated key and time); the first row is kept.
 */
export async function readTable(path: string, spec: TableSpec, encoding: TextEncoding, rows: Vocabulary, builder: FeatureTableBuilder, report: ReadReport): Promise<DatedRows | null> {
  const dated = spec.timestamp ? new DatedRows() : null;
  const time = spec.timestamp;
  const seen = new Set<number>();
  const seenAt = new Set<string>();
  await readDelimited(path, report, (header) => {
    const key = columnIndex(path, header, spec.key, 'the key');
    const ct = time ? columnIndex(path, header, time.column, 'the row time') : -1;
    const cols = spec.fields.map((f) => columnIndex(path, header, f.column, `field ${f.name}`));
    return (fields, line) => {
      const id = fields[key].trim();
      if (id === '') return report.reject(`empty ${spec.key}`, path, line);
      const cells = new Array<string>(cols.length);
      for (let f = 0; f < cols.length; f++) {
        cells[f] = fields[cols[f]];
        if (spec.fields[f].type === 'continuous' && FeatureTableBuilder.parseNumber(cells[f]) === null) return report.reject(`field ${spec.fields[f].name}: not a number`, path, line);
      }
      let ts = NaN;
      if (time) {
        ts = parseTimestamp(fields[ct], time.unit);
        if (!Number.isFinite(ts)) return report.reject(`bad ${time.column} (expected ${describeUnit(time.unit)})`, path, line);
      }
      const row = rows.add(id);
      if (dated) {
        const at = `${row}\u0000${ts}`;
        if (seenAt.has(at)) return report.reject(`duplicate ${spec.key} and ${time?.column} (the first row is kept)`, path, line);
        seenAt.add(at);
        dated.add(row, ts, cells);
      } else {
        if (seen.has(row)) return report.reject(`duplicate ${spec.key} (the first row is kept)`, path, line);
        seen.add(row);
        builder.setRow(row, cells);
      }
      report.kept++;
    };
  }, { delimiter: delimiterFor(path, spec.format), encoding });
  return dated;
}
