/**
 * `ralm eval --prior-sweep`: the trained RALM served with other popularity-prior weights, the same
 * weights and clusters — λ equal to the model's own reproduces the RALM row, λ = 0 the blend alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evalRecommend } from '../../src/eval/recommend-eval.js';

describe('ralm eval: a popularity-prior sweep', () => {
  it('adds one row per λ in both protocols; the model\'s own λ gives the RALM row\'s figures', async () => {
    const base = {
      data: { kind: 'synthetic' as const, synthetic: { seed: 1, users: 200, items: 60 } },
      methods: ['RALM' as const], maxUsers: 60, minTrainClicks: 5, seedCounts: [1], newItemsMax: 10, freshWindowMs: 168 * 3_600_000, seeds: [1],
      stage1: { m: 8, hidden: [16, 8], epochs: 1 }, stage2: { h: 8, k: 3, epochs: 1, popularityPrior: 0.1 }, validation: true,
    };
    const r = await evalRecommend({ ...base, priorSweep: [0, 0.1] });
    assert.equal(r.evaluatedOn, 'validation');
    assert.deepEqual(r.runs.map((x) => x.method), ['RALM', 'RALM (λ = 0)', 'RALM (λ = 0.1)']);
    assert.deepEqual(r.fresh.runs.map((x) => x.method), ['RALM', 'RALM (λ = 0)', 'RALM (λ = 0.1)']);
    const { msPerUser: _a, ...ralm } = r.runs[0].metrics;
    const { msPerUser: _b, ...same } = r.runs[2].metrics;
    assert.deepEqual(same, ralm);
    assert.deepEqual(r.fresh.runs[2].metrics, r.fresh.runs[0].metrics);
    assert.equal(r.training.find((t) => t.method === 'RALM')?.popularityPrior, 0.1);
  });
});
