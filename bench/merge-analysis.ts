/**
 * When and why the concatenation tower beats the attention merge (`ralm eval`'s "RALM
 * (concatenation)" row): both stage-1 towers of one seed, each served through stage 2 in the
 * configurations the evaluation's rows ended with, and their lists broken down.
 *
 *   node dist/bench/merge-analysis.js --dataset globo --data DIR [--validation] [--seed 1]
 *     [--max-users 2000] [--merges attention,concat] [--starts identity,random,k1] [--no-known-seeds]
 *     [--out FILE.json]
 *
 * Stage 2 is not trained: on Globo.com every RALM row kept an untrained start (the attention
 * tower its identity configuration, the concatenation tower its random start: eval-globo.json's
 * `kept`), so the rows compare (tower × start). Per variant:
 *   - all items: prec@10 per user, by the user's training activity (terciles), and the hits
 *     split between popularity head and long tail;
 *   - fresh candidates (a day's window, hourly requests): prec@10 by the candidate's clicker
 *     count at the request, by the user's activity; and the same with each candidate's seeds
 *     restricted to users known before the cut (users first seen after it have no training row:
 *     every such user gets one and the same embedding, that of an empty history).
 * With --validation everything runs on the validation split of the training period.
 */
import { writeFile } from 'node:fs/promises';
import { analysisArgs } from './analysis-args.js';
import type { OpenOptions } from '../src/data/open.js';
import { freshSlots, globalRealTime, type FreshSlot } from '../src/eval/fresh-eval.js';
import { buildContext, evaluateRanking } from '../src/eval/ranking-eval.js';
import { openSplit } from '../src/eval/recommend-eval.js';
import { RECOMMEND_EVAL_DEFAULTS } from '../src/eval/defaults.js';
import { RalmRecommender } from '../src/eval/recommenders.js';
import { openValidationSplit } from '../src/eval/validation-split.js';
import { clickersByItem } from '../src/data/dataset.js';
import { distinctPositives } from '../src/train/pipeline.js';
import { defaultHidden, TRAIN_DEFAULTS } from '../src/train/defaults.js';
import { trainStage1, type Stage1Result } from '../src/train/stage1.js';
import { trainStage2 } from '../src/train/stage2.js';
import { Rng } from '../src/util/rng.js';

const { arg, flag, kind, dataDir, seed } = analysisArgs('merge-analysis', '[--validation] [--seed N] [--max-users N] [--out FILE.json]', 'globo');
const maxUsers = Number(arg('max-users', '2000'));
const validation = flag('validation');
const merges = (arg('merges', 'attention,concat') as string).split(',') as Array<'attention' | 'concat'>;
const starts = (arg('starts', 'identity,random,k1') as string).split(',');
const knownSeedsPass = !flag('no-known-seeds');
const out = arg('out');
const log = (l: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
const m = 64;
const t0 = performance.now();

const data = { kind, path: dataDir } as OpenOptions;
const { ds, split } = validation ? await openValidationSplit({ data, split: 'global' }) : await openSplit({ data, split: 'global' });
const ctx = buildContext(ds, split, { maxUsers, minTrainClicks: RECOMMEND_EVAL_DEFAULTS.minTrainClicks, seed: 1 });
log(`${ds.name}${validation ? ' (validation split)' : ''}: cut ${new Date(split.cut).toISOString()}; ${ctx.users.length} users × ${ctx.candidates.length} candidates`);
const pairs = distinctPositives(ds, split.trainEnd);
const trainClickers = clickersByItem(pairs);
const activity = new Uint32Array(ds.users.size);
for (let j = 0; j < split.trainEnd; j++) activity[ds.clicks.user[j]]++;
const known = Uint8Array.from(activity, (a) => (a > 0 ? 1 : 0));

const slots: FreshSlot[] = freshSlots(globalRealTime(ds, split.cut), ds.users.size, ds.items.size, known, {
  windowMs: 86_400_000, stepMs: RECOMMEND_EVAL_DEFAULTS.freshStepMs, minSeeds: RECOMMEND_EVAL_DEFAULTS.freshMinSeeds, maxSeeds: RECOMMEND_EVAL_DEFAULTS.maxSeeds,
  maxRequests: RECOMMEND_EVAL_DEFAULTS.freshMaxRequests, aucNegatives: RECOMMEND_EVAL_DEFAULTS.aucNegatives, ks: [10], seed: 1,
});
const allSeeds = slots.flatMap((s) => s.seeds.flatMap((l) => Array.from(l)));
const seedsKnownShare = allSeeds.filter((u) => known[u]).length / Math.max(1, allSeeds.length);
// The same requests, each candidate's seeds restricted to known users (the original seeds where none is known).
const knownSlots: FreshSlot[] = slots.map((s) => ({ ...s, seeds: s.seeds.map((l) => { const k = l.filter((u) => known[u]); return k.length > 0 ? k : l; }) }));
const candidatesWithoutKnownSeed = slots.reduce((n, s) => n + s.seeds.filter((l) => !l.some((u) => known[u])).length, 0) / Math.max(1, slots.reduce((n, s) => n + s.items.length, 0));
log(`fresh: ${slots.length} request times, ${slots.reduce((n, s) => n + s.requests.length, 0)} requests; seeds known before the cut ${(100 * seedsKnownShare).toFixed(1)} %; candidates with no known seed ${(100 * candidatesWithoutKnownSeed).toFixed(1)} %`);

// Terciles of the evaluated users' training rows.
const acts = Array.from(ctx.users, (u) => activity[u]).sort((a, b) => a - b);
const cuts = [acts[Math.floor(acts.length / 3)], acts[Math.floor((2 * acts.length) / 3)]];
const bucketOfUser = (u: number): string => (activity[u] <= cuts[0] ? `≤${cuts[0]} rows` : activity[u] <= cuts[1] ? `${cuts[0] + 1}–${cuts[1]} rows` : `>${cuts[1]} rows`);
const bucketOfSeeds = (c: number): string => (c < 10 ? '3–9 clickers' : c < 50 ? '10–49 clickers' : '≥50 clickers');
const mean = (a: number[]): number => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN);

interface Breakdown { all: Record<string, number>; fresh: Record<string, number>; freshKnownSeeds: Record<string, number> }

/** prec@10 per request over the fresh slots, overall, by user activity, and the hits by the hit candidate's clicker count (per request, hits / min(10, |positives|)). */
async function freshBreakdown(rec: RalmRecommender, use: FreshSlot[]): Promise<Record<string, number>> {
  const prec: number[] = [];
  const byUser = new Map<string, number[]>();
  const bySeeds = new Map<string, number>();
  for (const slot of use) {
    const scores = await rec.scoreSlot(slot, slot.requests.map((r) => r.user));
    slot.requests.forEach((r, q) => {
      const s = scores[q];
      const before = new Set(r.before);
      const ranked = Array.from({ length: slot.items.length }, (_, c) => c).filter((c) => !before.has(c)).sort((a, b) => s[b] - s[a] || a - b).slice(0, 10);
      const pos = new Set(r.positives);
      const denom = Math.min(10, pos.size);
      let hits = 0;
      for (const c of ranked) {
        if (!pos.has(c)) continue;
        hits++;
        const b = bucketOfSeeds(slot.clickers[c]);
        bySeeds.set(b, (bySeeds.get(b) ?? 0) + 1 / denom);
      }
      prec.push(hits / denom);
      const ub = bucketOfUser(r.user);
      byUser.set(ub, [...(byUser.get(ub) ?? []), hits / denom]);
    });
  }
  const res: Record<string, number> = { 'prec@10': mean(prec) };
  for (const [b, v] of byUser) res[`prec@10, users ${b}`] = mean(v);
  for (const [b, v] of bySeeds) res[`prec@10 from candidates with ${b}`] = v / prec.length;
  return res;
}

async function analyse(label: string, s1: Stage1Result, init: 'identity' | 'random', k: number): Promise<[string, Breakdown]> {
  let name = label;
  const s2 = await trainStage2(s1.x, m, pairs, { ...TRAIN_DEFAULTS.stage2, h: m, k, epochs: 0, init, seed, dataset: ds.name, log: () => undefined });
  const rng = new Rng(seed * 101 + 5);
  const maxSeeds = RECOMMEND_EVAL_DEFAULTS.maxSeeds;
  const sample = (i: number): number[] => {
    const l = (trainClickers.get(i) ?? []).slice();
    return l.length > maxSeeds ? rng.shuffle(l, maxSeeds).slice(0, maxSeeds) : l;
  };
  name = `${name} (kept: ${s2.kept})`;
  // The look-alike score alone: the analysis compares the two merges, not the popularity prior.
  const rec = await RalmRecommender.create(name, s2.model, s1.x, sample, ctx.candidates, seed, (i) => trainClickers.get(i)?.length ?? 0, { popularityPrior: 0 });
  try {
    const r = await evaluateRanking(ctx, rec, { keepLists: true, seed: 1 });
    const all: Record<string, number> = { auc: r.metrics.auc, 'prec@10': r.metrics['prec@10'], 'prec@50': r.metrics['prec@50'] };
    const byUser = new Map<string, number[]>();
    let head = 0;
    let tail = 0;
    (r.lists as Uint32Array[]).forEach((list, kk) => {
      const pos = new Set(ctx.clicked.row(kk));
      const denom = Math.min(10, pos.size);
      let hits = 0;
      for (const i of list.subarray(0, 10)) {
        if (!pos.has(i)) continue;
        hits++;
        if (ctx.head[i]) head += 1 / denom;
        else tail += 1 / denom;
      }
      const b = bucketOfUser(ctx.users[kk]);
      byUser.set(b, [...(byUser.get(b) ?? []), hits / denom]);
    });
    for (const [b, v] of byUser) all[`prec@10, users ${b}`] = mean(v);
    all['prec@10 from head items'] = head / ctx.users.length;
    all['prec@10 from long-tail items'] = tail / ctx.users.length;
    const fresh = await freshBreakdown(rec, slots);
    const freshKnownSeeds = knownSeedsPass ? await freshBreakdown(rec, knownSlots) : {};
    log(`${name}: all items ${JSON.stringify(all)}\n  fresh ${JSON.stringify(fresh)}\n  fresh, known seeds ${JSON.stringify(freshKnownSeeds)}`);
    return [name, { all, fresh, freshKnownSeeds }];
  } finally {
    await rec.close();
  }
}

const stage1 = { m, hidden: defaultHidden(m), ...(kind === 'globo' ? { epochs: 4, patience: 2, maxTrainUsers: 10000 } : { epochs: 0, validationShare: 0.3, patience: 3 }) };
const results: Record<string, Breakdown> = {};
for (const merge of merges) {
  const s1 = await trainStage1(ds, split.trainEnd, { ...stage1, merge, seed, log: (l) => log(`[stage 1, ${merge}] ${l}`) });
  const tower = merge === 'attention' ? 'attention merge' : 'concatenation';
  // A random start with no epoch: stage 2 keeps the better of it and the identity on validation, as the evaluation's rows did.
  for (const [label, init, k] of ([[`${tower}, identity T`, 'identity', 20, 'identity'], [`${tower}, random start`, 'random', 20, 'random'], [`${tower}, identity T, k = 1`, 'identity', 1, 'k1']] as const).filter((v) => starts.includes(v[3]))) {
    const [name, r] = await analyse(label, s1, init, k);
    results[name] = r;
  }
}

const rowsOf = (part: keyof Breakdown): string[] => {
  const keys = [...new Set(Object.values(results).flatMap((r) => Object.keys(r[part])))];
  return [`| variant | ${keys.join(' | ')} |`, `|---|${keys.map(() => '---:').join('|')}|`,
    ...Object.entries(results).map(([v, r]) => `| ${v} | ${keys.map((k) => (r[part][k] ?? NaN).toFixed(4)).join(' | ')} |`)];
};
const md = [
  `${ds.name}${validation ? ' (validation split of the training period)' : ''}, seed ${seed}: ${ctx.users.length} users × ${ctx.candidates.length} candidates; fresh: ${slots.reduce((n, s) => n + s.requests.length, 0)} requests, seeds known before the cut ${(100 * seedsKnownShare).toFixed(1)} %, candidates with no known seed ${(100 * candidatesWithoutKnownSeed).toFixed(1)} %; ${((performance.now() - t0) / 60000).toFixed(0)} min`,
  '', 'All items', '', ...rowsOf('all'), '', 'Fresh candidates', '', ...rowsOf('fresh'), '', 'Fresh candidates, seeds restricted to users known before the cut', '', ...rowsOf('freshKnownSeeds'),
].join('\n');
process.stdout.write(`${md}\n`);
if (out) await writeFile(out, JSON.stringify({ dataset: ds.name, validation, seed, cut: new Date(split.cut).toISOString(), seedsKnownShare, candidatesWithoutKnownSeed, results }, null, 2) + '\n');
