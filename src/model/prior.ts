/**
 * The popularity prior: a per-item term added to RALM's score, score' = score + λ · ln(1 + c),
 * where c is the item's clicker count (the distinct users its seed set was built from) and λ the
 * model's `popularityPrior` (manifest; 0 leaves the paper's score exactly as it was).
 *
 * Why ln(1 + c) rather than ln c: an item whose count is unknown (published without one, or
 * restored from data written before counts were stored) reads as c = 0 and gets prior 0 — the
 * score it had before — where ln 0 would be −∞. For the counts that matter (items are served from
 * ten or more seeds) the two differ by less than 0.1 / c.
 *
 * RALM's score is a blend of cosines with no item term, so it cannot express that a title many
 * people clicked is a likelier next click than one few did; on MovieLens's validation split this
 * term moved prec@10 more than any stage-2 training (docs/quality.md).
 */

/** The prior λ · ln(1 + c) as the engine stores and adds it (float32). */
export function popularityPrior(lambda: number, clickers: number): number {
  return Math.fround(lambda * Math.log1p(Math.max(0, clickers)));
}

/** True when λ is a usable prior weight: a finite number within ±MAX_PRIOR_WEIGHT. */
export function isPriorWeight(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_PRIOR_WEIGHT;
}

/**
 * The largest |λ|. Cosine blends lie in [−1, 1]; with ln(1 + c) ≤ 22 for any count a 32-bit
 * store holds, λ = 10 already lets the prior outweigh the look-alike term by two orders of
 * magnitude, so anything larger is a mistake rather than a setting.
 */
export const MAX_PRIOR_WEIGHT = 10;
