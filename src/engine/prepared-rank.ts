/**
 * A rank request prepared ahead of its batch: the user's look-alike embedding checked, q = W_l e
 * formed, and the candidate ids resolved to table slots (repeats and exclusions dropped) under a
 * table snapshot of its own, pinned until release(). The slots stay valid however long the
 * request waits: an item replaced or removed meanwhile keeps its old slot until every snapshot
 * that could name it is released, so the request is answered from the table as it was when it
 * arrived, each item whole.
 *
 * Why ahead: resolving 10,000 candidate ids is most of a request's own work on the event loop. A
 * server that prepares each request when it arrives does that work while an earlier batch is
 * being scored on the worker threads, instead of between batches, when the workers wait for it
 * (engine.ts prepareRank and rankPrepared; server/batcher.ts).
 */
import type { PreparedRequest, ScoredRows } from '../core/backend.js';
import type { ItemTable, Snapshot } from '../core/item-table.js';
import type { RalmModel } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import type { RankedItem, RankRequest } from './types.js';

export class PreparedRank {
  private released = false;

  constructor(
    /** What the backend scores. */
    readonly request: PreparedRequest,
    /** The table the slots belong to. */
    readonly table: ItemTable,
    private readonly snapshot: Snapshot,
  ) {}

  /** Candidates to score (after repeats and exclusions were dropped). */
  get candidates(): number {
    return this.request.slots.length;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Unpins the table snapshot; the request cannot be ranked after this. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.snapshot.release();
  }

  /** Throws unless this request can still be ranked on `table`. */
  checkUsable(table: ItemTable): void {
    if (this.released) throw new RalmError('RALM_ERR_CLOSED', 'a prepared rank request was used after release()');
    if (this.table !== table) throw new RalmError('RALM_ERR_VALIDATION', 'a prepared rank request belongs to another engine');
  }
}

/** q = W_l e (once per request: per candidate the cost is then k·h), with e and q padded to the table's stride. */
export function prepareQuery(model: RalmModel, stride: number, e: Float32Array, slots: Uint32Array, topK: number, levels = true): PreparedRequest {
  const { h } = model.manifest;
  const W = model.weights.localWeight;
  const q = new Float32Array(stride);
  const ep = new Float32Array(stride);
  let ee = 0;
  for (let o = 0; o < h; o++) {
    let z = 0;
    for (let i = 0; i < h; i++) z += W[o * h + i] * e[i];
    q[o] = z;
    ep[o] = e[o];
    ee += e[o] * e[o];
  }
  return { slots, q, e: ep, eNorm: Math.sqrt(ee), topK, levels };
}

/**
 * Resolves a checked request (its user's embedding `e` already validated) under a fresh snapshot
 * of `table`; unknown candidates are a coded error naming `${prefix}candidates`.
 */
export function prepareRank(model: RalmModel, table: ItemTable, e: Float32Array, r: RankRequest, prefix: string, shared?: SharedCandidates): PreparedRank {
  const snapshot = table.acquire();
  try {
    const field = `${prefix}candidates`;
    const slots = shared ? shared.resolve(r, field) : table.candidates(r.candidates, r.exclude, field).slots;
    const topK = Math.min(r.k, Math.max(1, slots.length));
    // The ids are not kept: the pinned slots name their items (ItemTable.idOf), and a queued
    // request holding 10,000 strings would have every young-generation collection meanwhile copy
    // them, then promote them to the old generation.
    return new PreparedRank(prepareQuery(model, table.stride, e, slots, topK, r.itemLevels !== false), table, snapshot);
  } catch (err) {
    snapshot.release();
    throw err;
  }
}

/**
 * Candidate lists resolved once per batch. A library caller ranking B users against one list
 * passes the same array B times; resolving it is a hash lookup per id (about 6 ms per 100,000 ids
 * on a 2-core EPYC VM), which at B = 16 costs more than a GPU's whole scoring pass. Requests of
 * one synchronous engine.rank call that pass the same array object and the same exclusions (the
 * same object, or none) share one resolution: the table cannot change between them, and no
 * backend writes a request's slots (engine.score shares its items lists the same way). Lists are
 * matched by identity only, never by contents, so a caller that edits an array between calls is
 * never answered from a stale resolution.
 */
export class SharedCandidates {
  private readonly byList = new Map<readonly string[] | undefined, Map<readonly string[] | undefined, Uint32Array>>();
  private readonly scored = new Map<readonly string[], Uint32Array>();

  constructor(private readonly table: ItemTable) {}

  resolve(r: Pick<RankRequest, 'candidates' | 'exclude'>, field: string): Uint32Array {
    const exclude = r.exclude !== undefined && r.exclude.length === 0 ? undefined : r.exclude;
    const byExclude = this.byList.get(r.candidates);
    const known = byExclude?.get(exclude);
    if (known !== undefined) return known;
    const slots = this.table.candidates(r.candidates, exclude, field).slots;
    if (byExclude) byExclude.set(exclude, slots);
    else this.byList.set(r.candidates, new Map([[exclude, slots]]));
    return slots;
  }

  /** A score request's items, in order with repeats kept (ItemTable.resolve), shared likewise. */
  items(ids: readonly string[], field: string): Uint32Array {
    let slots = this.scored.get(ids);
    if (slots === undefined) this.scored.set(ids, (slots = this.table.resolve(ids, field)));
    return slots;
  }
}

/** A prepared request's top rows as ranked items (ids and cold flags read under its snapshot). */
export function rankedItems(p: PreparedRank, rows: ScoredRows): RankedItem[] {
  const { slots } = p.request;
  return Array.from(rows.index, (pos, t) => ({
    id: p.table.idOf(slots[pos]) as string, score: rows.score[t], cosGlobal: rows.cosGlobal[t], cosLocal: rows.cosLocal[t], cold: p.table.isCold(slots[pos]),
  }));
}
