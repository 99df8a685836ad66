/**
 * Repeatability: the same kernel benchmark run twice should give medians within a tolerance
 * (default 10%). Pairs rows by subject and configuration and reports each ratio, so a noisy
 * machine shows up as such instead of being averaged away.
 */
import type { KernelBenchResult, KernelRow } from './kernel.js';
import { DEFAULT_TOLERANCE, NOISY_SPREAD } from './defaults.js';

export interface RowComparison {
  key: string;
  medianA: number;
  medianB: number;
  /** B / A. */
  ratio: number;
  withinTolerance: boolean;
  /** Either run's spread was above the noise threshold. */
  noisy: boolean;
}

export interface KernelComparison {
  tolerance: number;
  rows: RowComparison[];
  within: number;
  outside: number;
  /** Rows present in only one of the two results. */
  unmatched: string[];
  loadAverage: { a: KernelBenchResult['machine']['loadAverage']; b: KernelBenchResult['machine']['loadAverage'] };
}

const key = (r: KernelRow): string => `${r.subject} ${r.storage} N=${r.n} k=${r.k} h=${r.h} B=${r.batch}`;

export function compareKernelResults(a: KernelBenchResult, b: KernelBenchResult, tolerance = DEFAULT_TOLERANCE): KernelComparison {
  const okRows = (res: KernelBenchResult): Map<string, KernelRow> => new Map(res.rows.filter((r) => !r.error).map((r) => [key(r), r]));
  const ra = okRows(a);
  const rb = okRows(b);
  const rows: RowComparison[] = [];
  const unmatched: string[] = [];
  for (const [k, x] of ra) {
    const y = rb.get(k);
    if (!y) {
      unmatched.push(k);
      continue;
    }
    const ratio = y.timing.medianMs / x.timing.medianMs;
    rows.push({
      key: k, medianA: x.timing.medianMs, medianB: y.timing.medianMs, ratio,
      withinTolerance: Math.abs(ratio - 1) <= tolerance, noisy: x.timing.spread > NOISY_SPREAD || y.timing.spread > NOISY_SPREAD,
    });
  }
  for (const k of rb.keys()) if (!ra.has(k)) unmatched.push(k);
  const within = rows.filter((r) => r.withinTolerance).length;
  return { tolerance, rows, within, outside: rows.length - within, unmatched, loadAverage: { a: a.machine.loadAverage, b: b.machine.loadAverage } };
}

export function describeComparison(c: KernelComparison): string {
  const lines = c.rows.map((r) =>
    `${r.key.padEnd(48)} ${r.medianA.toFixed(3).padStart(9)} ms → ${r.medianB.toFixed(3).padStart(9)} ms  ×${r.ratio.toFixed(2)}${r.withinTolerance ? '' : '  OUTSIDE'}${r.noisy ? '  (noisy)' : ''}`);
  lines.push(`${c.within} of ${c.rows.length} medians within ±${(c.tolerance * 100).toFixed(0)}%; ${c.outside} outside, of which ${c.rows.filter((r) => !r.withinTolerance && r.noisy).length} in rows flagged noisy`);
  lines.push(`load average (1 min) at start/end: A ${c.loadAverage.a.start.toFixed(2)}/${c.loadAverage.a.end?.toFixed(2) ?? '?'}, B ${c.loadAverage.b.start.toFixed(2)}/${c.loadAverage.b.end?.toFixed(2) ?? '?'}`);
  if (c.unmatched.length > 0) lines.push(`in one result only: ${c.unmatched.join('; ')}`);
  return lines.join('\n');
}
