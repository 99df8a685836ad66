/**
 * One `ralm eval` report from several runs over different seeds of the same evaluation (same
 * data, split and settings), so that seeds can run as separate processes, side by side. The
 * per-seed records are concatenated and summarised again exactly as one run over all the seeds
 * summarises them (mean ± sample SD over the seeds); the new-item rows, which a run keeps only as
 * a mean per seed, are combined from those per-seed means.
 */
import { RalmError } from '../util/errors.js';
import { meanSpread } from './metrics.js';
import type { NewItemRow } from './new-items.js';
import type { RecommendEvalResult } from './recommend-eval.js';
import { recommendMarkdown, validationTracking } from './recommend-report.js';
import { summarizeRuns } from './report.js';

/** Settings that must agree between the runs merged (everything but the seeds). */
function comparable(r: RecommendEvalResult): string {
  return JSON.stringify({ dataset: r.dataset, evaluatedOn: r.evaluatedOn, split: r.split, context: r.context, settings: { ...r.settings, seeds: undefined } });
}

export function mergeSeedResults(results: readonly RecommendEvalResult[]): RecommendEvalResult {
  if (results.length === 0) throw new RalmError('RALM_ERR_VALIDATION', 'results: expected at least one evaluation result to merge', { field: 'results' });
  const first = results[0];
  for (const [i, r] of results.entries()) {
    if (comparable(r) !== comparable(first)) throw new RalmError('RALM_ERR_VALIDATION', `results[${i}]: expected the same dataset, split and settings as results[0] (only the seeds may differ)`, { field: `results[${i}]` });
  }
  const seeds = results.flatMap((r) => r.settings.seeds as number[]);
  if (new Set(seeds).size !== seeds.length) throw new RalmError('RALM_ERR_VALIDATION', `results: a seed appears twice (${seeds.join(', ')})`, { field: 'results' });
  const runs = results.flatMap((r) => r.runs);
  const freshRuns = results.flatMap((r) => r.fresh.runs);
  const training = results.flatMap((r) => r.training);
  const metricsShown = first.summary.metrics;
  const freshShown = first.fresh.summary?.metrics ?? [];
  const newItems: NewItemRow[] = first.newItems.map((row, i) => {
    const auc: NewItemRow['auc'] = {};
    for (const method of Object.keys(row.auc)) {
      const perSeed = results.flatMap((r) => {
        const x = r.newItems[i]?.auc[method];
        return x === undefined ? [] : [x.mean];
      });
      auc[method] = meanSpread(perSeed);
    }
    return { ...row, auc };
  });
  const fresh = { ...first.fresh, runs: freshRuns, summary: freshRuns.length ? summarizeRuns(freshRuns, { metrics: freshShown }) : null };
  const tracking = validationTracking(training, runs, freshRuns);
  const methods = [...new Set(runs.map((r) => r.method))];
  return {
    ...first,
    settings: { ...first.settings, seeds },
    runs, summary: summarizeRuns(runs, { metrics: metricsShown }), fresh, newItems, training, tracking,
    seconds: results.reduce((s, r) => s + r.seconds, 0),
    markdown: recommendMarkdown({ runs, metricsShown, fresh, freshShown, newItems, methods, training, tracking, evaluatedOn: first.evaluatedOn }),
  };
}
