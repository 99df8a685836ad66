/**
 * Stage 2's options and their defaults (trainStage2 in stage2.ts reads them; the CLI's option
 * tables and the pipeline take their defaults from here).
 */
import type { TrainingProgress } from './progress.js';
import type { Trainable } from './stage2-model.js';
import type { Objective } from './stage2-data.js';
import type { ValidationMetric } from './stage2-validate.js';
import { KEEP_CHECK_DEFAULTS } from './stage2-keep.js';

export interface Stage2Options {
  h?: number;
  k?: number;
  attentionSize?: number;
  alpha?: number;
  beta?: number;
  /** Learn the blend: α = σ(θ), β = 1 − α, θ starting at α / (α + β). */
  learnBlend?: boolean;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Which negatives make an example (stage2-data.ts): `full` ranks each target's item against every item (stage2-listwise.ts). */
  objective?: Objective;
  /** How a group of 1 + N pairs is scored: independent pairs, or one softmax. */
  loss?: 'bce' | 'softmax';
  /** Negatives per positive. */
  negatives?: number;
  /**
   * How negative users are drawn among users who did not click the item: `uniform` (every user alike)
   * or `activity` (in proportion to how many items a user clicked: harder negatives, closer to
   * ranking every user for an item).
   */
  negativeSampling?: 'uniform' | 'activity';
  /** How negative items are drawn: `uniform`, or `popularity` (in proportion to clickers: as exposure would show them). */
  itemSampling?: 'uniform' | 'popularity';
  /** Subtract log q(item) from the softmax's logits (stage2-loss.ts); the `items` objective only. */
  logQ?: boolean;
  /** Where the learned logit scale starts. */
  scale?: number;
  /** Which weights train: `all`, or `attention` (T stays at its start; stage2-model.ts trainableParams). */
  train?: Trainable;
  /** Share of an item's clickers used as its seeds each epoch (the rest are targets). */
  seedShare?: number;
  /** Items need at least this many clickers to be trained on. */
  minClickers?: number;
  /** Seeds clustered per item at most (sampled). */
  maxSeeds?: number;
  /** Targets per item per epoch at most (sampled), so popular items do not dominate. */
  maxTargets?: number;
  /**
   * Train on at most this many items (a seeded sample, taken after the validation items are set
   * aside), for logs whose epochs would otherwise take too long; the manifest records it.
   */
  maxItems?: number;
  /**
   * Which items `maxItems` keeps: a seeded `sample` of every period; the `latest`, those whose
   * first training click comes last (for news, the articles nearest the held-out latest clicks);
   * or a seeded draw weighted by clickers (`popular`: the items as often as the clicks name them).
   */
  itemChoice?: 'sample' | 'latest' | 'popular';
  dropout?: number;
  /**
   * How x is scaled before training; the scaling is linear, so it is folded into W_t and b_t on
   * export and the served model still takes raw x.
   *   whiten: z = Λ^(−1/2) Vᵀ (x − μ) over the users' covariance (eigenvalues floored at 1e-6 of
   *     the largest). Stage-1 embeddings of the tower without click factors put 99.9% of their
   *     variance across users on one direction (MovieLens, per-user split); whitened, stage 2
   *     learned on them (validation AUC 0.59 → 0.76) where standardised it did not.
   *   standardize: per dimension, (x − μ) / σ.
   *   none: x as given.
   */
  inputScaling?: 'whiten' | 'standardize' | 'none';
  /** Where training starts (stage2-model.ts initParams); `identity` needs h = m. */
  init?: 'random' | 'identity';
  /**
   * Train with the served score: each pair's λ·ln(1 + its item's training clickers) added to the
   * score inside the loss (stage2-loss.ts), λ the one the start chose on validation (or the fixed
   * λ), so the attention units learn what popularity does not explain. Off: the score alone.
   */
  priorInLoss?: boolean;
  /** With priorInLoss and the `full` objective: λ in the loss is trained beside the attention units, from the start's. */
  learnPriorInLoss?: boolean;
  /**
   * Weight of a pull toward the start: pullToStart · Σ‖w − w₀‖² over the trained weights added
   * to the loss (0: none), so training moves the attention units only as far as the loss gains.
   */
  pullToStart?: number;
  /** λ of the served popularity prior λ · ln(1 + clickers): fixed, or `auto` (chosen on the ranking validation: choosePrior). */
  popularityPrior?: number | 'auto';
  /** The validation measure that stops training and picks the weights kept. */
  validationMetric?: ValidationMetric;
  /** Weights kept (`ranking` only): the best on every held-out click, or `checked` against the noise with `keepMargin` SDs and, with `keepAveraged`, the start at k = 1 as an alternative (stage2-keep.ts). */
  keepRule?: 'best' | 'checked';
  keepMargin?: number;
  keepAveraged?: boolean;
  /**
   * A diagnostic, logged after the start is measured: the start with each item's attention
   * softmaxes weighted by cluster size (a centroid standing for s seeds counts s times, as if the
   * softmax ran over the seed users), against the start on every held-out click and on the check
   * half (paired bootstrap). The engine weighs every centroid alike, so this is measured, never kept.
   */
  sizeDiagnostic?: boolean;
  validationShare?: number;
  /**
   * The ranking validation's held-out latest clicks per user: each sampled user's latest `share`
   * of their clicks, at least 3 and at most `maxPerUser` (RankingValidationOptions; defaults there).
   */
  holdout?: { share?: number; maxPerUser?: number };
  patience?: number;
  seed?: number;
  modelVersion?: string;
  dataset?: string | null;
  /**
   * Raw x of users (rows, users × m) with one item left out of their item-id fields — the target
   * of an example as it was before clicking that item. Without it, x is used as given.
   */
  xWithout?: (users: Int32Array, items: Int32Array) => Float32Array | Promise<Float32Array>;
  log?: (line: string) => void;
  /** Called after every batch (for a progress bar). */
  onProgress?: (p: TrainingProgress) => void;
}

/** The options that have a fixed default (h's is m, the input width; modelVersion's is built from h, m, k and seed). */
export type Stage2Defaults = Readonly<Required<Pick<Stage2Options,
  'k' | 'attentionSize' | 'alpha' | 'beta' | 'learnBlend' | 'epochs' | 'batchSize' | 'learningRate' | 'objective' | 'loss' | 'negatives' | 'negativeSampling'
  | 'itemSampling' | 'logQ' | 'scale' | 'train' | 'seedShare' | 'minClickers' | 'maxSeeds' | 'maxTargets' | 'itemChoice' | 'dropout' | 'inputScaling' | 'init' | 'validationMetric' | 'validationShare'
  | 'patience' | 'seed' | 'dataset' | 'popularityPrior' | 'priorInLoss' | 'learnPriorInLoss' | 'pullToStart' | 'keepRule' | 'keepMargin' | 'keepAveraged' | 'sizeDiagnostic'>>>;

/**
 * Stage 2's defaults, read by trainStage2 and the option tables. k = 20 and α = 0.3, β = 0.7 are
 * the paper's; the pipeline (`ralm train`, `ralm eval`) trains with its own defaults on top of
 * these (TRAIN_DEFAULTS in pipeline.ts).
 */
export const STAGE2_DEFAULTS: Stage2Defaults = {
  k: 20, attentionSize: 32, alpha: 0.3, beta: 0.7, learnBlend: false, epochs: 10, batchSize: 256, learningRate: 1e-2, objective: 'users', loss: 'bce',
  negatives: 4, negativeSampling: 'uniform', itemSampling: 'uniform', logQ: false, scale: 5, train: 'all', seedShare: 0.5, minClickers: 10, maxSeeds: 200, maxTargets: 50, itemChoice: 'sample', dropout: 0.1,
  inputScaling: 'whiten', init: 'random', validationMetric: 'users', validationShare: 0.1, patience: 2, seed: 1, dataset: null, popularityPrior: 'auto', priorInLoss: false, learnPriorInLoss: false, pullToStart: 0,
  keepRule: 'best', keepMargin: KEEP_CHECK_DEFAULTS.margin, keepAveraged: false, sizeDiagnostic: false,
};
