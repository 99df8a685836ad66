/**
 * Click logs of the evaluation datasets, held compactly: users and items as dense indices,
 * one entry per click. Readers for MovieLens (ratings ≥ 4 count as clicks) and the Globo.com
 * news clicks (hourly CSV files, gzipped or not).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RalmError } from '../util/errors.js';
import type { ClickLog } from './dataset.js';

export type { ClickLog };

class Indexer {
  readonly ids: string[] = [];
  private readonly map = new Map<string, number>();
  of(id: string): number {
    let i = this.map.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.map.set(id, i);
    }
    return i;
  }
}

class Growable {
  user = new Uint32Array(1 << 16);
  item = new Uint32Array(1 << 16);
  ts = new Float64Array(1 << 16);
  n = 0;
  push(u: number, i: number, t: number): void {
    if (this.n === this.user.length) {
      const grow = <T extends Uint32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.user = grow(this.user);
      this.item = grow(this.item);
      this.ts = grow(this.ts);
    }
    this.user[this.n] = u;
    this.item[this.n] = i;
    this.ts[this.n] = t;
    this.n++;
  }
}

function header(line: string, file: string, want: string[]): number[] {
  const cols = line.trim().split(',');
  return want.map((name) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new RalmError('RALM_ERR_VALIDATION', `${file}: column "${name}" missing from the header (got ${cols.join(',')})`);
    return i;
  });
}

/** MovieLens (ml-latest-small layout): ratings.csv, a rating of 4 or more is a click. */
export function readMovieLens(dir: string): ClickLog {
  const file = join(dir, 'ratings.csv');
  if (!existsSync(file)) throw new RalmError('RALM_ERR_VALIDATION', `no MovieLens ratings at ${file} (expected ratings.csv: userId,movieId,rating,timestamp)`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const [cu, ci, cr, ct] = header(lines[0], 'ratings.csv', ['userId', 'movieId', 'rating', 'timestamp']);
  const users = new Indexer();
  const items = new Indexer();
  const g = new Growable();
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l].trim();
    if (!line) continue;
    const c = line.split(',');
    const rating = Number(c[cr]);
    const ts = Number(c[ct]) * 1000;
    if (!c[cu] || !c[ci] || !Number.isFinite(rating) || !Number.isFinite(ts)) throw new RalmError('RALM_ERR_VALIDATION', `ratings.csv:${l + 1}: malformed row ${JSON.stringify(line)}`);
    if (rating < 4) continue;
    g.push(users.of(`u${c[cu]}`), items.of(`m${c[ci]}`), ts);
  }
  return { name: 'ml-latest-small', userIds: users.ids, itemIds: items.ids, user: g.user.slice(0, g.n), item: g.item.slice(0, g.n), ts: g.ts.slice(0, g.n) };
}

/** Globo.com news clicks: clicks/clicks_hour_NNN.csv(.gz), the first `hours` files in order. */
export function readGlobo(dir: string, hours?: number): ClickLog {
  const clickDir = join(dir, 'clicks');
  if (!existsSync(clickDir)) {
    throw new RalmError('RALM_ERR_VALIDATION', `no Globo.com click files at ${clickDir} (expected clicks/clicks_hour_NNN.csv.gz; see the dataset's PROVENANCE.md)`);
  }
  let files = readdirSync(clickDir).filter((f) => /^clicks_hour_\d+\.csv(\.gz)?$/.test(f)).sort();
  if (hours !== undefined) files = files.slice(0, hours);
  const users = new Indexer();
  const items = new Indexer();
  const g = new Growable();
  for (const f of files) {
    const raw = readFileSync(join(clickDir, f));
    const lines = (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8').split('\n');
    const [cu, ca, ct] = header(lines[0], f, ['user_id', 'click_article_id', 'click_timestamp']);
    for (let l = 1; l < lines.length; l++) {
      if (!lines[l]) continue;
      const c = lines[l].split(',');
      const ts = Number(c[ct]);
      if (!c[cu] || !c[ca] || !Number.isFinite(ts)) throw new RalmError('RALM_ERR_VALIDATION', `${f}:${l + 1}: malformed row`);
      g.push(users.of(`u${c[cu]}`), items.of(`a${c[ca]}`), ts);
    }
  }
  return { name: 'globo-news', userIds: users.ids, itemIds: items.ids, user: g.user.slice(0, g.n), item: g.item.slice(0, g.n), ts: g.ts.slice(0, g.n) };
}
