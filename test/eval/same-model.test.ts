/**
 * `ralm eval` scores a served model once: a row whose stage 2 serves exactly the model of an
 * earlier row (RALM's keep check kept its start, the untrained row's model) takes that row's
 * figures, and they are the figures scoring it alone gives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evalRecommend, sameServedModel } from '../../src/eval/recommend-eval.js';
import { smallModel } from '../helpers/fixtures.js';

const strip = (m: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'msPerUser'));

describe('ralm eval: one evaluation per served model', () => {
  it('sameServedModel: equal weights, k, blend and λ; any one differing is another model', () => {
    const a = smallModel({ seed: 11 });
    const copy = { ...a, weights: { ...a.weights, localWeight: a.weights.localWeight.slice() } };
    assert.ok(sameServedModel(a, copy));
    copy.weights.localWeight[3] += 1e-6;
    assert.ok(!sameServedModel(a, copy));
    assert.ok(!sameServedModel(a, { ...a, manifest: { ...a.manifest, popularityPrior: 0.05 } }));
    assert.ok(!sameServedModel(a, { ...a, manifest: { ...a.manifest, alpha: a.manifest.alpha + 0.1 } }));
    assert.ok(!sameServedModel(a, smallModel({ seed: 12 })));
  });

  it('the untrained row takes RALM\'s figures when RALM serves its start, equal to scoring it alone', async () => {
    const base = {
      data: { kind: 'synthetic' as const, synthetic: { seed: 1, users: 200, items: 60 } },
      maxUsers: 60, minTrainClicks: 5, seedCounts: [1], newItemsMax: 10, freshWindowMs: 168 * 3_600_000, seeds: [1],
      // RALM trained for no epoch from the identity start: the untrained row's very configuration.
      stage1: { m: 8, hidden: [16, 8], epochs: 1 }, stage2: { h: 8, k: 3, epochs: 0, init: 'identity' as const, keepAveraged: false }, validation: true,
    };
    const lines: string[] = [];
    const both = await evalRecommend({ ...base, methods: ['RALM', 'RALM (untrained)'], log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /RALM \(untrained\).*serves the same model as RALM/.test(l)), 'the log says the figures were taken over');
    const alone = await evalRecommend({ ...base, methods: ['RALM (untrained)'] });
    const row = (r: typeof both, list: 'runs' | 'fresh', name: string): Record<string, number> => strip((list === 'runs' ? r.runs : r.fresh.runs).find((x) => x.method === name)?.metrics ?? {});
    assert.deepEqual(row(both, 'runs', 'RALM (untrained)'), row(alone, 'runs', 'RALM (untrained)'));
    assert.deepEqual(row(both, 'fresh', 'RALM (untrained)'), row(alone, 'fresh', 'RALM (untrained)'));
    assert.deepEqual(row(both, 'runs', 'RALM (untrained)'), row(both, 'runs', 'RALM'));
    // New items are RALM's to score when it runs; the untrained row gets none, as before.
    assert.equal(both.newItems[0].auc['RALM (untrained)'], undefined);
    assert.equal(both.newItems[0].auc.RALM?.mean, alone.newItems[0].auc['RALM (untrained)']?.mean);
  });
});
