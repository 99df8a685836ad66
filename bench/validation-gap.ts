/**
 * Does stage 2's validation ask the question the evaluation asks? It compares, without training
 * anything, the held-out latest clicks stage 2 validates on (src/train/stage2-ranking.ts: the rows
 * of the seed's ranking validation, built exactly as trainStage2 builds them) with the test rows
 * `ralm eval` reports on (src/eval/ranking-eval.ts), on one split:
 *
 *   node dist/bench/validation-gap.js --dataset movielens --data DIR [--split per-user|global] [--seed 1]
 *     [--holdout-share X] [--holdout-max N] [--out FILE.json]
 *
 * `--holdout-share` and `--holdout-max` set how many latest clicks each validation user holds out
 * (RankingValidationOptions.share, maxPerUser; share 0: three a user, as before the share existed).
 *
 * - size: held-out clicks and users (and the check half of the `checked` keep rule), against the
 *   evaluated users and their test clicks;
 * - who and what: the share of validation users who are evaluated, the overlap of the candidate
 *   sets, and how popular the positives are (training clickers of each validation target against
 *   each test positive; the share in the popularity head);
 * - the measure: one positive per list (prec@10 of a held-out click = hit@10) against the
 *   evaluation's prec@10 = |top 10 ∩ clicked| / min(10, |clicked|), both for the popularity
 *   ranking alone (the score the popularity prior adds), and the validation's one-positive
 *   measure applied to the test clicks, which separates the split from the form of the measure;
 * - noise: the bootstrap SD (users resampled, 1,000 draws, seeded) of each of those figures.
 */
import { writeFile } from 'node:fs/promises';
import { analysisArgs } from './analysis-args.js';
import { clickersByItem } from '../src/data/dataset.js';
import type { OpenOptions } from '../src/data/open.js';
import { buildContext } from '../src/eval/ranking-eval.js';
import { openSplit } from '../src/eval/recommend-eval.js';
import { RECOMMEND_EVAL_DEFAULTS } from '../src/eval/defaults.js';
import { distinctPositives } from '../src/train/pipeline.js';
import { holdOutForRanking } from '../src/train/stage2-ranking.js';
import { RANKING_VALIDATION_DEFAULTS } from '../src/train/defaults.js';
import { STAGE2_DEFAULTS } from '../src/train/stage2.js';
import { Rng } from '../src/util/rng.js';

const { arg, kind, dataDir, seed } = analysisArgs('validation-gap', '[--split per-user|global] [--seed N] [--holdout-share X] [--holdout-max N] [--out FILE.json]', 'movielens');
const splitKind = arg('split', kind === 'movielens' ? 'per-user' : 'global') as 'global' | 'per-user';
const out = arg('out');
const share = Number(arg('holdout-share', String(RANKING_VALIDATION_DEFAULTS.share)));
const maxPerUser = Number(arg('holdout-max', String(RANKING_VALIDATION_DEFAULTS.maxPerUser)));
if (!(share >= 0 && share < 1)) throw new Error(`--holdout-share: expected a share in [0, 1), got ${arg('holdout-share')}`);
if (!Number.isSafeInteger(maxPerUser) || maxPerUser < 1) throw new Error(`--holdout-max: expected a positive integer, got ${arg('holdout-max')}`);

const { ds, split } = await openSplit({ data: { kind, path: dataDir } as OpenOptions, split: splitKind });
const ctx = buildContext(ds, split, { minTrainClicks: RECOMMEND_EVAL_DEFAULTS.minTrainClicks, seed: 1 });
const pairs = distinctPositives(ds, split.trainEnd);
const { ranking, training } = holdOutForRanking(pairs, STAGE2_DEFAULTS.minClickers, STAGE2_DEFAULTS.maxSeeds, seed, { share, maxPerUser });
const clickers = clickersByItem(training);
const count = (i: number): number => new Set(clickers.get(i) ?? []).size;

/** Mean and bootstrap SD (users resampled) of per-user sums over per-user counts. */
function bootstrap(perUser: Map<number, { s: number; n: number }>, draws = 1000): { mean: number; sd: number; users: number; n: number } {
  const us = [...perUser.values()];
  const S = us.reduce((a, b) => a + b.s, 0);
  const N = us.reduce((a, b) => a + b.n, 0);
  const rng = new Rng(seed + 101);
  const vals: number[] = [];
  for (let b = 0; b < draws && us.length > 0; b++) {
    let s = 0;
    let n = 0;
    for (let t = 0; t < us.length; t++) {
      const u = us[rng.int(us.length)];
      s += u.s;
      n += u.n;
    }
    vals.push(s / Math.max(1, n));
  }
  const mu = vals.reduce((a, b) => a + b, 0) / Math.max(1, vals.length);
  const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mu) ** 2, 0) / Math.max(1, vals.length - 1));
  return { mean: S / Math.max(1, N), sd, users: us.length, n: N };
}
const add = (m: Map<number, { s: number; n: number }>, u: number, s: number, n = 1): void => {
  const e = m.get(u) ?? { s: 0, n: 0 };
  e.s += s;
  e.n += n;
  m.set(u, e);
};

// Validation rows: popularity rank of the held-out item among the row's candidates (its own clicks left out).
const candPop = ranking.candidates.map(count);
const valHit = new Map<number, { s: number; n: number }>();
const valHitCheck = new Map<number, { s: number; n: number }>();
const valTargetPop: number[] = [];
const posOf = new Map(ranking.candidates.map((it, j) => [it, j]));
const userClicks = new Map<number, Set<number>>();
for (let j = 0; j < pairs.user.length; j++) {
  const u = pairs.user[j];
  if (!userClicks.has(u)) userClicks.set(u, new Set());
  userClicks.get(u)?.add(pairs.item[j]);
}
for (let r = 0; r < ranking.rows; r++) {
  const u = ranking.rowUser[r];
  const target = posOf.get(ranking.rowItem[r]) as number;
  const mine = userClicks.get(u) ?? new Set<number>();
  let above = 0;
  let ties = 0;
  for (let j = 0; j < candPop.length; j++) {
    if (j === target || mine.has(ranking.candidates[j])) continue;
    if (candPop[j] > candPop[target]) above++;
    else if (candPop[j] === candPop[target]) ties++;
  }
  const hit = above + ties / 2 < 10 ? 1 : 0;
  add(valHit, u, hit);
  if (ranking.rowPart[r] === 1) add(valHitCheck, u, hit);
  valTargetPop.push(candPop[target]);
}

// Test: the evaluation's prec@10 for popularity, and hit@10 of each test click alone (the validation's form).
const testPop = Array.from(ctx.candidates, (i) => ctx.popularity[i]);
const testPrec = new Map<number, { s: number; n: number }>();
const testHit = new Map<number, { s: number; n: number }>();
const testTargetPop: number[] = [];
let testHead = 0;
for (let k = 0; k < ctx.users.length; k++) {
  const clicked = ctx.clicked.row(k);
  if (clicked.length === 0) continue;
  const skip = new Set(ctx.trainClicked.row(k));
  const order = Array.from(ctx.candidates).filter((i) => !skip.has(i)).sort((a, b) => testPop[ctx.candidateIndex[b]] - testPop[ctx.candidateIndex[a]]);
  const top = new Set(order.slice(0, 10));
  const pos = new Set(clicked);
  let inTop = 0;
  for (const i of clicked) if (top.has(i)) inTop++;
  testPrec.set(ctx.users[k], { s: inTop / Math.min(10, clicked.length), n: 1 });
  for (const i of clicked) {
    const p = testPop[ctx.candidateIndex[i]];
    let above = 0;
    let ties = 0;
    for (const j of order) {
      if (j === i || pos.has(j)) continue;
      const q = testPop[ctx.candidateIndex[j]];
      if (q > p) above++;
      else if (q === p) ties++;
    }
    add(testHit, ctx.users[k], above + ties / 2 < 10 ? 1 : 0);
    testTargetPop.push(count(i));
    testHead += ctx.head[i];
  }
}
const valHead = ranking.candidates.length ? ranking.rowItem.reduce((s, it) => s + ctx.head[it], 0) / Math.max(1, ranking.rows) : 0;
const evaluated = new Set(ctx.users);
const valUsers = new Set(ranking.rowUser);
const candSet = new Set(ctx.candidates);
const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const testPerUser = Array.from({ length: ctx.users.length }, (_, k) => ctx.clicked.row(k).length).filter((n) => n > 0);
const result = {
  dataset: ds.name, split: splitKind, seed, holdout: { share, maxPerUser },
  validation: {
    rows: ranking.rows, users: valUsers.size, candidates: ranking.candidates.length, checkRows: ranking.rowPart.reduce((a, b) => a + b, 0),
    usersEvaluated: [...valUsers].filter((u) => evaluated.has(u)).length,
    candidatesInTest: ranking.candidates.filter((i) => candSet.has(i)).length,
    targetClickers: { mean: mean(valTargetPop), median: median(valTargetPop) }, targetHeadShare: valHead,
    popularityHit10: bootstrap(valHit), popularityHit10CheckHalf: bootstrap(valHitCheck),
  },
  test: {
    users: testPerUser.length, clicks: testPerUser.reduce((a, b) => a + b, 0), clicksPerUser: { mean: mean(testPerUser), median: median(testPerUser) }, candidates: ctx.candidates.length,
    targetClickers: { mean: mean(testTargetPop), median: median(testTargetPop) }, targetHeadShare: testHead / Math.max(1, testTargetPop.length),
    popularityPrec10: bootstrap(testPrec), popularityHit10: bootstrap(testHit),
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (out) await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
