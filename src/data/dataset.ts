/**
 * The in-memory dataset the trainer and the evaluation read: users and items as dense indices
 * (their string ids in two vocabularies), the click log as parallel typed columns sorted by time,
 * and per-user (and per-item) feature columns described by field name and type. Every reader —
 * the generic schema-driven one, the MovieLens and Globo.com adapters, the synthetic generator —
 * produces this one shape, so training code never knows where the data came from.
 */
import { RalmError } from '../util/errors.js';
import { describeColumn, type FeatureColumn } from './features.js';
import { Growable } from './growable.js';
import type { ReadReportJson } from './report.js';
import type { FieldType } from './schema.js';
import type { Vocabulary } from './vocabulary.js';

/** Parallel columns, one entry per row of the log, ascending by `ts` (ties keep input order). */
export interface Clicks {
  user: Uint32Array;
  item: Uint32Array;
  /** Epoch milliseconds. */
  ts: Float64Array;
  /** 1 = click; 0 = a labelled non-click (only when the source has labels and keeps negatives). */
  label: Uint8Array;
}

/**
 * The evaluation's compact view of a log: clicks only, users and items as dense indices into
 * their string ids, every user and item with at least one click.
 */
export interface ClickLog {
  name: string;
  userIds: string[];
  itemIds: string[];
  /** Per click: user index, item index, time (epoch ms). */
  user: Uint32Array;
  item: Uint32Array;
  ts: Float64Array;
}

/** How a ClickLog names itself and its ids: each prefix is prepended to every user or item id. */
export interface ClickLogNaming {
  /** Default: the dataset's name. */
  name?: string;
  userPrefix?: string;
  itemPrefix?: string;
}

export interface FieldInfo {
  name: string;
  type: FieldType;
  /** Categorical fields: number of distinct values (ids 0..vocabulary−1; −1 is "missing"). */
  vocabulary?: number;
  /** True when the field's values are item ids of this dataset (e.g. recently clicked items), so an embedding can be shared. */
  itemIds?: boolean;
}

export interface DatasetInit {
  name: string;
  users: Vocabulary;
  items: Vocabulary;
  clicks: Clicks;
  userFields: FeatureColumn[];
  itemFields: FeatureColumn[];
  /**
   * User features were computed from rows strictly before this time (epoch ms): a temporal split
   * whose cut is earlier would leak test-period behaviour into training features. Infinity: from
   * the whole log. null: the features come from a static table with no time attached.
   */
  featuresAsOf: number | null;
  /**
   * User fields of item ids read from a table with no time: history of unknown date, which a
   * temporal split cannot check (it refuses them unless the leakage is allowed).
   */
  untimedItemFields?: string[];
  report: ReadReportJson;
  /** Decisions the reader took that a user of the data should know (e.g. how a value was chosen). */
  notes?: string[];
}

export interface DatasetSummary {
  name: string;
  users: number;
  items: number;
  clicks: number;
  positives: number;
  firstClick: string | null;
  lastClick: string | null;
  featuresAsOf: string | null;
  untimedItemFields: string[];
  userFields: ReturnType<typeof describeColumn>[];
  itemFields: ReturnType<typeof describeColumn>[];
  report: ReadReportJson;
  notes: string[];
}

export class Dataset {
  readonly name: string;
  readonly users: Vocabulary;
  readonly items: Vocabulary;
  readonly clicks: Clicks;
  readonly userFields: FeatureColumn[];
  readonly itemFields: FeatureColumn[];
  readonly featuresAsOf: number | null;
  readonly untimedItemFields: string[];
  readonly report: ReadReportJson;
  readonly notes: string[];
  /** The field layout the trainer builds its embedding tables from. */
  readonly schema: { user: FieldInfo[]; item: FieldInfo[] };

  constructor(init: DatasetInit) {
    this.name = init.name;
    this.users = init.users;
    this.items = init.items;
    this.clicks = init.clicks;
    this.userFields = init.userFields;
    this.itemFields = init.itemFields;
    this.featuresAsOf = init.featuresAsOf;
    this.untimedItemFields = init.untimedItemFields ?? [];
    this.report = init.report;
    this.notes = init.notes ?? [];
    this.validate();
    const info = (c: FeatureColumn): FieldInfo => (c.type === 'continuous'
      ? { name: c.name, type: c.type }
      : { name: c.name, type: c.type, vocabulary: c.vocab.size, ...(c.vocab === this.items ? { itemIds: true } : {}) });
    this.schema = { user: this.userFields.map(info), item: this.itemFields.map(info) };
  }

  get clickCount(): number {
    return this.clicks.ts.length;
  }

  userField(name: string): FeatureColumn {
    const c = this.userFields.find((f) => f.name === name);
    if (!c) throw new RalmError('RALM_ERR_VALIDATION', `${this.name}: no user field "${name}" (fields: ${this.userFields.map((f) => f.name).join(', ') || 'none'})`);
    return c;
  }

  itemField(name: string): FeatureColumn {
    const c = this.itemFields.find((f) => f.name === name);
    if (!c) throw new RalmError('RALM_ERR_VALIDATION', `${this.name}: no item field "${name}" (fields: ${this.itemFields.map((f) => f.name).join(', ') || 'none'})`);
    return c;
  }

  /**
   * The positive rows as the evaluation's ClickLog, in time order. Users and items without a
   * click are left out and the rest renumbered in vocabulary order (first appearance in the
   * source), since the evaluation samples users and items by index.
   */
  toClickLog(naming: ClickLogNaming = {}): ClickLog {
    const { user, item, ts, label } = this.clicks;
    const userIndex = new Int32Array(this.users.size).fill(-1);
    const itemIndex = new Int32Array(this.items.size).fill(-1);
    let n = 0;
    for (let j = 0; j < label.length; j++) {
      if (label[j] === 0) continue;
      userIndex[user[j]] = 0;
      itemIndex[item[j]] = 0;
      n++;
    }
    const renumber = (index: Int32Array, vocab: Vocabulary, prefix: string): string[] => {
      const ids: string[] = [];
      for (let v = 0; v < index.length; v++) if (index[v] === 0) index[v] = ids.push(prefix + vocab.value(v)) - 1;
      return ids;
    };
    const userIds = renumber(userIndex, this.users, naming.userPrefix ?? '');
    const itemIds = renumber(itemIndex, this.items, naming.itemPrefix ?? '');
    const out = { user: new Uint32Array(n), item: new Uint32Array(n), ts: new Float64Array(n) };
    for (let j = 0, k = 0; j < label.length; j++) {
      if (label[j] === 0) continue;
      out.user[k] = userIndex[user[j]];
      out.item[k] = itemIndex[item[j]];
      out.ts[k++] = ts[j];
    }
    return { name: naming.name ?? this.name, userIds, itemIds, ...out };
  }

  summary(): DatasetSummary {
    const n = this.clickCount;
    let positives = 0;
    for (let j = 0; j < n; j++) positives += this.clicks.label[j];
    const iso = (t: number): string => new Date(t).toISOString();
    return {
      name: this.name, users: this.users.size, items: this.items.size, clicks: n, positives,
      firstClick: n ? iso(this.clicks.ts[0]) : null, lastClick: n ? iso(this.clicks.ts[n - 1]) : null,
      featuresAsOf: this.featuresAsOf === null ? null : Number.isFinite(this.featuresAsOf) ? iso(this.featuresAsOf) : 'whole log',
      untimedItemFields: this.untimedItemFields,
      userFields: this.userFields.map(describeColumn), itemFields: this.itemFields.map(describeColumn),
      report: this.report, notes: this.notes,
    };
  }

  /** The invariants the trainer relies on; a reader bug should fail here, not deep inside training. */
  private validate(): void {
    const { user, item, ts, label } = this.clicks;
    const n = ts.length;
    const bad = (what: string): never => {
      throw new RalmError('RALM_ERR_VALIDATION', `${this.name}: ${what}`);
    };
    if (user.length !== n || item.length !== n || label.length !== n) bad('click columns differ in length');
    for (let j = 0; j < n; j++) {
      if (user[j] >= this.users.size || item[j] >= this.items.size) bad(`click ${j} refers to a user or item out of range`);
      if (!Number.isFinite(ts[j])) bad(`click ${j} has a non-finite time`);
      if (j > 0 && ts[j] < ts[j - 1]) bad(`clicks are not sorted by time at ${j}`);
    }
    const rows = (c: FeatureColumn): number => (c.type === 'multi' ? c.offsets.length - 1 : c.type === 'single' ? c.ids.length : c.values.length);
    for (const c of this.userFields) if (rows(c) !== this.users.size) bad(`user field ${c.name} has ${rows(c)} rows for ${this.users.size} users`);
    for (const c of this.itemFields) if (rows(c) !== this.items.size) bad(`item field ${c.name} has ${rows(c)} rows for ${this.items.size} items`);
  }
}

/** Accumulates click rows in input order and returns them sorted by time (stable). */
export class ClickBuilder {
  private readonly user = new Growable(Uint32Array, 1 << 16);
  private readonly item = new Growable(Uint32Array, 1 << 16);
  private readonly ts = new Growable(Float64Array, 1 << 16);
  private readonly label = new Growable(Uint8Array, 1 << 16);

  get length(): number {
    return this.ts.length;
  }

  push(user: number, item: number, ts: number, label = 1): void {
    this.user.push(user);
    this.item.push(item);
    this.ts.push(ts);
    this.label.push(label);
  }

  finish(): Clicks {
    const c: Clicks = { user: this.user.finish(), item: this.item.finish(), ts: this.ts.finish(), label: this.label.finish() };
    return sortByTime(c);
  }
}

/** Each item's clickers from (user, item) pairs, in the pairs' order (distinct and in time order when the pairs are). */
export function clickersByItem(pairs: { user: ArrayLike<number>; item: ArrayLike<number> }): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (let j = 0; j < pairs.user.length; j++) {
    let l = out.get(pairs.item[j]);
    if (!l) out.set(pairs.item[j], (l = []));
    l.push(pairs.user[j]);
  }
  return out;
}

/** Sorts click columns by time, ties in their current order; returns the input when already sorted. */
export function sortByTime(c: Clicks): Clicks {
  const n = c.ts.length;
  let sorted = true;
  for (let j = 1; j < n && sorted; j++) sorted = c.ts[j] >= c.ts[j - 1];
  if (sorted) return c;
  const order = new Uint32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  const ts = c.ts;
  order.sort((a, b) => ts[a] - ts[b] || a - b);
  const out: Clicks = { user: new Uint32Array(n), item: new Uint32Array(n), ts: new Float64Array(n), label: new Uint8Array(n) };
  for (let j = 0; j < n; j++) {
    const o = order[j];
    out.user[j] = c.user[o];
    out.item[j] = c.item[o];
    out.ts[j] = ts[o];
    out.label[j] = c.label[o];
  }
  return out;
}
