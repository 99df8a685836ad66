/**
 * The training pipeline's defaults — stage 1's, the pipeline's own on top of stage 2's
 * (stage2-options.ts holds STAGE2_DEFAULTS), and the ranking validation's — in a module that loads
 * no TensorFlow.js: the command line's option tables read them to print help and parse flags, and
 * only training itself needs the trainers.
 */
import type { Stage1Options } from './stage1.js';
import type { TrainOptions } from './pipeline.js';
import type { Stage2Options } from './stage2-options.js';
import type { RankingValidationOptions } from './stage2-ranking.js';

/** The options that have a fixed default (hidden's depends on m: see defaultHidden). */
export type Stage1Defaults = Readonly<Required<Pick<Stage1Options,
  'm' | 'merge' | 'attentionSize' | 'epochs' | 'batchSize' | 'learningRate' | 'negatives' | 'maxPositives'
  | 'validationShare' | 'maxValidationUsers' | 'patience' | 'seed' | 'history' | 'clickFactors'>>>;

/**
 * Stage 1's defaults, read by trainStage1 and by the `ralm train` / `ralm eval` option tables.
 * The optimiser settings are the spec's (Adam at 1e-3, batch 256, 10 negatives per positive, at
 * most 50 positives per user); m = 64 and a = 32 are this project's widths. The click history
 * (the latest 100 items) and the start from click factors were chosen on validation splits
 * (docs/training-and-evaluation.md).
 */
export const STAGE1_DEFAULTS: Stage1Defaults = {
  m: 64, merge: 'attention', attentionSize: 32, epochs: 10, batchSize: 256, learningRate: 1e-3, negatives: 10, maxPositives: 50,
  validationShare: 0.1, maxValidationUsers: 2000, patience: 2, seed: 1, history: 100, clickFactors: true,
};

/** The MLP widths when none are given: one hidden layer twice as wide as the output m. */
export function defaultHidden(m: number): number[] {
  return [2 * m, m];
}

/**
 * The pipeline's defaults, where it departs from the stages' own (STAGE1_DEFAULTS,
 * STAGE2_DEFAULTS), each chosen on the validation split of the training period (never on test
 * rows; docs/training-and-evaluation.md has the figures): stage 2 on stage-1 embeddings learns at
 * 3e-3 and waits 3 epochs for an improvement; it ranks items for a user, as the evaluation does
 * (a softmax over the target's clicked item and 20 items they did not click), on x as given, and
 * keeps the weights with the best prec@10 on users' held-out latest clicks ranked against every
 * item (stage2-ranking.ts: the evaluation's own question, inside the training period), checked
 * on half of those clicks' users that chose nothing, with the averaged-seeds configuration as an
 * alternative (stage2-keep.ts: the trained weights had validated better and ranked worse on
 * MovieLens, docs/quality.md); negative items are drawn by
 * popularity (what both datasets' searches picked: bench/results/tune-*.md). Stage 2's seed defaults to
 * stage 1's; the checkpoints to `<out>/checkpoints`; the model version to
 * `<dataset>-<merge>-h<h>-m<m>-k<k>-seed<seed>`.
 */
export const TRAIN_DEFAULTS: Readonly<Required<Pick<TrainOptions, 'keepCheckpoints' | 'exportUsers'>> & {
  stage2: Readonly<Required<Pick<Stage2Options, 'learningRate' | 'patience' | 'objective' | 'loss' | 'negatives' | 'itemSampling' | 'logQ' | 'scale' | 'train' | 'maxTargets' | 'inputScaling' | 'init' | 'learnBlend' | 'validationMetric' | 'keepRule' | 'keepAveraged' | 'priorInLoss'>>>;
}> = {
  keepCheckpoints: false,
  exportUsers: true,
  stage2: { learningRate: 3e-3, patience: 3, objective: 'items', loss: 'softmax', negatives: 20, itemSampling: 'popularity', logQ: false, scale: 5, train: 'all', maxTargets: 50, inputScaling: 'none', init: 'random', learnBlend: false, validationMetric: 'ranking', keepRule: 'checked', keepAveraged: true, priorInLoss: false },
};

/** The ranking validation's defaults (RankingValidationOptions, stage2-ranking.ts). */
export const RANKING_VALIDATION_DEFAULTS: Readonly<RankingValidationOptions> = { users: 1000, perUser: 3, share: 0.2, maxPerUser: 50, minTrainClicks: 5, maxCandidates: 2000, topK: 10, seed: 11 };
