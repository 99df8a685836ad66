/**
 * The training options `ralm train` and `ralm eval` share, with their defaults read from the
 * stages' and the pipeline's defaults objects (stage 2's learning rate and patience are the
 * pipeline's: TRAIN_DEFAULTS.stage2).
 */
import { STAGE1_DEFAULTS } from '../train/stage1.js';
import { STAGE2_DEFAULTS } from '../train/stage2.js';
import { TRAIN_DEFAULTS } from '../train/pipeline.js';
import { asDefault, int, num, type OptionTable } from '../util/options.js';

const s1 = STAGE1_DEFAULTS;

export const TRAINING_OPTIONS = {
  m: { flag: 'm', arg: 'N', default: asDefault(s1.m), help: 'universal embedding width m (stage 1)', parse: int() },
  k: { flag: 'k', arg: 'N', default: asDefault(STAGE2_DEFAULTS.k), help: 'centroids per item k', parse: int() },
  epochs: { flag: 'epochs', arg: 'N', default: asDefault(s1.epochs), help: 'stage 1 epochs at most', parse: int() },
  patience: { flag: 'patience', arg: 'N', default: asDefault(s1.patience), help: 'stage 1 stops after this many epochs without a better validation hit@50', parse: int() },
  validationShare: { flag: 'validation-share', arg: 'X', default: asDefault(s1.validationShare), help: 'stage 1: share of users whose latest click validates', parse: num() },
  maxTrainUsers: { flag: 'max-train-users', arg: 'N', defaultText: 'every user', help: 'stage 1 trains on a seeded sample of this many users\' clicks', parse: int() },
  stage2Epochs: { flag: 'stage2-epochs', arg: 'N', default: asDefault(STAGE2_DEFAULTS.epochs), help: 'stage 2 epochs at most', parse: int() },
  stage2Lr: { flag: 'stage2-lr', arg: 'X', default: asDefault(TRAIN_DEFAULTS.stage2.learningRate), help: 'stage 2 learning rate (Adam)', parse: num() },
  stage2MaxItems: { flag: 'stage2-max-items', arg: 'N', defaultText: 'every item', help: 'stage 2 trains on a seeded sample of this many items', parse: int() },
} as const satisfies OptionTable;
