/**
 * The stores' defaults and the address rule, in a module of their own: the service configuration
 * and the command line's option tables read them without loading a store's client library (LMDB's
 * native binding, ioredis), which only opening a store needs.
 */

/** The LMDB store's defaults (the service configuration reads them). */
export const LMDB_DEFAULTS = {
  maxSeedsPerItem: 100_000,
  mapSize: 64 * 2 ** 30,
  eventIdRetentionMs: 7 * 24 * 3600 * 1000,
} as const;

export type Durability = 'auto' | 'fsync' | 'waitaof' | 'none';

/** The Valkey/Redis store's defaults (the service configuration reads them). */
export const REDIS_DEFAULTS = {
  prefix: 'ralm',
  durability: 'auto' as Durability,
  /** Replicas that must also fsync a write under `waitaof`. */
  replicas: 0,
  /** Longest a WAITAOF may wait, ms, before the write is reported as not durable. */
  waitTimeoutMs: 5_000,
  /** Longest a connection attempt at start may take, ms. */
  connectTimeoutMs: 5_000,
  maxSeedsPerItem: 100_000,
  eventIdRetentionMs: 7 * 24 * 3600 * 1000,
} as const;

/** True for a Valkey/Redis address. */
export function isRedisSpec(spec: string): boolean {
  return /^(redis|valkey)(-cluster)?:\/\//.test(spec);
}
