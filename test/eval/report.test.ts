import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderJson, renderMarkdown, summarizeRuns, type RunRecord } from '../../src/eval/report.js';

const runs: RunRecord[] = [
  { method: 'most popular', seed: 1, metrics: { auc: 0.6, 'prec@10': 0.1, msPerUser: 0.02 } },
  { method: 'RALM', seed: 1, metrics: { auc: 0.7, 'prec@10': 0.12, msPerUser: 0.5 } },
  { method: 'most popular', seed: 2, metrics: { auc: 0.62, 'prec@10': 0.12, msPerUser: 0.04 } },
  { method: 'RALM', seed: 2, metrics: { auc: 0.72, 'prec@10': 0.1, msPerUser: 0.7 } },
  { method: 'a|b', seed: 1, metrics: { auc: 0.5 } },
];

describe('report', () => {
  it('renders mean ± sd per method and metric, the best of each column in bold', () => {
    // prec@10 ties at 0.11; msPerUser is lower-is-better; a|b has no prec@10 and its pipe is escaped.
    assert.equal(renderMarkdown(runs), [
      '| method | seeds | auc | prec@10 | msPerUser |',
      '|---|---:|---:|---:|---:|',
      '| most popular | 2 | 0.6100 ± 0.0141 | **0.1100 ± 0.0141** | **0.0300 ± 0.0141** |',
      '| RALM | 2 | **0.7100 ± 0.0141** | **0.1100 ± 0.0141** | 0.6000 ± 0.1414 |',
      '| a\\|b | 1 | 0.5000 ± 0.0000 | — | — |',
      '',
    ].join('\n'));
  });

  it('takes the columns, their direction and the precision from the options', () => {
    assert.equal(renderMarkdown(runs, { metrics: ['msPerUser', 'auc'], lowerIsBetter: [], digits: 2 }), [
      '| method | seeds | msPerUser | auc |',
      '|---|---:|---:|---:|',
      '| most popular | 2 | 0.03 ± 0.01 | 0.61 ± 0.01 |',
      '| RALM | 2 | **0.60 ± 0.14** | **0.71 ± 0.01** |',
      '| a\\|b | 1 | — | 0.50 ± 0.00 |',
      '',
    ].join('\n'));
  });

  it('gives the same summary as JSON, with unrounded values', () => {
    const j = JSON.parse(renderJson(runs)) as ReturnType<typeof summarizeRuns>;
    assert.deepEqual(j.metrics, ['auc', 'prec@10', 'msPerUser']);
    assert.deepEqual(j.methods.map((m) => [m.method, m.seeds]), [['most popular', [1, 2]], ['RALM', [1, 2]], ['a|b', [1]]]);
    assert.equal(j.methods[1].values.auc?.mean, (0.7 + 0.72) / 2);
    assert.equal(j.methods[2].values['prec@10'], null);
    assert.deepEqual(j.best, { auc: ['RALM'], 'prec@10': ['most popular', 'RALM'], msPerUser: ['most popular'] });
    assert.equal(renderJson(runs), renderJson(runs.slice()), 'deterministic');
  });

  it('refuses no runs, a repeated (method, seed) and a non-finite metric', () => {
    assert.throws(() => renderMarkdown([]), /no runs to report/);
    assert.throws(() => summarizeRuns([runs[0], { ...runs[0] }]), /method "most popular" has two runs with seed 1/);
    assert.throws(() => summarizeRuns([{ method: 'm', seed: 3, metrics: { auc: NaN } }]), /method "m", seed 3: metric auc is NaN/);
  });
});
