/**
 * Top-K selection, the one place it is written: every backend, the audience scan and the
 * evaluation rank with this heap and this tie rule — higher score first; equal scores (compared
 * as stored float32) rank the lower position first.
 *
 * Kept sets can be large (an audience of a million users), so putting them in order is a radix
 * sort on (score, position) — about 40 ms for a million entries where a comparison sort took
 * 600 ms — and merging per-thread selections is a linear merge of sorted runs that yields to the
 * event loop between time slices.
 */
import { TimeSlicer } from '../util/time-slice.js';


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
    // Compared as stored (float32), so ties between equal stored scores break by position; -0 is
    // stored as 0 (they compare equal, and the radix order below must see one bit pattern).
    const score = Math.fround(value) + 0;
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
    const n = this.n;
    const order = rankOrder(this.s, this.p, n);
    const out = { position: new Uint32Array(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n) };
    for (let i = 0; i < n; i++) {
      const j = order[i];
      out.position[i] = this.p[j];
      out.score[i] = this.s[j];
      out.cosGlobal[i] = this.g[j];
      out.cosLocal[i] = this.l[j];
    }
    return out;
  }
}

/** Below this many entries a comparison sort is cheaper than the radix passes' fixed cost. */
const RADIX_MIN = 2048;

/**
 * Indices of the first `n` entries in rank order: score descending, then position ascending.
 * Large sets: a stable LSD radix sort in 16-bit digits, positions first, then the scores' bits
 * mapped to an unsigned key that orders like the floats, descending (no NaN is ever kept).
 */
function rankOrder(s: Float32Array, p: Uint32Array, n: number): Uint32Array {
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < RADIX_MIN) return order.sort((a, b) => (ranksBefore(s[a], p[a], s[b], p[b]) ? -1 : 1));
  const bits = new Uint32Array(s.buffer, s.byteOffset, n);
  const key = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    // Ascending float order as unsigned: flip every bit of negatives, the sign bit of the rest; then reverse.
    key[i] = ~(b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
  }
  let next = new Uint32Array(n);
  const count = new Uint32Array(65536);
  for (const [k, shift] of [[p, 0], [p, 16], [key, 0], [key, 16]] as const) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(k[i] >>> shift) & 0xffff]++;
    if (count[(k[0] >>> shift) & 0xffff] === n) continue; // one digit value: this pass would not move anything
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const j = order[i];
      next[count[(k[j] >>> shift) & 0xffff]++] = j;
    }
    [order, next] = [next, order];
  }
  return order;
}

/**
 * Adds each candidate's popularity prior (`priors`, per table slot: ItemTable.priors) to its
 * score, in place, before top-K: the step every backend shares. Stored as float32, so the sum is
 * the float32 sum the WebGPU scorer forms. A null `priors` (λ = 0) leaves the scores untouched.
 */
export function addPriors(score: Float32Array, slots: Uint32Array, priors: Float32Array | null): void {
  if (!priors) return;
  for (let c = 0; c < score.length; c++) score[c] += priors[slots[c]];
}

/** Positions of the best `k` scores, best first. */
export function selectTopK(scores: Float32Array, k: number): Uint32Array {
  const sel = new TopSelector(Math.min(k, scores.length));
  for (let c = 0; c < scores.length; c++) sel.offer(scores[c], c);
  return sel.result().position;
}

/**
 * Merges partial selections over disjoint positions (per thread, per page), each best first as
 * `result()` returns them, into the best `capacity`: a linear merge of sorted runs, run on the
 * event-loop thread in time slices.
 */
export async function mergeRanked(parts: readonly RankedRows[], capacity: number, slicer = new TimeSlicer()): Promise<RankedRows> {
  const total = Math.min(capacity, parts.reduce((a, r) => a + r.position.length, 0));
  const out = { position: new Uint32Array(total), score: new Float32Array(total), cosGlobal: new Float32Array(total), cosLocal: new Float32Array(total) };
  const at = new Array<number>(parts.length).fill(0);
  const SLICE_CHECK = 16384;
  for (let o = 0; o < total; ) {
    for (const end = Math.min(total, o + SLICE_CHECK); o < end; o++) {
      let best = -1;
      for (let j = 0; j < parts.length; j++) {
        const i = at[j];
        const r = parts[j];
        if (i >= r.position.length) continue;
        if (best < 0 || ranksBefore(r.score[i], r.position[i], parts[best].score[at[best]], parts[best].position[at[best]])) best = j;
      }
      const r = parts[best];
      const i = at[best]++;
      out.position[o] = r.position[i];
      out.score[o] = r.score[i];
      out.cosGlobal[o] = r.cosGlobal[i];
      out.cosLocal[o] = r.cosLocal[i];
    }
    if (o < total) await slicer.tick();
  }
  return out;
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
