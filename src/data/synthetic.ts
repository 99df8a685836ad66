/**
 * A synthetic world with planted structure, small enough for tests and the demo and with its
 * ground truth known:
 *   - `topics` latent topics; each item has one topic, a Zipf popularity (weight 1/rank^zipf over a
 *     random ranking, so a long tail), and a release time — a share `newItemRate` of the items
 *     appear during the period instead of at its start;
 *   - each user has a mixture of one to three topics and an activity level (log-normal);
 *   - a click happens at a uniform time; with probability `noise` it goes to any released item by
 *     popularity, otherwise to a released item of a topic drawn from the user's mixture;
 *   - `fields` user fields cycling multi / single / continuous, each carrying the user's topics with
 *     a planted strength ("signal") that falls from 0.9 for the first field to 0 for the last (pure
 *     noise), so an attention merge has something to find; 5 % of cells are missing.
 * Everything follows from `seed`. `writeSynthetic` stores the world in the generic format.
 * `syntheticLog` is a smaller, timeless planted ClickLog for the audience evaluation and stage 2.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { ClickBuilder, Dataset, type ClickLog } from './dataset.js';
import { FeatureTableBuilder } from './features.js';
import { Growable } from './growable.js';
import { lowerBound } from './split.js';
import { fieldSpec, schemaToJson, type DataSchema, type FieldType } from './schema.js';
import { Vocabulary } from './vocabulary.js';

export interface SyntheticOptions {
  seed?: number;
  users?: number;
  items?: number;
  topics?: number;
  /** User feature fields (types cycle multi, single, continuous). */
  fields?: number;
  days?: number;
  /** Mean clicks per user over the whole period. */
  clicksPerUser?: number;
  /** Share of items released during the period rather than at its start, in [0, 1). */
  newItemRate?: number;
  /** Zipf exponent of item popularity. */
  zipf?: number;
  /** Share of clicks that ignore the user's topics. */
  noise?: number;
  /** Start of the period, epoch ms. */
  start?: number;
}

export const SYNTHETIC_DEFAULTS: Required<SyntheticOptions> = {
  seed: 1, users: 2000, items: 1000, topics: 8, fields: 4, days: 14, clicksPerUser: 30, newItemRate: 0.3, zipf: 1, noise: 0.1, start: Date.UTC(2024, 0, 1),
};

export interface SyntheticFieldTruth {
  name: string;
  type: FieldType;
  /** Probability that a value is drawn from the user's topics rather than at random. */
  signal: number;
  /** Categorical fields: topic t owns the values `${prefix}${t·perTopic}` … `${prefix}${(t+1)·perTopic − 1}`. */
  valuesPerTopic?: number;
}

export interface SyntheticTruth {
  options: Required<SyntheticOptions>;
  fields: SyntheticFieldTruth[];
  /** Per user id: topics by decreasing weight, and the weights (summing to 1). */
  users: Record<string, { topics: number[]; weights: number[] }>;
  /** Per item id: topic, release time (epoch ms), popularity weight before normalisation. */
  items: Record<string, { topic: number; release: number; popularity: number }>;
}

export interface SyntheticWorld {
  dataset: Dataset;
  truth: SyntheticTruth;
  /** The raw cells of the feature tables, by user / item index (what writeSynthetic writes). */
  userCells: string[][];
  itemCells: string[][];
}

const FIELD_NAMES = ['interests', 'region', 'age', 'tags', 'device', 'income'];
const TYPES: FieldType[] = ['multi', 'single', 'continuous'];
const DAY = 86_400_000;

function check(o: Required<SyntheticOptions>): void {
  const bad = (name: string, expected: string, v: number): never => {
    throw new RalmError('RALM_ERR_VALIDATION', `${name}: expected ${expected}, got ${v}`, { field: name });
  };
  for (const k of ['users', 'items', 'topics', 'fields', 'days'] as const) if (!Number.isSafeInteger(o[k]) || o[k] < 1) bad(k, 'a positive integer', o[k]);
  if (!(o.clicksPerUser > 0)) bad('clicksPerUser', 'a positive number', o.clicksPerUser);
  if (!(o.newItemRate >= 0 && o.newItemRate < 1)) bad('newItemRate', 'a share in [0, 1)', o.newItemRate);
  if (!(o.zipf >= 0 && Number.isFinite(o.zipf))) bad('zipf', 'a finite exponent ≥ 0', o.zipf);
  if (!(o.noise >= 0 && o.noise <= 1)) bad('noise', 'a share in [0, 1]', o.noise);
  if (!Number.isFinite(o.start)) bad('start', 'a time in epoch ms', o.start);
}

/** Draws from cumulative weights `cum[0..n)` (ascending), returning an index in [0, n). */
function drawCumulative(rng: Rng, cum: Float64Array, n: number): number {
  const x = rng.next() * cum[n - 1];
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A pool of items sorted by release time with cumulative popularity, so "released by t" is a prefix. */
interface Pool { items: Uint32Array; release: Float64Array; cum: Float64Array }

function pool(members: number[], release: Float64Array, weight: Float64Array): Pool {
  const sorted = members.slice().sort((a, b) => release[a] - release[b] || a - b);
  const cum = new Float64Array(sorted.length);
  let s = 0;
  sorted.forEach((i, j) => (cum[j] = s += weight[i]));
  return { items: Uint32Array.from(sorted), release: Float64Array.from(sorted, (i) => release[i]), cum };
}

/** A released item of the pool at time t (integer ms) by popularity, or −1 when none is out yet. */
function drawFrom(rng: Rng, p: Pool, t: number): number {
  const n = lowerBound(p.release, t + 0.5);
  return n === 0 ? -1 : p.items[drawCumulative(rng, p.cum, n)];
}

export function generateSynthetic(options: SyntheticOptions = {}): SyntheticWorld {
  const o: Required<SyntheticOptions> = { ...SYNTHETIC_DEFAULTS, ...options };
  check(o);
  const rng = new Rng(o.seed);
  const T = o.topics;
  const end = o.start + o.days * DAY;

  // Items: topic (every topic gets at least one item when items ≥ topics), Zipf weight, release.
  const itemTopic = new Uint32Array(o.items);
  const weight = new Float64Array(o.items);
  const release = new Float64Array(o.items);
  const rank = Uint32Array.from({ length: o.items }, (_, i) => i);
  for (let i = o.items - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [rank[i], rank[j]] = [rank[j], rank[i]];
  }
  for (let i = 0; i < o.items; i++) {
    itemTopic[i] = i < T ? i : rng.int(T);
    weight[i] = 1 / (rank[i] + 1) ** o.zipf;
    release[i] = rng.next() < o.newItemRate ? o.start + Math.floor(rng.next() * o.days * DAY) : o.start;
  }
  const all = pool(Array.from({ length: o.items }, (_, i) => i), release, weight);
  const byTopic = Array.from({ length: T }, (_, t) => pool(Array.from({ length: o.items }, (_, i) => i).filter((i) => itemTopic[i] === t), release, weight));

  // Users: a mixture of 1–3 topics, heaviest first.
  const mix = Array.from({ length: o.users }, () => {
    const k = Math.min(T, 1 + (rng.next() < 0.5 ? 0 : rng.next() < 0.7 ? 1 : 2));
    const topics: number[] = [];
    while (topics.length < k) {
      const t = rng.int(T);
      if (!topics.includes(t)) topics.push(t);
    }
    const w = topics.map(() => -Math.log(1 - rng.next()));
    const s = w.reduce((a, b) => a + b, 0);
    const pairs = topics.map((t, j) => [t, w[j] / s] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    return { topics: pairs.map((p) => p[0]), weights: pairs.map((p) => p[1]) };
  });
  const pickTopic = (u: number): number => {
    const m = mix[u];
    let x = rng.next();
    for (let j = 0; j < m.topics.length - 1; j++) if ((x -= m.weights[j]) < 0) return m.topics[j];
    return m.topics[m.topics.length - 1];
  };

  // Fields: signal falls from 0.9 (first) to 0 (last).
  const fields: SyntheticFieldTruth[] = Array.from({ length: o.fields }, (_, f) => {
    const type = TYPES[f % 3];
    const signal = o.fields === 1 ? 0.9 : Math.round(0.9 * (1 - f / (o.fields - 1)) * 1000) / 1000;
    return { name: FIELD_NAMES[f] ?? `field${f}`, type, signal, ...(type === 'single' ? { valuesPerTopic: 4 } : type === 'multi' ? { valuesPerTopic: 6 } : {}) };
  });
  const cellsOf = (u: number): string[] => fields.map((fd) => {
    if (rng.next() < 0.05) return '';
    const prefix = fd.type === 'single' ? 'v' : 't';
    const per = fd.valuesPerTopic ?? 1;
    const value = (topic: number): string => `${prefix}${rng.next() < fd.signal ? topic * per + rng.int(per) : rng.int(T * per)}`;
    if (fd.type === 'single') return value(mix[u].topics[0]);
    if (fd.type === 'multi') return Array.from({ length: 1 + rng.int(5) }, () => value(pickTopic(u))).join('|');
    const centre = (mix[u].topics[0] + 0.5) / T;
    const x = 18 + 50 * (rng.next() < fd.signal ? centre : rng.next()) + 2 * rng.normal();
    return x.toFixed(1);
  });
  const rawCells = Array.from({ length: o.users }, (_, u) => cellsOf(u));

  // Clicks.
  const cu: number[] = [];
  const ci: number[] = [];
  const ct: number[] = [];
  for (let u = 0; u < o.users; u++) {
    const count = Math.max(1, Math.round(o.clicksPerUser * Math.exp(0.6 * rng.normal() - 0.18)));
    for (let c = 0; c < count; c++) {
      const t = o.start + Math.floor(rng.next() * (end - o.start));
      let item = rng.next() < o.noise ? -1 : drawFrom(rng, byTopic[pickTopic(u)], t);
      if (item < 0) item = drawFrom(rng, all, t);
      if (item < 0) continue;
      cu.push(u);
      ci.push(item);
      ct.push(t);
    }
  }
  const order = Uint32Array.from(ct, (_, j) => j).sort((a, b) => ct[a] - ct[b] || a - b);

  // The Dataset, numbered exactly as the generic reader numbers the written files: users and
  // items by first appearance in the time-ordered click file, then the rest in table order.
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const clicks = new ClickBuilder();
  for (const j of order) clicks.push(users.add(`u${cu[j]}`), items.add(`i${ci[j]}`), ct[j]);
  for (let u = 0; u < o.users; u++) users.add(`u${u}`);
  for (let i = 0; i < o.items; i++) items.add(`i${i}`);
  const userCells = users.values().map((id) => rawCells[Number(id.slice(1))]);
  const itemCells = items.values().map((id) => {
    const i = Number(id.slice(1));
    return [`c${rng.next() < 0.9 ? itemTopic[i] : rng.int(T)}`];
  });
  const ub = new FeatureTableBuilder(fields.map((f) => fieldSpec(f.name, f.type)));
  userCells.forEach((cells, r) => ub.setRow(r, cells));
  const ib = new FeatureTableBuilder([fieldSpec('category', 'single')]);
  itemCells.forEach((cells, r) => ib.setRow(r, cells));

  const truth: SyntheticTruth = {
    options: o, fields,
    users: Object.fromEntries(mix.map((m, u) => [`u${u}`, m])),
    items: Object.fromEntries(Array.from({ length: o.items }, (_, i) => [`i${i}`, { topic: itemTopic[i], release: release[i], popularity: weight[i] }])),
  };
  const dataset = new Dataset({
    name: 'synthetic', users, items, clicks: clicks.finish(),
    userFields: ub.finish(users.size), itemFields: ib.finish(items.size), featuresAsOf: null,
    report: { files: [], rows: order.length, kept: order.length, blankLines: 0, badRows: 0, bad: {} },
    notes: [`generated with seed ${o.seed}; user fields are static (drawn from the planted topics, not from clicks)`],
  });
  return { dataset, truth, userCells, itemCells };
}

export interface SyntheticLogOptions {
  users?: number;
  items?: number;
  topics?: number;
  clicksPerUser?: number;
  seed?: number;
}

/**
 * A planted click log: users belong to one or two of `topics` taste groups, items to one topic,
 * and a user clicks items of their topics (Zipf popularity within a topic) plus some noise. A
 * click's time is its position in the user's clicks.
 */
export function syntheticLog(o: SyntheticLogOptions = {}): ClickLog {
  const nu = o.users ?? 2000;
  const ni = o.items ?? 400;
  const topics = o.topics ?? 8;
  const per = o.clicksPerUser ?? 20;
  const rng = new Rng(o.seed ?? 1);
  const itemTopic = Array.from({ length: ni }, (_, i) => i % topics);
  const byTopic = Array.from({ length: topics }, (_, t) => itemTopic.flatMap((x, i) => (x === t ? [i] : [])));
  const user = new Growable(Uint32Array, 1 << 16);
  const item = new Growable(Uint32Array, 1 << 16);
  const ts = new Growable(Float64Array, 1 << 16);
  for (let u = 0; u < nu; u++) {
    const mine = [rng.int(topics)];
    if (rng.next() < 0.5) mine.push(rng.int(topics));
    for (let c = 0; c < per; c++) {
      let i: number;
      if (rng.next() < 0.1) i = rng.int(ni);
      else {
        const list = byTopic[mine[rng.int(mine.length)]];
        // Zipf-like: position ~ floor(len · U²)
        i = list[Math.floor(list.length * rng.next() ** 2)];
      }
      user.push(u);
      item.push(i);
      ts.push(c);
    }
  }
  return {
    name: 'synthetic', userIds: Array.from({ length: nu }, (_, u) => `s${u}`), itemIds: Array.from({ length: ni }, (_, i) => `t${itemTopic[i]}-i${i}`),
    user: user.finish(), item: item.finish(), ts: ts.finish(),
  };
}

/** The schema of the files writeSynthetic writes. */
export function syntheticSchema(world: SyntheticWorld): DataSchema {
  return {
    version: 1, name: 'synthetic', encoding: 'utf-8',
    clicks: { path: 'clicks.csv', format: undefined, encoding: undefined, columns: { user: 'user_id', item: 'item_id', timestamp: 'timestamp', label: undefined }, timestamp: 'ms', positiveLabel: 1 },
    userFeatures: { path: 'users.csv', format: undefined, encoding: undefined, key: 'user_id', timestamp: null, fields: world.truth.fields.map((f) => fieldSpec(f.name, f.type)) },
    itemFeatures: { path: 'items.csv', format: undefined, encoding: undefined, key: 'item_id', timestamp: null, fields: [fieldSpec('category', 'single')] },
    history: [],
  };
}

/** Quotes a CSV cell when it needs it. */
export function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Writes clicks.csv, users.csv, items.csv, schema.json and truth.json into `dir`; returns the paths. */
export async function writeSynthetic(world: SyntheticWorld, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const { dataset: ds } = world;
  const schema = syntheticSchema(world);
  const lines = ['user_id,item_id,timestamp'];
  for (let j = 0; j < ds.clickCount; j++) lines.push(`${csvCell(ds.users.value(ds.clicks.user[j]))},${csvCell(ds.items.value(ds.clicks.item[j]))},${ds.clicks.ts[j]}`);
  const table = (key: string, names: string[], ids: Vocabulary, cells: string[][]): string =>
    [[key, ...names].map(csvCell).join(','), ...cells.map((c, r) => [ids.value(r), ...c].map(csvCell).join(','))].join('\n') + '\n';
  const files: Array<[string, string]> = [
    ['clicks.csv', lines.join('\n') + '\n'],
    ['users.csv', table('user_id', world.truth.fields.map((f) => f.name), ds.users, world.userCells)],
    ['items.csv', table('item_id', ['category'], ds.items, world.itemCells)],
    ['schema.json', JSON.stringify(schemaToJson(schema), null, 2) + '\n'],
    ['truth.json', JSON.stringify(world.truth) + '\n'],
  ];
  for (const [name, text] of files) await writeFile(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}
