/**
 * `ralm tune`: a small, seeded hyper-parameter search on the validation split of the training
 * period (validation-split.ts): the test rows are never read, so the configuration it picks can
 * then be evaluated on them honestly (`ralm eval` with the same options).
 *
 * The grid is the product of the values given per setting; `trials` configurations are drawn
 * from it without replacement (seeded; all of them when the grid is smaller). Each trial trains
 * stage 1 (shared by trials whose stage-1 settings agree) and stage 2, serves RALM through the
 * engine and ranks the validation split's candidates for its users; the trial with the best
 * `select` metric wins. Every trial's metrics and cost (seconds) are reported.
 */
import { targetEmbedder, trainStage1, type MergeKind, type Stage1Options, type Stage1Result } from '../train/stage1.js';
import { trainStage2, type Objective, type Stage2Options } from '../train/stage2.js';
import { distinctPositives } from '../train/pipeline.js';
import { TRAIN_DEFAULTS } from '../train/defaults.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { Rng } from '../util/rng.js';
import { clickersByItem } from '../data/dataset.js';
import { buildContext, evaluateRanking } from './ranking-eval.js';
import type { RecommendEvalOptions } from './recommend-eval.js';
import { RalmRecommender } from './recommenders.js';
import { openValidationSplit } from './validation-split.js';
import { TUNE_DEFAULTS } from './defaults.js';

/** The settings a search may vary, each a list of values to try. */
export interface TuneGrid {
  m?: number[];
  k?: number[];
  merge?: MergeKind[];
  /** Stage 1 epochs at most (0: the tower as it starts). */
  epochs?: number[];
  stage1Lr?: number[];
  stage2Lr?: number[];
  stage2Epochs?: number[];
  objective?: Objective[];
  negatives?: number[];
  /** How negative items are drawn (Stage2Options.itemSampling). */
  itemNegatives?: Array<'uniform' | 'popularity'>;
  blend?: Array<'fixed' | 'learned'>;
}

export interface TuneOptions extends Pick<RecommendEvalOptions, 'data' | 'split' | 'trainShare' | 'maxUsers' | 'minTrainClicks' | 'maxSeeds' | 'log' | 'onProgress'> {
  grid: TuneGrid;
  trials?: number;
  seed?: number;
  /** The metric that picks the winner (any of evaluateRanking's, e.g. `prec@10`, `auc`). */
  select?: string;
  ks?: number[];
  /** Settings every trial shares. */
  stage1?: Stage1Options;
  stage2?: Stage2Options;
}

export type TuneConfig = { [K in keyof TuneGrid]-?: NonNullable<TuneGrid[K]>[number] };

export interface TuneTrial {
  config: TuneConfig;
  metrics: Record<string, number>;
  stage2: { kept: string; bestEpoch: number; validationItems: number };
  seconds: { stage1: number; stage2: number; scoring: number };
}

export interface TuneResult {
  dataset: string;
  evaluatedOn: 'validation';
  select: string;
  gridSize: number;
  trials: TuneTrial[];
  best: TuneTrial;
  seconds: number;
}

/** Stage 1 and 2 settings of a configuration, over the shared ones. */
function stageOptions(c: TuneConfig, o: TuneOptions, seed: number): { s1: Stage1Options; s2: Stage2Options } {
  return {
    s1: { ...o.stage1, m: c.m, hidden: [2 * c.m, c.m], merge: c.merge, epochs: c.epochs, learningRate: c.stage1Lr, seed },
    s2: {
      ...withDefaults(TRAIN_DEFAULTS.stage2, o.stage2 ?? {}), h: c.m, k: c.k, learningRate: c.stage2Lr, epochs: c.stage2Epochs, objective: c.objective,
      negatives: c.negatives, itemSampling: c.itemNegatives, learnBlend: c.blend === 'learned', seed,
    },
  };
}

export async function tune(options: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  const o = withDefaults(TUNE_DEFAULTS, options);
  const log = o.log ?? (() => undefined);
  const s2d = withDefaults(TRAIN_DEFAULTS.stage2, o.stage2 ?? {});
  const axes: { [K in keyof TuneGrid]-?: NonNullable<TuneGrid[K]> } = {
    m: o.grid.m ?? [o.stage1?.m ?? 64], k: o.grid.k ?? [o.stage2?.k ?? 20], merge: o.grid.merge ?? [o.stage1?.merge ?? 'attention'],
    epochs: o.grid.epochs ?? [o.stage1?.epochs ?? 10], stage1Lr: o.grid.stage1Lr ?? [o.stage1?.learningRate ?? 1e-3],
    stage2Lr: o.grid.stage2Lr ?? [s2d.learningRate], stage2Epochs: o.grid.stage2Epochs ?? [o.stage2?.epochs ?? 10],
    objective: o.grid.objective ?? [s2d.objective], negatives: o.grid.negatives ?? [s2d.negatives], itemNegatives: o.grid.itemNegatives ?? [s2d.itemSampling], blend: o.grid.blend ?? [s2d.learnBlend ? 'learned' : 'fixed'],
  };
  let grid: TuneConfig[] = [{} as TuneConfig];
  for (const [key, values] of Object.entries(axes) as Array<[keyof TuneConfig, unknown[]]>) {
    if (values.length === 0) throw new RalmError('RALM_ERR_VALIDATION', `grid: ${key} has no value to try`, { field: key });
    grid = grid.flatMap((c) => values.map((v) => ({ ...c, [key]: v }) as TuneConfig));
  }
  const chosen = grid.length > o.trials ? new Rng(o.seed).shuffle(grid.slice(), o.trials).slice(0, o.trials) : grid;
  const { ds, split } = await openValidationSplit(o);
  const ctx = buildContext(ds, split, { maxUsers: o.maxUsers ?? 0, minTrainClicks: o.minTrainClicks ?? 10, seed: 1 });
  const pairs = distinctPositives(ds, split.trainEnd);
  const clickers = clickersByItem(pairs);
  log(`${ds.name}, validation split of the training period: ${ctx.users.length} users × ${ctx.candidates.length} candidates; ${chosen.length} of ${grid.length} configurations, selecting by ${o.select}`);

  // Trials with the same stage-1 settings share one stage 1 (run one after the other).
  const key1 = (c: TuneConfig): string => JSON.stringify([c.m, c.merge, c.epochs, c.stage1Lr]);
  chosen.sort((a, b) => key1(a).localeCompare(key1(b)));
  const trials: TuneTrial[] = [];
  let s1: { key: string; r: Stage1Result; seconds: number } | null = null;
  for (const [n, c] of chosen.entries()) {
    const { s1: o1, s2: o2 } = stageOptions(c, o, o.seed);
    let s1Seconds = 0;
    if (s1?.key !== key1(c)) {
      const t = performance.now();
      const r = await trainStage1(ds, split.trainEnd, { ...o1, log: (l) => log(`  [stage 1] ${l}`), onProgress: o.onProgress });
      s1 = { key: key1(c), r, seconds: (performance.now() - t) / 1000 };
      s1Seconds = s1.seconds;
    }
    const t2 = performance.now();
    const embedder = await targetEmbedder(ds, split.trainEnd, s1.r);
    let s2;
    try {
      s2 = await trainStage2(s1.r.x, s1.r.m, pairs, {
        ...o2, dataset: ds.name, log: (l) => log(`  [stage 2] ${l}`), onProgress: o.onProgress,
        ...(embedder ? { xWithout: (u: Int32Array, i: Int32Array) => embedder.embed(u, i) } : {}),
      });
    } finally {
      embedder?.dispose();
    }
    const t3 = performance.now();
    const rng = new Rng(o.seed * 101 + 5);
    const maxSeeds = o.maxSeeds ?? 1000;
    const rec = await RalmRecommender.create('RALM', s2.model, s1.r.x, (i) => {
      const l = (clickers.get(i) ?? []).slice();
      return l.length > maxSeeds ? rng.shuffle(l, maxSeeds).slice(0, maxSeeds) : l;
    }, ctx.candidates, o.seed, (i) => clickers.get(i)?.length ?? 0);
    let metrics: Record<string, number>;
    try {
      metrics = (await evaluateRanking(ctx, rec, { ks: o.ks, seed: 1 })).metrics;
    } finally {
      await rec.close();
    }
    if (!(o.select in metrics)) throw new RalmError('RALM_ERR_VALIDATION', `select: no metric ${JSON.stringify(o.select)} (have ${Object.keys(metrics).join(', ')})`, { field: 'select' });
    const trial: TuneTrial = {
      config: c, metrics, stage2: { kept: s2.kept, bestEpoch: s2.bestEpoch, validationItems: s2.validation.kept.items },
      seconds: { stage1: s1Seconds, stage2: (t3 - t2) / 1000, scoring: (performance.now() - t3) / 1000 },
    };
    trials.push(trial);
    log(`trial ${n + 1}/${chosen.length} ${JSON.stringify(c)}: ${o.select} ${metrics[o.select].toFixed(4)}, AUC ${metrics.auc.toFixed(4)} (stage 2 kept ${s2.kept})`);
  }
  const best = trials.reduce((a, b) => (b.metrics[o.select] > a.metrics[o.select] ? b : a));
  return { dataset: ds.name, evaluatedOn: 'validation', select: o.select, gridSize: grid.length, trials, best, seconds: (performance.now() - t0) / 1000 };
}

/** The trials as a Markdown table, best first. */
export function tuneMarkdown(r: TuneResult): string {
  const cols = ['auc', 'aucExposure', 'prec@10', 'prec@50', 'recall@100'];
  const keys = Object.keys(r.best.config) as Array<keyof TuneConfig>;
  const rows = r.trials.slice().sort((a, b) => b.metrics[r.select] - a.metrics[r.select]).map((t) => `| ${keys.map((k) => String(t.config[k])).join(' | ')} | ${cols.map((c) => (t.metrics[c] ?? NaN).toFixed(4)).join(' | ')} | ${t.stage2.kept} | ${(t.seconds.stage1 + t.seconds.stage2 + t.seconds.scoring).toFixed(0)} |`);
  return [`| ${keys.join(' | ')} | ${cols.join(' | ')} | stage 2 kept | seconds |`, `|${keys.map(() => '---').join('|')}|${cols.map(() => '---:').join('|')}|---|---:|`, ...rows].join('\n');
}
