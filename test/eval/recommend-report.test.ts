/**
 * `ralm eval`'s report of stage 2: the keep check's table and the check half as one more
 * validation measure whose correlation with the evaluation is reported (recommend-report.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkedValue, recommendMarkdown, validationTracking, type TrainingRecord } from '../../src/eval/recommend-report.js';
import type { KeepCheck } from '../../src/train/stage2-keep.js';
import type { RunRecord } from '../../src/eval/report.js';

function check(kept: KeepCheck['kept'], start: number, trained: number, averaged: number): KeepCheck {
  return {
    rule: 'checked', margin: 1, checkRows: 10, checkUsers: 4, selectionRows: 12, kept,
    start: { kept: 'initial', lambda: 0.05, value: start, sd: 0.01 },
    alternatives: [
      { kept: 'trained', lambda: 0.1, value: trained, gain: trained - start, sd: 0.01, passed: trained - start > 0.01 },
      { kept: 'averaged', lambda: 0.1, value: averaged, gain: averaged - start, sd: 0.01, passed: averaged - start > 0.01 },
    ],
  };
}

describe('ralm eval report: the keep check', () => {
  const training: TrainingRecord[] = [1, 2, 3].map((seed) => ({
    seed, method: 'RALM', seconds: 1, bestEpoch: 0, validation: 0.2, kept: seed === 1 ? 'averaged' : 'initial', validationItems: 0.7, validationUsers: 0.6, validationRanking: 0.1 + seed / 100, validationRankingWithPrior: 0.15,
    check: check(seed === 1 ? 'averaged' : 'initial', 0.1 * seed, 0.1 * seed + 0.005, 0.1 * seed + 0.05),
  }));
  const runs: RunRecord[] = [1, 2, 3].map((seed) => ({ method: 'RALM', seed, metrics: { auc: 0.7 + seed / 100, aucExposure: 0.6, 'prec@10': 0.05 * seed, 'prec@50': 0.2 } }));

  it('reads the kept weights\' check-half figure', () => {
    assert.equal(checkedValue(training[0]), 0.1 + 0.05);
    assert.equal(checkedValue(training[1]), 0.2);
    assert.equal(checkedValue({ check: null }), undefined);
  });

  it('correlates the check half with the evaluation, and tables each run\'s check', () => {
    const tracking = validationTracking(training, runs, []);
    const row = tracking.find((t) => t.validation === 'prec@10 with λ, check half' && t.metric === 'prec@10');
    assert.ok(row, JSON.stringify(tracking.map((t) => t.validation)));
    assert.equal(row.runs, 3);
    assert.ok(row.pearson > 0.9, `Pearson ${row.pearson}`);
    const md = recommendMarkdown({ runs, metricsShown: ['auc', 'prec@10'], fresh: { windowMs: 0, slots: 0, requests: 0, runs: [], summary: null }, freshShown: [], newItems: [], methods: ['RALM'], training, tracking, evaluatedOn: 'test' });
    assert.match(md, /Stage 2's keep check/);
    assert.match(md, /\| RALM \| 1 \| 10 \(4\) \| initial \(λ 0\.05\) \| 0\.1000 ± 0\.0100 \| 0\.1050 \(λ 0\.1\): \+0\.0050 ± 0\.0100 \| 0\.1500 \(λ 0\.1\): \+0\.0500 ± 0\.0100 ✓ \| 1 \| averaged \|/);
  });
});
