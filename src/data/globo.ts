/**
 * The Globo.com news clicks (clicks/clicks_hour_NNN.csv[.gz], one file per session-start hour)
 * as a Dataset. Files are read one at a time, streamed, in hour order; rows are sorted by click
 * time at the end (a session that starts in one hour can click in the next).
 *
 * The click context columns become single-valued user fields: environment, deviceGroup, os,
 * country, region, referrerType. They are per click, but ~93–99 % of users show one value per
 * column, so each user gets one value from their rows strictly before `featuresAsOf`: by default
 * the most frequent (ties: the value seen most recently), or with `userValue: 'latest'` the value
 * of their latest click. Plus activity (continuous): log(1 + clicks so far), and recent (multi):
 * the user's last `recentItems` distinct articles before `featuresAsOf`, newest first, whose
 * values are the dataset's item ids. There are no item features: the article metadata is not
 * part of this copy of the dataset.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RalmError } from '../util/errors.js';
import { readDelimited, columnIndex } from './delimited.js';
import { ClickBuilder, Dataset } from './dataset.js';
import { FeatureTableBuilder } from './features.js';
import { Growable } from './growable.js';
import { ReadReport, type BadRowLimits } from './report.js';
import { fieldSpec } from './schema.js';
import { splitPerUser } from './split.js';
import { Vocabulary } from './vocabulary.js';

export interface GloboOptions extends BadRowLimits {
  /** Read only the first N hourly files (in hour order). Default: all. */
  hours?: number;
  /** User fields use rows strictly before this time (epoch ms). Default: the whole log. */
  featuresAsOf?: number;
  /** How a user's single value is chosen from their clicks. Default 'most-frequent'. */
  userValue?: 'most-frequent' | 'latest';
  /** Articles kept in the `recent` user field. Default 20. */
  recentItems?: number;
  /**
   * A per-user temporal split with this training share (see `splitPerUser`): each user's fields
   * from the rows before their own cut, test rows shifted past the last training row.
   */
  perUserSplit?: number;
  /** Called after each file with its name and the rows so far (progress for long reads). */
  onFile?: (file: string, rows: number) => void;
}

/** Field name → column of the click files. */
export const GLOBO_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['environment', 'click_environment'], ['deviceGroup', 'click_deviceGroup'], ['os', 'click_os'],
  ['country', 'click_country'], ['region', 'click_region'], ['referrerType', 'click_referrer_type'],
];

/** The hourly click files under `dir` (or `dir/clicks`), in hour order. */
export function globoFiles(dir: string): string[] {
  const clickDir = existsSync(join(dir, 'clicks')) ? join(dir, 'clicks') : dir;
  const byHour = new Map<number, string>();
  const names = existsSync(clickDir) ? readdirSync(clickDir) : [];
  for (const f of names.sort()) {
    const m = /^clicks_hour_(\d+)\.csv(\.gz)?$/.exec(f);
    if (m && !byHour.has(Number(m[1]))) byHour.set(Number(m[1]), join(clickDir, f));
  }
  if (byHour.size === 0) throw new RalmError('RALM_ERR_VALIDATION', `${dir}: no Globo.com click files (expected clicks/clicks_hour_NNN.csv or .csv.gz)`);
  return [...byHour].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

export async function readGloboDataset(dir: string, opts: GloboOptions = {}): Promise<Dataset> {
  if (opts.perUserSplit !== undefined && opts.featuresAsOf !== undefined) {
    throw new RalmError('RALM_ERR_VALIDATION', 'perUserSplit sets each user\'s features time; do not give featuresAsOf as well', { field: 'featuresAsOf' });
  }
  const asOf = opts.featuresAsOf ?? Infinity;
  const rule = opts.userValue ?? 'most-frequent';
  const report = new ReadReport(opts);
  let files = globoFiles(dir);
  if (opts.hours !== undefined) files = files.slice(0, opts.hours);
  const users = new Vocabulary('users');
  const items = new Vocabulary('items');
  const vocabs = GLOBO_FIELDS.map(([name]) => new Vocabulary(name));
  const clicks = new ClickBuilder();
  // Per row, the user and the six context codes (few distinct values each, so 16 bits are plenty).
  const rowUser = new Growable(Uint32Array, 1 << 20);
  const rowTs = new Growable(Float64Array, 1 << 20);
  const rowItem = new Growable(Uint32Array, 1 << 20);
  const rowField = GLOBO_FIELDS.map(() => new Growable(Uint16Array, 1 << 20));
  for (const path of files) {
    await readDelimited(path, report, (h) => {
      const cu = columnIndex(path, h, 'user_id', 'user');
      const ca = columnIndex(path, h, 'click_article_id', 'article');
      const ct = columnIndex(path, h, 'click_timestamp', 'click time');
      const cf = GLOBO_FIELDS.map(([name, col]) => columnIndex(path, h, col, name));
      return (f, line) => {
        const u = f[cu];
        const a = f[ca];
        if (u === '' || a === '') return report.reject('empty user_id or click_article_id', path, line);
        const ts = Number(f[ct]);
        if (f[ct] === '' || !Number.isFinite(ts)) return report.reject('bad click_timestamp (expected epoch ms)', path, line);
        for (let k = 0; k < cf.length; k++) if (f[cf[k]] === '') return report.reject(`empty ${GLOBO_FIELDS[k][1]}`, path, line);
        const user = users.add(u);
        const item = items.add(a);
        clicks.push(user, item, ts);
        rowItem.push(item);
        rowUser.push(user);
        rowTs.push(ts);
        for (let k = 0; k < cf.length; k++) rowField[k].push(vocabs[k].add(f[cf[k]]));
        report.kept++;
      };
    });
    opts.onFile?.(path, report.rows);
  }
  report.check();

  // Group row indices by user (counting sort), then pick each user's value per field.
  const n = rowUser.length;
  const nu = users.size;
  let log = clicks.finish();
  const userCut = new Float64Array(nu).fill(asOf);
  let splitAt = asOf;
  if (opts.perUserSplit !== undefined) {
    const split = splitPerUser(log, nu, opts.perUserSplit);
    userCut.set(split.userCut);
    log = split.clicks;
    splitAt = split.cut;
  }
  const offsets = new Uint32Array(nu + 1);
  for (let j = 0; j < n; j++) offsets[rowUser.get(j) + 1]++;
  for (let u = 0; u < nu; u++) offsets[u + 1] += offsets[u];
  const byUser = new Uint32Array(n);
  const next = offsets.slice(0, nu);
  for (let j = 0; j < n; j++) byUser[next[rowUser.get(j)]++] = j;

  const recentItems = opts.recentItems ?? 20;
  const RECENT = GLOBO_FIELDS.length + 1;
  const builder = new FeatureTableBuilder(
    [...GLOBO_FIELDS.map(([name]) => fieldSpec(name, 'single')), fieldSpec('activity', 'continuous'), fieldSpec('recent', 'multi', recentItems)],
    { ...Object.fromEntries(GLOBO_FIELDS.map(([name], k) => [name, vocabs[k]])), recent: items });
  const counts = GLOBO_FIELDS.map((_, k) => new Uint32Array(vocabs[k].size));
  const last = GLOBO_FIELDS.map((_, k) => new Float64Array(vocabs[k].size).fill(-Infinity));
  for (let u = 0; u < nu; u++) {
    const lo = offsets[u];
    const hi = offsets[u + 1];
    const asOfU = userCut[u];
    let seen = 0;
    for (let p = lo; p < hi; p++) if (rowTs.get(byUser[p]) < asOfU) seen++;
    builder.setContinuous(GLOBO_FIELDS.length, u, Math.log1p(seen));
    if (seen === 0) continue;
    // The latest distinct articles before asOf, newest first (a user's rows in input order: hour files in order, rows in file order).
    const recent: string[] = [];
    const taken = new Set<number>();
    for (let p = hi - 1; p >= lo && recent.length < recentItems; p--) {
      const j = byUser[p];
      if (rowTs.get(j) >= asOfU) continue;
      const it = rowItem.get(j);
      if (taken.has(it)) continue;
      taken.add(it);
      recent.push(items.value(it));
    }
    if (recent.length) builder.setMulti(RECENT, u, recent);
    for (let k = 0; k < GLOBO_FIELDS.length; k++) {
      const codes = rowField[k];
      const cnt = counts[k];
      const lastTs = last[k];
      for (let p = lo; p < hi; p++) {
        const j = byUser[p];
        const t = rowTs.get(j);
        if (t >= asOfU) continue;
        const v = codes.get(j);
        cnt[v]++;
        if (t > lastTs[v]) lastTs[v] = t;
      }
      let best = -1;
      for (let p = lo; p < hi; p++) {
        const v = codes.get(byUser[p]);
        if (cnt[v] === 0) continue;
        const better = best < 0 || (rule === 'latest'
          ? lastTs[v] > lastTs[best]
          : cnt[v] > cnt[best] || (cnt[v] === cnt[best] && lastTs[v] > lastTs[best]));
        if (better) best = v;
      }
      for (let p = lo; p < hi; p++) {
        const v = codes.get(byUser[p]);
        cnt[v] = 0;
        lastTs[v] = -Infinity;
      }
      builder.setSingle(k, u, vocabs[k].value(best));
    }
  }

  return new Dataset({
    name: 'globo-news', users, items, clicks: log,
    userFields: builder.finish(nu), itemFields: [], featuresAsOf: splitAt, report: report.toJSON(),
    notes: [
      `${files.length} hourly files; every row is a click`,
      `user fields: the ${rule === 'latest' ? 'value of the latest click' : 'most frequent value (ties: the most recent)'} per user over rows before ${opts.perUserSplit !== undefined
        ? `each user's own cut (per-user temporal split: each user's first ${(opts.perUserSplit * 100).toFixed(0)}% of rows are training; test rows are shifted in time past the last training row)`
        : Number.isFinite(asOf) ? new Date(asOf).toISOString() : 'the end of the log'}`,
      'no item fields: the article metadata is not part of this copy of the dataset',
    ],
  });
}
