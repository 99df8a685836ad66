/**
 * The user scan that audience expansion runs on a backend: every user of a pinned table snapshot
 * (or of an explicit pool) scored against one or several prepared seed sets, keeping per set the
 * best `topN` at or above `threshold`. Shared by the backends: the job and result types, the
 * bounded selection, the merge of partial results, and the plain TypeScript scan.
 *
 * Positions. A dense scan's position is the table row; a pool scan's is the index in the pool.
 * Ties rank the lower position first, on every backend.
 */
import type { PreparedSeedSet } from './seed-set.js';
import { scoreUserScalar } from './seed-set.js';
import type { UserSnapshot, UserTable } from './user-table.js';
import { RalmError } from '../util/errors.js';

export interface ScanSet {
  readonly set: PreparedSeedSet;
  /** Dense scans: 1 bit per row to leave out (excluded users; dead rows are added by the scan). */
  readonly skip?: Uint32Array;
  /** Keep at most this many users (≥ 1). */
  readonly topN: number;
  /** Keep only scores ≥ threshold (−Infinity: no threshold). */
  readonly threshold: number;
}

export interface ScanJob {
  readonly table: UserTable;
  readonly snapshot: UserSnapshot;
  /** Rows to score (a pool); absent: every live row of the snapshot. */
  readonly pool?: Uint32Array;
  readonly sets: readonly ScanSet[];
  readonly alpha: number;
  readonly beta: number;
  /** Called now and then with positions × sets scored so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Aborting stops the scan between blocks with RALM_ERR_CANCELLED. */
  readonly signal?: AbortSignal;
}

/** One set's kept users, best first. */
export interface ScanHits {
  readonly position: Uint32Array;
  readonly score: Float32Array;
  readonly cosGlobal: Float32Array;
  readonly cosLocal: Float32Array;
}

/** Positions per unit of work (progress, cancellation and thread hand-out happen per block). */
export const SCAN_BLOCK = 16384;

export function scanPositions(job: ScanJob): number {
  return job.pool ? job.pool.length : job.snapshot.rowCount;
}

export function cancelled(): RalmError {
  return new RalmError('RALM_ERR_CANCELLED', 'the audience scan was cancelled');
}

/** True when row/position p is set in a bitmask. */
export function bit(mask: Uint32Array | undefined, p: number): boolean {
  return mask !== undefined && (mask[p >>> 5] & (1 << (p & 31))) !== 0;
}

/**
 * A bounded selection of (score, position): the best `capacity` seen, by score then lower
 * position. A min-heap on the worst kept; no allocation per offer.
 */
export class TopSelector {
  private readonly s: Float32Array;
  private readonly p: Uint32Array;
  private readonly g: Float32Array;
  private readonly l: Float32Array;
  private n = 0;
  constructor(private readonly capacity: number, private readonly threshold: number) {
    this.s = new Float32Array(capacity);
    this.p = new Uint32Array(capacity);
    this.g = new Float32Array(capacity);
    this.l = new Float32Array(capacity);
  }

  /** True when (sa, pa) ranks before (sb, pb). */
  private static before(sa: number, pa: number, sb: number, pb: number): boolean {
    return sa > sb || (sa === sb && pa < pb);
  }

  offer(value: number, position: number, cosGlobal: number, cosLocal: number): void {
    // Compared as stored (float32), so ties between equal stored scores break by position.
    const score = Math.fround(value);
    if (!(score >= this.threshold) || this.capacity === 0) return;
    const { s, p } = this;
    if (this.n < this.capacity) {
      let i = this.n++;
      while (i > 0) {
        const up = (i - 1) >> 1;
        if (!TopSelector.before(s[up], p[up], score, position)) break; // parent is no better than new: stop
        this.move(up, i);
        i = up;
      }
      this.put(i, score, position, cosGlobal, cosLocal);
      return;
    }
    if (!TopSelector.before(score, position, s[0], p[0])) return;
    let i = 0;
    for (;;) {
      const a = 2 * i + 1;
      if (a >= this.n) break;
      const b = a + 1;
      let worst = a;
      if (b < this.n && TopSelector.before(s[a], p[a], s[b], p[b])) worst = b;
      if (!TopSelector.before(score, position, s[worst], p[worst])) break;
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
  result(): ScanHits {
    const order = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => (TopSelector.before(this.s[a], this.p[a], this.s[b], this.p[b]) ? -1 : 1));
    return {
      position: Uint32Array.from(order, (i) => this.p[i]),
      score: Float32Array.from(order, (i) => this.s[i]),
      cosGlobal: Float32Array.from(order, (i) => this.g[i]),
      cosLocal: Float32Array.from(order, (i) => this.l[i]),
    };
  }
}

/** Merges partial results (from threads or pages) of one set into its best `topN`. */
export function mergeHits(parts: readonly ScanHits[], topN: number): ScanHits {
  const sel = new TopSelector(topN, -Infinity);
  for (const h of parts) for (let i = 0; i < h.position.length; i++) sel.offer(h.score[i], h.position[i], h.cosGlobal[i], h.cosLocal[i]);
  return sel.result();
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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
