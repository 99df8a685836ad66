/**
 * The one home of input checks on vectors: user embeddings, universal embeddings, seed
 * embeddings, centroids and global vectors all pass through here, so a rule (width, range) is
 * stated once and every route, the library and the CLI apply the same one. Errors name the
 * field, the index and what was expected.
 *
 * The range rule: every value the engine stores or scores is a number within ±VALUE_LIMIT. The
 * kernels compute in float32 (and may store centroids in float16); with values bounded so, every
 * dot product, norm and attention-weighted sum they form stays finite, so no input can make a
 * score NaN or put a non-finite value into a stored record.
 */
import type { RalmModel } from '../model/model.js';
import { transformCpu } from '../model/transform.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { RalmError } from '../util/errors.js';
import { floatToHalfBits, halfBitsToFloat } from '../util/half.js';
import type { CentroidStorage } from '../core/item-table.js';
import { roundRowsInt8 } from '../core/quantize.js';

/** The largest magnitude of a value in any vector the engine accepts or produces. */
export const VALUE_LIMIT = 1e12;
/** The largest magnitude float16 storage holds. */
export const HALF_LIMIT = 65504;

/**
 * A vector field as a float32 copy (or the input itself when it is already a Float32Array):
 * an array of numbers or a typed array, of exactly `width` values when `width` is given (else
 * any length), every value finite and within ±VALUE_LIMIT.
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

/**
 * Throws RALM_ERR_NON_FINITE naming `field[i]` at the first value that is not a finite number
 * within ±limit.
 */
export function assertFiniteValues(values: ArrayLike<unknown>, field: string, limit = VALUE_LIMIT): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !(Math.abs(x) <= limit)) {
      const got = typeof x === 'number' ? String(x) : (JSON.stringify(x) ?? String(x));
      throw new RalmError('RALM_ERR_NON_FINITE', `${field}[${i}]: expected a finite number within ±${limit}, got ${got}`, { field, index: i, limit });
    }
  }
}

/** True when every value is a number within ±limit (for data read back from a store). */
export function inRange(values: ArrayLike<number>, limit = VALUE_LIMIT): boolean {
  for (let i = 0; i < values.length; i++) if (!(Math.abs(values[i]) <= limit)) return false;
  return true;
}

/** Checks a vector the model produced from an accepted input (the transform can leave the range). */
export function assertProduced(values: Float32Array, field: string, what: string): Float32Array {
  if (!inRange(values)) {
    throw new RalmError('RALM_ERR_NON_FINITE', `${field}: ${what} leaves the accepted range (values within ±${VALUE_LIMIT}); the input is too large for this model`, { field });
  }
  return values;
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
  if (hasF) return assertProduced(transformCpu(model, embedUserFeatures(model, user.features, `${field}.features`).universal, 1), `${field}.features`, 'the look-alike embedding of these features');
  const name = hasE ? `${field}.embedding` : `${field}.universal`;
  const v = finiteVector(hasE ? user.embedding : user.universal, name, hasE ? h : m);
  return hasE ? v : assertProduced(transformCpu(model, v, 1), name, 'its look-alike embedding T(x)');
}

/** Checks the non-user fields of rank requests (the users are checked by userEmbedding). */
export function checkRankFields(requests: ReadonlyArray<{ k: number; candidates?: readonly string[]; exclude?: readonly string[]; itemLevels?: boolean }>): void {
  requests.forEach((r, i) => checkRankRequest(r, `requests[${i}].`));
}

/** Checks the non-user fields of one rank request; fields are named after `prefix` (`requests[3].` in a batch). */
export function checkRankRequest(r: { k: number; candidates?: readonly string[]; exclude?: readonly string[]; itemLevels?: boolean }, prefix = ''): void {
  if (!Number.isSafeInteger(r.k) || r.k < 1) throw new RalmError('RALM_ERR_VALIDATION', `${prefix}k: expected an integer >= 1, got ${String(r.k)}`, { field: `${prefix}k` });
  if (r.candidates !== undefined && !Array.isArray(r.candidates)) throw new RalmError('RALM_ERR_VALIDATION', `${prefix}candidates: expected an array of item ids`, { field: `${prefix}candidates` });
  if (r.exclude !== undefined && !Array.isArray(r.exclude)) throw new RalmError('RALM_ERR_VALIDATION', `${prefix}exclude: expected an array of item ids`, { field: `${prefix}exclude` });
  checkItemLevels(r.itemLevels, prefix);
}

/** Checks the item lists of score requests. */
export function checkScoreFields(requests: ReadonlyArray<{ items: readonly string[]; itemLevels?: boolean }>): void {
  requests.forEach((r, i) => {
    if (!Array.isArray(r.items)) throw new RalmError('RALM_ERR_VALIDATION', `requests[${i}].items: expected an array of item ids`, { field: `requests[${i}].items` });
    checkItemLevels(r.itemLevels, `requests[${i}].`);
  });
}

function checkItemLevels(v: unknown, prefix: string): void {
  if (v !== undefined && typeof v !== 'boolean') throw new RalmError('RALM_ERR_VALIDATION', `${prefix}itemLevels: expected true or false, got ${typeof v}`, { field: `${prefix}itemLevels` });
}

/** The largest clicker count an item may carry (the table stores counts as uint32). */
export const MAX_CLICKERS = 0xffffffff;

/** An item update: its id, 1..k centroid rows of width h, and optionally its global vector. */
export interface ItemInput {
  id: string;
  centroids: ArrayLike<number>;
  global?: ArrayLike<number>;
  clickers?: number;
  level?: number;
  offset?: number;
}

/**
 * The largest |level offset| (engine/item-levels.ts): a look-alike blend lies within ±(|α| + |β|)
 * and a popularity prior within ±10 · ln 2³², so anything past this is damage, not a level.
 */
export const MAX_LEVEL_OFFSET = 1000;

/**
 * Checks an item update and packs the centroids as [items, k, h] rows (each value passed through
 * `store`, the table's storage rounding) with their counts. `limit` is the storage's range
 * (HALF_LIMIT for float16 centroids).
 */
export function packItems(items: readonly ItemInput[], h: number, k: number, store: (v: number) => number, limit = VALUE_LIMIT): { compact: Float32Array; counts: Uint32Array } {
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
    assertFiniteValues(c, `${field}.centroids`, limit);
    for (let j = 0; j < c.length; j++) compact[i * k * h + j] = store(c[j]);
    counts[i] = c.length / h;
    if (it.global !== undefined) finiteVector(it.global, `${field}.global`, h);
    if (it.clickers !== undefined && (!Number.isSafeInteger(it.clickers) || it.clickers < 0 || it.clickers > MAX_CLICKERS)) {
      throw new RalmError('RALM_ERR_VALIDATION', `${field}.clickers: expected an integer in [0, ${MAX_CLICKERS}], got ${JSON.stringify(it.clickers)}`, { field: `${field}.clickers` });
    }
    for (const key of ['level', 'offset'] as const) {
      const v = it[key];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > MAX_LEVEL_OFFSET)) {
        throw new RalmError('RALM_ERR_VALIDATION', `${field}.${key}: expected a finite number within ±${MAX_LEVEL_OFFSET} (or absent), got ${JSON.stringify(v)}`, { field: `${field}.${key}` });
      }
    }
  });
  return { compact, counts };
}

/**
 * packItems with the table's storage: values rounded as the table will hold them (half precision
 * for f16; each row to the values of its int8 codes for int8), within the storage's range.
 */
export function packStored(items: readonly ItemInput[], h: number, k: number, storage: CentroidStorage): { compact: Float32Array; counts: Uint32Array } {
  const packed = packItems(items, h, k, storage === 'f16' ? roundHalf : (v) => v, storage === 'f16' ? HALF_LIMIT : VALUE_LIMIT);
  if (storage === 'int8') roundRowsInt8(packed.compact, packed.compact.length / h, h);
  return packed;
}

/** Rounds packed centroid rows (width h) in place as the table's storage holds them. */
export function roundStored(compact: Float32Array, h: number, storage: CentroidStorage): void {
  if (storage === 'f16') for (let i = 0; i < compact.length; i++) compact[i] = roundHalf(compact[i]);
  if (storage === 'int8') roundRowsInt8(compact, compact.length / h, h);
}

function roundHalf(v: number): number {
  return halfBitsToFloat(floatToHalfBits(v));
}
