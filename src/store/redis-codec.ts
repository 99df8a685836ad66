/** Encoding of the Valkey/Redis store's values: raw float32 bytes, user hashes, index walks. */
import { Rng } from '../util/rng.js';
import type { RedisClient } from './redis-connection.js';
import type { ItemClusters, ItemInfo, UserInput, UserRecord } from './store.js';

/** Float32Array → its bytes (a copy, so the store never aliases caller memory). */
export function bytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

/** Bytes → an aligned Float32Array copy. */
export function floats(b: Buffer): Float32Array {
  return new Float32Array(Uint8Array.from(b).buffer);
}

/**
 * A user's hash: `u` universal, `l` look-alike, `mv` its model version, `f` features (JSON), `at`
 * update time, and `la:<modelVersion>` the look-alike bytes again under the model's name, so that
 * a reader under one model never takes an embedding computed by another.
 */
export function userFields(u: UserInput, now: number): Record<string, string | Buffer> {
  const l = bytes(u.lookalike);
  return { u: bytes(u.universal), l, mv: u.modelVersion, f: JSON.stringify(u.features ?? null), at: String(now), [`la:${u.modelVersion}`]: l };
}

export function fromUserHash(id: string, h: Record<string, Buffer>): UserRecord | undefined {
  if (!h.u || !h.l || !h.mv) return undefined;
  const features = JSON.parse(h.f?.toString() ?? 'null') as Record<string, unknown> | null;
  return { id, universal: floats(h.u), lookalike: floats(h.l), modelVersion: h.mv.toString(), features: features ?? undefined, updatedAt: Number(h.at?.toString() ?? 0) };
}

/** The members of a set index, a page at a time (SSCAN: the server is never held by one long reply). */
export async function* scanSet(client: RedisClient, key: string, count = 500): AsyncIterable<string[]> {
  let cursor = '0';
  const seen = new Set<string>();
  do {
    const [next, members] = await client.sscan(key, cursor, 'COUNT', count);
    cursor = next;
    // SSCAN may return a member twice while the set is rehashed: each is yielded once.
    const fresh = members.filter((m) => !seen.has(m) && (seen.add(m), true));
    if (fresh.length > 0) yield fresh;
  } while (cursor !== '0');
}

/** An item hash (see INGEST_LUA) as ItemInfo. */
export function itemFromHash(id: string, h: Record<string, Buffer>): ItemInfo {
  const num = (k: string, d: number): number => (h[k] ? Number(h[k].toString()) : d);
  const opt = (k: string): number | null => (h[k] ? Number(h[k].toString()) : null);
  return {
    id, metadata: h.metadata ? JSON.parse(h.metadata.toString()) as Record<string, unknown> | null : null,
    content: h.content && h.content.length > 0 ? floats(h.content) : null,
    seedCount: num('seedCount', 0), clicks: num('clicks', 0), seedVersion: num('seedVersion', 0),
    firstSeedAt: opt('firstSeedAt'), lastSeedAt: opt('lastSeedAt'), createdAt: num('createdAt', 0),
  };
}

/** A clusters hash (see PUBLISH_LUA) as ItemClusters, if one was published. */
export function clustersFromHash(id: string, h: Record<string, Buffer>): ItemClusters | undefined {
  if (!h.centroids) return undefined;
  const num = (k: string): number => Number(h[k].toString());
  return {
    id, seedVersion: num('seedVersion'), modelVersion: h.modelVersion.toString(), clusteredAt: num('clusteredAt'), count: num('count'),
    centroids: floats(h.centroids), global: floats(h.global), seeds: num('seeds'), cold: h.cold.toString() === '1', firstServableAt: num('firstServableAt'),
  };
}

/** `count` distinct positions of `kept`, ascending: the same draw as the LMDB store (Floyd's algorithm), so both sample alike. */
export function samplePositions(kept: number, count: number, seed: number): number[] {
  const rng = new Rng(seed);
  const picked = new Set<number>();
  for (let j = kept - count; j < kept; j++) {
    const t = rng.int(j + 1);
    picked.add(picked.has(t) ? j : t);
  }
  return [...picked].sort((a, b) => a - b);
}
