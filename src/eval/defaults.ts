/**
 * The evaluations' defaults (`ralm eval`, `ralm eval audience`, `ralm tune`) in a module that
 * loads none of the machinery they run: the command line's option tables read them to print help
 * and parse flags.
 */
import type { AudienceEvalOptions } from './audience-eval.js';
import type { RecommendEvalOptions } from './recommend-eval.js';
import type { TuneOptions } from './tune.js';
import type { ItemLevelOptions } from '../engine/item-levels.js';

/**
 * The methods `ralm eval` compares, by the names its reports print. "RALM" and its ablations run
 * on the stage-1 tower of the evaluation's merge (the dataset's choice, as `ralm train` serves);
 * the merge ablation is the other tower: "RALM (concatenation)" beside an attention-merge RALM,
 * "RALM (attention merge)" beside a concatenation one.
 */
export const METHODS = ['RALM', 'RALM (untrained)', 'RALM (averaged seeds)', 'RALM (no local attention)', 'RALM (no global attention)', 'RALM (concatenation)', 'RALM (attention merge)', 'YouTube-DNN-style', 'most popular'] as const;

type Merge = 'attention' | 'concat';
type MergeRow = 'RALM (concatenation)' | 'RALM (attention merge)';

/**
 * Beside a RALM whose tower merges by `merge`: the other merge, the ablation row trained on it,
 * and the row name that would be RALM itself (never a method of that evaluation).
 */
export function mergeRows(merge: Merge): { other: Merge; ablation: MergeRow; itself: MergeRow } {
  const row = (m: Merge): MergeRow => (m === 'concat' ? 'RALM (concatenation)' : 'RALM (attention merge)');
  const other = merge === 'attention' ? 'concat' : 'attention';
  return { other, ablation: row(other), itself: row(merge) };
}

/**
 * `ralm eval`'s defaults, read by evalRecommend and the command's option table. Candidates need
 * 10 training clicks: the look-alike's serving range (fewer seeds are the new-item protocol's
 * subject). The stages train with their own defaults and the pipeline's (TRAIN_DEFAULTS); the
 * split defaults to per-user for MovieLens and one global cut otherwise.
 */
export const RECOMMEND_EVAL_DEFAULTS: Readonly<Required<Pick<RecommendEvalOptions,
  'trainShare' | 'seeds' | 'maxUsers' | 'minTrainClicks' | 'ks' | 'aucNegatives' | 'maxSeeds' | 'freshStepMs' | 'freshMinSeeds' | 'freshMaxRequests' | 'seedCounts' | 'newItemsMax'
  | 'newItemTargets' | 'newItemNegatives' | 'newItemSeeds'>>> = {
  trainShare: 0.8, seeds: [1, 2, 3], maxUsers: 0, minTrainClicks: 10, ks: [10, 50, 100], aucNegatives: 100, maxSeeds: 1000,
  freshStepMs: 3_600_000, freshMinSeeds: 3, freshMaxRequests: 2000, seedCounts: [1, 5, 20, 100], newItemsMax: 300, newItemTargets: 50, newItemNegatives: 100,
  newItemSeeds: 'known',
};

/** The level policies a level sweep compares (docs/quality.md, "New items: the level offset served"). */
export const LEVEL_SWEEP: Record<string, ItemLevelOptions | false> = {
  'off': false,
  'below 10, look-alike only': { levelBelow: 10, withPrior: false, fade: false },
  'below 10, with the prior': { levelBelow: 10, withPrior: true, fade: false },
  'below 20, look-alike only': { levelBelow: 20, withPrior: false, fade: false },
  'below 20, with the prior': { levelBelow: 20, withPrior: true, fade: false },
  'fading out at 20, look-alike only': { levelBelow: 20, withPrior: false, fade: true },
  'fading out at 20, with the prior': { levelBelow: 20, withPrior: true, fade: true },
  'fading out at 10, look-alike only': { levelBelow: 10, withPrior: false, fade: true },
  'below 10, prior shifted': { levelBelow: 10, withPrior: false, shiftPrior: true, fade: false },
  'below 20, prior shifted': { levelBelow: 20, withPrior: false, shiftPrior: true, fade: false },
  'every item, with the prior': { levelBelow: Infinity, withPrior: true, fade: false },
};

/**
 * `ralm eval audience`'s defaults, read by evalAudience and the command's option table: 200 items
 * with 20 to 5,000 clickers, half of each item's clickers hidden, rank-64 embeddings, k of 5 and
 * 20, on the CPU; stage-2 training off (when on: a softmax over each target and 20 users who did
 * not click the item, from the identity configuration, keeping the better by held-out items;
 * trained twice, every weight and all but T, the better on those held-out items kept: on
 * MovieLens every weight validated better, on Globo.com only with T held did training beat the start).
 */
export const AUDIENCE_EVAL_DEFAULTS: Readonly<Required<Omit<AudienceEvalOptions, 'log'>>> = {
  rank: 64, hideShare: 0.5, minClickers: 20, maxClickers: 5000, items: 200, ns: [10, 50, 100], ks: [5, 20], seed: 1,
  backend: 'cpu', trainEpochs: 0, trainNegatives: 'uniform', trainLoss: 'softmax', trainMaxItems: 0, trainParams: ['all', 'attention'], trainLr: 3e-3, trainBlend: 'fixed',
};

/** `ralm tune`'s defaults: 8 trials, selected by the paper's prec@10. */
export const TUNE_DEFAULTS: Readonly<Required<Pick<TuneOptions, 'trials' | 'seed' | 'select' | 'ks'>>> = { trials: 8, seed: 1, select: 'prec@10', ks: [10, 50, 100] };
