/**
 * Top-K selection, the one place it is written: every backend, the audience scan and the
 * evaluation rank with this heap and this tie rule — higher score first; equal scores (compared
 * as stored float32) rank the lower position first.
 */

/** Kept entries, best first: the position each came from, its score and the two cosines. */
export interface RankedRows {
  readonly position: Uint32Array;
  readonly score: Float32Array;
  readonly cosGlobal: Float32Array;
  readonly cosLocal: Float32Array;
}

/** True when (sa, pa) ranks before (sb, pb). */
export function ranksBefore(sa: number, pa: number, sb: number, pb: number): boolean {
  return sa > sb || (sa === sb && pa < pb);
}

/**
 * A bounded selection of (score, position): the best `capacity` offered at or above `threshold`.
 * A min-heap on the worst kept entry; no allocation per offer. NaN is never kept.
 */
export class TopSelector {
  private readonly s: Float32Array;
  private readonly p: Uint32Array;
  private readonly g: Float32Array;
  private readonly l: Float32Array;
  private n = 0;

  constructor(private readonly capacity: number, private readonly threshold = -Infinity) {
    this.s = new Float32Array(capacity);
    this.p = new Uint32Array(capacity);
    this.g = new Float32Array(capacity);
    this.l = new Float32Array(capacity);
  }

  /** Entries kept so far. */
  get size(): number {
    return this.n;
  }

  offer(value: number, position: number, cosGlobal = 0, cosLocal = 0): void {
    // Compared as stored (float32), so ties between equal stored scores break by position.
    const score = Math.fround(value);
    if (!(score >= this.threshold) || this.capacity === 0) return;
    const { s, p } = this;
    if (this.n < this.capacity) {
      let i = this.n++;
      while (i > 0) {
        const up = (i - 1) >> 1;
        if (!ranksBefore(s[up], p[up], score, position)) break; // parent is no better than new: stop
        this.move(up, i);
        i = up;
      }
      this.put(i, score, position, cosGlobal, cosLocal);
      return;
    }
    if (!ranksBefore(score, position, s[0], p[0])) return;
    let i = 0;
    for (;;) {
      const a = 2 * i + 1;
      if (a >= this.n) break;
      const b = a + 1;
      let worst = a;
      if (b < this.n && ranksBefore(s[a], p[a], s[b], p[b])) worst = b;
      if (!ranksBefore(score, position, s[worst], p[worst])) break;
      this.move(worst, i);
      i = worst;
    }
    this.put(i, score, position, cosGlobal, cosLocal);
  }

  private move(from: number, to: number): void {
    this.s[to] = this.s[from];
    this.p[to] = this.p[from];
    this.g[to] = this.g[from];
    this.l[to] = this.l[from];
  }

  private put(i: number, score: number, position: number, cosGlobal: number, cosLocal: number): void {
    this.s[i] = score;
    this.p[i] = position;
    this.g[i] = cosGlobal;
    this.l[i] = cosLocal;
  }

  /** The kept entries, best first. */
  result(): RankedRows {
    const order = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => (ranksBefore(this.s[a], this.p[a], this.s[b], this.p[b]) ? -1 : 1));
    return {
      position: Uint32Array.from(order, (i) => this.p[i]),
      score: Float32Array.from(order, (i) => this.s[i]),
      cosGlobal: Float32Array.from(order, (i) => this.g[i]),
      cosLocal: Float32Array.from(order, (i) => this.l[i]),
    };
  }
}

/** Positions of the best `k` scores, best first. */
export function selectTopK(scores: Float32Array, k: number): Uint32Array {
  const sel = new TopSelector(Math.min(k, scores.length));
  for (let c = 0; c < scores.length; c++) sel.offer(scores[c], c);
  return sel.result().position;
}

/** Merges partial selections (from threads or pages) into the best `capacity`. */
export function mergeRanked(parts: readonly RankedRows[], capacity: number): RankedRows {
  const sel = new TopSelector(capacity);
  for (const h of parts) for (let i = 0; i < h.position.length; i++) sel.offer(h.score[i], h.position[i], h.cosGlobal[i], h.cosLocal[i]);
  return sel.result();
}

/**
 * A request's rows from its full score arrays: every candidate in input order when `topK` is 0,
 * else the best `topK`, best first; `index` is the candidate's position in the request.
 */
export function rowsFromScores(score: Float32Array, cosGlobal: Float32Array, cosLocal: Float32Array, topK: number): { index: Uint32Array; score: Float32Array; cosGlobal: Float32Array; cosLocal: Float32Array } {
  if (topK === 0) return { index: Uint32Array.from({ length: score.length }, (_, i) => i), score, cosGlobal, cosLocal };
  const sel = new TopSelector(Math.min(topK, score.length));
  for (let c = 0; c < score.length; c++) sel.offer(score[c], c, cosGlobal[c], cosLocal[c]);
  const r = sel.result();
  return { index: r.position, score: r.score, cosGlobal: r.cosGlobal, cosLocal: r.cosLocal };
}
