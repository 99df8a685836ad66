/**
 * The audience scan in plain TypeScript on the calling thread, yielding between blocks: the
 * fallback where WebAssembly SIMD is unavailable, and the statement of the math the WebAssembly
 * and WGSL scan kernels implement (the folding of a seed set is explained in core/seed-set.ts).
 */
import { ZERO_NORM } from '../model/reference.js';
import { bit, cancelled, scanPositions, SCAN_BLOCK, type ScanHits, type ScanJob } from '../core/scan.js';
import type { PreparedSeedSet } from '../core/seed-set.js';
import { TopSelector } from '../core/top-k.js';
import { yieldToEventLoop } from '../util/time-slice.js';

/** The attention weight exp(tanh(x)) as every CPU path computes it (logit clamped like the kernels). */
export function attentionWeight(x: number): number {
  return Math.exp(Math.tanh(Math.max(-20, Math.min(20, x))));
}

/**
 * Scores one user (row `at` of `rows`, width stride, norm `norm`) against a prepared set, in
 * plain TypeScript: the scalar path, and the statement of the math the kernels implement.
 * `out` receives [score, cos_g, cos_l] at `o`.
 */
export function scoreUserScalar(
  set: PreparedSeedSet, rows: Float32Array, at: number, norm: number, alpha: number, beta: number,
  dots: Float64Array, w: Float64Array, out: Float32Array, o: number,
): void {
  const { count: c, d, stride, gram, kPad } = set;
  if (norm < ZERO_NORM) {
    out[o] = 0;
    out[o + 1] = 0;
    out[o + 2] = 0;
    return;
  }
  const n = 2 * c + 1;
  for (let r = 0; r < n; r++) {
    let s = 0;
    const base = r * stride;
    for (let i = 0; i < stride; i++) s += rows[at + i] * d[base + i];
    dots[r] = s;
  }
  let sw = 0;
  let eL = 0;
  for (let j = 0; j < c; j++) {
    w[j] = attentionWeight(dots[j]);
    sw += w[j];
    eL += w[j] * dots[c + j];
  }
  let ll = 0;
  for (let a = 0; a < c; a++) {
    let t = 0;
    for (let b = 0; b < c; b++) t += gram[a * kPad + b] * w[b];
    ll += w[a] * t;
  }
  const lNorm = Math.sqrt(Math.max(ll, 0));
  const cosLocal = lNorm / sw < ZERO_NORM ? 0 : eL / (norm * lNorm);
  const cosGlobal = dots[2 * c] / norm;
  out[o] = alpha * cosGlobal + beta * cosLocal;
  out[o + 1] = cosGlobal;
  out[o + 2] = cosLocal;
}

/** The plain TypeScript scan on the calling thread (yielding between blocks). */
export async function scanScalar(job: ScanJob): Promise<ScanHits[]> {
  const { table, snapshot, pool, sets, alpha, beta } = job;
  const P = scanPositions(job);
  const rpp = table.rowsPerPage;
  const stride = table.stride;
  const maxRows = sets.reduce((a, s) => Math.max(a, s.set.rows), 0);
  const dots = new Float64Array(maxRows);
  const w = new Float64Array(sets.reduce((a, s) => Math.max(a, s.set.count), 0));
  const out = new Float32Array(3);
  const selectors = sets.map((s) => new TopSelector(s.topN, s.threshold));
  let done = 0;
  for (let from = 0; from < P; from += SCAN_BLOCK) {
    if (job.signal?.aborted) throw cancelled();
    const to = Math.min(P, from + SCAN_BLOCK);
    for (let p = from; p < to; p++) {
      const row = pool ? pool[p] : p;
      if (bit(snapshot.dead, row)) continue;
      const page = table.pages[Math.floor(row / rpp)];
      const local = row % rpp;
      sets.forEach((s, si) => {
        if (!pool && bit(s.skip, row)) return;
        scoreUserScalar(s.set, page.rows, local * stride, page.norms[local], alpha, beta, dots, w, out, 0);
        selectors[si].offer(out[0], p, out[1], out[2]);
      });
    }
    done += (to - from) * sets.length;
    job.onProgress?.(done, P * sets.length);
    await yieldToEventLoop();
  }
  return selectors.map((s) => s.result());
}
