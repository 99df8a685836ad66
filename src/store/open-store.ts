/**
 * The one way to open a store from a setting: `lmdb:DIR` (the embedded store, the default) or a
 * Valkey/Redis address (`redis://HOST:PORT[/DB]`, `redis-cluster://HOST:PORT,…`) for a store
 * shared by several replicas.
 */
import { resolve } from 'node:path';
import { RalmError, StartupError, systemReason } from '../util/errors.js';
import { LmdbStore } from './lmdb-store.js';
import { isRedisSpec, REDIS_DEFAULTS, type Durability } from './defaults.js';
import type { RalmStore } from './store.js';

export interface OpenStoreOptions {
  /** Valkey/Redis durability rule (see redis-connection.ts). */
  durability?: Durability;
  /** Replicas that must also fsync a write under `waitaof`. */
  replicas?: number;
  /** The LMDB map's initial size in bytes (lmdb: stores only). */
  lmdbMapSize?: number;
  /** How long event ids are remembered for de-duplication, ms (the store's default when left out). */
  eventIdRetentionMs?: number;
}

export interface OpenedStore {
  store: RalmStore;
  kind: 'lmdb' | 'redis';
  /** Where it is, for logs (no credentials). */
  where: string;
  /** Said once at start (e.g. a durability weaker than fsync). */
  warning?: string;
}

/** Opens the store `spec` names, or fails with a coded start-up error naming it and why. */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  if (isRedisSpec(spec)) {
    const { RedisStore } = await import('./redis-store.js');
    const { store, warning } = await RedisStore.open(spec, {
      durability: options.durability ?? REDIS_DEFAULTS.durability, replicas: options.replicas ?? REDIS_DEFAULTS.replicas,
      ...(options.eventIdRetentionMs !== undefined ? { eventIdRetentionMs: options.eventIdRetentionMs } : {}),
    });
    const mode = store.durability === 'fsync' ? 'fsync (appendfsync always)' : store.durability === 'waitaof' ? `WAITAOF 1 ${options.replicas ?? 0}` : 'none';
    return { store, kind: 'redis', where: `${store.display}, durability ${mode}`, warning };
  }
  if (!spec.startsWith('lmdb:') || spec.length === 'lmdb:'.length) {
    throw new RalmError('RALM_ERR_VALIDATION', `store: expected lmdb:DIR, redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT…], got ${JSON.stringify(spec)}`, { field: 'store' });
  }
  const dir = resolve(spec.slice('lmdb:'.length));
  try {
    const lmdb = {
      ...(options.lmdbMapSize !== undefined ? { mapSize: options.lmdbMapSize } : {}),
      ...(options.eventIdRetentionMs !== undefined ? { eventIdRetentionMs: options.eventIdRetentionMs } : {}),
    };
    return { store: LmdbStore.open(dir, lmdb), kind: 'lmdb', where: dir };
  } catch (err) {
    throw new StartupError('RALM_ERR_DATA_DIR', `data directory ${dir}: cannot open the store: ${systemReason(err)}`);
  }
}
