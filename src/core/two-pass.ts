/**
 * The two-pass audience scan. The exact scan costs each user 2c + 1 dot products of width h and
 * a c × c quadratic form (core/seed-set.ts): compute-bound, far above the time it takes to read
 * the user table. The two-pass scan first ranks every user by one dot product,
 *
 *   first(u) = α·cos(e_u, ĝ) + β·cos(e_u, L̄) = (α ĝ + β L̄/|L̄|) · e_u / |e_u|,   L̄ = Σ_j C_j
 *
 * — the exact score with the attention weights frozen equal (cos_g is exact; cos_l is the cosine
 * with the centroids' sum instead of their attention-weighted sum) — keeps the `factor · N` best
 * users per set (the candidates), and then scores only those exactly (a pool scan), so the users
 * returned carry their exact scores in the exact scan's order.
 *
 * The first pass is an ordinary seed set with one centroid v = α ĝ + β L̄/|L̄| and no global
 * vector, scanned with α = 0, β = 1 (score = cos(e_u, v) = first(u) / |v|): every backend runs
 * it with its own scan kernel, and the CPU's WebAssembly kernel recognises the shape
 * (`isDirectionSet`) and takes its one dot product per user (`scan_direction`) instead of four.
 *
 * Not exact by construction: a user whose attention-weighted cos_l is far above its pooled one
 * can rank inside the exact top N and outside the candidates. No cheap bound closes that gap
 * (the weights exp(tanh(·)) range over [1/e, e], and a bound on cos_l allowing every such
 * weighting keeps most of the table), so the recall against the exact scan is measured instead:
 * `ralm bench audience` (synthetic users) and `ralm bench two-pass` (real click logs),
 * docs/benchmarks.md.
 */
import type { PreparedSeedSet } from './seed-set.js';
import { ZERO_NORM } from '../model/reference.js';
import { scanPositions, type ScanHits, type ScanJob, type ScanSet } from './scan.js';

/** How an audience scan runs: every user exactly, or the two passes above. */
export type AudienceScanMode = 'exact' | 'two-pass';

export interface TwoPassOptions {
  /** Candidates kept per set: factor × N (at least minCandidates). */
  factor: number;
  /** The fewest candidates a set keeps, however small its N. */
  minCandidates: number;
}

/** The two-pass scan's defaults: the one home of these numbers (measured in docs/benchmarks.md). */
export const TWO_PASS_DEFAULTS: Readonly<TwoPassOptions> = { factor: 32, minCandidates: 2000 };

/**
 * The first pass's seed set for `set` under blend weights α, β: D = [0; v; 0; 0] with
 * v = α ĝ + β L̄/|L̄| (a zero-norm ĝ or L̄ drops out), G = [|v|²].
 */
export function summarySeedSet(set: PreparedSeedSet, alpha: number, beta: number): PreparedSeedSet {
  const { count: c, stride, d } = set;
  const pooled = new Float64Array(stride);
  for (let j = 0; j < c; j++) {
    const at = (c + j) * stride;
    for (let i = 0; i < stride; i++) pooled[i] += d[at + i];
  }
  let pp = 0;
  for (let i = 0; i < stride; i++) pp += pooled[i] * pooled[i];
  const pn = Math.sqrt(pp);
  const lw = pn >= ZERO_NORM ? beta / pn : 0;
  const g = 2 * c * stride;
  const out = new Float32Array(4 * stride);
  let vv = 0;
  for (let i = 0; i < stride; i++) {
    const v = Math.fround(alpha * d[g + i] + lw * pooled[i]);
    out[stride + i] = v;
    vv += v * v;
  }
  const gram = new Float32Array(16);
  gram[0] = vv;
  return { count: 1, rows: 4, d: out, gram, kPad: 4, stride };
}

/** A one-centroid set whose rows other than the centroid are zero: scored by one dot product per user. */
export function isDirectionSet(set: Pick<PreparedSeedSet, 'count' | 'rows' | 'd'>): boolean {
  if (set.count !== 1 || set.rows !== 4) return false;
  const { d } = set;
  const stride = d.length / 4;
  for (let i = 0; i < 4 * stride; i++) if (d[i] !== 0 && (i < stride || i >= 2 * stride)) return false;
  return true;
}

/** Candidates kept for a set asking for topN users. */
export function candidateCount(topN: number, options: TwoPassOptions): number {
  return Math.max(options.minCandidates, Math.ceil(topN * options.factor));
}

/** The two-pass scan would score fewer than half of the users exactly: otherwise one exact pass. */
export function twoPassPays(job: Pick<ScanJob, 'sets' | 'pool' | 'snapshot'>, options: TwoPassOptions): boolean {
  const P = scanPositions(job);
  return job.sets.every((s) => candidateCount(s.topN, options) * 2 <= P);
}

/**
 * Runs `job` as two passes through `run` (a backend's scan: the same kernels answer both), or as
 * one exact pass where the candidates would be half the users or more. Positions, ties and
 * thresholds mean what they mean for the exact scan.
 */
export async function scanTwoPass(run: (job: ScanJob) => Promise<ScanHits[]>, job: ScanJob, options: TwoPassOptions = TWO_PASS_DEFAULTS): Promise<ScanHits[]> {
  if (!twoPassPays(job, options)) return run(job);
  const first = await run({
    ...job,
    alpha: 0,
    beta: 1,
    sets: job.sets.map((s): ScanSet => ({ set: summarySeedSet(s.set, job.alpha, job.beta), skip: s.skip, topN: candidateCount(s.topN, options), threshold: -Infinity })),
  });
  const out: ScanHits[] = [];
  for (const [i, s] of job.sets.entries()) {
    // The candidates in position order, so that the pool scan's ties (lower pool index first)
    // are the exact scan's (lower position first).
    const positions = first[i].position.slice().sort();
    const rows = job.pool ? positions.map((p) => (job.pool as Uint32Array)[p]) : positions;
    const [hits] = await run({
      table: job.table, snapshot: job.snapshot, pool: rows, sets: [{ set: s.set, topN: s.topN, threshold: s.threshold }],
      alpha: job.alpha, beta: job.beta, signal: job.signal,
    });
    out.push({ ...hits, position: hits.position.map((p) => positions[p]) });
  }
  return out;
}
