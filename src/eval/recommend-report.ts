/**
 * The report of `ralm eval`: the all-items table, the fresh-candidates table, the new-item table,
 * which weights each stage-2 run kept, and how stage 2's validation measures track the
 * evaluation (their correlation across the RALM runs: methods × seeds).
 */
import { pearson, spearman } from './metrics.js';
import { newItemMarkdown, type NewItemRow } from './new-items.js';
import type { KeepCheck } from '../train/stage2-keep.js';
import type { Kept } from '../train/stage2-result.js';
import { renderMarkdown, type ReportJson, type RunRecord } from './report.js';

export interface TrainingRecord {
  seed: number;
  method: string;
  seconds: number;
  bestEpoch: number;
  /** Stage 1: validation hit@50; stage 2: the chosen validation measure of the weights kept. */
  validation: number;
  /** Stage 2: which weights were kept, and its validation measures of them. */
  kept?: Kept;
  /** Stage 2's `checked` keep decision (stage2-keep.ts), when it ran. */
  check?: KeepCheck | null;
  validationItems?: number;
  validationUsers?: number;
  /** prec@10 of held-out latest clicks against every item (absent in results from before it existed). */
  validationRanking?: number;
  /** The popularity prior's λ stage 2 chose (or was given), and the held-out clicks' prec@10 with it. */
  popularityPrior?: number;
  validationRankingWithPrior?: number;
}

export interface Tracking {
  validation: 'prec@10, held-out clicks' | 'prec@10 with λ, held-out clicks' | 'prec@10 with λ, check half' | 'items per user' | 'users per item';
  protocol: 'all items' | 'fresh candidates';
  metric: string;
  runs: number;
  pearson: number;
  spearman: number;
}

/** The kept weights' prec@10 (with their λ) on the keep check's half, which chose nothing (stage2-keep.ts). */
export function checkedValue(t: Pick<TrainingRecord, 'check'>): number | undefined {
  const c = t.check;
  if (!c) return undefined;
  return c.kept === c.start.kept ? c.start.value : c.alternatives.find((a) => a.kept === c.kept)?.value;
}

/** Correlation of each stage-2 validation measure with each evaluation metric, across the RALM runs. */
export function validationTracking(training: readonly TrainingRecord[], runs: readonly RunRecord[], freshRuns: readonly RunRecord[]): Tracking[] {
  const out: Tracking[] = [];
  const s2 = training.filter((t) => t.kept !== undefined && t.validationItems !== undefined);
  for (const [protocol, rs] of [['all items', runs], ['fresh candidates', freshRuns]] as const) {
    for (const metric of ['auc', 'aucExposure', 'prec@10', 'prec@50']) {
      for (const [validation, key] of [['prec@10, held-out clicks', 'validationRanking'], ['prec@10 with λ, held-out clicks', 'validationRankingWithPrior'], ['prec@10 with λ, check half', 'check'], ['items per user', 'validationItems'], ['users per item', 'validationUsers']] as const) {
        const xs: number[] = [];
        const ys: number[] = [];
        for (const t of s2) {
          const r = rs.find((x) => x.method === t.method && x.seed === t.seed);
          const v = key === 'check' ? checkedValue(t) : t[key];
          if (!r || v === undefined || !(metric in r.metrics)) continue;
          xs.push(v);
          ys.push(r.metrics[metric]);
        }
        if (xs.length >= 3) out.push({ validation, protocol, metric, runs: xs.length, pearson: pearson(xs, ys), spearman: spearman(xs, ys) });
      }
    }
  }
  return out;
}

export interface RecommendMarkdownInput {
  runs: RunRecord[];
  metricsShown: string[];
  fresh: { windowMs: number; slots: number; requests: number; runs: RunRecord[]; summary: ReportJson | null };
  freshShown: string[];
  newItems: NewItemRow[];
  methods: string[];
  training: TrainingRecord[];
  tracking: Tracking[];
  evaluatedOn: 'test' | 'validation';
}

const f4 = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : '—');

export function recommendMarkdown(r: RecommendMarkdownInput): string {
  const on = r.evaluatedOn === 'validation' ? ' (on the validation split of the training period; no test row was read)' : '';
  const parts = [`All items${on}: every candidate ranked for every user; AUC against uniform and against exposure negatives`, '', renderMarkdown(r.runs, { metrics: r.metricsShown })];
  if (r.fresh.runs.length) {
    const hours = r.fresh.windowMs / 3_600_000;
    const window = hours >= 48 ? `${(hours / 24).toFixed(0)} days` : `${hours} h`;
    const cands = r.fresh.runs[0].metrics.candidatesPerRequest;
    parts.push('', `Fresh candidates: items first clicked in the ${window} before each request, described by their real-time seeds; ${r.fresh.requests} requests at ${r.fresh.slots} times, ${cands.toFixed(0)} candidates a request on average`, '', renderMarkdown(r.fresh.runs, { metrics: r.freshShown }));
  }
  // Methods only the new-item protocol scored (placebos) are shown after the others.
  parts.push('', newItemMarkdown(r.newItems, [...new Set([...r.methods, ...r.newItems.flatMap((row) => Object.keys(row.auc))])]));
  const s2 = r.training.filter((t) => t.kept !== undefined);
  if (s2.length) {
    parts.push('', 'Stage 2: the weights each run kept, and their validation (prec@10 of held-out latest clicks against every item; AUC of held-out items per user / users per item)', '',
      '| method | seed | kept | best epoch | validation (prec@10, held-out clicks) | λ (popularity prior) | validation with λ | validation (items per user) | validation (users per item) | seconds |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
      ...s2.map((t) => `| ${t.method} | ${t.seed} | ${t.kept} | ${t.bestEpoch} | ${t.validationRanking === undefined ? '—' : f4(t.validationRanking)} | ${t.popularityPrior ?? '—'} | ${t.validationRankingWithPrior === undefined ? '—' : f4(t.validationRankingWithPrior)} | ${f4(t.validationItems ?? NaN)} | ${f4(t.validationUsers ?? NaN)} | ${t.seconds.toFixed(0)} |`));
  }
  const checks = s2.filter((t) => t.check);
  if (checks.length) {
    const alt = (t: TrainingRecord, kept: Kept): string => {
      const a = t.check?.alternatives.find((x) => x.kept === kept);
      return a ? `${f4(a.value)} (λ ${a.lambda}): ${a.gain >= 0 ? '+' : ''}${f4(a.gain)} ± ${f4(a.sd)}${a.passed ? ' ✓' : ''}` : '—';
    };
    parts.push('', 'Stage 2\'s keep check: prec@10 of the held-out clicks of the half of the validation users that chose no epoch and no λ; an alternative replaces the start only with a gain above the margin × the paired-bootstrap SD (✓)', '',
      '| method | seed | clicks (users) | start | start ± SD | trained: value, gain ± SD | averaged seeds: value, gain ± SD | margin (SD) | kept |', '|---|---:|---:|---|---:|---|---|---:|---|',
      ...checks.map((t) => {
        const c = t.check as KeepCheck;
        return `| ${t.method} | ${t.seed} | ${c.checkRows} (${c.checkUsers}) | ${c.start.kept} (λ ${c.start.lambda}) | ${f4(c.start.value)} ± ${f4(c.start.sd)} | ${alt(t, 'trained')} | ${alt(t, 'averaged')} | ${c.margin} | ${c.kept} |`;
      }));
  }
  if (r.tracking.length) {
    parts.push('', 'How stage 2\'s validation tracks the evaluation: correlation across the RALM runs (methods × seeds)', '',
      '| validation measure | protocol | metric | runs | Pearson | Spearman |', '|---|---|---|---:|---:|---:|',
      ...r.tracking.map((t) => `| ${t.validation} | ${t.protocol} | ${t.metric} | ${t.runs} | ${f4(t.pearson)} | ${f4(t.spearman)} |`));
  }
  return parts.join('\n');
}
