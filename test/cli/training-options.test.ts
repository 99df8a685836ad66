/** The stage-2 validation and loss flags of `ralm train` / `ralm eval` reach the stage options, with their defaults from the stages' defaults objects. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from '../../src/util/options.js';
import { TRAINING_OPTIONS, trainingStageOptions } from '../../src/cli/training-options.js';
import { RANKING_VALIDATION_DEFAULTS } from '../../src/train/defaults.js';

describe('training options: the held-out share and the prior in the loss', () => {
  it('defaults to the ranking validation\'s share and cap, and the score alone in the loss', () => {
    const s = trainingStageOptions(parseOptions([], TRAINING_OPTIONS).values).stage2;
    assert.equal(s.priorInLoss, false);
    assert.deepEqual(s.holdout, { share: RANKING_VALIDATION_DEFAULTS.share, maxPerUser: RANKING_VALIDATION_DEFAULTS.maxPerUser });
  });

  it('passes given values through', () => {
    const v = parseOptions(['--stage2-prior-in-loss', 'on', '--stage2-holdout-share', '0.3', '--stage2-holdout-max', '10'], TRAINING_OPTIONS).values;
    const s = trainingStageOptions(v).stage2;
    assert.equal(s.priorInLoss, true);
    assert.deepEqual(s.holdout, { share: 0.3, maxPerUser: 10 });
  });

  it('refuses a share outside [0, 0.9] and a bad switch, naming the flag', () => {
    assert.throws(() => parseOptions(['--stage2-holdout-share', '1.5'], TRAINING_OPTIONS), /stage2-holdout-share/);
    assert.throws(() => parseOptions(['--stage2-prior-in-loss', 'yes'], TRAINING_OPTIONS), /stage2-prior-in-loss/);
  });
});

describe('training options: which items a capped stage 2 trains on', () => {
  it('defaults to a seeded sample, passes latest and popular through with the cap, and refuses them without it', () => {
    assert.equal(trainingStageOptions(parseOptions([], TRAINING_OPTIONS).values).stage2.itemChoice, 'sample');
    for (const choice of ['latest', 'popular'] as const) {
      assert.equal(trainingStageOptions(parseOptions(['--stage2-items', choice, '--stage2-max-items', '400'], TRAINING_OPTIONS).values).stage2.itemChoice, choice);
      assert.throws(() => trainingStageOptions(parseOptions(['--stage2-items', choice], TRAINING_OPTIONS).values), new RegExp(`--stage2-items ${choice} applies with --stage2-max-items`));
    }
    assert.equal(trainingStageOptions(parseOptions(['--stage2-items', 'sample'], TRAINING_OPTIONS).values).stage2.itemChoice, 'sample');
    assert.throws(() => parseOptions(['--stage2-items', 'newest'], TRAINING_OPTIONS), /--stage2-items: expected one of sample, latest, popular/);
  });
});
