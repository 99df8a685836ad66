/**
 * Why a new item scores as it does in `ralm eval`'s new-item protocol (src/eval/new-items.ts):
 * the same items, targets and negatives, with the measurements that explain the AUC beside it.
 *
 *   node dist/bench/new-items-diagnosis.js --dataset movielens --data DIR [--validation] [--split global|per-user]
 *     [--seed 1] [--max-users N] [--new-items N] [--seed-counts 1,5,20] [--trained] [--shrink 0,1,3] [--no-all-items]
 *     [--out FILE.json]
 *
 * For each seed rule (all of the first n clickers, 'any', the rule before; the 'known' users among
 * them, as the serving system's re-clustering uses only users with an embedding) and each n:
 *   - seeds known before the cut (share), distinct seed embeddings, the seeds' activity (training
 *     rows) against the activity of the negatives' clickers;
 *   - AUC of: RALM untrained (stage 2's identity configuration, k = 20), RALM with averaged seeds
 *     (k = 1), trained RALM (with --trained; the dataset's chosen stage-2 settings), a plain
 *     cosine between the target's universal embedding and the mean of the item's seeds'
 *     (negatives: the mean of their training clickers'), and the seeds' mean activity as the
 *     score (it ignores the target: an AUC away from 0.5 measures a bias in who the seeds are).
 * The control beside it: each new item's audience AUC (its later clickers against known users who
 * never clicked it), which a change that lifts new items for everyone alike cannot raise.
 * With --shrink, each RALM variant also runs with its centroids shrunk toward the mean look-alike
 * embedding of the users known before the cut, λ pseudo-seeds strong (clustering/shrink.ts).
 * Stage 1 is the dataset's chosen configuration (MovieLens: the click-factor tower, untrained).
 * With --validation everything runs on the validation split of the training period.
 */
import { writeFile } from 'node:fs/promises';
import { analysisArgs } from './analysis-args.js';
import { clickersByItem } from '../src/data/dataset.js';
import type { OpenOptions } from '../src/data/open.js';
import { NewItemProtocol, type NewItemRow } from '../src/eval/new-items.js';
import { auc } from '../src/eval/metrics.js';
import { buildContext, evaluateRanking } from '../src/eval/ranking-eval.js';
import { openSplit } from '../src/eval/recommend-eval.js';
import { RECOMMEND_EVAL_DEFAULTS } from '../src/eval/defaults.js';
import { RalmRecommender } from '../src/eval/recommenders.js';
import { openValidationSplit } from '../src/eval/validation-split.js';
import { distinctPositives } from '../src/train/pipeline.js';
import { defaultHidden, TRAIN_DEFAULTS } from '../src/train/defaults.js';
import { targetEmbedder, trainStage1 } from '../src/train/stage1.js';
import { trainStage2, type Stage2Options } from '../src/train/stage2.js';
import { Rng } from '../src/util/rng.js';

const { arg, flag, kind, dataDir, seed } = analysisArgs('new-items-diagnosis', '[--validation] [--seed N] [--seed-counts 1,5,20] [--trained] [--out FILE.json]', 'movielens');
const seedCounts = (arg('seed-counts', '1,5,20') as string).split(',').map(Number);
const validation = flag('validation');
const splitKind = arg('split', 'global') as 'global' | 'per-user';
const maxUsers = Number(arg('max-users', '0'));
const maxNewItems = Number(arg('new-items', String(RECOMMEND_EVAL_DEFAULTS.newItemsMax)));
const trained = flag('trained');
const allItemsCheck = !flag('no-all-items');
const out = arg('out');
const strengths = (arg('shrink', '0') as string).split(',').map(Number);
const log = (l: string): void => void process.stderr.write(`${l}\n`);

// The datasets' chosen configurations (src/cli/training-options.ts, DATASET_TRAINING_DEFAULTS).
const m = 64;
const stage1 = kind === 'movielens'
  ? { m, hidden: defaultHidden(m), epochs: 0, validationShare: 0.3, patience: 3 }
  : { m, hidden: defaultHidden(m), epochs: 4, patience: 2, maxTrainUsers: 10000 };
const chosenStage2: Stage2Options = kind === 'movielens'
  ? { ...TRAIN_DEFAULTS.stage2, h: m, k: 20, epochs: 5, learningRate: 1e-2, init: 'identity', train: 'attention', itemSampling: 'popularity', objective: 'items' }
  : { ...TRAIN_DEFAULTS.stage2, h: m, k: 20, epochs: 3, learnBlend: true, itemSampling: 'popularity', objective: 'items' };

const data: OpenOptions = { kind, path: dataDir } as OpenOptions;
const { ds, split } = validation ? await openValidationSplit({ data, split: splitKind }) : await openSplit({ data, split: splitKind });
const ctx = buildContext(ds, split, { maxUsers, minTrainClicks: RECOMMEND_EVAL_DEFAULTS.minTrainClicks, seed: 1 });
log(`${ds.name}${validation ? ' (validation split)' : ''}: cut ${new Date(split.cut).toISOString()}, ${split.newItems.length} new items, ${ctx.candidates.length} candidates`);
const pairs = distinctPositives(ds, split.trainEnd);
const trainClickers = clickersByItem(pairs);
const allClickers = clickersByItem(distinctPositives(ds, ds.clickCount));
const activity = new Uint32Array(ds.users.size);
for (let j = 0; j < split.trainEnd; j++) activity[ds.clicks.user[j]]++;

const s1 = await trainStage1(ds, split.trainEnd, { ...stage1, merge: 'attention', seed, log: (l) => log(`[stage 1] ${l}`) });
const { x } = s1;
const universal = (u: number): Float32Array => x.subarray(u * m, (u + 1) * m);

const protocols = (['any', 'known'] as const).map((rule) => ({
  rule,
  p: new NewItemProtocol(ds, split, ctx, allClickers, { seedCounts, maxItems: maxNewItems, maxTargets: RECOMMEND_EVAL_DEFAULTS.newItemTargets, negatives: RECOMMEND_EVAL_DEFAULTS.newItemNegatives, seedUsers: rule }),
}));

// Who the seeds are.
const mean = (a: number[]): number => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN);
const rowsOf = (u: number): number => activity[u];
const stats = protocols.flatMap(({ rule, p }) => p.plans.map(({ n, plans }) => {
  const seeds = plans.flatMap((pl) => pl.seeds);
  const distinct = plans.map((pl) => new Set(pl.seeds.map((u) => Array.from(universal(u)).join(','))).size / pl.seeds.length);
  const negClickers = plans.flatMap((pl) => pl.negatives.flatMap((negs) => Array.from(negs, (i) => mean((trainClickers.get(i) ?? []).map(rowsOf)))));
  return {
    rule, n, items: plans.length, pairs: plans.reduce((s, pl) => s + pl.targets.length, 0),
    seedsKnown: mean(seeds.map((u) => (activity[u] > 0 ? 1 : 0))),
    distinctSeedEmbeddings: mean(distinct),
    seedTrainingRows: mean(seeds.map(rowsOf)),
    targetTrainingRows: mean(plans.flatMap((pl) => pl.targets.map(rowsOf))),
    negativeClickerTrainingRows: mean(negClickers),
  };
}));
for (const s of stats) log(JSON.stringify(s));

// Plain cosine in the universal space: the target against the mean of an item's users.
const meanOf = (users: ArrayLike<number>): Float32Array => {
  const v = new Float32Array(m);
  for (let r = 0; r < users.length; r++) for (let d = 0; d < m; d++) v[d] += x[users[r] * m + d];
  return v;
};
const cos = (a: Float32Array, b: Float32Array): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let d = 0; d < m; d++) {
    ab += a[d] * b[d];
    aa += a[d] * a[d];
    bb += b[d] * b[d];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
};
const candidateMean = new Map<number, Float32Array>();
const candidateActivity = new Map<number, number>();
for (const i of ctx.candidates) {
  const cl = trainClickers.get(i) ?? [];
  candidateMean.set(i, meanOf(cl));
  candidateActivity.set(i, mean(cl.map((u) => Math.log1p(rowsOf(u)))));
}
for (const { p } of protocols) {
  p.scoreWith('cosine to the seeds\' mean (universal)', seed, (u, pl, t) => {
    const xu = universal(u);
    return [cos(xu, meanOf(pl.seeds)), ...Array.from(pl.negatives[t], (i) => cos(xu, candidateMean.get(i) as Float32Array))];
  });
  p.scoreWith('seeds\' activity (ignores the target)', seed, (_u, pl, t) => [mean(pl.seeds.map((u) => Math.log1p(rowsOf(u)))), ...Array.from(pl.negatives[t], (i) => candidateActivity.get(i) as number)]);
}

/**
 * The control: a new item's score for its later clickers against its score for up to 100 known
 * users who never clicked it (its audience AUC). A change that lifts every new item for everyone
 * (not only for its own audience) raises the protocol's AUC and leaves this one where it was.
 */
const audienceAucs = new Map<string, number[]>();
async function audience(rule: string, p: NewItemProtocol, rec: RalmRecommender): Promise<void> {
  for (const { n, plans } of p.plans) {
    for (const pl of plans) {
      const [c] = await rec.centroidsFor([pl.seeds], seed);
      const id = `audience-${pl.item}`;
      await rec.engine.upsertItems([{ id, centroids: c }]);
      const clickers = new Set(allClickers.get(pl.item));
      const r = new Rng(pl.item + 17);
      const others: number[] = [];
      for (let tries = 0; others.length < 100 && tries < 2000; tries++) {
        const u = knownUsers[r.int(knownUsers.length)];
        if (!clickers.has(u) && !others.includes(u)) others.push(u);
      }
      const users = [...pl.targets, ...others];
      const res = await rec.engine.score(users.map((u) => ({ user: { universal: rec.universal(u) }, items: [id] })));
      const sc = res.map((x) => x.scores[0]);
      const key = `${rule}|${n}|${rec.name}`;
      audienceAucs.set(key, [...(audienceAucs.get(key) ?? []), auc(sc.slice(0, pl.targets.length), sc.slice(pl.targets.length))]);
      await rec.engine.removeItems([id]);
    }
  }
}

/**
 * Per-item calibration, the candidate fix for the scale: an item's score for a user minus its mean
 * score over a fixed sample of 200 known users ('centred'), or also divided by their SD
 * ('standardised'), or only the new item's level replaced by the mean level of the candidates
 * ('levelled': established items keep theirs, popularity included); and a placebo, the new item
 * described by as many known users drawn at random, levelled ('levelled, random seeds'), which
 * should rank near 0.5 if the levelling adds no information of its own. Monotone per item, so the audience AUC is unchanged by construction; across
 * items it removes the level an item's seed count gives its cosines.
 */
const allItems = new Map<string, { plain: Record<string, number>; centred: Record<string, number> }>();
const pick = (mm: Record<string, number>): Record<string, number> => ({ auc: mm.auc, aucExposure: mm.aucExposure, 'prec@10': mm['prec@10'], 'prec@50': mm['prec@50'], 'longTail@100': mm['longTail@100'] });
const calibrationUsers = new Rng(99).shuffle(Array.from({ length: ds.users.size }, (_, u) => u).filter((u) => activity[u] > 0), 200).slice(0, 200);
async function calibrated(p: NewItemProtocol, rec: RalmRecommender): Promise<void> {
  const sample = calibrationUsers.slice(0, Math.min(200, calibrationUsers.length));
  const levelOf = (rows: Float32Array[], j: number): { mu: number; sd: number } => {
    const v = rows.map((r) => r[j]);
    const mu = mean(v);
    return { mu, sd: Math.sqrt(mean(v.map((x) => (x - mu) ** 2))) || 1 };
  };
  const ids = Array.from(ctx.candidates, String);
  const base = (await rec.engine.score(sample.map((u) => ({ user: { universal: rec.universal(u) }, items: ids })))).map((r) => Float32Array.from(r.scores));
  const level = new Map<number, { mu: number; sd: number }>();
  ctx.candidates.forEach((i, j) => level.set(i, levelOf(base, j)));
  if (allItemsCheck && !allItems.has(rec.name)) {
    // The same calibration over every candidate, in the all-items protocol (ranking-eval.ts).
    const mu = Float32Array.from(ctx.candidates, (i) => (level.get(i) as { mu: number }).mu);
    const plain = await evaluateRanking(ctx, rec, { seed: 1 });
    const centred = await evaluateRanking(ctx, { name: `${rec.name}, centred`, score: async (u, items, outScores) => {
      await rec.score(u, items, outScores);
      for (let j = 0; j < outScores.length; j++) outScores[j] -= mu[j];
    } }, { seed: 1 });
    allItems.set(rec.name, { plain: pick(plain.metrics), centred: pick(centred.metrics) });
  }
  const table = new Map<string, { centred: number[]; standardised: number[]; levelled: number[]; placebo?: number[] }>();
  const typical = mean(Array.from(level.values(), (v) => v.mu));
  for (const { n, plans } of p.plans) {
    for (const pl of plans) {
      const [c] = await rec.centroidsFor([pl.seeds], seed);
      const id = `calibrated-${pl.item}`;
      await rec.engine.upsertItems([{ id, centroids: c }]);
      const own = levelOf((await rec.engine.score(sample.map((u) => ({ user: { universal: rec.universal(u) }, items: [id] })))).map((r) => Float32Array.from(r.scores)), 0);
      const res = await rec.engine.score(pl.targets.map((u, t) => ({ user: { universal: rec.universal(u) }, items: [id, ...Array.from(pl.negatives[t], String)] })));
      res.forEach((r, t) => {
        const lv = [own, ...Array.from(pl.negatives[t], (i) => level.get(i) as { mu: number; sd: number })];
        table.set(`${n}|${pl.item}|${t}`, {
          centred: Array.from(r.scores, (x, j) => x - lv[j].mu), standardised: Array.from(r.scores, (x, j) => (x - lv[j].mu) / lv[j].sd),
          levelled: Array.from(r.scores, (x, j) => (j === 0 ? x - own.mu + typical : x)),
        });
      });
      await rec.engine.removeItems([id]);
      // Placebo: as many seeds drawn at random among the known users, levelled the same way.
      const pr = new Rng(pl.item * 7 + n);
      const fake = pr.shuffle(knownUsers.slice(), pl.seeds.length).slice(0, pl.seeds.length);
      const [fc] = await rec.centroidsFor([fake], seed);
      await rec.engine.upsertItems([{ id, centroids: fc }]);
      const fakeLevel = levelOf((await rec.engine.score(sample.map((u) => ({ user: { universal: rec.universal(u) }, items: [id] })))).map((r) => Float32Array.from(r.scores)), 0);
      const fres = await rec.engine.score(pl.targets.map((u, t) => ({ user: { universal: rec.universal(u) }, items: [id, ...Array.from(pl.negatives[t], String)] })));
      fres.forEach((r, t) => {
        const row = table.get(`${n}|${pl.item}|${t}`) as { placebo?: number[] };
        row.placebo = Array.from(r.scores, (x, j) => (j === 0 ? x - fakeLevel.mu + typical : x));
      });
      await rec.engine.removeItems([id]);
    }
  }
  const nOf = new Map(p.plans.flatMap(({ n, plans }) => plans.map((pl) => [pl, n] as const)));
  p.scoreWith(`${rec.name}, centred`, seed, (_u, pl, t) => (table.get(`${nOf.get(pl)}|${pl.item}|${t}`) as { centred: number[] }).centred);
  p.scoreWith(`${rec.name}, standardised`, seed, (_u, pl, t) => (table.get(`${nOf.get(pl)}|${pl.item}|${t}`) as { standardised: number[] }).standardised);
  p.scoreWith(`${rec.name}, levelled`, seed, (_u, pl, t) => (table.get(`${nOf.get(pl)}|${pl.item}|${t}`) as { levelled: number[] }).levelled);
  p.scoreWith(`${rec.name}, levelled, random seeds`, seed, (_u, pl, t) => (table.get(`${nOf.get(pl)}|${pl.item}|${t}`) as { placebo: number[] }).placebo);
}

// RALM variants through the engine, each candidate published from its training clickers.
const maxSeeds = RECOMMEND_EVAL_DEFAULTS.maxSeeds;
const variants: Array<{ name: string; opts: Stage2Options }> = [
  { name: 'RALM (untrained)', opts: { ...TRAIN_DEFAULTS.stage2, epochs: 0, init: 'identity', h: m, k: 20 } },
  { name: 'RALM (averaged seeds, untrained)', opts: { ...TRAIN_DEFAULTS.stage2, epochs: 0, init: 'identity', h: m, k: 1 } },
  ...(trained ? [{ name: 'RALM', opts: chosenStage2 }] : []),
];
const shrunk = (name: string, l: number): string => (l > 0 ? `${name}, shrunk λ = ${l}` : name);
const methods = [...variants.flatMap((v) => [...strengths.map((l) => shrunk(v.name, l)), `${v.name}, centred`, `${v.name}, standardised`, `${v.name}, levelled`, `${v.name}, levelled, random seeds`]), 'cosine to the seeds\' mean (universal)', 'seeds\' activity (ignores the target)'];
const knownUsers = Array.from({ length: ds.users.size }, (_, u) => u).filter((u) => activity[u] > 0);
for (const v of variants) {
  const embedder = v.opts.epochs ? await targetEmbedder(ds, split.trainEnd, s1) : null;
  const s2 = await trainStage2(x, m, pairs, {
    ...v.opts, seed, dataset: ds.name, log: (l) => log(`[stage 2, ${v.name}] ${l}`),
    ...(embedder ? { xWithout: (u: Int32Array, i: Int32Array) => embedder.embed(u, i) } : {}),
  });
  embedder?.dispose();
  const rng = new Rng(seed * 101 + 5);
  const sample = (i: number): number[] => {
    const l = (trainClickers.get(i) ?? []).slice();
    return l.length > maxSeeds ? rng.shuffle(l, maxSeeds).slice(0, maxSeeds) : l;
  };
  const prior = await RalmRecommender.meanLookalike(s2.model, x, knownUsers);
  for (const l of strengths) {
    // The look-alike score alone (λ = 0): the diagnosis is about who a new item's seeds reach.
    const rec = await RalmRecommender.create(shrunk(v.name, l), s2.model, x, sample, ctx.candidates, seed, (i) => trainClickers.get(i)?.length ?? 0, { popularityPrior: 0, shrink: l > 0 ? { prior, strength: l } : null });
    try {
      for (const { rule, p } of protocols) {
        await p.ralm(rec, seed);
        await audience(rule, p, rec);
        if (l === 0) await calibrated(p, rec);
      }
    } finally {
      await rec.close();
    }
  }
  log(`${v.name}: kept ${s2.kept}`);
}

const rows: Record<string, NewItemRow[]> = {};
for (const { rule, p } of protocols) rows[rule] = p.rows(methods, [seed]);
const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '—');
const lines: string[] = [];
for (const { rule } of protocols) {
  lines.push('', `seeds: ${rule === 'any' ? 'the first n clickers' : 'the first n clickers known before the cut'}`, '',
    `| n | items | pairs | seeds known | distinct seed embeddings | seeds' training rows | targets' | negatives' clickers' | ${methods.join(' | ')} |`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|${methods.map(() => '---:').join('|')}|`);
  for (const r of rows[rule]) {
    const s = stats.find((t) => t.rule === rule && t.n === r.n);
    if (!s) continue;
    lines.push(`| ${r.n} | ${r.items} | ${r.pairs} | ${fmt(s.seedsKnown)} | ${fmt(s.distinctSeedEmbeddings)} | ${fmt(s.seedTrainingRows)} | ${fmt(s.targetTrainingRows)} | ${fmt(s.negativeClickerTrainingRows)} | ${methods.map((mm) => fmt(r.auc[mm]?.mean ?? NaN)).join(' | ')} |`);
  }
}
lines.push('', 'Control: audience AUC of the new item (its later clickers against up to 100 known users who never clicked it), mean over items', '',
  `| seeds | n | ${variants.flatMap((v) => strengths.map((l) => shrunk(v.name, l))).join(' | ')} |`, `|---|---:|${variants.flatMap(() => strengths.map(() => '---:')).join('|')}|`);
for (const { rule, p } of protocols) {
  for (const { n } of p.plans) {
    lines.push(`| ${rule} | ${n} | ${variants.flatMap((v) => strengths.map((l) => fmt(mean(audienceAucs.get(`${rule}|${n}|${shrunk(v.name, l)}`) ?? [])))).join(' | ')} |`);
  }
}
lines.push('', `All items (${ctx.users.length} users × ${ctx.candidates.length} candidates): the served score and the item-centred one`, '', '| method | auc | aucExposure | prec@10 | prec@50 | longTail@100 |', '|---|---:|---:|---:|---:|---:|');
for (const [name, r] of allItems) {
  for (const [what, mm] of [['', r.plain], [', centred', r.centred]] as const) lines.push(`| ${name}${what} | ${['auc', 'aucExposure', 'prec@10', 'prec@50', 'longTail@100'].map((k) => fmt(mm[k])).join(' | ')} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
if (out) await writeFile(out, JSON.stringify({ dataset: ds.name, validation, split: splitKind, seed, cut: new Date(split.cut).toISOString(), stats, rows, allItems: Object.fromEntries(allItems), audienceAuc: Object.fromEntries([...audienceAucs].map(([k, v]) => [k, { items: v.length, mean: mean(v) }])) }, null, 2) + '\n');
