/**
 * MovieLens (ml-latest-small layout: ratings.csv, movies.csv, tags.csv) as a Dataset.
 *
 * Clicks are ratings of 4 stars or more (the usual implicit-feedback reading; a rating is a
 * watch, a high one a click worth predicting). With `keepNegatives` the lower ratings stay as
 * label-0 rows. MovieLens has no demographics, so the user fields are derived from behaviour,
 * and only from rows strictly before `featuresAsOf`, so a split at that time does not leak:
 *   genres   (multi)      genres of the movies the user rated, most-watched first
 *   tags     (multi)      tags the user applied (lower-cased), most-used first
 *   recent   (multi)      the last `recentItems` movies the user clicked, newest first; its values
 *                         are the dataset's item ids (same vocabulary), so an embedding can be shared
 *   activity (continuous) log(1 + ratings so far)
 * Items: the movies with at least one kept row; fields genres (same vocabulary as the user field)
 * and year (from the title, missing when the title has none).
 */
import { join } from 'node:path';
import { readDelimited, columnIndex } from './delimited.js';
import { ClickBuilder, Dataset } from './dataset.js';
import { RalmError } from '../util/errors.js';
import { FeatureTableBuilder } from './features.js';
import { Growable } from './growable.js';
import { ReadReport, type BadRowLimits } from './report.js';
import { fieldSpec } from './schema.js';
import { splitPerUser } from './split.js';
import { Vocabulary } from './vocabulary.js';

export interface MovieLensOptions extends BadRowLimits {
  /** User fields use rows strictly before this time (epoch ms). Default: the whole log (fine for serving, leaks into any split). */
  featuresAsOf?: number;
  /** Movies kept in the `recent` field. Default 20. */
  recentItems?: number;
  /** A rating at or above this is a click. Default 4. */
  minRating?: number;
  /** Keep lower ratings as label-0 rows. Default false. */
  keepNegatives?: boolean;
  /**
   * A per-user temporal split: each user's earliest `perUserSplit` share of click rows is
   * training, the rest test; user fields come from the rows before each user's own cut. The
   * rows are then ordered training first, so a split at `featuresAsOf` (the first test row's
   * time) is this split: test rows keep their order and spacing but are shifted past the last
   * training row. For MovieLens, whose users rate in one or a few sessions, a single global
   * cut leaves almost no test user with training history; a per-user cut keeps them all.
   */
  perUserSplit?: number;
}

const NO_GENRES = '(no genres listed)';

/** Sorts ids by their count, most frequent first, ties by id. */
function byCount(counts: Map<number, number>): number[] {
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => id);
}

export async function readMovieLensDataset(dir: string, opts: MovieLensOptions = {}): Promise<Dataset> {
  const o = { featuresAsOf: Infinity, recentItems: 20, minRating: 4, keepNegatives: false, ...opts };
  const report = new ReadReport(opts);
  const genres = new Vocabulary('genres');
  const movieGenres = new Map<string, number[]>();
  const movieYear = new Map<string, number>();

  const moviesPath = join(dir, 'movies.csv');
  await readDelimited(moviesPath, report, (h) => {
    const [cm, ct, cg] = [columnIndex(moviesPath, h, 'movieId', 'movie id'), columnIndex(moviesPath, h, 'title', 'title'), columnIndex(moviesPath, h, 'genres', 'genres')];
    return (f, line) => {
      const id = f[cm].trim();
      if (id === '') return report.reject('empty movieId', moviesPath, line);
      if (movieGenres.has(id)) return report.reject('duplicate movieId (the first row is kept)', moviesPath, line);
      movieGenres.set(id, f[cg].split('|').map((g) => g.trim()).filter((g) => g !== '' && g !== NO_GENRES).map((g) => genres.add(g)));
      const year = /\((\d{4})[^()]*\)\s*$/.exec(f[ct]);
      if (year) movieYear.set(id, Number(year[1]));
      report.kept++;
    };
  });

  // All ratings, kept or not: the genre history counts every watched movie.
  const users = new Vocabulary('users');
  const movies = new Vocabulary('movies');
  const rUser = new Growable(Uint32Array, 1 << 17);
  const rMovie = new Growable(Uint32Array, 1 << 17);
  const rTs = new Growable(Float64Array, 1 << 17);
  const rRating = new Growable(Float32Array, 1 << 17);
  let unknownMovies = 0;
  const ratingsPath = join(dir, 'ratings.csv');
  await readDelimited(ratingsPath, report, (h) => {
    const [cu, cm, cr, ct] = (['userId', 'movieId', 'rating', 'timestamp'] as const).map((c) => columnIndex(ratingsPath, h, c, c));
    return (f, line) => {
      const u = f[cu].trim();
      const m = f[cm].trim();
      if (u === '' || m === '') return report.reject('empty userId or movieId', ratingsPath, line);
      const rating = Number(f[cr]);
      if (f[cr].trim() === '' || !Number.isFinite(rating)) return report.reject('bad rating', ratingsPath, line);
      const ts = Number(f[ct]) * 1000;
      if (f[ct].trim() === '' || !Number.isFinite(ts)) return report.reject('bad timestamp (expected epoch seconds)', ratingsPath, line);
      if (!movieGenres.has(m)) unknownMovies++;
      rUser.push(users.add(u));
      rMovie.push(movies.add(m));
      rTs.push(ts);
      rRating.push(rating);
      report.kept++;
    };
  });

  const tagUser = new Growable(Uint32Array);
  const tagId = new Growable(Uint32Array);
  const tagTs = new Growable(Float64Array);
  // Every tag string read; the field's vocabulary holds only the tags applied before featuresAsOf.
  const allTags = new Vocabulary('all tags');
  const tagsPath = join(dir, 'tags.csv');
  await readDelimited(tagsPath, report, (h) => {
    const [cu, ct, cs] = [columnIndex(tagsPath, h, 'userId', 'user id'), columnIndex(tagsPath, h, 'tag', 'tag'), columnIndex(tagsPath, h, 'timestamp', 'timestamp')];
    return (f, line) => {
      const u = f[cu].trim();
      const tag = f[ct].trim().toLowerCase();
      const ts = Number(f[cs]) * 1000;
      if (u === '' || tag === '') return report.reject('empty userId or tag', tagsPath, line);
      if (f[cs].trim() === '' || !Number.isFinite(ts)) return report.reject('bad timestamp (expected epoch seconds)', tagsPath, line);
      tagUser.push(users.add(u));
      tagId.push(allTags.add(tag));
      tagTs.push(ts);
      report.kept++;
    };
  });
  report.check();

  // Clicks, and the items (kept movies) numbered by first appearance in ratings.csv.
  const items = new Vocabulary('items');
  const itemOfMovie = new Int32Array(movies.size).fill(-1);
  const clicks = new ClickBuilder();
  const n = rTs.length;
  for (let j = 0; j < n; j++) {
    const positive = rRating.get(j) >= o.minRating;
    if (!positive && !o.keepNegatives) continue;
    const m = rMovie.get(j);
    if (itemOfMovie[m] < 0) itemOfMovie[m] = items.add(movies.value(m));
    clicks.push(rUser.get(j), itemOfMovie[m], rTs.get(j), positive ? 1 : 0);
  }

  // Per-user cuts: the time of each user's first test row (Infinity: all training).
  const userCut = new Float64Array(users.size).fill(o.featuresAsOf);
  let finished = clicks.finish();
  let splitAt = o.featuresAsOf;
  if (opts.perUserSplit !== undefined) {
    const share = opts.perUserSplit;
    if (!(share > 0 && share < 1)) throw new RalmError('RALM_ERR_VALIDATION', `perUserSplit: expected a share between 0 and 1, got ${share}`, { field: 'perUserSplit' });
    if (opts.featuresAsOf !== undefined) throw new RalmError('RALM_ERR_VALIDATION', 'perUserSplit sets each user\'s features time; do not give featuresAsOf as well', { field: 'featuresAsOf' });
    const split = splitPerUser(finished, users.size, share);
    userCut.set(split.userCut);
    finished = split.clicks;
    splitAt = split.cut;
  }
  const asOf = (u: number): number => userCut[u];

  // User fields from the rows before each user's features time, walked in time order.
  const order = Uint32Array.from({ length: n }, (_, j) => j).sort((a, b) => rTs.get(a) - rTs.get(b) || a - b);
  const genreCounts = users.values().map(() => new Map<number, number>());
  const recent: number[][] = users.values().map(() => []);
  const activity = new Float64Array(users.size);
  for (const j of order) {
    const u = rUser.get(j);
    if (rTs.get(j) >= asOf(u)) continue;
    activity[u]++;
    for (const g of movieGenres.get(movies.value(rMovie.get(j))) ?? []) genreCounts[u].set(g, (genreCounts[u].get(g) ?? 0) + 1);
    if (rRating.get(j) >= o.minRating) recent[u].push(itemOfMovie[rMovie.get(j)]);
  }
  const tagCounts = users.values().map(() => new Map<number, number>());
  for (let j = 0; j < tagTs.length; j++) {
    if (tagTs.get(j) >= asOf(tagUser.get(j))) continue;
    const m = tagCounts[tagUser.get(j)];
    m.set(tagId.get(j), (m.get(tagId.get(j)) ?? 0) + 1);
  }
  const ub = new FeatureTableBuilder(
    [fieldSpec('genres', 'multi'), fieldSpec('tags', 'multi'), fieldSpec('recent', 'multi', o.recentItems), fieldSpec('activity', 'continuous')],
    { genres, recent: items });
  for (let u = 0; u < users.size; u++) {
    const g = byCount(genreCounts[u]).map((id) => genres.value(id));
    if (g.length) ub.setMulti(0, u, g);
    const t = byCount(tagCounts[u]).map((id) => allTags.value(id));
    if (t.length) ub.setMulti(1, u, t);
    if (recent[u].length) ub.setMulti(2, u, recent[u].reverse().map((i) => items.value(i)));
    ub.setContinuous(3, u, Math.log1p(activity[u]));
  }

  const ib = new FeatureTableBuilder([fieldSpec('genres', 'multi'), fieldSpec('year', 'continuous')], { genres });
  for (let i = 0; i < items.size; i++) {
    const id = items.value(i);
    const g = movieGenres.get(id);
    if (g?.length) ib.setMulti(0, i, g.map((x) => genres.value(x)));
    ib.setContinuous(1, i, movieYear.get(id) ?? NaN);
  }

  const notes = [
    `clicks: ratings ≥ ${o.minRating}${o.keepNegatives ? ' (label 1); lower ratings kept as label 0' : '; lower ratings are not rows (they still count as watched for the genres field)'}`,
    opts.perUserSplit !== undefined
      ? `per-user temporal split: each user's first ${(opts.perUserSplit * 100).toFixed(0)}% of click rows are training, user fields from the rows before each user's own cut; test rows are shifted in time past the last training row (order and spacing kept), so the split is at featuresAsOf`
      : `user fields from rows before ${Number.isFinite(o.featuresAsOf) ? new Date(o.featuresAsOf).toISOString() : 'the end of the log (whole history)'}`,
  ];
  if (unknownMovies > 0) notes.push(`${unknownMovies} ratings of movies missing from movies.csv: kept, without item genres or year`);
  return new Dataset({
    name: 'movielens', users, items, clicks: finished,
    userFields: ub.finish(users.size), itemFields: ib.finish(items.size),
    featuresAsOf: splitAt, report: report.toJSON(), notes,
  });
}
