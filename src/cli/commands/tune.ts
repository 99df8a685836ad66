/** `ralm tune`: a seeded hyper-parameter search on the validation split of the training period. */
import { resolve } from 'node:path';
import { TUNE_DEFAULTS } from '../../eval/defaults.js';
import { STAGE1_DEFAULTS, TRAIN_DEFAULTS } from '../../train/defaults.js';
import { STAGE2_DEFAULTS } from '../../train/stage2-options.js';
import { asDefault, int, list, num, oneOf, share, str, type OptionTable } from '../../util/options.js';
import { defineCommand } from '../command.js';
import { emit, writeResult, writeText } from '../output.js';
import { DATASET_OPTIONS, datasetFrom, LEAKAGE_OPTION, showRead, SYNTHETIC_ONLY, SYNTHETIC_OPTIONS, syntheticSize } from '../shared-options.js';
import { TRAINING_OPTIONS, trainingStageOptions } from '../training-options.js';

const t = TUNE_DEFAULTS;
const s2 = TRAIN_DEFAULTS.stage2;

const OPTIONS = {
  ...DATASET_OPTIONS,
  allowFeatureLeakage: LEAKAGE_OPTION,
  split: { flag: 'split', arg: 'global|per-user', defaultText: 'per-user for movielens, else global', help: 'the evaluation\'s split; the search runs on its training period\'s validation split', parse: oneOf(['global', 'per-user'] as const) },
  trainShare: { flag: 'train-share', arg: 'X', default: '0.8', help: 'share of the rows (or of each user\'s rows) before the evaluation\'s cut', parse: share },
  trials: { flag: 'trials', arg: 'N', default: asDefault(t.trials), help: 'configurations tried (drawn from the grid, seeded)', parse: int() },
  seed: { flag: 'seed', arg: 'N', default: asDefault(t.seed), help: 'seed of the draw and of every trial\'s training', parse: int() },
  select: { flag: 'select', arg: 'METRIC', default: t.select, help: 'the validation metric that picks the winner (auc, aucExposure, prec@10, prec@50, recall@100, …)', parse: str() },
  maxUsers: { flag: 'max-users', arg: 'N', default: '0', help: 'validate on a fixed seeded sample of this many users (0: all)', parse: int(0) },
  m: { flag: 'm', arg: 'N,…', default: asDefault(STAGE1_DEFAULTS.m), help: 'grid: universal (and look-alike) width m = h', parse: list(int()) },
  k: { flag: 'k', arg: 'N,…', default: asDefault(STAGE2_DEFAULTS.k), help: 'grid: centroids per item', parse: list(int()) },
  merge: { flag: 'merge', arg: 'attention|concat,…', default: STAGE1_DEFAULTS.merge, help: 'grid: stage 1 merge', parse: list(oneOf(['attention', 'concat'] as const)) },
  epochs: { flag: 'epochs', arg: 'N,…', default: asDefault(STAGE1_DEFAULTS.epochs), help: 'grid: stage 1 epochs at most (0: the tower as it starts)', parse: list(int(0)) },
  lr: { flag: 'lr', arg: 'X,…', default: asDefault(STAGE1_DEFAULTS.learningRate), help: 'grid: stage 1 learning rate', parse: list(num(0, Infinity, { min: true })) },
  stage2Lr: { flag: 'stage2-lr', arg: 'X,…', default: asDefault(s2.learningRate), help: 'grid: stage 2 learning rate', parse: list(num(0, Infinity, { min: true })) },
  stage2Epochs: { flag: 'stage2-epochs', arg: 'N,…', default: asDefault(STAGE2_DEFAULTS.epochs), help: 'grid: stage 2 epochs at most', parse: list(int(0)) },
  stage2Objective: { flag: 'stage2-objective', arg: 'items|users|both|full,…', default: s2.objective, help: 'grid: stage 2 negatives (full: every item, listwise)', parse: list(oneOf(['items', 'users', 'both', 'full'] as const)) },
  stage2Negatives: { flag: 'stage2-negatives', arg: 'N,…', default: asDefault(s2.negatives), help: 'grid: stage 2 negatives per positive', parse: list(int()) },
  stage2ItemNegatives: { flag: 'stage2-item-negatives', arg: 'uniform|popularity,…', default: s2.itemSampling, help: 'grid: how stage 2 draws negative items', parse: list(oneOf(['uniform', 'popularity'] as const)) },
  blend: { flag: 'blend', arg: 'fixed|learned,…', default: s2.learnBlend ? 'learned' : 'fixed', help: 'grid: α, β fixed or learned', parse: list(oneOf(['fixed', 'learned'] as const)) },
  history: TRAINING_OPTIONS.history,
  stage1Init: TRAINING_OPTIONS.stage1Init,
  stage2Loss: TRAINING_OPTIONS.stage2Loss,
  stage2MaxTargets: TRAINING_OPTIONS.stage2MaxTargets,
  stage2LogQ: TRAINING_OPTIONS.stage2LogQ,
  stage2Scale: TRAINING_OPTIONS.stage2Scale,
  stage2Train: TRAINING_OPTIONS.stage2Train,
  stage2Init: TRAINING_OPTIONS.stage2Init,
  stage2Scaling: TRAINING_OPTIONS.stage2Scaling,
  stage2Validation: TRAINING_OPTIONS.stage2Validation,
  validationShare: TRAINING_OPTIONS.validationShare,
  patience: TRAINING_OPTIONS.patience,
  maxTrainUsers: TRAINING_OPTIONS.maxTrainUsers,
  stage2MaxItems: TRAINING_OPTIONS.stage2MaxItems,
  stage2Items: TRAINING_OPTIONS.stage2Items,
  ...SYNTHETIC_OPTIONS,
  out: { flag: 'out', arg: 'FILE.json', help: 'write the result (JSON)', parse: str() },
  report: { flag: 'report', arg: 'FILE.md', help: 'write the trials as a table (Markdown)', parse: str() },
} as const satisfies OptionTable;

export const command = defineCommand({
  name: 'tune',
  usage: 'tune [--dataset schema] SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR] [grid options] [options]',
  summary: 'A seeded hyper-parameter search on the validation split of the training period.',
  notes: ['Each grid option takes a list; trials are drawn from the product. No test row is read: evaluate the winner with `ralm eval`.'],
  options: OPTIONS,
  positionals: true,
  async run({ values: v, positionals, given }) {
    const data = datasetFrom('tune', v, positionals, given, resolve, SYNTHETIC_ONLY);
    const { tune, tuneMarkdown } = await import('../../eval/tune.js');
    const { ProgressBar } = await import('../../train/progress.js');
    const bar = new ProgressBar();
    const stages = trainingStageOptions({ ...v, stage2Objective: v.stage2Objective[0], stage2Negatives: v.stage2Negatives[0], stage2ItemNegatives: v.stage2ItemNegatives[0], blend: v.blend[0] });
    const res = await tune({
      data: { ...data, synthetic: syntheticSize(v), allowFeatureLeakage: v.allowFeatureLeakage, onRead: showRead },
      split: v.split, trainShare: v.trainShare, maxUsers: v.maxUsers, trials: v.trials, seed: v.seed, select: v.select,
      grid: { m: v.m, k: v.k, merge: v.merge, epochs: v.epochs, stage1Lr: v.lr, stage2Lr: v.stage2Lr, stage2Epochs: v.stage2Epochs, objective: v.stage2Objective, negatives: v.stage2Negatives, itemNegatives: v.stage2ItemNegatives, blend: v.blend },
      stage1: { patience: v.patience, validationShare: v.validationShare, maxTrainUsers: v.maxTrainUsers, ...stages.stage1 },
      stage2: { maxItems: v.stage2MaxItems, ...stages.stage2 },
      log: (l) => bar.log(l), onProgress: (p) => bar.update(p),
    });
    await writeResult(v.out, res);
    const md = tuneMarkdown(res);
    await writeText(v.report, md);
    emit(v.json, res, [
      `${res.dataset}: ${res.trials.length} of ${res.gridSize} configurations on the validation split of the training period, by ${res.select}, in ${res.seconds.toFixed(0)} s`,
      `best: ${JSON.stringify(res.best.config)} (${res.select} ${res.best.metrics[res.select].toFixed(4)})`, '', md,
    ].join('\n'));
  },
});
