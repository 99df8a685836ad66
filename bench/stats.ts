/** Timing statistics shared by the benchmarks. */
import { performance } from 'node:perf_hooks';

export interface Timing {
  runs: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  /** (p90 - p10) / median: a spread above ~0.3 means a noisy machine. */
  spread: number;
  /**
   * Processor time of this process (every thread: user + system) per run, ms, over the timed
   * runs (`measure` only). On a machine shared with other work it is steadier than wall time:
   * waiting for a core does not count, the work done does.
   */
  cpuMs?: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: readonly number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const median = quantile(s, 0.5);
  return {
    runs: s.length,
    medianMs: median,
    p90Ms: quantile(s, 0.9),
    p99Ms: quantile(s, 0.99),
    minMs: s[0],
    maxMs: s[s.length - 1],
    spread: median > 0 ? (quantile(s, 0.9) - quantile(s, 0.1)) / median : 0,
  };
}

export interface MeasureOptions {
  warmup?: number;
  minRuns?: number;
  maxRuns?: number;
  minMs?: number;
  /**
   * Stop once this much wall time has passed and at least 3 runs are in, even short of
   * `minRuns`: slow subjects (a software rasteriser at N = 1,000,000) would otherwise take
   * minutes per row. The run count is reported, so a thin sample is visible.
   */
  maxMs?: number;
}

/**
 * Runs `fn` `warmup` times untimed, then until both `minRuns` runs and `minMs` of wall time
 * have passed (capped at `maxRuns` runs and `maxMs` of wall time).
 */
export async function measure(fn: () => Promise<unknown> | unknown, o: MeasureOptions = {}): Promise<Timing> {
  const warmup = o.warmup ?? 3;
  const minRuns = o.minRuns ?? 10;
  const maxRuns = o.maxRuns ?? 200;
  const minMs = o.minMs ?? 1000;
  const maxMs = o.maxMs ?? Infinity;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  while (samples.length < maxRuns && (samples.length < minRuns || performance.now() - start < minMs)) {
    if (samples.length >= 3 && performance.now() - start > maxMs) break;
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  return { ...summarize(samples), cpuMs: (cpu.user + cpu.system) / 1000 / Math.max(1, samples.length) };
}

/**
 * The memory-read roofline for `bytes`: memchr over a buffer of that size that was written
 * (so its pages are real, not the shared zero page) and holds no byte 1, so the scan reads it all.
 */
export class RooflineProbe {
  /** Chunks of at most 1 GiB (one Buffer cannot exceed 4 GiB). */
  private chunks: Buffer[] = [];
  private static readonly CHUNK = 2 ** 30;
  async time(bytes: number, o: { minRuns?: number; minMs?: number } = {}): Promise<Timing> {
    if (bytes <= 0) return summarize([0]);
    const views: Buffer[] = [];
    for (let at = 0, i = 0; at < bytes; at += RooflineProbe.CHUNK, i++) {
      const len = Math.min(RooflineProbe.CHUNK, bytes - at);
      if (!this.chunks[i] || this.chunks[i].length < len) this.chunks[i] = Buffer.allocUnsafe(len).fill(0);
      views.push(this.chunks[i].subarray(0, len));
    }
    return measure(() => {
      for (const v of views) if (v.indexOf(1) !== -1) throw new Error('roofline buffer corrupted');
    }, { warmup: 2, minRuns: o.minRuns ?? 10, minMs: o.minMs ?? 300 });
  }
  release(): void {
    this.chunks = [];
  }
}

/** Bytes per second of a memory read measured with the roofline probe over `bytes` (default 256 MiB). */
export async function memoryReadBandwidth(bytes = 256 * 2 ** 20): Promise<{ bytes: number; gbPerSec: number; timing: Timing }> {
  const probe = new RooflineProbe();
  const timing = await probe.time(bytes, { minRuns: 10, minMs: 500 });
  probe.release();
  return { bytes, gbPerSec: bytes / (timing.medianMs / 1000) / 1e9, timing };
}
