/** Each built-in dataset trains with its validation-search choices unless the command line says otherwise. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { oneOf, parseOptions, type OptionTable } from '../../src/util/options.js';
import { DATASET_TRAINING_DEFAULTS, TRAINING_OPTIONS, withDatasetDefaults } from '../../src/cli/training-options.js';
import { TRAIN_DEFAULTS } from '../../src/train/defaults.js';

describe('per-dataset training defaults', () => {
  it('movielens takes its chosen settings for every flag not given, and a given flag wins', () => {
    const p = parseOptions(['--k', '5'], TRAINING_OPTIONS);
    const v = withDatasetDefaults('movielens', p.values, p.given, TRAINING_OPTIONS);
    assert.equal(v.k, 5);
    assert.equal(v.epochs, DATASET_TRAINING_DEFAULTS.movielens?.epochs);
    assert.equal(v.epochs, 0);
    assert.equal(v.blend, 'fixed');
    assert.equal(v.stage2ItemNegatives, 'popularity');
  });

  it('globo differs where its search chose otherwise; other data keeps the general defaults', () => {
    const p = parseOptions([], TRAINING_OPTIONS);
    const g = withDatasetDefaults('globo', p.values, p.given, TRAINING_OPTIONS);
    assert.equal(g.epochs, 4);
    assert.equal(g.blend, 'learned');
    assert.equal(g.stage2Epochs, 3);
    const s = withDatasetDefaults('schema', p.values, p.given, TRAINING_OPTIONS);
    assert.deepEqual(s, p.values);
    assert.equal(s.stage2ItemNegatives, TRAIN_DEFAULTS.stage2.itemSampling);
  });

  it('both datasets merge stage 1 by attention (chosen on validation); a given --merge wins', () => {
    const table = { ...TRAINING_OPTIONS, merge: { flag: 'merge', arg: 'attention|concat', default: 'attention', help: 'merge', parse: oneOf(['attention', 'concat'] as const) } } as const satisfies OptionTable;
    const p = parseOptions([], table);
    assert.equal(withDatasetDefaults('globo', p.values, p.given, table).merge, 'attention');
    assert.equal(withDatasetDefaults('movielens', p.values, p.given, table).merge, 'attention');
    const q = parseOptions(['--merge', 'concat'], table);
    assert.equal(withDatasetDefaults('globo', q.values, q.given, table).merge, 'concat');
    for (const kind of ['globo', 'movielens'] as const) assert.equal('merge' in (DATASET_TRAINING_DEFAULTS[kind] ?? {}), false, kind);
  });

  it('a setting the command has no flag for is not added', () => {
    const p = parseOptions([], TRAINING_OPTIONS);
    const v = withDatasetDefaults('movielens', p.values, p.given, TRAINING_OPTIONS) as Record<string, unknown>;
    assert.equal('baselineEpochs' in v, false);
  });
});
