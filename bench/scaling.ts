/**
 * How latency grows with N, k, h and B, from a kernel result's rows, and where one backend
 * overtakes another. Derived data only: it reads medians, it measures nothing.
 */
import type { KernelRow } from './kernel.js';

export interface NFit {
  subject: string;
  k: number;
  h: number;
  batch: number;
  storage: string;
  sizes: number[];
  /** Least-squares t = overhead + perCandidate·N over the measured sizes. */
  overheadMs: number;
  nsPerCandidate: number;
  /** Slope of log t against log N between the smallest and largest N (1 = linear). */
  nExponent: number;
}

export interface Effect {
  subject: string;
  parameter: 'k' | 'h' | 'batch' | 'storage';
  /** The other parameters, held fixed. */
  at: string;
  values: Array<{ value: number | string; medianMs: number; relative: number }>;
}

export interface Crossover {
  faster: string;
  slower: string;
  at: string;
  sizes: number[];
  /** slower median / faster median per size (above 1: `faster` is faster there). */
  ratios: number[];
  /** N where the two cross inside the measured range (log-interpolated), else null. */
  crossesAtN: number | null;
  /** N where the linear fits cross outside it, when they do; else null. */
  extrapolatedN: number | null;
  statement: string;
}

export interface ScalingReport {
  fits: NFit[];
  effects: Effect[];
  crossovers: Crossover[];
}

const ok = (r: KernelRow): boolean => !r.error && Number.isFinite(r.timing.medianMs);
const others = (r: KernelRow, skip: string): string =>
  [['N', r.n], ['k', r.k], ['h', r.h], ['B', r.batch], ['storage', r.storage]].filter(([p]) => p !== skip).map(([p, v]) => `${p}=${v}`).join(' ');

function linearFit(xs: number[], ys: number[]): { a: number; b: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}

export function analyseScaling(rows: readonly KernelRow[]): ScalingReport {
  const good = rows.filter(ok);
  const fits: NFit[] = [];
  const bySeries = new Map<string, KernelRow[]>();
  for (const r of good) {
    const key = `${r.subject}|${others(r, 'N')}`;
    bySeries.set(key, [...(bySeries.get(key) ?? []), r]);
  }
  for (const series of bySeries.values()) {
    if (series.length < 2) continue;
    const s = [...series].sort((a, b) => a.n - b.n);
    const { a, b } = linearFit(s.map((r) => r.n), s.map((r) => r.timing.medianMs));
    const first = s[0];
    const last = s[s.length - 1];
    fits.push({
      subject: first.subject, k: first.k, h: first.h, batch: first.batch, storage: first.storage, sizes: s.map((r) => r.n),
      overheadMs: a, nsPerCandidate: (b * 1e6) / first.batch,
      nExponent: Math.log(last.timing.medianMs / first.timing.medianMs) / Math.log(last.n / first.n),
    });
  }

  const effects: Effect[] = [];
  for (const parameter of ['k', 'h', 'batch', 'storage'] as const) {
    const skip = parameter === 'batch' ? 'B' : parameter;
    const groups = new Map<string, KernelRow[]>();
    for (const r of good) {
      const key = `${r.subject}|${others(r, skip)}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      const s = [...g].sort((a, b) => String(a[parameter]).localeCompare(String(b[parameter]), undefined, { numeric: true }));
      const base = s[0].timing.medianMs;
      effects.push({
        subject: s[0].subject, parameter, at: others(s[0], skip),
        values: s.map((r) => ({ value: r[parameter], medianMs: r.timing.medianMs, relative: r.timing.medianMs / base })),
      });
    }
  }

  const crossovers: Crossover[] = [];
  const pairs: Array<[string, string]> = [['ralm-cpu', 'ralm-webgpu'], ['ralm-cpu-scalar', 'ralm-webgpu'], ['ralm-cpu', 'ralm-cpu-scalar'], ['ralm-cpu', 'onnxruntime-cpu']];
  for (const [x, y] of pairs) {
    const keys = new Set(good.filter((r) => r.subject === x).map((r) => others(r, 'N')));
    for (const at of keys) {
      const sx = good.filter((r) => r.subject === x && others(r, 'N') === at);
      const sy = good.filter((r) => r.subject === y && others(r, 'N') === at);
      const sizes = sx.map((r) => r.n).filter((n) => sy.some((r) => r.n === n)).sort((a, b) => a - b);
      // A crossover in N needs a sweep over N; single points are in the effects already.
      if (sizes.length < 2) continue;
      const tx = sizes.map((n) => (sx.find((r) => r.n === n) as KernelRow).timing.medianMs);
      const ty = sizes.map((n) => (sy.find((r) => r.n === n) as KernelRow).timing.medianMs);
      const xFasterMostly = tx.filter((t, i) => t < ty[i]).length * 2 >= sizes.length;
      const [faster, slower, tf, ts] = xFasterMostly ? [x, y, tx, ty] : [y, x, ty, tx];
      const ratios = sizes.map((_, i) => ts[i] / tf[i]);
      let crossesAtN: number | null = null;
      for (let i = 1; i < sizes.length && crossesAtN === null; i++) {
        const l0 = Math.log(ratios[i - 1]);
        const l1 = Math.log(ratios[i]);
        if (l0 === 0) crossesAtN = sizes[i - 1];
        else if (Math.sign(l0) !== Math.sign(l1)) {
          const f = l0 / (l0 - l1);
          crossesAtN = Math.round(Math.exp(Math.log(sizes[i - 1]) + f * (Math.log(sizes[i]) - Math.log(sizes[i - 1]))));
        }
      }
      let extrapolatedN: number | null = null;
      if (sizes.length >= 2) {
        const ff = linearFit(sizes, tf);
        const fs = linearFit(sizes, ts);
        if (fs.b < ff.b) {
          const n = (fs.a - ff.a) / (ff.b - fs.b);
          if (n > sizes[sizes.length - 1]) extrapolatedN = Math.round(n);
        }
      }
      const lo = Math.min(...ratios);
      const hi = Math.max(...ratios);
      const range = `N = ${sizes[0].toLocaleString('en-US')}–${sizes[sizes.length - 1].toLocaleString('en-US')}`;
      let statement: string;
      if (crossesAtN !== null) {
        const small = ratios[0] >= 1 ? faster : slower;
        const large = small === faster ? slower : faster;
        statement = `${small} is faster below N ≈ ${crossesAtN.toLocaleString('en-US')}, ${large} above it (${at})`;
      } else {
        statement = `${faster} is faster at every N measured (${range}), by ${lo.toFixed(1)}–${hi.toFixed(1)}× (${at})`;
        statement += extrapolatedN !== null
          ? `; their linear fits would cross near N ≈ ${extrapolatedN.toLocaleString('en-US')} (extrapolated)`
          : `; ${faster} also has the lower cost per candidate, so no crossover is expected at larger N`;
      }
      crossovers.push({ faster, slower, at, sizes, ratios, crossesAtN, extrapolatedN, statement });
    }
  }
  return { fits, effects, crossovers };
}

export function describeScaling(s: ScalingReport): string {
  const lines: string[] = [];
  for (const f of s.fits) {
    lines.push(`${f.subject} (k=${f.k} h=${f.h} B=${f.batch} ${f.storage}): t ≈ ${f.overheadMs.toFixed(2)} ms + ${f.nsPerCandidate.toFixed(0)} ns × N per request; log-log slope ${f.nExponent.toFixed(2)} over N = ${f.sizes.join(', ')}`);
  }
  for (const e of s.effects) {
    const name = e.parameter === 'batch' ? 'B' : e.parameter;
    lines.push(`${e.subject}, ${e.at}: ${e.values.map((v) => `${name}=${v.value} ${v.medianMs.toFixed(2)} ms (${v.relative.toFixed(2)}×)`).join(', ')}`);
  }
  for (const c of s.crossovers) lines.push(`crossover: ${c.statement}`);
  return lines.join('\n');
}
