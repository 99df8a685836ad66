/** Encoding of the Valkey/Redis store's values: raw float32 bytes, user hashes, index walks. */
import { Rng } from '../util/rng.js';
import type { RedisClient } from './redis-connection.js';
import type { ItemClusters, ItemInfo, SeedRecord, UserInput, UserRecord } from './store.js';

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

/**
 * The members of an index (a sorted set whose scores are all 0, so its order is the members'
 * byte order), a page at a time by ZRANGE … BYLEX from after the last member seen: a member
 * present for the whole walk is yielded exactly once and none twice, whatever is added or
 * removed meanwhile, and the walk holds one page in memory (a walk of 10M users, not 10M ids).
 */
export async function* walkIndex(client: RedisClient, key: string, page = 500): AsyncIterable<string[]> {
  let from = '-';
  for (;;) {
    const members = await client.zrange(key, from, '+', 'BYLEX', 'LIMIT', 0, page);
    if (members.length > 0) yield members;
    if (members.length < page) return;
    from = `(${members[members.length - 1]}`;
  }
}

/**
 * Moves indexes kept as plain sets (the layout before sorted sets) into their sorted sets, then
 * drops the sets. Idempotent, so replicas opening together may each run it: a set is deleted only
 * after a walk over all of it has been added.
 */
export async function migrateSetIndexes(client: RedisClient, indexes: ReadonlyArray<{ set: string; index: string }>): Promise<number> {
  let moved = 0;
  for (const { set, index } of indexes) {
    if ((await client.type(set)) !== 'set') continue;
    let cursor = '0';
    do {
      const [next, members] = await client.sscan(set, cursor, 'COUNT', 1000);
      cursor = next;
      // SSCAN may return a member twice: ZADD of a member already there changes nothing.
      if (members.length > 0) await client.zadd(index, ...members.flatMap((m) => [0, m]));
      moved += members.length;
    } while (cursor !== '0');
    await client.del(set);
  }
  return moved;
}

/**
 * A seed as the ingest script writes it (layout 3): `~<a> <d> <user>`, where `a` is its arrival
 * less the item's `firstSeedAt` and `d` its arrival less its event time, both in hex with `-`
 * before a negative one — a few bytes where two epoch-millisecond times took 27, since every
 * byte a script writes goes to the append-only file. An event time that is not an integer
 * below 2^53 is kept as it came, `=<ts>`. Seeds written by layouts 1 and 2 (`<ts> <arrival>
 * <user>`, decimal) are still read, so an item can hold both.
 */
export function decodeSeed(v: string, firstSeedAt: number): SeedRecord {
  const a = v.indexOf(' ');
  const b = v.indexOf(' ', a + 1);
  if (v.charCodeAt(0) !== 0x7e) return { user: v.slice(b + 1), ts: Number(v.slice(0, a)), arrivedAt: Number(v.slice(a + 1, b)) };
  const arrivedAt = firstSeedAt + parseInt(v.slice(1, a), 16);
  const d = v.slice(a + 1, b);
  return { user: v.slice(b + 1), ts: d.charCodeAt(0) === 0x3d ? Number(d.slice(1)) : arrivedAt - parseInt(d, 16), arrivedAt };
}

/** A seed's event time as the ingest sends it: `arrival − ts` in hex (see decodeSeed). */
export function seedTime(arrival: number, ts: number): string {
  if (!Number.isSafeInteger(ts)) return `=${ts}`;
  const d = arrival - ts;
  return d < 0 ? `-${(-d).toString(16)}` : d.toString(16);
}

/** An item's fields other than its seeds (which share its hash: see INGEST_LUA). */
const ITEM_FIELDS = ['metadata', 'content', 'seedCount', 'clicks', 'seedVersion', 'firstSeedAt', 'lastSeedAt', 'createdAt', 'seedsHere'] as const;

/**
 * An item's hash without its seeds (an empty record when the item is unknown). `lastSeedAt` is
 * its newest seed's arrival: layout 3 does not write the field on every click (layouts 1 and 2
 * did, and a replica of such a version may still write it during an upgrade, so the seed decides).
 */
export async function readItemHash(client: RedisClient, key: string, seedsKey: string): Promise<Record<string, Buffer>> {
  const values = await client.hmgetBuffer(key, ...ITEM_FIELDS);
  const out: Record<string, Buffer> = {};
  ITEM_FIELDS.forEach((f, i) => { const v = values[i]; if (v !== null) out[f] = v; });
  const clicks = Number(out.clicks?.toString() ?? 0);
  if (clicks > 0) {
    const newest = await client.hget(out.seedsHere ? key : seedsKey, String(clicks - 1));
    if (newest !== null) out.lastSeedAt = Buffer.from(String(decodeSeed(newest, Number(out.firstSeedAt?.toString() ?? 0)).arrivedAt));
  }
  return out;
}

/**
 * An item's seed counts from its hash fields: `seedVersion` is its clicks unless the hash has the
 * field (items written before it was derived), `seedCount` its clicks until seeds were dropped.
 */
export function seedState(clicks: string | null | undefined, seedCount: string | null | undefined, seedVersion: string | null | undefined): { clicks: number; seedCount: number; seedVersion: number } {
  const c = Number(clicks ?? 0);
  return { clicks: c, seedCount: seedCount != null ? Number(seedCount) : c, seedVersion: seedVersion != null ? Number(seedVersion) : c };
}

/** An item hash (see INGEST_LUA) as ItemInfo. */
export function itemFromHash(id: string, h: Record<string, Buffer>): ItemInfo {
  const num = (k: string, d: number): number => (h[k] ? Number(h[k].toString()) : d);
  const opt = (k: string): number | null => (h[k] ? Number(h[k].toString()) : null);
  return {
    id, metadata: h.metadata ? JSON.parse(h.metadata.toString()) as Record<string, unknown> | null : null,
    content: h.content && h.content.length > 0 ? floats(h.content) : null,
    ...seedState(h.clicks?.toString(), h.seedCount?.toString(), h.seedVersion?.toString()),
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
    // Absent (older records) or '' (unknown): left out, so the engine reads offset 0.
    ...(h.level && h.level.length > 0 ? { level: num('level') } : {}), ...(h.offset && h.offset.length > 0 ? { offset: num('offset') } : {}),
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
