/**
 * The one home of input checks on vectors: user embeddings, universal embeddings, seed
 * embeddings, centroids and global vectors all pass through here, so a rule (width, finiteness)
 * is stated once and every route, the library and the CLI apply the same one. Errors name the
 * field, the index and what was expected.
 */
import type { RalmModel } from '../model/model.js';
import { transformCpu } from '../model/transform.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { RalmError } from '../util/errors.js';

/**
 * A vector field as a float32 copy (or the input itself when it is already a Float32Array):
 * an array of numbers or a typed array, of exactly `width` values when `width` is given (else
 * any length), every value finite.
 */
export function finiteVector(v: unknown, field: string, width?: number, expected = 'an array of numbers'): Float32Array {
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number' || !(Array.isArray(v) || ArrayBuffer.isView(v)) || v instanceof DataView) {
    throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected ${expected}`, { field });
  }
  const arr = v as ArrayLike<unknown>;
  if (width !== undefined && arr.length !== width) {
    throw new RalmError('RALM_ERR_DIMENSION', `${field}: expected ${width} values, got ${arr.length}`, { field, expected: width, got: arr.length });
  }
  assertFiniteValues(arr, field);
  return arr instanceof Float32Array ? arr : Float32Array.from(arr as ArrayLike<number>);
}

/** Throws RALM_ERR_NON_FINITE naming `field[i]` at the first value that is not a finite number. */
export function assertFiniteValues(values: ArrayLike<unknown>, field: string): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new RalmError('RALM_ERR_NON_FINITE', `${field}[${i}]: expected a finite number, got ${typeof x === 'number' ? String(x) : (JSON.stringify(x) ?? String(x))}`, { field, index: i });
    }
  }
}

/**
 * A user, exactly one of: the look-alike embedding e (width h); the universal embedding x (width m)
 * to run through T; or raw features `{fieldName: value}` to run through the model's user tower
 * (src/model/user-tower.ts) and then T.
 */
export interface UserInput {
  embedding?: ArrayLike<number>;
  universal?: ArrayLike<number>;
  features?: Readonly<Record<string, unknown>>;
}

/** The look-alike embedding e of a user input, validated. */
export function userEmbedding(model: RalmModel, user: UserInput, field = 'user'): Float32Array {
  const { h, m } = model.manifest;
  if (user === null || typeof user !== 'object') throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected an object with "embedding", "universal" or "features"`, { field });
  const hasE = user.embedding !== undefined;
  const hasX = user.universal !== undefined;
  const hasF = user.features !== undefined;
  if (Number(hasE) + Number(hasX) + Number(hasF) !== 1) {
    throw new RalmError('RALM_ERR_VALIDATION', `${field}: give exactly one of "embedding" (width ${h}), "universal" (width ${m}) or "features"`, { field });
  }
  if (hasF) return transformCpu(model, embedUserFeatures(model, user.features, `${field}.features`).universal, 1);
  const name = hasE ? `${field}.embedding` : `${field}.universal`;
  const v = finiteVector(hasE ? user.embedding : user.universal, name, hasE ? h : m);
  return hasE ? v : transformCpu(model, v, 1);
}

/** Checks the non-user fields of rank requests (the users are checked by userEmbedding). */
export function checkRankFields(requests: ReadonlyArray<{ k: number; candidates?: readonly string[]; exclude?: readonly string[] }>): void {
  requests.forEach((r, i) => {
    if (!Number.isSafeInteger(r.k) || r.k < 1) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].k: expected an integer >= 1, got ${String(r.k)}`, { field: `requests[${i}].k` });
    if (r.candidates !== undefined && !Array.isArray(r.candidates)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].candidates: expected an array of item ids`, { field: `requests[${i}].candidates` });
    if (r.exclude !== undefined && !Array.isArray(r.exclude)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].exclude: expected an array of item ids`, { field: `requests[${i}].exclude` });
  });
}

/** Checks the item lists of score requests. */
export function checkScoreFields(requests: ReadonlyArray<{ items: readonly string[] }>): void {
  requests.forEach((r, i) => {
    if (!Array.isArray(r.items)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].items: expected an array of item ids`, { field: `requests[${i}].items` });
  });
}

/** An item update: its id, 1..k centroid rows of width h, and optionally its global vector. */
export interface ItemInput {
  id: string;
  centroids: ArrayLike<number>;
  global?: ArrayLike<number>;
}

/**
 * Checks an item update and packs the centroids as [items, k, h] rows (each value passed through
 * `store`, the table's storage rounding) with their counts.
 */
export function packItems(items: readonly ItemInput[], h: number, k: number, store: (v: number) => number): { compact: Float32Array; counts: Uint32Array } {
  const seen = new Set<string>();
  const counts = new Uint32Array(items.length);
  const compact = new Float32Array(items.length * k * h);
  items.forEach((it, i) => {
    const field = `items[${i}]`;
    if (typeof it?.id !== 'string' || it.id.length === 0) throw new RalmError('RALM_ERR_VALIDATION', `${field}.id: expected a non-empty string`, { field: `${field}.id` });
    if (seen.has(it.id)) throw new RalmError('RALM_ERR_VALIDATION', `${field}.id: "${it.id}" appears twice in one update`, { field: `${field}.id` });
    seen.add(it.id);
    const c = it.centroids;
    if (!c || typeof c.length !== 'number' || c.length === 0 || c.length % h !== 0 || c.length / h > k) {
      throw new RalmError('RALM_ERR_DIMENSION', `${field}.centroids: expected 1 to ${k} rows of ${h} values (a multiple of ${h} up to ${k * h}), got ${c?.length}`, { field: `${field}.centroids` });
    }
    assertFiniteValues(c, `${field}.centroids`);
    for (let j = 0; j < c.length; j++) compact[i * k * h + j] = store(c[j]);
    counts[i] = c.length / h;
    if (it.global !== undefined) finiteVector(it.global, `${field}.global`, h);
  });
  return { compact, counts };
}
