/**
 * SVG plots rendered from a kernel result: latency against N per backend and peer, and the
 * fraction of the memory-read roofline each reaches. Plain SVG text, log-log axes, no
 * dependencies, so the figures can be regenerated from any saved JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelBenchResult, KernelRow } from './kernel.js';
import { DEFAULT_PLOT_PREFIX } from './defaults.js';

export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const W = 760;
const H = 460;
const M = { left: 70, right: 210, top: 60, bottom: 55 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmtTick(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(Number(v.toPrecision(3)));
}

/** A log-log line chart. Non-positive or non-finite points are left out. */
export function renderLogLogChart(spec: ChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
    `<text x="${M.left}" y="42" fill="#555">${esc(spec.subtitle)}</text>`,
  ];
  if (pts.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`, '</svg>');
    return out.join('\n') + '\n';
  }
  const lx = pts.map((p) => Math.log10(p.x));
  const ly = pts.map((p) => Math.log10(p.y));
  let [x0, x1] = [Math.floor(Math.min(...lx)), Math.ceil(Math.max(...lx))];
  let [y0, y1] = [Math.floor(Math.min(...ly)), Math.ceil(Math.max(...ly))];
  if (x0 === x1) x1++;
  if (y0 === y1) y1++;
  if (x1 - x0 < 1) [x0, x1] = [x0 - 0.5, x1 + 0.5];
  if (y1 - y0 < 1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const X = (x: number): number => M.left + ((Math.log10(x) - x0) / (x1 - x0)) * pw;
  const Y = (y: number): number => M.top + ph - ((Math.log10(y) - y0) / (y1 - y0)) * ph;
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (let e = Math.ceil(x0); e <= x1; e++) {
    const x = X(10 ** e).toFixed(1);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#ddd"/>`, `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${fmtTick(10 ** e)}</text>`);
  }
  for (let e = Math.ceil(y0); e <= y1; e++) {
    const y = Y(10 ** e).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(10 ** e)}</text>`);
  }
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const p = s.points.filter((q) => q.x > 0 && q.y > 0 && Number.isFinite(q.y)).sort((a, b) => a.x - b.x);
    if (p.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${p.map((q) => `${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join(' ')}"/>`);
    for (const q of p) out.push(`<circle cx="${X(q.x).toFixed(1)}" cy="${Y(q.y).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${s.name}: ${fmtTick(q.x)} → ${q.y.toPrecision(3)}`)}</title></circle>`);
    const ly2 = M.top + 10 + i * 20;
    out.push(`<line x1="${M.left + pw + 14}" y1="${ly2}" x2="${M.left + pw + 34}" y2="${ly2}" stroke="${color}" stroke-width="2"/>`, `<text x="${M.left + pw + 40}" y="${ly2}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The (k, h, B, storage) with the most sizes: the configuration the N plots follow. */
function mainSeriesKey(rows: readonly KernelRow[]): string {
  const counts = new Map<string, Set<number>>();
  for (const r of rows) {
    const key = `${r.k}|${r.h}|${r.batch}|${r.storage}`;
    counts.set(key, (counts.get(key) ?? new Set()).add(r.n));
  }
  return [...counts.entries()].sort((a, b) => b[1].size - a[1].size || (a[0] === '20|128|1|f32' ? -1 : 1))[0]?.[0] ?? '';
}

export function kernelCharts(result: KernelBenchResult): { latency: ChartSpec; roofline: ChartSpec } {
  const rows = result.rows.filter((r) => !r.error);
  const key = mainSeriesKey(rows);
  const [k, h, b, storage] = key.split('|');
  const sel = rows.filter((r) => `${r.k}|${r.h}|${r.batch}|${r.storage}` === key);
  const subjects = [...new Set(sel.map((r) => r.subject))];
  const m = result.machine;
  const subtitle = `k=${k}, h=${h}, B=${b}, ${storage}, top-${result.settings.topK}; ${m.cpu}, ${m.cores} cores; ${m.adapter.name ?? 'no WebGPU adapter'}`;
  const series = (y: (r: KernelRow) => number): Series[] => subjects.map((s) => ({ name: s, points: sel.filter((r) => r.subject === s).map((r) => ({ x: r.n, y: y(r) })) }));
  const roofline: Series = { name: 'memory-read roofline', points: [...new Map(sel.filter((r) => r.kind === 'ralm').map((r) => [r.n, { x: r.n, y: r.roofline.medianMs }])).values()] };
  return {
    latency: { title: 'Ranking latency against N (median, per batch)', subtitle, xLabel: 'candidates N', yLabel: 'median latency (ms)', series: [...series((r) => r.timing.medianMs), roofline] },
    roofline: { title: 'Fraction of the memory-read roofline', subtitle, xLabel: 'candidates N', yLabel: 'roofline time / median time', series: series((r) => r.roofline.medianMs / r.timing.medianMs) },
  };
}

/** Writes <prefix>-latency.svg and <prefix>-roofline.svg into `dir`; returns the paths. */
export async function writeKernelPlots(result: KernelBenchResult, dir: string, prefix = DEFAULT_PLOT_PREFIX): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const c = kernelCharts(result);
  const files = [join(dir, `${prefix}-latency.svg`), join(dir, `${prefix}-roofline.svg`)];
  await writeFile(files[0], renderLogLogChart(c.latency));
  await writeFile(files[1], renderLogLogChart(c.roofline));
  return files;
}
