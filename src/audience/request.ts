/**
 * An audience request as the service takes it: parsed and checked from a body (HTTP, CLI) into
 * an AudienceSpec, and back to plain JSON for job records.
 */
import { finiteVector } from '../engine/validate.js';
import { RalmError } from '../util/errors.js';

export interface AudienceSpec {
  /** Seed user ids (matched against the user table). */
  seeds: string[];
  /** Seeds given directly as look-alike embeddings (width h). */
  seedEmbeddings: Float32Array[];
  /** Users wanted (the best `size`, or fewer when a threshold or the pool cuts the list). */
  size: number;
  /** Keep only users scoring at least this. */
  threshold: number | null;
  exclude: string[];
  /** Leave the matched seeds out of the result (default true). */
  excludeSeeds: boolean;
  /** Score only these users (ids); absent: every user. */
  pool: string[] | null;
  /** k-means seed (results are deterministic for a given seed and user table). */
  seed: number;
}

function fail(field: string, expected: string, got?: unknown): never {
  const shown = got === undefined ? '' : `, got ${JSON.stringify(got)?.slice(0, 60) ?? String(got)}`;
  throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected ${expected}${shown}`, { field });
}

function idList(v: unknown, field: string, max: number): string[] {
  if (!Array.isArray(v)) fail(field, 'an array of user ids (strings)', v);
  if (v.length > max) fail(field, `at most ${max} ids`, `${v.length} ids`);
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string' || v[i].length === 0) fail(`${field}[${i}]`, 'a non-empty string', v[i]);
  return v as string[];
}

/** Limits on one request's lists. */
export const MAX_IDS = 5_000_000;

/**
 * Validates an audience request body. Every error names its field: `seeds` (ids) and/or
 * `seedEmbeddings` (arrays of h numbers) — at least one seed; `size` (1..maxSize) and/or
 * `threshold` (a number; with it, `size` defaults to maxSize); `exclude`, `pool` (ids);
 * `excludeSeeds` (boolean, default true); `seed` (integer).
 */
export function parseAudienceRequest(body: unknown, h: number, maxSize: number): AudienceSpec {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail('body', 'an object');
  const b = body as Record<string, unknown>;
  const known = new Set(['seeds', 'seedEmbeddings', 'size', 'threshold', 'exclude', 'excludeSeeds', 'pool', 'seed', 'async']);
  for (const k of Object.keys(b)) {
    if (!known.has(k)) throw new RalmError('RALM_ERR_VALIDATION', `${k}: unknown field (known: ${[...known].join(', ')})`, { field: k });
  }
  const seeds = b.seeds === undefined ? [] : idList(b.seeds, 'seeds', MAX_IDS);
  const seedEmbeddings: Float32Array[] = [];
  if (b.seedEmbeddings !== undefined) {
    if (!Array.isArray(b.seedEmbeddings)) fail('seedEmbeddings', `an array of embeddings (arrays of ${h} numbers)`, b.seedEmbeddings);
    b.seedEmbeddings.forEach((e: unknown, i: number) => {
      const f = `seedEmbeddings[${i}]`;
      seedEmbeddings.push(Float32Array.from(finiteVector(e, f, h, `an array of ${h} numbers`)));
    });
  }
  if (seeds.length + seedEmbeddings.length === 0) fail('seeds', 'at least one seed user (in "seeds" or "seedEmbeddings")');
  let threshold: number | null = null;
  if (b.threshold !== undefined) {
    if (typeof b.threshold !== 'number' || !Number.isFinite(b.threshold)) fail('threshold', 'a finite number', b.threshold);
    threshold = b.threshold;
  }
  let size = maxSize;
  if (b.size !== undefined) {
    if (typeof b.size !== 'number' || !Number.isSafeInteger(b.size) || b.size < 1 || b.size > maxSize) fail('size', `an integer from 1 to ${maxSize}`, b.size);
    size = b.size;
  } else if (threshold === null) {
    fail('size', `the number of users wanted (1 to ${maxSize}), or a "threshold"`);
  }
  const exclude = b.exclude === undefined ? [] : idList(b.exclude, 'exclude', MAX_IDS);
  const pool = b.pool === undefined ? null : idList(b.pool, 'pool', MAX_IDS);
  if (b.excludeSeeds !== undefined && typeof b.excludeSeeds !== 'boolean') fail('excludeSeeds', 'a boolean', b.excludeSeeds);
  let seed = 1;
  if (b.seed !== undefined) {
    if (typeof b.seed !== 'number' || !Number.isSafeInteger(b.seed)) fail('seed', 'an integer', b.seed);
    seed = b.seed;
  }
  return { seeds, seedEmbeddings, size, threshold, exclude, excludeSeeds: b.excludeSeeds !== false, pool, seed };
}

/** The JSON form of a spec (embeddings as plain arrays), for persisting jobs. */
export function specToJson(spec: AudienceSpec): Record<string, unknown> {
  return {
    seeds: spec.seeds, seedEmbeddings: spec.seedEmbeddings.map((e) => Array.from(e)), size: spec.size,
    ...(spec.threshold === null ? {} : { threshold: spec.threshold }), exclude: spec.exclude, excludeSeeds: spec.excludeSeeds,
    ...(spec.pool === null ? {} : { pool: spec.pool }), seed: spec.seed,
  };
}
