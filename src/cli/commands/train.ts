/** `ralm train`: the offline pipeline (stage 1, then stage 2) into a model directory the service serves. */
import { resolve } from 'node:path';
import { defaultHidden, STAGE1_DEFAULTS, TRAIN_DEFAULTS } from '../../train/defaults.js';
import { keepCheckLine } from '../../train/stage2-keep.js';
import { asDefault, bool, int, list, num, oneOf, share, str, time, UsageError, type OptionTable } from '../../util/options.js';
import { defineCommand } from '../command.js';
import { emit, writeResult } from '../output.js';
import { DATASET_OPTIONS, DATASET_WITH_DEFAULT, datasetFrom, LEAKAGE_OPTION, showRead, SYNTHETIC_ONLY, SYNTHETIC_OPTIONS, syntheticSize } from '../shared-options.js';
import { TRAINING_OPTIONS, trainingStageOptions, withDatasetDefaults } from '../training-options.js';

const s1 = STAGE1_DEFAULTS;

const OPTIONS = {
  out: { flag: 'out', arg: 'DIR', help: 'the model directory to write (required)', parse: str() },
  ...DATASET_OPTIONS,
  dataset: DATASET_WITH_DEFAULT,
  trainShare: { flag: 'train-share', arg: 'X', defaultText: 'every click', help: 'train on the first share of the clicks (a cut by time)', parse: share },
  cut: { flag: 'cut', arg: 'TIME', defaultText: 'every click', help: 'train on clicks before this time (ISO 8601 or epoch ms)', parse: time },
  allowFeatureLeakage: LEAKAGE_OPTION,
  ...SYNTHETIC_OPTIONS,
  m: TRAINING_OPTIONS.m,
  h: { flag: 'h', arg: 'N', defaultText: '--m', help: 'look-alike embedding width h (stage 2)', parse: int() },
  k: TRAINING_OPTIONS.k,
  merge: { flag: 'merge', arg: 'attention|concat', default: s1.merge, help: 'how stage 1 merges the fields', parse: oneOf(['attention', 'concat'] as const) },
  attentionSize: { flag: 'attention-size', arg: 'N', default: asDefault(s1.attentionSize), help: 'rows of stage 1\'s attention merge', parse: int() },
  hidden: { flag: 'hidden', arg: 'N,…', defaultText: '2m,m', help: 'stage 1 MLP widths; the last must equal --m', parse: list(int()) },
  epochs: TRAINING_OPTIONS.epochs,
  batchSize: { flag: 'batch-size', arg: 'N', default: asDefault(s1.batchSize), help: 'stage 1 batch size', parse: int() },
  lr: { flag: 'lr', arg: 'X', default: asDefault(s1.learningRate), help: 'stage 1 learning rate (Adam)', parse: num() },
  negatives: { flag: 'negatives', arg: 'N', default: asDefault(s1.negatives), help: 'stage 1 sampled negatives per positive', parse: int() },
  maxPositives: { flag: 'max-positives', arg: 'N', default: asDefault(s1.maxPositives), help: 'stage 1 positives per user per epoch at most', parse: int() },
  maxTrainUsers: TRAINING_OPTIONS.maxTrainUsers,
  validationShare: TRAINING_OPTIONS.validationShare,
  stage2Epochs: TRAINING_OPTIONS.stage2Epochs,
  stage2Lr: TRAINING_OPTIONS.stage2Lr,
  stage2MaxItems: TRAINING_OPTIONS.stage2MaxItems,
  stage2Items: TRAINING_OPTIONS.stage2Items,
  history: TRAINING_OPTIONS.history,
  stage1Init: TRAINING_OPTIONS.stage1Init,
  stage2Objective: TRAINING_OPTIONS.stage2Objective,
  stage2Loss: TRAINING_OPTIONS.stage2Loss,
  stage2Negatives: TRAINING_OPTIONS.stage2Negatives,
  stage2ItemNegatives: TRAINING_OPTIONS.stage2ItemNegatives,
  stage2MaxTargets: TRAINING_OPTIONS.stage2MaxTargets,
  stage2LogQ: TRAINING_OPTIONS.stage2LogQ,
  stage2Scale: TRAINING_OPTIONS.stage2Scale,
  stage2Train: TRAINING_OPTIONS.stage2Train,
  stage2Init: TRAINING_OPTIONS.stage2Init,
  stage2Scaling: TRAINING_OPTIONS.stage2Scaling,
  blend: TRAINING_OPTIONS.blend,
  stage2Validation: TRAINING_OPTIONS.stage2Validation,
  popularityPrior: TRAINING_OPTIONS.popularityPrior,
  stage2Keep: TRAINING_OPTIONS.stage2Keep,
  stage2KeepMargin: TRAINING_OPTIONS.stage2KeepMargin,
  stage2KeepAveraged: TRAINING_OPTIONS.stage2KeepAveraged,
  stage2PriorInLoss: TRAINING_OPTIONS.stage2PriorInLoss,
  stage2HoldoutShare: TRAINING_OPTIONS.stage2HoldoutShare,
  stage2HoldoutMax: TRAINING_OPTIONS.stage2HoldoutMax,
  patience: TRAINING_OPTIONS.patience,
  stage2Patience: { flag: 'stage2-patience', arg: 'N', default: asDefault(TRAIN_DEFAULTS.stage2.patience), help: 'stage 2 stops after this many epochs without a better validation measure (--stage2-validation)', parse: int() },
  seed: { flag: 'seed', arg: 'N', default: asDefault(s1.seed), help: 'random seed of both stages', parse: int() },
  modelVersion: { flag: 'model-version', arg: 'V', defaultText: '<dataset>-<merge>-h<h>-m<m>-k<k>-seed<seed>', help: 'the model\'s version string', parse: str() },
  checkpoints: { flag: 'checkpoints', arg: 'DIR', defaultText: 'OUT/checkpoints', help: 'where stage 1 checkpoints go (and a rerun resumes from)', parse: str() },
  keepCheckpoints: { flag: 'keep-checkpoints', boolean: true, help: 'keep the checkpoints once the model is written', parse: bool },
  noUsers: { flag: 'no-users', boolean: true, help: 'do not write users.msgpack', parse: bool },
  outReport: { flag: 'out-report', arg: 'FILE', help: 'write the training report (JSON)', parse: str() },
} as const satisfies OptionTable;

export const command = defineCommand({
  name: 'train',
  usage: 'train --out DIR [[--dataset schema] SCHEMA.json | --dataset movielens|globo|synthetic [--data DIR]] [options]',
  summary: 'Trains stage 1 (user tower), then stage 2 (look-alike): a model directory and users.msgpack.',
  notes: ['users.msgpack holds the users\' universal embeddings for `ralm users import`.', 'Rerun the same command to resume from its checkpoints.',
    'movielens and globo: settings not given are that dataset\'s validation-search choices (docs/training-and-evaluation.md).'],
  options: OPTIONS,
  positionals: true,
  async run({ values, positionals, given }) {
    const out = values.out;
    if (out === undefined) throw new UsageError('train: --out DIR is required');
    const data = datasetFrom('train', values, positionals, given, resolve, SYNTHETIC_ONLY);
    const v = withDatasetDefaults(data.kind, values, given, OPTIONS);
    if (given.has('train-share') && given.has('cut')) throw new UsageError('train: give --train-share or --cut, not both');
    if (v.allowFeatureLeakage && v.trainShare === undefined && v.cut === undefined) throw new UsageError('train: --allow-feature-leakage applies with --train-share or --cut (training on every click has no cut to leak past)');
    const m = v.m;
    const hidden = v.hidden ?? defaultHidden(m);
    if (hidden[hidden.length - 1] !== m) throw new UsageError(`--hidden: the last width must equal --m (${m}), got ${hidden.join(',')}`);
    const { trainModel } = await import('../../train/pipeline.js');
    const { ProgressBar } = await import('../../train/progress.js');
    const bar = new ProgressBar();
    const stages = trainingStageOptions(v);
    const report = await trainModel({
      data: { ...data, synthetic: syntheticSize(v), allowFeatureLeakage: v.allowFeatureLeakage, onRead: showRead },
      trainShare: v.trainShare, cut: v.cut, out: resolve(out),
      checkpointDir: v.checkpoints !== undefined ? resolve(v.checkpoints) : undefined, keepCheckpoints: v.keepCheckpoints,
      exportUsers: !v.noUsers, modelVersion: v.modelVersion,
      stage1: {
        m, hidden, merge: v.merge, attentionSize: v.attentionSize, epochs: v.epochs, batchSize: v.batchSize, learningRate: v.lr,
        negatives: v.negatives, maxPositives: v.maxPositives, maxTrainUsers: v.maxTrainUsers, patience: v.patience, seed: v.seed,
        validationShare: v.validationShare, ...stages.stage1,
      },
      stage2: {
        h: v.h ?? m, k: v.k, epochs: v.stage2Epochs, learningRate: v.stage2Lr, patience: v.stage2Patience, seed: v.seed, maxItems: v.stage2MaxItems, ...stages.stage2,
      },
      log: (l) => bar.log(l), onProgress: (p) => bar.update(p),
    });
    await writeResult(v.outReport, report);
    emit(v.json, report, [
      `trained ${report.modelVersion} on ${report.dataset.name} (${report.trainClicks} training rows${report.cut ? `, before ${report.cut}` : ''}) in ${report.seconds.total.toFixed(1)} s (stage 1 ${report.seconds.stage1.toFixed(1)} s, stage 2 ${report.seconds.stage2.toFixed(1)} s)`,
      `  stage 1: best epoch ${report.stage1.bestEpoch}, validation hit@50 ${report.stage1.bestValidationHitAt50.toFixed(4)} (${report.stage1.validationUsers} users)`,
      `  stage 2: kept ${report.stage2.kept === 'trained' ? `epoch ${report.stage2.bestEpoch}` : report.stage2.kept === 'averaged' ? 'the start served with averaged seeds (k = 1)' : `the ${report.stage2.kept === 'identity' ? 'identity configuration' : 'initial weights'} (no trained epoch validated better)`}, validation ${report.stage2.bestValidationAuc.toFixed(4)} (${({ ranking: 'prec@10 of held-out latest clicks, with the popularity prior', items: 'AUC items per user', users: 'AUC users per item' })[report.stage2.validationMetric]}; initial ${report.stage2.initialValidationAuc.toFixed(4)})`,
      ...(report.stage2.check ? [`  ${keepCheckLine(report.stage2.check)}`] : []),
      `  popularity prior: λ = ${report.stage2.prior.lambda} (${report.stage2.prior.chosen === 'fixed' ? 'fixed by --popularity-prior' : 'chosen on stage 2\'s validation'}; prec@10 of held-out latest clicks by λ: ${report.stage2.prior.grid.map((g) => `${g.lambda} ${g.ranking.toFixed(4)}`).join(', ')})`,
      `  model: ${report.modelDir}${report.usersFile ? `; users: ${report.usersFile}` : ''}`,
    ].join('\n'));
  },
});
