/**
 * Results of several methods over several seeds, as one table: rows are methods, columns metrics,
 * cells `mean ± sd` over the seeds (sample SD), the best mean of each column in bold. Rendered as
 * Markdown for reading and as JSON for tooling; both are deterministic for the same runs (methods
 * and metrics keep the order they first appear in, unless the columns are given).
 */
import { RalmError } from '../util/errors.js';
import { meanSpread, type MeanSpread } from './metrics.js';

/** One evaluation of one method with one seed. */
export interface RunRecord {
  method: string;
  seed: number;
  metrics: Record<string, number>;
}

export interface ReportOptions {
  /** Columns in order (default: every metric, in order of first appearance). */
  metrics?: string[];
  /** Metrics where a smaller mean is better (default: `msPerUser`). */
  lowerIsBetter?: string[];
  /** Decimals shown (and compared when picking the best). */
  digits?: number;
}

export interface ReportJson {
  metrics: string[];
  lowerIsBetter: string[];
  digits: number;
  methods: Array<{
    method: string;
    /** Seeds in the order their runs came. */
    seeds: number[];
    /** Per metric: mean and spread over the seeds; null when no run of this method has it. */
    values: Record<string, MeanSpread | null>;
  }>;
  /** Per metric: the methods whose shown mean is the best (several on a tie). */
  best: Record<string, string[]>;
}

/** Groups runs by method and summarizes each metric over the seeds. */
export function summarizeRuns(runs: readonly RunRecord[], options: ReportOptions = {}): ReportJson {
  const digits = options.digits ?? 4;
  if (!Number.isSafeInteger(digits) || digits < 0 || digits > 12) throw new RalmError('RALM_ERR_VALIDATION', `digits: expected an integer in [0, 12], got ${digits}`, { field: 'digits' });
  if (runs.length === 0) throw new RalmError('RALM_ERR_VALIDATION', 'no runs to report');
  const lowerIsBetter = options.lowerIsBetter ?? ['msPerUser'];
  const groups = new Map<string, RunRecord[]>();
  const seen = new Set<string>();
  const found: string[] = [];
  for (const r of runs) {
    const key = JSON.stringify([r.method, r.seed]);
    if (seen.has(key)) throw new RalmError('RALM_ERR_VALIDATION', `method "${r.method}" has two runs with seed ${r.seed}`);
    seen.add(key);
    for (const [name, v] of Object.entries(r.metrics)) {
      if (!Number.isFinite(v)) throw new RalmError('RALM_ERR_NON_FINITE', `method "${r.method}", seed ${r.seed}: metric ${name} is ${v}`, { method: r.method, seed: r.seed, metric: name });
      if (!found.includes(name)) found.push(name);
    }
    const g = groups.get(r.method);
    if (g) g.push(r);
    else groups.set(r.method, [r]);
  }
  const metrics = options.metrics ?? found;
  const methods = [...groups].map(([method, rs]) => ({
    method,
    seeds: rs.map((r) => r.seed),
    values: Object.fromEntries(metrics.map((m) => {
      const xs = rs.flatMap((r) => (m in r.metrics ? [r.metrics[m]] : []));
      return [m, xs.length ? meanSpread(xs) : null];
    })) as Record<string, MeanSpread | null>,
  }));
  const best: Record<string, string[]> = {};
  for (const m of metrics) {
    const lower = lowerIsBetter.includes(m);
    // Compared as shown, so two means that print the same are both bold.
    let top: number | null = null;
    for (const row of methods) {
      const v = row.values[m];
      if (!v) continue;
      const shown = Number(fixed(v.mean, digits));
      if (top === null || (lower ? shown < top : shown > top)) top = shown;
    }
    best[m] = methods.filter((row) => row.values[m] && Number(fixed((row.values[m] as MeanSpread).mean, digits)) === top).map((row) => row.method);
  }
  return { metrics, lowerIsBetter, digits, methods, best };
}

/** toFixed without a "-0.000" for values that round to zero. */
function fixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

const cell = (s: string): string => s.replaceAll('\\', '\\\\').replaceAll('|', '\\|');

/** The Markdown table of `summarizeRuns` (a header, an alignment row, one row per method). */
export function renderMarkdown(runs: readonly RunRecord[], options: ReportOptions = {}): string {
  const r = summarizeRuns(runs, options);
  const lines = [
    `| method | seeds | ${r.metrics.map(cell).join(' | ')} |`,
    `|---|---:|${r.metrics.map(() => '---:|').join('')}`,
  ];
  for (const row of r.methods) {
    const cells = r.metrics.map((m) => {
      const v = row.values[m];
      if (!v) return '—';
      const text = `${fixed(v.mean, r.digits)} ± ${fixed(v.sd, r.digits)}`;
      return r.best[m].includes(row.method) ? `**${text}**` : text;
    });
    lines.push(`| ${cell(row.method)} | ${row.seeds.length} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** The JSON form of the same summary, as text (2-space indent, trailing newline). */
export function renderJson(runs: readonly RunRecord[], options: ReportOptions = {}): string {
  return JSON.stringify(summarizeRuns(runs, options), null, 2) + '\n';
}
