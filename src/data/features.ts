/**
 * Feature columns in the layout the stage-1 trainer consumes, one column per field, one row per
 * user (or item) index:
 *   single-valued  → Int32Array of vocabulary ids, −1 where the value is missing;
 *   multi-valued   → CSR: `offsets` (rows + 1) into `ids`, each row's values distinct, in first-seen order;
 *   continuous     → Float32Array min-max scaled to [0, 1], NaN where missing, with the raw min and max
 *                    kept so serving can scale a new user's value the same way.
 * A constant continuous field (max = min) scales to 0 everywhere.
 */
import { RalmError } from '../util/errors.js';
import type { FieldSpec, FieldType } from './schema.js';
import { Growable } from './growable.js';
import { Vocabulary } from './vocabulary.js';

export interface SingleColumn {
  name: string;
  type: 'single';
  vocab: Vocabulary;
  ids: Int32Array;
}

export interface MultiColumn {
  name: string;
  type: 'multi';
  vocab: Vocabulary;
  offsets: Uint32Array;
  ids: Int32Array;
}

export interface ContinuousColumn {
  name: string;
  type: 'continuous';
  /** Scaled to [0, 1]; NaN where the row has no value. */
  values: Float32Array;
  /** Raw minimum and maximum over the rows that have a value (NaN when none has). */
  min: number;
  max: number;
}

export type FeatureColumn = SingleColumn | MultiColumn | ContinuousColumn;

/** Min-max scaling as the columns use it: (x − min) / (max − min), 0 when max = min, NaN stays NaN. */
export function minMaxScale(raw: ArrayLike<number>): { values: Float32Array; min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < raw.length; i++) {
    const x = raw[i];
    if (Number.isNaN(x)) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const values = new Float32Array(raw.length);
  if (min > max) {
    values.fill(NaN);
    return { values, min: NaN, max: NaN };
  }
  const span = max - min;
  for (let i = 0; i < raw.length; i++) values[i] = span > 0 ? (raw[i] - min) / span : Number.isNaN(raw[i]) ? NaN : 0;
  return { values, min, max };
}

/** The values of row `r` of a multi-valued column (a view, not a copy). */
export function rowValues(col: MultiColumn, r: number): Int32Array {
  return col.ids.subarray(col.offsets[r], col.offsets[r + 1]);
}

/** Builds a CSR column from per-row id lists (undefined = no values). */
export function toCsr(rows: number, lists: ReadonlyArray<ArrayLike<number> | undefined>): { offsets: Uint32Array; ids: Int32Array } {
  const offsets = new Uint32Array(rows + 1);
  for (let r = 0; r < rows; r++) offsets[r + 1] = offsets[r] + (lists[r]?.length ?? 0);
  const ids = new Int32Array(offsets[rows]);
  for (let r = 0; r < rows; r++) {
    const l = lists[r];
    if (l) for (let j = 0; j < l.length; j++) ids[offsets[r] + j] = l[j];
  }
  return { offsets, ids };
}

/**
 * Collects a table's cells by row index while rows are still being numbered (the users of a
 * click log get their indices as they appear), then packs the typed columns once the row count
 * is known. Cells are parsed here, so every field type parses the same way in every reader.
 */
export class FeatureTableBuilder {
  readonly fields: FieldSpec[];
  private readonly vocabs: Array<Vocabulary | null>;
  private readonly single: Array<Growable<Int32Array>>;
  private readonly singleRow: Array<Growable<Uint32Array>>;
  private readonly multi: Array<Array<number[] | undefined>>;
  private readonly cont: Array<Growable<Float64Array>>;
  private readonly contRow: Array<Growable<Uint32Array>>;

  constructor(fields: FieldSpec[], vocabularies: Record<string, Vocabulary> = {}) {
    this.fields = fields;
    this.vocabs = fields.map((f) => (f.type === 'continuous' ? null : vocabularies[f.name] ?? new Vocabulary(f.name)));
    this.single = fields.map(() => new Growable(Int32Array));
    this.singleRow = fields.map(() => new Growable(Uint32Array));
    this.multi = fields.map(() => []);
    this.cont = fields.map(() => new Growable(Float64Array));
    this.contRow = fields.map(() => new Growable(Uint32Array));
  }

  /**
   * Parses a continuous cell: empty means missing; anything else must be a finite number.
   * Returns null for a bad cell so the reader can reject the row before anything is stored.
   */
  static parseNumber(cell: string): number | null {
    const t = cell.trim();
    if (t === '') return NaN;
    const x = Number(t);
    return Number.isFinite(x) ? x : null;
  }

  /** Stores one row's cells (`cells[f]` for field f, already checked with parseNumber for continuous fields). */
  setRow(row: number, cells: string[]): void {
    for (let f = 0; f < this.fields.length; f++) {
      const spec = this.fields[f];
      const cell = cells[f].trim();
      if (spec.type === 'single') {
        if (cell !== '') this.setSingle(f, row, cell);
      } else if (spec.type === 'multi') {
        if (cell !== '') this.setMulti(f, row, cell.split(spec.separator));
      } else {
        this.setContinuous(f, row, FeatureTableBuilder.parseNumber(cell) ?? NaN);
      }
    }
  }

  setSingle(f: number, row: number, value: string): void {
    this.singleRow[f].push(row);
    this.single[f].push((this.vocabs[f] as Vocabulary).add(value));
  }

  /** Adds values to a multi-valued row: blanks skipped, duplicates dropped, at most maxValues kept. */
  setMulti(f: number, row: number, values: Iterable<string>): void {
    const vocab = this.vocabs[f] as Vocabulary;
    const max = this.fields[f].maxValues;
    let list = this.multi[f][row];
    if (!list) this.multi[f][row] = list = [];
    for (const raw of values) {
      if (list.length >= max) break;
      const v = raw.trim();
      if (v === '') continue;
      const id = vocab.add(v);
      if (!list.includes(id)) list.push(id);
    }
  }

  setContinuous(f: number, row: number, x: number): void {
    if (Number.isNaN(x)) return;
    this.contRow[f].push(row);
    this.cont[f].push(x);
  }

  /** Packs the columns for `rows` rows; rows never set are missing. */
  finish(rows: number): FeatureColumn[] {
    return this.fields.map((spec, f): FeatureColumn => {
      if (spec.type === 'single') {
        const ids = new Int32Array(rows).fill(-1);
        const r = this.singleRow[f];
        for (let j = 0; j < r.length; j++) ids[r.get(j)] = this.single[f].get(j);
        return { name: spec.name, type: 'single', vocab: this.vocabs[f] as Vocabulary, ids };
      }
      if (spec.type === 'multi') {
        if (this.multi[f].length > rows) throw new RalmError('RALM_ERR_VALIDATION', `field ${spec.name}: row ${this.multi[f].length - 1} beyond the table's ${rows} rows`);
        return { name: spec.name, type: 'multi', vocab: this.vocabs[f] as Vocabulary, ...toCsr(rows, this.multi[f]) };
      }
      const raw = new Float64Array(rows).fill(NaN);
      const r = this.contRow[f];
      for (let j = 0; j < r.length; j++) raw[r.get(j)] = this.cont[f].get(j);
      return { name: spec.name, type: 'continuous', ...minMaxScale(raw) };
    });
  }
}

/** A short description of a column for reports: type, vocabulary size, how many rows have a value. */
export function describeColumn(col: FeatureColumn): { name: string; type: FieldType; vocabulary?: number; rowsWithValue: number; meanValues?: number; min?: number; max?: number } {
  const rows = col.type === 'multi' ? col.offsets.length - 1 : col.type === 'single' ? col.ids.length : col.values.length;
  let withValue = 0;
  if (col.type === 'single') for (let r = 0; r < rows; r++) withValue += col.ids[r] >= 0 ? 1 : 0;
  else if (col.type === 'multi') for (let r = 0; r < rows; r++) withValue += col.offsets[r + 1] > col.offsets[r] ? 1 : 0;
  else for (let r = 0; r < rows; r++) withValue += Number.isNaN(col.values[r]) ? 0 : 1;
  if (col.type === 'continuous') return { name: col.name, type: col.type, rowsWithValue: withValue, min: col.min, max: col.max };
  const base = { name: col.name, type: col.type, vocabulary: col.vocab.size, rowsWithValue: withValue };
  return col.type === 'multi' ? { ...base, meanValues: withValue === 0 ? 0 : col.ids.length / withValue } : base;
}
