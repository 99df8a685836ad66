/** What stage 2 reports: its validation measures, each epoch's record, and its result. */
import type { RalmModel } from '../model/model.js';
import type { PriorChoice } from './stage2-ranking.js';
import type { ValidationMetric } from './stage2-validate.js';
import type { KeepCheck } from './stage2-keep.js';

/** Stage 2's validation measures: AUC of held-out items per user and users per item, and prec@10 of held-out latest clicks ranked against every item. */
export interface Measures {
  items: number;
  users: number;
  ranking: number;
  /**
   * `ranking` with the popularity prior the weights would be served with: the best λ of the
   * grid (`auto`) or the fixed λ (choosePrior). What the `ranking` validation keeps weights by.
   */
  withPrior: number;
}

export const METRIC_NAMES: Record<ValidationMetric, string> = { items: 'AUC items per user', users: 'AUC users per item', ranking: 'prec@10 of held-out latest clicks, with the popularity prior' };

export interface EpochReport {
  epoch: number;
  loss: number;
  /** The chosen validation measure. */
  validationAuc: number;
  /** Every measure (stage2-validate.ts, stage2-ranking.ts). */
  validation: Measures;
  examples: number;
  seconds: number;
}

/**
 * Which weights a training run exported: its best epoch, the weights it started from, the
 * identity configuration, or the start's weights served with averaged seeds (k = 1; the `checked`
 * keep rule, stage2-keep.ts).
 */
export type Kept = 'trained' | 'initial' | 'identity' | 'averaged';

export interface Stage2Result {
  model: RalmModel;
  history: EpochReport[];
  /** The chosen measure, and both measures for the start, the identity configuration (h = m) and the weights kept. */
  validationMetric: ValidationMetric;
  validation: { initial: Measures; identity: Measures | null; kept: Measures };
  /** Validation (chosen measure) of the initial weights. */
  initialValidationAuc: number;
  /** The epoch kept (0 when the start or the identity was kept). */
  bestEpoch: number;
  /** Validation (chosen measure) of the weights kept. */
  bestValidationAuc: number;
  kept: Kept;
  /** The `checked` keep rule's decision and its figures (null under the `best` rule). */
  check: KeepCheck | null;
  /** The popularity prior's λ (in the manifest) and how it was set. */
  prior: PriorChoice;
  /** The learned probability calibration p = σ(scale · score + bias). */
  scale: number;
  bias: number;
}
