/**
 * A worker thread's share of an audience scan: claims blocks of positions from a shared counter,
 * runs the WebAssembly kernel (`scan_users`) over the user pages in place (an explicit pool's rows
 * are first gathered into this thread's scratch), keeps its best-N per set, and reports progress
 * per block. A one-direction set (the two-pass scan's first pass, core/two-pass.ts) runs the
 * one-dot-product kernels (`scan_direction`, `scan_direction_i8`), which give the general
 * kernel's answer for that shape.
 */
import { bit, SCAN_BLOCK, type ScanHits } from '../../core/scan.js';
import { TopSelector } from '../../core/top-k.js';
import { GATHER_CHUNK, SCAN_CHUNK, scratchLayout, type ScratchLayout, type UserPageLayout } from '../../core/user-table.js';
import { quantizeRequest, requestCodeLimit } from '../../core/quantize.js';
import { isDirectionSet } from '../../core/two-pass.js';
import { CONTROL_CANCEL, CONTROL_NEXT, type ScanMessage, type WorkerMessage, type WorkerReply } from './messages.js';

type ScanFn = (
  n: number, rows: number, rowBytes: number, norms: number, d: number, R: number, c: number, gram: number, kPad: number,
  dots: number, w: number, out: number, alpha: number, beta: number, zn: number,
) => void;

type ScanInt8Fn = (
  n: number, codes: number, rb: number, scales: number, norms: number, d16: number, R: number, ds: number, c: number, gram: number, kPad: number,
  dots: number, w: number, out: number, alpha: number, beta: number, zn: number,
) => void;

type DirectionFn = (n: number, rows: number, rowBytes: number, norms: number, v: number, ln: number, beta: number, zn: number, out: number) => void;
type DirectionInt8Fn = (n: number, codes: number, rb: number, scales: number, norms: number, v16: number, vs: number, ln: number, beta: number, zn: number, out: number) => void;

interface PageKernel {
  scan: ScanFn;
  scanInt8: ScanInt8Fn;
  direction: DirectionFn;
  directionInt8: DirectionInt8Fn;
  /** int8 storage: where the codes and scales are. */
  int8: UserPageLayout['int8'];
  f32: Float32Array;
  i8: Int8Array;
  i16: Int16Array;
  rowsOffset: number;
  normsOffset: number;
  /** This thread's scratch start (bytes) and layout. */
  base: number;
  scratch: ScratchLayout;
  /** Which set's D and G are in the scratch now (index into the current scan's sets), and for which scan. */
  loaded: { scan: number; set: number };
  /** The loaded set is a one-direction set: |v| (else null). */
  directionNorm: number | null;
}

const pages = new Map<string, PageKernel>();

/** Binds this thread to a user page (its own scratch region) the first time the page is sent. */
export function addUserPage(msg: Extract<WorkerMessage, { type: 'user-page' }>): void {
  const instance = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
  pages.set(msg.key, {
    scan: instance.exports.scan_users as ScanFn,
    scanInt8: instance.exports.scan_users_i8 as ScanInt8Fn,
    direction: instance.exports.scan_direction as DirectionFn,
    directionInt8: instance.exports.scan_direction_i8 as DirectionInt8Fn,
    int8: msg.layout.int8,
    f32: new Float32Array(msg.memory.buffer),
    i8: new Int8Array(msg.memory.buffer),
    i16: new Int16Array(msg.memory.buffer),
    rowsOffset: msg.layout.rowsOffset,
    normsOffset: msg.layout.normsOffset,
    base: msg.layout.scratchOffset + msg.thread * msg.layout.scratchBytes,
    scratch: scratchLayout(msg.stride, msg.maxCentroids),
    loaded: { scan: -1, set: -1 },
    directionNorm: null,
  });
}

export function runScan(msg: ScanMessage, reply: (m: WorkerReply) => void): ScanHits[] | null {
  const { control, positions: P, pool, dead, sets, rowsPerPage: rpp, stride } = msg;
  const rowBytes = stride * 4;
  const selectors = sets.map((s) => new TopSelector(s.topN, s.threshold));
  // A one-direction set keeps thousands of candidates: screened by a cut first (see CandidateBuffer).
  const buffers = sets.map((s, si) => (isDirectionSet(s) ? new CandidateBuffer(selectors[si], s.topN) : null));
  const kernels: PageKernel[] = [];
  for (let p = 0; p < msg.pages; p++) {
    const k = pages.get(`${msg.tableId}:${p}`);
    if (!k) throw new Error(`page ${p} of table ${msg.tableId} was never sent`);
    kernels.push(k);
  }

  const load = (k: PageKernel, si: number): void => {
    if (k.loaded.scan === msg.id && k.loaded.set === si) return;
    const s = sets[si];
    k.f32.set(s.d, (k.base + k.scratch.d) >>> 2);
    k.f32.set(s.gram, (k.base + k.scratch.gram) >>> 2);
    if (k.int8) {
      // D's rows as 16-bit codes, one scale per row (rows past 2k + 1 are zero: scale 0).
      const rb = k.int8.rowBytes;
      const limit = requestCodeLimit(rb);
      for (let r = 0; r < s.rows; r++) {
        const codes = k.i16.subarray(((k.base + k.scratch.d16) >>> 1) + r * rb, ((k.base + k.scratch.d16) >>> 1) + (r + 1) * rb);
        k.f32[((k.base + k.scratch.dScales) >>> 2) + r] = quantizeRequest(s.d.subarray(r * stride, (r + 1) * stride), stride, codes, limit);
      }
    }
    // |v| as the general kernel forms |L| for one centroid of weight 1: sqrt of G's f32 entry.
    k.directionNorm = isDirectionSet(s) ? Math.sqrt(Math.max(s.gram[0], 0)) : null;
    k.loaded = { scan: msg.id, set: si };
  };
  /**
   * Scores n users already laid out at rowsAt/normsAt (bytes; for int8 storage codesAt/scalesAt)
   * in page kernel k; position of user i is posOf(i).
   */
  const run = (k: PageKernel, n: number, at: { rows: number; norms: number; codes: number; scales: number }, posOf: (i: number) => number, rowOf: (i: number) => number): void => {
    const outAt = (k.base + k.scratch.out) >>> 2;
    sets.forEach((s, si) => {
      load(k, si);
      const sc = k.scratch;
      const ln = k.directionNorm;
      if (ln !== null && k.int8) {
        const rb = k.int8.rowBytes;
        k.directionInt8(n, at.codes, rb, at.scales, at.norms, k.base + sc.d16 + rb * 2, k.f32[((k.base + sc.dScales) >>> 2) + 1], ln, msg.beta, msg.zeroNorm, k.base + sc.out);
      } else if (ln !== null) {
        k.direction(n, at.rows, rowBytes, at.norms, k.base + sc.d + rowBytes, ln, msg.beta, msg.zeroNorm, k.base + sc.out);
      } else if (k.int8) {
        k.scanInt8(n, at.codes, k.int8.rowBytes, at.scales, at.norms, k.base + sc.d16, s.rows, k.base + sc.dScales, s.count, k.base + sc.gram, s.kPad,
          k.base + sc.dots, k.base + sc.w, k.base + sc.out, msg.alpha, msg.beta, msg.zeroNorm);
      } else {
        k.scan(n, at.rows, rowBytes, at.norms, k.base + sc.d, s.rows, s.count, k.base + sc.gram, s.kPad,
          k.base + sc.dots, k.base + sc.w, k.base + sc.out, msg.alpha, msg.beta, msg.zeroNorm);
      }
      const sel = selectors[si];
      const buf = buffers[si];
      const skip = pool ? null : s.skip;
      for (let i = 0; i < n; i++) {
        const row = rowOf(i);
        if (bit(dead, row) || (skip !== null && bit(skip, row))) continue;
        const o = outAt + i * 3;
        if (buf) buf.offer(k.f32[o], posOf(i), k.f32[o + 2]);
        else sel.offer(k.f32[o], posOf(i), k.f32[o + 1], k.f32[o + 2]);
      }
    });
  };

  const byPage: number[][] = Array.from({ length: msg.pages }, () => []);
  for (;;) {
    if (Atomics.load(control, CONTROL_CANCEL) !== 0) return null;
    const b = Atomics.add(control, CONTROL_NEXT, 1);
    const from = b * SCAN_BLOCK;
    if (from >= P) break;
    const to = Math.min(P, from + SCAN_BLOCK);
    if (!pool) {
      // Dense: positions are rows; run over each page's contiguous part of the block.
      for (let start = from; start < to; ) {
        const page = Math.floor(start / rpp);
        const end = Math.min(to, (page + 1) * rpp);
        const k = kernels[page];
        for (let c = start; c < end; c += SCAN_CHUNK) {
          const n = Math.min(SCAN_CHUNK, end - c);
          const local = c - page * rpp;
          const q = k.int8;
          const at = { rows: k.rowsOffset + local * rowBytes, norms: k.normsOffset + local * 4, codes: q ? q.codesOffset + local * q.rowBytes : 0, scales: q ? q.scalesOffset + local * 4 : 0 };
          run(k, n, at, (i) => c + i, (i) => c + i);
        }
        start = end;
      }
    } else {
      // Pool: gather each page's rows of the block into scratch, GATHER_CHUNK at a time.
      for (const list of byPage) list.length = 0;
      for (let p = from; p < to; p++) byPage[Math.floor(pool[p] / rpp)].push(p);
      byPage.forEach((list, page) => {
        const k = kernels[page];
        const rowsDst = (k.base + k.scratch.gatherRows) >>> 2;
        const normsDst = (k.base + k.scratch.gatherNorms) >>> 2;
        const q = k.int8;
        const codesDst = k.base + k.scratch.gatherCodes;
        const scalesDst = (k.base + k.scratch.gatherScales) >>> 2;
        for (let c = 0; c < list.length; c += GATHER_CHUNK) {
          const n = Math.min(GATHER_CHUNK, list.length - c);
          for (let i = 0; i < n; i++) {
            const local = pool[list[c + i]] - page * rpp;
            k.f32[normsDst + i] = k.f32[(k.normsOffset >>> 2) + local];
            if (q) {
              k.i8.copyWithin(codesDst + i * q.rowBytes, q.codesOffset + local * q.rowBytes, q.codesOffset + (local + 1) * q.rowBytes);
              k.f32[scalesDst + i] = k.f32[(q.scalesOffset >>> 2) + local];
            } else {
              const src = (k.rowsOffset >>> 2) + local * stride;
              k.f32.copyWithin(rowsDst + i * stride, src, src + stride);
            }
          }
          const at = { rows: k.base + k.scratch.gatherRows, norms: k.base + k.scratch.gatherNorms, codes: codesDst, scales: k.base + k.scratch.gatherScales };
          run(k, n, at, (i) => list[c + i], (i) => pool[list[c + i]]);
        }
      });
    }
    reply({ type: 'progress', id: msg.id, positions: to - from });
  }
  buffers.forEach((b) => b?.drain());
  return selectors.map((s) => s.result());
}

/**
 * The candidates of a one-direction set (the two-pass scan's first pass keeps factor × N of a
 * million users): offers at or above a cut go to a buffer of 4 × capacity; when it fills, the
 * cut rises to the capacity-th best score in it (selection in linear time) and what falls below
 * is dropped. Every user the exact selection would keep is at or above every cut, so draining
 * the rest into the TopSelector keeps the same users, in the same order, as offering each user
 * to it directly — at a fraction of the heap work when the capacity is large.
 */
export class CandidateBuffer {
  private readonly s: Float32Array;
  private readonly p: Uint32Array;
  private readonly l: Float32Array;
  private readonly work: Float32Array;
  private n = 0;
  private cut = -Infinity;

  constructor(private readonly sel: TopSelector, private readonly capacity: number) {
    const size = 4 * Math.max(16, capacity);
    this.s = new Float32Array(size);
    this.p = new Uint32Array(size);
    this.l = new Float32Array(size);
    this.work = new Float32Array(size);
  }

  offer(score: number, position: number, cosLocal: number): void {
    if (!(score >= this.cut) || this.capacity === 0) return;
    const i = this.n++;
    this.s[i] = score;
    this.p[i] = position;
    this.l[i] = cosLocal;
    if (this.n === this.s.length) this.shrink();
  }

  /** Raises the cut to the capacity-th best score held and drops what is below it. */
  private shrink(): void {
    if (this.n <= this.capacity) return;
    const w = this.work;
    w.set(this.s.subarray(0, this.n));
    this.cut = nthLargest(w, this.n, this.capacity - 1);
    let m = 0;
    for (let i = 0; i < this.n; i++) {
      if (!(this.s[i] >= this.cut)) continue;
      this.s[m] = this.s[i];
      this.p[m] = this.p[i];
      this.l[m] = this.l[i];
      m++;
    }
    this.n = m;
    // Ties at the cut filling half the buffer: hand them to the selector, which orders ties.
    if (m > this.s.length / 2) this.flush();
  }

  /** Offers what is held to the selector (a first-pass set's cos_g is 0). */
  private flush(): void {
    for (let i = 0; i < this.n; i++) this.sel.offer(this.s[i], this.p[i], 0, this.l[i]);
    this.n = 0;
  }

  /** At the end of the scan: the best held go to the selector. */
  drain(): void {
    this.shrink();
    this.flush();
  }
}

/** The r-th largest (0-based) of a[0..n), which it reorders (Hoare's selection, middle pivot). */
function nthLargest(a: Float32Array, n: number, r: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else break;
  }
  return a[r];
}
