/**
 * Checks a subject's top-K against this engine's full scores for the same users. Two float
 * implementations may order near-ties differently, so ids are not compared position by
 * position; instead (1) every returned (position, score) pair must match our score for that
 * position, and (2) the returned scores must equal our K best scores, rank by rank — together
 * they mean "a correct top-K of the same math".
 */
export interface Verification {
  ok: boolean;
  /** Largest |their score − ours| over both checks. */
  maxAbsDiff: number;
  tolerance: { abs: number; rel: number };
  /** The first mismatch, when not ok. */
  detail?: string;
}

export const DEFAULT_TOLERANCE = { abs: 1e-4, rel: 1e-4 };

export function verifyTopK(
  ours: readonly Float32Array[],
  theirs: { index: ArrayLike<number>; score: ArrayLike<number> },
  topK: number,
  tol = DEFAULT_TOLERANCE,
): Verification {
  let maxAbsDiff = 0;
  let detail: string | undefined;
  const close = (a: number, b: number): boolean => {
    const d = Math.abs(a - b);
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
    return d <= tol.abs + tol.rel * Math.abs(b);
  };
  for (let r = 0; r < ours.length; r++) {
    const s = ours[r];
    const kk = Math.min(topK, s.length);
    const best = Float32Array.from(s).sort().reverse().subarray(0, kk);
    for (let j = 0; j < kk; j++) {
      const pos = theirs.index[r * topK + j];
      const score = theirs.score[r * topK + j];
      if (!(pos >= 0 && pos < s.length) || !Number.isInteger(pos)) {
        detail ??= `request ${r}, rank ${j}: position ${pos} is not a candidate`;
        continue;
      }
      if (!close(score, s[pos])) detail ??= `request ${r}, rank ${j}: candidate ${pos} scored ${score}, ours ${s[pos]}`;
      if (!close(score, best[j])) detail ??= `request ${r}, rank ${j}: score ${score}, our rank-${j} score ${best[j]}`;
    }
  }
  return { ok: detail === undefined, maxAbsDiff, tolerance: tol, ...(detail ? { detail } : {}) };
}
