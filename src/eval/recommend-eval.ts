/**
 * `ralm eval`: RALM against its baselines on one temporal split, over several training seeds.
 *
 * For each seed: stage 1 twice (attention merge, and concatenation for the ablation), then stage 2
 * five times on the frozen embeddings — RALM; RALM with averaged seeds (k = 1: the one centroid is
 * the seeds' mean, so both attentions reduce to it); RALM without local attention (α = 1, β = 0);
 * without global attention (α = 0, β = 1); and RALM on the concatenation tower. Every RALM variant
 * is trained with its own setting, not just served with it. The baselines: most popular (training
 * clicks) and a YouTube-DNN-style model (the attention tower's x_u · v_i + b_i, the sampled
 * softmax's own item embeddings). All methods rank the same candidates for the same users and
 * meet the same AUC negatives (see ranking-eval.ts for the protocol).
 *
 * RALM serves through the engine, as in production: each candidate's seeds are its training
 * clickers (at most `maxSeeds`, sampled), clustered into k centroids in the model's transformed
 * space, with global vectors from the model's global attention.
 *
 * New items: items first clicked after the cut. For n in `seedCounts`, each such item with more
 * than n distinct clickers gets its first n clickers as seeds (in time order); its later clickers
 * who are known users are the targets. Per (target, item) the item is scored against
 * `newItemNegatives` training-period candidates the target never clicked; the mean of the
 * resulting AUCs is reported per method. RALM needs only the n seeds; the YouTube-DNN-style model
 * would need retraining (its embedding of a new item is whatever sampling as a negative left);
 * most-popular is given the item's n clicks as its popularity (an online counter).
 */
import { RalmEngine } from '../engine/engine.js';
import type { Dataset } from '../data/dataset.js';
import { openWithSplit, type OpenOptions } from '../data/open.js';
import type { TemporalSplit } from '../data/split.js';
import type { RalmModel } from '../model/model.js';
import { trainStage1, type Stage1Options, type Stage1Result } from '../train/stage1.js';
import { trainStage2, type Stage2Options } from '../train/stage2.js';
import { distinctPositives, TRAIN_DEFAULTS } from '../train/pipeline.js';
import { withDefaults } from '../util/options.js';
import { Rng } from '../util/rng.js';
import { MostPopular } from './baselines.js';
import { auc, meanSpread, type MeanSpread } from './metrics.js';
import { buildContext, evaluateRanking, type Recommender } from './ranking-eval.js';
import { renderMarkdown, summarizeRuns, type ReportJson, type RunRecord } from './report.js';

export const METHODS = ['RALM', 'RALM (averaged seeds)', 'RALM (no local attention)', 'RALM (no global attention)', 'RALM (concatenation)', 'YouTube-DNN-style', 'most popular'] as const;

export interface RecommendEvalOptions {
  data: OpenOptions;
  /** 'global': one cut at `trainShare` of the rows; 'per-user': each user's first share (MovieLens adapter). */
  split?: 'global' | 'per-user';
  trainShare?: number;
  seeds?: number[];
  /** Evaluate at most this many users (a fixed seeded sample, the same for every seed). */
  maxUsers?: number;
  /** Candidates need this many training clicks. */
  minTrainClicks?: number;
  ks?: number[];
  aucNegatives?: number;
  /** Seeds clustered per item at most. */
  maxSeeds?: number;
  stage1?: Stage1Options;
  stage2?: Stage2Options;
  seedCounts?: number[];
  newItemsMax?: number;
  newItemTargets?: number;
  newItemNegatives?: number;
  log?: (line: string) => void;
  onProgress?: Stage1Options['onProgress'] & Stage2Options['onProgress'];
}

/**
 * `ralm eval`'s defaults, read by evalRecommend and the command's option table. Candidates need
 * 10 training clicks: the look-alike's serving range (fewer seeds are the new-item protocol's
 * subject). The stages train with their own defaults and the pipeline's (TRAIN_DEFAULTS.stage2);
 * the split defaults to per-user for MovieLens and one global cut otherwise.
 */
export const RECOMMEND_EVAL_DEFAULTS: Readonly<Required<Pick<RecommendEvalOptions,
  'trainShare' | 'seeds' | 'maxUsers' | 'minTrainClicks' | 'ks' | 'aucNegatives' | 'maxSeeds' | 'seedCounts' | 'newItemsMax' | 'newItemTargets' | 'newItemNegatives'>>> = {
  trainShare: 0.8, seeds: [1, 2, 3], maxUsers: 0, minTrainClicks: 10, ks: [10, 50, 100], aucNegatives: 100, maxSeeds: 1000,
  seedCounts: [1, 5, 20, 100], newItemsMax: 300, newItemTargets: 50, newItemNegatives: 100,
};

export interface NewItemRow {
  n: number;
  items: number;
  pairs: number;
  /** Per method, mean AUC over the seeds' runs (and its spread over seeds). */
  auc: Record<string, MeanSpread>;
}

export interface RecommendEvalResult {
  dataset: string;
  split: { kind: 'global' | 'per-user'; cut: string; trainRows: number; testRows: number; testUsers: number; newUsers: number; newItems: number; newItemTestClicks: number };
  context: { users: number; candidates: number; headShare: number };
  settings: Record<string, unknown>;
  runs: RunRecord[];
  summary: ReportJson;
  newItems: NewItemRow[];
  training: Array<{ seed: number; method: string; seconds: number; bestEpoch: number; validation: number }>;
  seconds: number;
  markdown: string;
}

/** x_u · v_i + b_i from stage 1's sampled softmax. */
class YoutubeDnn implements Recommender {
  readonly name = 'YouTube-DNN-style';
  constructor(private readonly s1: Stage1Result) {}
  score(u: number, items: Uint32Array, out: Float32Array): void {
    const { m, x, itemEmbeddings: v, itemBias: b } = this.s1;
    for (let j = 0; j < items.length; j++) {
      const i = items[j];
      let s = b[i];
      for (let d = 0; d < m; d++) s += x[u * m + d] * v[i * m + d];
      out[j] = s;
    }
  }
}

/** RALM through the engine: candidates published with centroids of their training clickers. */
class RalmRecommender implements Recommender {
  private ids: string[] = [];
  private idsFor: Uint32Array | null = null;

  private constructor(readonly name: string, readonly engine: RalmEngine, private readonly x: Float32Array, private readonly m: number) {}

  /** The universal embedding of user u. */
  universal(u: number): Float32Array {
    return this.x.subarray(u * this.m, (u + 1) * this.m);
  }

  static async create(name: string, model: RalmModel, x: Float32Array, seedsOf: (i: number) => ArrayLike<number>, items: Uint32Array, seed: number): Promise<RalmRecommender> {
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const r = new RalmRecommender(name, engine, x, model.manifest.m);
    for (let b = 0; b < items.length; b += 512) {
      const chunk = items.subarray(b, b + 512);
      const clusters = await r.centroidsFor(Array.from(chunk, (i) => seedsOf(i)), seed);
      await engine.upsertItems(clusters.map((c, j) => ({ id: String(chunk[j]), centroids: c })));
    }
    return r;
  }

  /** Centroids (count × h) of each seed list, in the model's transformed space. */
  async centroidsFor(seedLists: Array<ArrayLike<number>>, seed: number): Promise<Float32Array[]> {
    const { m } = this;
    const h = this.engine.model.manifest.h;
    const jobs = [];
    for (const seeds of seedLists) {
      const xs = new Float32Array(seeds.length * m);
      for (let r = 0; r < seeds.length; r++) xs.set(this.x.subarray(seeds[r] * m, (seeds[r] + 1) * m), r * m);
      const e = await this.engine.transform(xs, seeds.length);
      jobs.push({ points: e, n: seeds.length });
    }
    const res = await this.engine.clusterPoints(jobs, { seed });
    return res.map((c) => c.centroids.slice(0, c.count * h));
  }

  async score(u: number, items: Uint32Array, out: Float32Array): Promise<void> {
    if (this.idsFor !== items) {
      this.ids = Array.from(items, String);
      this.idsFor = items;
    }
    const [r] = await this.engine.score([{ user: { universal: this.universal(u) }, items: this.ids }]);
    out.set(r.scores);
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

/** Each item's distinct clickers, in time order, from distinct (user, item) pairs in time order. */
function clickersByItem(pairs: { user: Uint32Array; item: Uint32Array }): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (let j = 0; j < pairs.user.length; j++) {
    let l = out.get(pairs.item[j]);
    if (!l) out.set(pairs.item[j], (l = []));
    l.push(pairs.user[j]);
  }
  return out;
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
  const { seeds, ks, maxSeeds, seedCounts } = o;
  const { ds, split, kind } = await openSplit(o);
  const ctx = buildContext(ds, split, { maxUsers: o.maxUsers, minTrainClicks: o.minTrainClicks, seed: 1 });
  log(`${ds.name}: ${kind} split at ${new Date(split.cut).toISOString()}: ${split.trainRows} training rows, ${split.testRows} test rows; evaluating ${ctx.users.length} users over ${ctx.candidates.length} candidates; ${split.newItems.length} new items`);
  const pairs = distinctPositives(ds, split.trainEnd);
  const trainClickers = clickersByItem(pairs);
  const allClickers = clickersByItem(distinctPositives(ds, ds.clickCount));
  const runs: RunRecord[] = [];
  const training: RecommendEvalResult['training'] = [];
  const newItemAucs = new Map<string, number[]>(); // `${n}|${method}|${seed}` → pair AUCs
  const newItemCounts = new Map<number, { items: number; pairs: number }>();

  const sampleSeeds = (i: number, rng: Rng): number[] => {
    const l = (trainClickers.get(i) ?? []).slice();
    return l.length > maxSeeds ? rng.shuffle(l, maxSeeds).slice(0, maxSeeds) : l;
  };

  // The new-item protocol's items, targets and negatives: fixed across seeds and methods.
  const known = new Uint8Array(ds.users.size);
  for (let j = 0; j < split.trainEnd; j++) known[ds.clicks.user[j]] = 1;
  const everClicked = new Map<number, Set<number>>();
  for (let j = 0; j < ds.clickCount; j++) {
    if (!ds.clicks.label[j]) continue;
    let s = everClicked.get(ds.clicks.user[j]);
    if (!s) everClicked.set(ds.clicks.user[j], (s = new Set()));
    s.add(ds.clicks.item[j]);
  }
  const nrng = new Rng(4242);
  const newItemPlans = seedCounts.map((n) => {
    const eligible = Array.from(split.newItems).filter((i) => (allClickers.get(i)?.length ?? 0) > n);
    const chosen = eligible.length > o.newItemsMax ? nrng.shuffle(eligible.slice(), o.newItemsMax).slice(0, o.newItemsMax) : eligible;
    const plans = chosen.map((i) => {
      const cl = allClickers.get(i) as number[];
      const targets = cl.slice(n).filter((u) => known[u]).slice(0, o.newItemTargets);
      const negatives = targets.map((u) => {
        const seen = everClicked.get(u) ?? new Set<number>();
        const out: number[] = [];
        for (let tries = 0; out.length < o.newItemNegatives && tries < 20 * o.newItemNegatives; tries++) {
          const c = ctx.candidates[nrng.int(ctx.candidates.length)];
          if (!seen.has(c) && !out.includes(c)) out.push(c);
        }
        return Uint32Array.from(out);
      });
      return { item: i, seeds: cl.slice(0, n), targets, negatives };
    }).filter((p) => p.targets.length > 0);
    newItemCounts.set(n, { items: plans.length, pairs: plans.reduce((s, p) => s + p.targets.length, 0) });
    return { n, plans };
  });
  const pushNewAuc = (n: number, method: string, seed: number, v: number): void => {
    const key = `${n}|${method}|${seed}`;
    const l = newItemAucs.get(key) ?? [];
    l.push(v);
    newItemAucs.set(key, l);
  };
  const pairAuc = (pos: number, neg: Float32Array): number => auc([pos], neg);

  const evalOne = async (rec: Recommender, seed: number): Promise<void> => {
    const r = await evaluateRanking(ctx, rec, { ks, aucNegatives: o.aucNegatives, seed: 1 });
    runs.push({ method: rec.name, seed, metrics: { ...r.metrics, msPerUser: r.timing.msPerUser } });
    log(`  ${rec.name.padEnd(28)} AUC ${r.metrics.auc.toFixed(4)}  prec@10 ${r.metrics['prec@10']?.toFixed(4) ?? '–'}  prec@50 ${r.metrics['prec@50']?.toFixed(4) ?? '–'}  recall@50 ${r.metrics['recall@50']?.toFixed(4) ?? '–'}  (${r.timing.seconds.toFixed(1)} s)`);
  };

  /** New-item AUCs of a RALM recommender: publish each new item from its first n seeds, score targets. */
  const newItemsRalm = async (rec: RalmRecommender, seed: number): Promise<void> => {
    for (const { n, plans } of newItemPlans) {
      for (const p of plans) {
        const [c] = await rec.centroidsFor([p.seeds], seed);
        const id = `new-${p.item}`;
        await rec.engine.upsertItems([{ id, centroids: c }]);
        const res = await rec.engine.score(p.targets.map((u, t) => ({ user: { universal: rec.universal(u) }, items: [id, ...Array.from(p.negatives[t], String)] })));
        res.forEach((r) => pushNewAuc(n, rec.name, seed, pairAuc(r.scores[0], r.scores.subarray(1))));
        await rec.engine.removeItems([id]);
      }
    }
  };

  for (const seed of seeds) {
    log(`seed ${seed}:`);
    const stage1 = async (merge: 'attention' | 'concat'): Promise<Stage1Result> => {
      const t = performance.now();
      const r = await trainStage1(ds, split.trainEnd, { ...o.stage1, merge, seed, log: (l) => log(`  [stage 1, ${merge}] ${l}`), onProgress: o.onProgress });
      training.push({ seed, method: `stage 1 (${merge})`, seconds: (performance.now() - t) / 1000, bestEpoch: r.bestEpoch, validation: r.bestValidationHitAt50 });
      return r;
    };
    const s1a = await stage1('attention');
    const s1c = await stage1('concat');
    const variants: Array<{ name: (typeof METHODS)[number]; s1: Stage1Result; opts: Stage2Options }> = [
      { name: 'RALM', s1: s1a, opts: {} },
      { name: 'RALM (averaged seeds)', s1: s1a, opts: { k: 1 } },
      { name: 'RALM (no local attention)', s1: s1a, opts: { alpha: 1, beta: 0 } },
      { name: 'RALM (no global attention)', s1: s1a, opts: { alpha: 0, beta: 1 } },
      { name: 'RALM (concatenation)', s1: s1c, opts: {} },
    ];
    for (const v of variants) {
      const t = performance.now();
      const s2 = await trainStage2(v.s1.x, v.s1.m, pairs, { ...withDefaults(TRAIN_DEFAULTS.stage2, o.stage2 ?? {}), ...v.opts, seed, dataset: ds.name, log: (l) => log(`  [stage 2, ${v.name}] ${l}`), onProgress: o.onProgress });
      training.push({ seed, method: v.name, seconds: (performance.now() - t) / 1000, bestEpoch: s2.bestEpoch, validation: s2.bestValidationAuc });
      const rng = new Rng(seed * 101 + 5);
      const rec = await RalmRecommender.create(v.name, s2.model, v.s1.x, (i) => sampleSeeds(i, rng), ctx.candidates, seed);
      try {
        await evalOne(rec, seed);
        if (v.name === 'RALM' || v.name === 'RALM (averaged seeds)') await newItemsRalm(rec, seed);
      } finally {
        await rec.close();
      }
    }
    const yt = new YoutubeDnn(s1a);
    await evalOne(yt, seed);
    const pop = MostPopular.fromContext(ctx);
    await evalOne(pop, seed);
    // Baselines on new items.
    for (const { n, plans } of newItemPlans) {
      for (const p of plans) {
        p.targets.forEach((u, t) => {
          const negs = p.negatives[t];
          const sc = new Float32Array(negs.length + 1);
          yt.score(u, Uint32Array.of(p.item, ...negs), sc);
          pushNewAuc(n, yt.name, seed, pairAuc(sc[0], sc.subarray(1)));
          const pn = Float32Array.from(negs, (i) => ctx.popularity[i]);
          pushNewAuc(n, pop.name, seed, pairAuc(n, pn));
        });
      }
    }
  }

  const methods = [...new Set(runs.map((r) => r.method))];
  const newItems: NewItemRow[] = newItemPlans.map(({ n }) => {
    const row: NewItemRow = { n, ...(newItemCounts.get(n) as { items: number; pairs: number }), auc: {} };
    for (const method of methods) {
      const perSeed = seeds.map((s) => newItemAucs.get(`${n}|${method}|${s}`)).filter((l): l is number[] => !!l && l.length > 0).map((l) => l.reduce((a, b) => a + b, 0) / l.length);
      if (perSeed.length) row.auc[method] = meanSpread(perSeed);
    }
    return row;
  });
  const metricsShown = ['auc', ...ks.flatMap((k) => [`prec@${k}`, `recall@${k}`]), `longTail@${ks[ks.length - 1]}`, `coverage@${ks[ks.length - 1]}`, ...(runs[0] && `categories@${ks[0]}` in runs[0].metrics ? [`categories@${ks[0]}`] : []), 'msPerUser'];
  const summary = summarizeRuns(runs, { metrics: metricsShown });
  const markdown = [
    renderMarkdown(runs, { metrics: metricsShown }),
    '',
    newItemMarkdown(newItems, methods),
  ].join('\n');
  return {
    dataset: ds.name,
    split: { kind, cut: new Date(split.cut).toISOString(), trainRows: split.trainRows, testRows: split.testRows, testUsers: split.testUsers, newUsers: split.newUsers, newItems: split.newItems.length, newItemTestClicks: split.newItemTestClicks },
    context: { users: ctx.users.length, candidates: ctx.candidates.length, headShare: ctx.options.headShare },
    settings: { seeds, ks, aucNegatives: o.aucNegatives, maxUsers: o.maxUsers, minTrainClicks: o.minTrainClicks, maxSeeds, trainShare: o.trainShare, seedCounts, stage1: { ...o.stage1, log: undefined, onProgress: undefined }, stage2: { ...o.stage2, log: undefined, onProgress: undefined } },
    runs, summary, newItems, training, seconds: (performance.now() - t0) / 1000, markdown,
  };
}

function newItemMarkdown(rows: NewItemRow[], methods: string[]): string {
  const shown = methods.filter((m) => rows.some((r) => r.auc[m]));
  if (rows.every((r) => r.items === 0)) return '_No new item had enough clickers for the new-item protocol._';
  const head = `| seeds n | items | pairs | ${shown.join(' | ')} |`;
  const sep = `|---|---|---|${shown.map(() => '---').join('|')}|`;
  const body = rows.map((r) => {
    const best = Math.max(...shown.map((m) => r.auc[m]?.mean ?? -Infinity));
    const cells = shown.map((m) => {
      const v = r.auc[m];
      if (!v) return '—';
      const s = `${v.mean.toFixed(4)} ± ${(Number.isNaN(v.sd) ? 0 : v.sd).toFixed(4)}`;
      return v.mean.toFixed(4) === best.toFixed(4) ? `**${s}**` : s;
    });
    return `| ${r.n} | ${r.items} | ${r.pairs} | ${cells.join(' | ')} |`;
  });
  return ['New items: mean AUC of a new item against the candidates its later clickers never clicked, after its first n clicks', '', head, sep, ...body].join('\n');
}
