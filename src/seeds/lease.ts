/**
 * One re-clusterer at a time across replicas sharing a store: a run holds the store's lease,
 * renewed while it runs (a third of its time to live), and publishes under the lease's fencing
 * token, so that a run that lost its lease (paused, partitioned) is refused where a newer one has
 * published. A store without coordination (the embedded one) serves one process: runs need no lease.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { RalmError } from '../util/errors.js';
import type { StoreCoordination } from '../store/store.js';

/** This process's name as a lease holder: host, pid and a random part (unique across restarts). */
export const LEASE_HOLDER = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/**
 * Runs `fn` under the lease, waiting up to `waitMs` for it while another holds it; a
 * RALM_ERR_STORE_UNAVAILABLE error says who holds it when the wait ends without it.
 */
export async function underLease<T>(c: StoreCoordination | undefined, ttlMs: number, waitMs: number, fn: () => Promise<T>): Promise<T> {
  if (!c) return fn();
  const deadline = Date.now() + waitMs;
  let token = await c.acquireLease(LEASE_HOLDER, ttlMs);
  while (token === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    token = await c.acquireLease(LEASE_HOLDER, ttlMs);
  }
  if (token === null) throw new RalmError('RALM_ERR_STORE_UNAVAILABLE', `another replica holds the re-clustering lease (waited ${waitMs} ms); its run publishes to every replica, so try again later`);
  const held = token;
  const renew = setInterval(() => void c.renewLease(LEASE_HOLDER, held, ttlMs).catch(() => false), Math.max(1, Math.floor(ttlMs / 3)));
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await c.releaseLease(LEASE_HOLDER).catch(() => undefined);
  }
}
