/**
 * The one home of input checks on vectors: user embeddings, universal embeddings, seed
 * embeddings, centroids and global vectors all pass through here, so a rule (width, finiteness)
 * is stated once and every route, the library and the CLI apply the same one. Errors name the
 * field, the index and what was expected.
 */
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
