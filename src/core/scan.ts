/**
 * The user scan that audience expansion runs on a backend: every user of a pinned table snapshot
 * (or of an explicit pool) scored against one or several prepared seed sets, keeping per set the
 * best `topN` at or above `threshold`. Shared by the backends: the job and result types and the
 * merge of partial results (the selection itself is core/top-k.ts).
 *
 * Positions. A dense scan's position is the table row; a pool scan's is the index in the pool.
 * Ties rank the lower position first, on every backend.
 */
import type { PreparedSeedSet } from './seed-set.js';
import type { UserSnapshot, UserTable } from './user-table.js';
import type { RankedRows } from './top-k.js';
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

/** One set's kept users, best first; `position` as described above. */
export type ScanHits = RankedRows;

/** Positions per unit of work (progress, cancellation and thread hand-out happen per block). */
export const SCAN_BLOCK = 16384;

export function scanPositions(job: Pick<ScanJob, 'pool' | 'snapshot'>): number {
  return job.pool ? job.pool.length : job.snapshot.rowCount;
}

export function cancelled(): RalmError {
  return new RalmError('RALM_ERR_CANCELLED', 'the audience scan was cancelled');
}

/** True when row/position p is set in a bitmask. */
export function bit(mask: Uint32Array | undefined, p: number): boolean {
  return mask !== undefined && (mask[p >>> 5] & (1 << (p & 31))) !== 0;
}
