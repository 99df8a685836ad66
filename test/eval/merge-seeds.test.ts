/** Seeds run apart and merged report what one run over those seeds reports. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evalRecommend, type RecommendEvalOptions } from '../../src/eval/recommend-eval.js';
import { mergeSeedResults } from '../../src/eval/merge-seeds.js';
import type { ReportJson } from '../../src/eval/report.js';
import { RalmError } from '../../src/util/errors.js';

const base: RecommendEvalOptions = {
  data: { kind: 'synthetic', synthetic: { seed: 1, users: 200, items: 60 } },
  methods: ['RALM', 'most popular'], maxUsers: 60, minTrainClicks: 5, seedCounts: [1], newItemsMax: 10, freshWindowMs: 168 * 3_600_000,
  stage1: { m: 8, hidden: [16, 8], epochs: 1 }, stage2: { h: 8, k: 3, epochs: 1 },
};

/** A summary without its timing column (wall-clock times differ between runs). */
function untimed(s: ReportJson | null): unknown {
  if (s === null) return null;
  const { msPerUser: _best, ...best } = s.best;
  return { ...s, best, methods: s.methods.map((m) => ({ ...m, values: Object.fromEntries(Object.entries(m.values).filter(([k]) => k !== 'msPerUser')) })) };
}

describe('mergeSeedResults', () => {
  it('merging seed 1 and seed 2 gives the summary, tracking and stage-2 records of one run over seeds 1 and 2', async () => {
    const [a, b, both] = [await evalRecommend({ ...base, seeds: [1] }), await evalRecommend({ ...base, seeds: [2] }), await evalRecommend({ ...base, seeds: [1, 2] })];
    const m = mergeSeedResults([a, b]);
    assert.deepEqual(m.settings.seeds, [1, 2]);
    assert.deepEqual(untimed(m.summary), untimed(both.summary));
    assert.ok(m.summary.metrics.includes('msPerUser'));
    assert.deepEqual(untimed(m.fresh.summary), untimed(both.fresh.summary));
    assert.deepEqual(m.tracking, both.tracking);
    assert.deepEqual(m.training.map((t) => [t.method, t.seed, t.kept]), both.training.map((t) => [t.method, t.seed, t.kept]));
    for (const [i, row] of m.newItems.entries()) {
      for (const [method, x] of Object.entries(row.auc)) assert.ok(Math.abs(x.mean - both.newItems[i].auc[method].mean) < 1e-12, `new items n = ${row.n} ${method}`);
    }
    assert.throws(() => mergeSeedResults([a, a]), (e: unknown) => e instanceof RalmError && /a seed appears twice/.test(e.message));
    assert.throws(() => mergeSeedResults([a, { ...b, settings: { ...b.settings, ks: [5] } }]), (e: unknown) => e instanceof RalmError && /results\[1\]: expected the same/.test(e.message));
    assert.throws(() => mergeSeedResults([]), RalmError);
  });
});
