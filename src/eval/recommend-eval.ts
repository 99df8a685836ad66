/**
 * `ralm eval`: RALM against its baselines on one temporal split, over several training seeds.
 *
 * For each seed: stage 1 twice (the options' merge — the attention merge unless told, the
 * dataset's choice from the command line — and the other merge for the ablation), then stage 2
 * on the frozen embeddings for each RALM variant — RALM; RALM untrained (stage 2's identity
 * configuration: the starting point training must beat); RALM with averaged seeds (k = 1: the one
 * centroid is the seeds' mean, so both attentions reduce to it); RALM without local attention
 * (α = 1, β = 0); without global attention (α = 0, β = 1); and RALM on the other merge's tower.
 * Every RALM variant is trained with its own setting, not just served with it. The baselines:
 * most popular (training clicks) and a YouTube-DNN-style model (RALM's tower's x_u · v_i + b_i,
 * the sampled softmax's own item embeddings, or a tower of its own with `baselineEpochs`).
 *
 * Protocols, each method in each:
 *   all items: every method ranks the same candidates for the same users, AUC against uniform
 *     and against exposure negatives (ranking-eval.ts, negatives.ts);
 *   fresh candidates: at each request time the candidates are the items first clicked in the
 *     preceding window, described by their real-time seeds (fresh-eval.ts) — the paper's setting;
 *   new items: a new item after its first n clicks (new-items.ts).
 *
 * RALM serves through the engine, as in production: each candidate's seeds are its clickers (in
 * the all-items protocol its training clickers, at most `maxSeeds`, sampled), clustered into k
 * centroids in the model's transformed space, with global vectors from its global attention.
 *
 * With `validation`, the whole evaluation runs on the validation split of the training period
 * (validation-split.ts) and never reads the test rows: what `ralm tune` and any choice of
 * settings use.
 */
import { clickersByItem, type Dataset } from '../data/dataset.js';
import { openDataset, openWithSplit, type OpenOptions } from '../data/open.js';
import type { TemporalSplit } from '../data/split.js';
import { targetEmbedder, trainStage1, type Stage1Options, type Stage1Result } from '../train/stage1.js';
import { trainStage2, type Stage2Options, type Stage2Result } from '../train/stage2.js';
import { distinctPositives } from '../train/pipeline.js';
import { TRAIN_DEFAULTS } from '../train/defaults.js';
import { ITEM_LEVEL_DEFAULTS, type ItemLevelOptions } from '../engine/item-levels.js';
import type { RalmModel } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { Rng } from '../util/rng.js';
import { MostPopular } from './baselines.js';
import { evaluateFresh, freshPopularity, freshSlots, globalRealTime, perUserRealTime, type FreshOptions, type FreshScorer, type FreshSlot } from './fresh-eval.js';
import { NewItemProtocol, type NewItemRow } from './new-items.js';
import { buildContext, evaluateRanking, type Recommender } from './ranking-eval.js';
import { RalmRecommender, YoutubeDnn, type RalmRecommenderOptions } from './recommenders.js';
import { recommendMarkdown, validationTracking, type TrainingRecord, type Tracking } from './recommend-report.js';
import { summarizeRuns, type ReportJson, type RunRecord } from './report.js';
import { openValidationSplit } from './validation-split.js';
import { LEVEL_SWEEP, mergeRows, METHODS, RECOMMEND_EVAL_DEFAULTS } from './defaults.js';

export type { NewItemRow } from './new-items.js';

export interface RecommendEvalOptions {
  data: OpenOptions;
  /** 'global': one cut at `trainShare` of the rows; 'per-user': each user's first share (MovieLens adapter). */
  split?: 'global' | 'per-user';
  trainShare?: number;
  /** Evaluate on the validation split of the training period instead of the test rows. */
  validation?: boolean;
  seeds?: number[];
  /** Evaluate at most this many users (a fixed seeded sample, the same for every seed). */
  maxUsers?: number;
  /** Candidates need this many training clicks. */
  minTrainClicks?: number;
  ks?: number[];
  aucNegatives?: number;
  /** Seeds clustered per item at most. */
  maxSeeds?: number;
  /**
   * Also evaluate the trained RALM served with each of these popularity-prior weights λ (rows
   * `RALM (λ = X)`, the same weights and clusters): with `validation`, how each protocol's figures
   * move with λ, without reading a test row.
   */
  priorSweep?: readonly number[];
  /** The methods to run (default: all of METHODS). */
  methods?: ReadonlyArray<(typeof METHODS)[number]>;
  stage1?: Stage1Options;
  stage2?: Stage2Options;
  /**
   * Stage-1 epochs of the YouTube-DNN-style baseline's own tower, when they differ from RALM's
   * (a RALM tuned to an untrained tower still meets a trained YouTube DNN); default: RALM's.
   */
  baselineEpochs?: number;
  /** Fresh candidates: the window (ms; default: a day for a global split, 365 days per user), 0: skip the protocol. */
  freshWindowMs?: number;
  /** Fresh candidates, global split: time between requests and each request's horizon (ms). */
  freshStepMs?: number;
  freshMinSeeds?: number;
  freshMaxRequests?: number;
  seedCounts?: number[];
  newItemsMax?: number;
  newItemTargets?: number;
  newItemNegatives?: number;
  /**
   * New items: which of an item's first n clickers are its seeds — 'known': those with a row
   * before the cut, as the serving system clusters only users it has an embedding for (a user
   * first seen after the cut has no data of their own as of the cut, so every such user gets one
   * and the same embedding); 'any': all n (the protocol before; docs/quality.md).
   */
  newItemSeeds?: 'any' | 'known';
  /**
   * Level offsets published with every RALM row's items, as served (engine/item-levels.ts;
   * default ITEM_LEVEL_DEFAULTS); `false`: none, the score as before they existed.
   */
  itemLevels?: ItemLevelOptions | false;
  /**
   * The fresh-candidates protocol's requests leave the level offsets out (`false`), as a feed of
   * fresh items only may ask (RankRequest.itemLevels; docs/http-api.md); default true, as served.
   */
  freshItemLevels?: boolean;
  /**
   * Also evaluate the trained RALM (the untrained one when run without it) with each level policy
   * of LEVEL_SWEEP (rows `… (levels: …)`, the same weights and clusters): with `validation`, how
   * they compare without a test row.
   */
  levelSweep?: boolean;
  /** The policies of LEVEL_SWEEP the sweep runs (default: every one). */
  levelPolicies?: readonly string[];
  /** New items: also score each RALM row's placebo (the item published from random known users; new-items.ts). */
  newItemPlacebo?: boolean;
  log?: (line: string) => void;
  onProgress?: Stage1Options['onProgress'] & Stage2Options['onProgress'];
}

/**
 * Whether two stage-2 results serve the same scores: every weight and every manifest field the
 * engine scores with (widths, k, the blend, the prior's λ) equal. Then `ralm eval` evaluates the
 * second under its own name from the first's figures instead of scoring it again (on Globo.com
 * the keep check keeps RALM's start, which is the untrained row's model).
 */
export function sameServedModel(a: RalmModel, b: RalmModel): boolean {
  const ma = a.manifest;
  const mb = b.manifest;
  const fields = ['h', 'm', 'k', 'attentionSize', 'alpha', 'beta', 'activation'] as const;
  if (fields.some((f) => ma[f] !== mb[f]) || (ma.popularityPrior ?? 0) !== (mb.popularityPrior ?? 0)) return false;
  return (Object.keys(a.weights) as Array<keyof RalmModel['weights']>).every((w) => {
    const x = a.weights[w];
    const y = b.weights[w];
    return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  });
}

/**
 * The fresh-candidates window when none is given: news moves in a day (Globo.com: about 750
 * candidates first clicked in the last 24 hours, asked every hour), a catalogue in a year
 * (MovieLens: about 80 titles new to the community in the year before a user's cut).
 */
export function defaultFreshWindow(kind: 'global' | 'per-user'): number {
  return kind === 'global' ? 86_400_000 : 365 * 86_400_000;
}

export interface RecommendEvalResult {
  dataset: string;
  /** `test`, or `validation` (the validation split of the training period). */
  evaluatedOn: 'test' | 'validation';
  split: { kind: 'global' | 'per-user'; cut: string; trainRows: number; testRows: number; testUsers: number; newUsers: number; newItems: number; newItemTestClicks: number };
  context: { users: number; candidates: number; headShare: number };
  settings: Record<string, unknown>;
  runs: RunRecord[];
  summary: ReportJson;
  fresh: { windowMs: number; slots: number; requests: number; runs: RunRecord[]; summary: ReportJson | null };
  newItems: NewItemRow[];
  training: TrainingRecord[];
  /** How stage 2's validation measures track this evaluation across the RALM runs. */
  tracking: Tracking[];
  seconds: number;
  markdown: string;
}

/** Reads the dataset and makes the split the options ask for (see openWithSplit). */
export async function openSplit(o: Pick<RecommendEvalOptions, 'data' | 'split' | 'trainShare'>): Promise<{ ds: Dataset; split: TemporalSplit; kind: 'global' | 'per-user' }> {
  const kind = o.split ?? (o.data.kind === 'movielens' ? 'per-user' : 'global');
  return { ...await openWithSplit(o.data, { split: kind, trainShare: o.trainShare ?? RECOMMEND_EVAL_DEFAULTS.trainShare }), kind };
}

export async function evalRecommend(options: RecommendEvalOptions): Promise<RecommendEvalResult> {
  const t0 = performance.now();
  const o = withDefaults(RECOMMEND_EVAL_DEFAULTS, options);
  const log = o.log ?? (() => undefined);
  const { seeds, ks, maxSeeds } = o;
  const merge = o.stage1?.merge ?? 'attention';
  const { other, ablation, itself } = mergeRows(merge);
  if (o.methods?.includes(itself)) throw new RalmError('RALM_ERR_VALIDATION', `methods: "${itself}" is RALM itself when stage 1 merges by ${merge}; the merge ablation is "${ablation}"`, { field: 'methods' });
  const methods = new Set((o.methods ?? METHODS).filter((m) => m !== itself));
  const { ds, split, kind } = o.validation ? await openValidationSplit(o) : await openSplit(o);
  const evaluatedOn = o.validation ? 'validation' as const : 'test' as const;
  const ctx = buildContext(ds, split, { maxUsers: o.maxUsers, minTrainClicks: o.minTrainClicks, seed: 1 });
  log(`${ds.name}${o.validation ? ' (validation split of the training period)' : ''}: ${kind} split at ${new Date(split.cut).toISOString()}: ${split.trainRows} training rows, ${split.testRows} test rows; evaluating ${ctx.users.length} users over ${ctx.candidates.length} candidates; ${split.newItems.length} new items`);
  const pairs = distinctPositives(ds, split.trainEnd);
  const trainClickers = clickersByItem(pairs);
  const knownUsers: number[] = [];
  {
    const seen = new Uint8Array(ds.users.size);
    for (let j = 0; j < split.trainEnd; j++) seen[ds.clicks.user[j]] = 1;
    seen.forEach((v, u) => v && knownUsers.push(u));
  }
  const levels = (options: ItemLevelOptions | false | undefined): RalmRecommenderOptions['levels'] => (options === false ? null : { users: knownUsers, options: options ?? ITEM_LEVEL_DEFAULTS });
  const runs: RunRecord[] = [];
  const freshRuns: RunRecord[] = [];
  const training: TrainingRecord[] = [];
  const newItems = new NewItemProtocol(ds, split, ctx, clickersByItem(distinctPositives(ds, ds.clickCount)), { seedCounts: o.seedCounts, maxItems: o.newItemsMax, maxTargets: o.newItemTargets, negatives: o.newItemNegatives, seedUsers: o.newItemSeeds });

  // Fresh candidates: the same requests for every method and seed.
  const freshWindow = o.freshWindowMs ?? defaultFreshWindow(kind);
  let slots: FreshSlot[] = [];
  if (freshWindow > 0) {
    const known = new Uint8Array(ds.users.size);
    for (let j = 0; j < split.trainEnd; j++) known[ds.clicks.user[j]] = 1;
    const rt = kind === 'global' ? globalRealTime(ds, split.cut) : perUserRealTime(ds, split.trainEnd, await openDataset({ ...o.data, perUserSplit: undefined, featuresAsOf: undefined }));
    const fo: FreshOptions = { windowMs: freshWindow, stepMs: o.freshStepMs, minSeeds: o.freshMinSeeds, maxSeeds, maxRequests: o.freshMaxRequests, aucNegatives: o.aucNegatives, ks, seed: 1 };
    slots = freshSlots(rt, ds.users.size, ds.items.size, known, fo);
    log(`fresh candidates: window ${freshWindow / 3_600_000} h, ${slots.length} request times, ${slots.reduce((s, sl) => s + sl.requests.length, 0)} requests`);
  }

  const evalOne = async (rec: Recommender & Partial<FreshScorer>, seed: number): Promise<void> => {
    const r = await evaluateRanking(ctx, rec, { ks, aucNegatives: o.aucNegatives, seed: 1 });
    runs.push({ method: rec.name, seed, metrics: { ...r.metrics, msPerUser: r.timing.msPerUser } });
    const m = r.metrics;
    log(`  ${rec.name.padEnd(28)} AUC ${m.auc.toFixed(4)}  AUC (exposure) ${m.aucExposure.toFixed(4)}  prec@10 ${m['prec@10']?.toFixed(4) ?? '–'}  prec@50 ${m['prec@50']?.toFixed(4) ?? '–'}  (${r.timing.seconds.toFixed(1)} s)`);
    if (slots.length > 0 && rec.scoreSlot) {
      const f = await evaluateFresh(slots, rec as FreshScorer, { aucNegatives: o.aucNegatives, ks, seed: 1 });
      freshRuns.push({ method: rec.name, seed, metrics: f });
      log(`  ${''.padEnd(28)} fresh: AUC ${f.auc.toFixed(4)}  AUC (exposure) ${f.aucExposure.toFixed(4)}  prec@10 ${f['prec@10'].toFixed(4)}`);
    }
  };

  for (const seed of seeds) {
    log(`seed ${seed}:`);
    const stage1 = async (merge: 'attention' | 'concat', over: Stage1Options = {}): Promise<Stage1Result> => {
      const t = performance.now();
      const what = over.epochs !== undefined ? `${merge}, ${over.epochs} epochs, for the YouTube-DNN-style baseline` : merge;
      const r = await trainStage1(ds, split.trainEnd, { ...o.stage1, ...over, merge, seed, log: (l) => log(`  [stage 1, ${what}] ${l}`), onProgress: o.onProgress });
      training.push({ seed, method: `stage 1 (${what})`, seconds: (performance.now() - t) / 1000, bestEpoch: r.bestEpoch, validation: r.bestValidationHitAt50 });
      return r;
    };
    const s1a = await stage1(merge);
    const s1c = methods.has(ablation) ? await stage1(other) : null;
    const variants: Array<{ name: (typeof METHODS)[number]; s1: Stage1Result | null; opts: Stage2Options }> = [
      { name: 'RALM', s1: s1a, opts: {} },
      // The ablations are fixed configurations: none may turn into another by the keep check's averaged-seeds alternative.
      { name: 'RALM (untrained)', s1: s1a, opts: { epochs: 0, init: 'identity', h: s1a.m, keepAveraged: false } },
      { name: 'RALM (averaged seeds)', s1: s1a, opts: { k: 1, keepAveraged: false } },
      { name: 'RALM (no local attention)', s1: s1a, opts: { alpha: 1, beta: 0, learnBlend: false, keepAveraged: false } },
      { name: 'RALM (no global attention)', s1: s1a, opts: { alpha: 0, beta: 1, learnBlend: false, keepAveraged: false } },
      { name: ablation, s1: s1c, opts: {} },
    ];
    const served: Array<{ name: string; s1: Stage1Result; model: RalmModel }> = [];
    const scoresNewItems = (name: string): boolean => name === 'RALM' || name === 'RALM (averaged seeds)' || (name === 'RALM (untrained)' && !methods.has('RALM'));
    for (const v of variants) {
      if (!methods.has(v.name) || !v.s1) continue;
      const t = performance.now();
      const embedder = await targetEmbedder(ds, split.trainEnd, v.s1);
      let s2: Stage2Result;
      try {
        s2 = await trainStage2(v.s1.x, v.s1.m, pairs, {
          ...withDefaults(TRAIN_DEFAULTS.stage2, o.stage2 ?? {}), ...v.opts, seed, dataset: ds.name,
          ...(embedder ? { xWithout: (u: Int32Array, i: Int32Array) => embedder.embed(u, i) } : {}),
          log: (l) => log(`  [stage 2, ${v.name}] ${l}`), onProgress: o.onProgress,
        });
      } finally {
        embedder?.dispose();
      }
      training.push({ seed, method: v.name, seconds: (performance.now() - t) / 1000, bestEpoch: s2.bestEpoch, validation: s2.bestValidationAuc, kept: s2.kept, validationItems: s2.validation.kept.items, validationUsers: s2.validation.kept.users, validationRanking: s2.validation.kept.ranking,
        popularityPrior: s2.prior.lambda, validationRankingWithPrior: s2.validation.kept.withPrior, check: s2.check });
      // The sweeps below never run on a row that can be a copy: RALM comes first, and the untrained row sweeps only without it.
      const same = served.find((p) => p.s1 === v.s1 && sameServedModel(p.model, s2.model));
      if (same && v.name !== 'RALM') {
        for (const [list, from] of [[runs, runs], [freshRuns, freshRuns]] as const) {
          for (const r of from.filter((x) => x.method === same.name && x.seed === seed)) list.push({ ...r, method: v.name, metrics: { ...r.metrics } });
        }
        if (scoresNewItems(v.name)) newItems.alias(same.name, v.name, seed);
        log(`  ${v.name.padEnd(28)} serves the same model as ${same.name} (every weight, k, the blend and λ): its figures are ${same.name}'s, not scored again`);
        continue;
      }
      served.push({ name: v.name, s1: v.s1, model: s2.model });
      const rng = new Rng(seed * 101 + 5);
      // One sample per item, so a prior sweep scores the very clusters the RALM row did.
      const sampled = new Map<number, number[]>();
      const sampleSeeds = (i: number): number[] => {
        const l = (trainClickers.get(i) ?? []).slice();
        if (!sampled.has(i)) sampled.set(i, l.length > maxSeeds ? rng.shuffle(l, maxSeeds).slice(0, maxSeeds) : l);
        return sampled.get(i) as number[];
      };
      const rec = await RalmRecommender.create(v.name, s2.model, v.s1.x, sampleSeeds, ctx.candidates, seed, (i) => trainClickers.get(i)?.length ?? 0, { levels: levels(o.itemLevels), freshItemLevels: o.freshItemLevels });
      try {
        await evalOne(rec, seed);
        if (scoresNewItems(v.name)) await newItems.ralm(rec, seed, o.newItemPlacebo ? knownUsers : undefined);
      } finally {
        await rec.close();
      }
      for (const lambda of v.name === 'RALM' ? o.priorSweep ?? [] : []) {
        const swept = await RalmRecommender.create(`RALM (λ = ${lambda})`, s2.model, v.s1.x, sampleSeeds, ctx.candidates, seed, (i) => trainClickers.get(i)?.length ?? 0, { popularityPrior: lambda, levels: levels(o.itemLevels), freshItemLevels: o.freshItemLevels });
        try {
          await evalOne(swept, seed);
        } finally {
          await swept.close();
        }
      }
      // The sweep runs on the trained RALM, or on the untrained one when it is run alone.
      const sweep = o.levelSweep && (v.name === 'RALM' || (v.name === 'RALM (untrained)' && !methods.has('RALM')));
      for (const [policy, lo] of sweep ? Object.entries(LEVEL_SWEEP).filter(([name]) => !o.levelPolicies || o.levelPolicies.includes(name)) : []) {
        const swept = await RalmRecommender.create(`${v.name} (levels: ${policy})`, s2.model, v.s1.x, sampleSeeds, ctx.candidates, seed, (i) => trainClickers.get(i)?.length ?? 0, { levels: levels(lo), freshItemLevels: o.freshItemLevels });
        try {
          await evalOne(swept, seed);
          await newItems.ralm(swept, seed, o.newItemPlacebo ? knownUsers : undefined);
        } finally {
          await swept.close();
        }
      }
    }
    const ownBaseline = o.baselineEpochs !== undefined && o.baselineEpochs !== (o.stage1?.epochs ?? undefined);
    const yt = new YoutubeDnn(ownBaseline && methods.has('YouTube-DNN-style') ? await stage1(merge, { epochs: o.baselineEpochs, patience: o.stage1?.patience }) : s1a);
    if (methods.has('YouTube-DNN-style')) await evalOne(yt, seed);
    const pop = MostPopular.fromContext(ctx);
    if (methods.has('most popular')) await evalOne(Object.assign(pop, { scoreSlot: freshPopularity.scoreSlot }), seed);
    newItems.baselines(yt, pop.name, seed);
  }

  const names = [...new Set(runs.map((r) => r.method))];
  const newItemRows = newItems.rows([...names, ...newItems.placebos], seeds);
  const metricsShown = ['auc', 'aucExposure', ...ks.flatMap((k) => [`prec@${k}`, `recall@${k}`]), `longTail@${ks[ks.length - 1]}`, `coverage@${ks[ks.length - 1]}`, ...(runs[0] && `categories@${ks[0]}` in runs[0].metrics ? [`categories@${ks[0]}`] : []), 'msPerUser'];
  const freshShown = ['auc', 'aucExposure', ...ks.flatMap((k) => [`prec@${k}`, `recall@${k}`])];
  const tracking = validationTracking(training, runs, freshRuns);
  const fresh = {
    windowMs: freshWindow, slots: slots.length, requests: slots.reduce((s, sl) => s + sl.requests.length, 0), runs: freshRuns,
    summary: freshRuns.length ? summarizeRuns(freshRuns, { metrics: freshShown }) : null,
  };
  const markdown = recommendMarkdown({ runs, metricsShown, fresh, freshShown, newItems: newItemRows, methods: names, training, tracking, evaluatedOn });
  return {
    dataset: ds.name, evaluatedOn,
    split: { kind, cut: new Date(split.cut).toISOString(), trainRows: split.trainRows, testRows: split.testRows, testUsers: split.testUsers, newUsers: split.newUsers, newItems: split.newItems.length, newItemTestClicks: split.newItemTestClicks },
    context: { users: ctx.users.length, candidates: ctx.candidates.length, headShare: ctx.options.headShare },
    settings: {
      seeds, ks, aucNegatives: o.aucNegatives, baselineEpochs: o.baselineEpochs ?? null, maxUsers: o.maxUsers, minTrainClicks: o.minTrainClicks, maxSeeds, trainShare: o.trainShare, validation: !!o.validation,
      fresh: { windowMs: freshWindow, stepMs: o.freshStepMs, minSeeds: o.freshMinSeeds, maxRequests: o.freshMaxRequests }, seedCounts: o.seedCounts, newItemSeeds: o.newItemSeeds,
      itemLevels: o.itemLevels === false ? 'off' : { ...ITEM_LEVEL_DEFAULTS, ...o.itemLevels }, freshItemLevels: o.freshItemLevels !== false,
      stage1: { ...o.stage1, log: undefined, onProgress: undefined }, stage2: { ...withDefaults(TRAIN_DEFAULTS.stage2, o.stage2 ?? {}), log: undefined, onProgress: undefined },
    },
    runs, summary: summarizeRuns(runs, { metrics: metricsShown }), fresh, newItems: newItemRows, training, tracking, seconds: (performance.now() - t0) / 1000, markdown,
  };
}
