/**
 * An ingest into the Valkey/Redis store. Per item, atomically: seeds, counts and event-id
 * de-duplication (INGEST_LUA). On one node a call's items and its bookkeeping (re-cluster queue,
 * item index, counters) run in one script: one AOF write and one fsync per call. On a Cluster each
 * item is its own script and the bookkeeping follows on the index node, idempotently (an item
 * re-marked dirty is re-clustered, never lost).
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-scripts.js';
import type { ClickEvent, IngestResult } from './store.js';

/** Events per ingest script call at most (a call holds the server while it runs: ~2,000 events is ~1 ms). */
const INGEST_EVENTS_PER_CALL = 2000;

interface IngestScripts {
  ralmIngest(numKeys: number, ...args: Array<string | number>): Promise<Array<[number, number, number, string]>>;
  ralmIngestItem(...args: Array<string | number>): Promise<Array<[number, number, number, string]>>;
}

/** Stores validated `events` (see RalmStore.ingest); the caller waits for durability. */
export async function ingestEvents(client: RedisClient, keys: RedisKeys, maxSeeds: number, retentionMs: number, events: readonly ClickEvent[]): Promise<IngestResult> {
  const s = client as unknown as IngestScripts;
  const now = Date.now();
  let duplicates = 0;
  const seen = new Set<string>();
  const byItem = new Map<string, ClickEvent[]>();
  for (const e of events) {
    if (e.id !== undefined) {
      // Per item, as the store remembers ids (and as LMDB does).
      const key = `${e.item}\u0000${e.id}`;
      if (seen.has(key)) { duplicates++; continue; }
      seen.add(key);
    }
    const list = byItem.get(e.item);
    if (list) list.push(e); else byItem.set(e.item, [e]);
  }
  const cutoff = now - retentionMs;
  const users = [...new Set(events.map((e) => e.user))];
  // Known users: one SMISMEMBER on the user index (Valkey, Redis ≥ 6.2), not one EXISTS per user.
  const knownP = client.smismember(keys.users, ...users);
  // One node: known users first (a read, no fsync), then each call in one script with its
  // bookkeeping — one AOF write and fsync. A Cluster: a script per item (a command is routed by
  // its first argument there), the bookkeeping on the index node after.
  const single = !(client instanceof Cluster);
  const known = await knownP;
  const knownUsers = single ? new Set(users.filter((_, i) => known[i] === 1)) : undefined;
  const calls = ingestCalls(client, byItem);
  const runCall = (items: string[], c: number): Promise<Array<[number, number, number, string]>> => {
    const itemKeys = items.flatMap((item) => [keys.item(item), keys.seeds(item), keys.eventIds(item)]);
    const args = [now, maxSeeds, cutoff, single ? '1' : '0', single && c === 0 ? duplicates : 0, ...items.flatMap((item) => {
      const list = byItem.get(item) as ClickEvent[];
      return [list.length, ...list.flatMap((e) => [e.id ?? '', e.user, e.ts, knownUsers?.has(e.user) ? '1' : '0'])];
    })];
    if (single) return s.ralmIngest(itemKeys.length + 3, ...itemKeys, keys.dirty, keys.items, keys.counters, ...args);
    return s.ralmIngestItem(...itemKeys, ...args);
  };
  const results = await Promise.all(calls.map(runCall));
  const byResult = new Map<string, [number, number, number, string]>();
  calls.forEach((items, c) => items.forEach((item, i) => byResult.set(item, results[c][i])));
  const perItem = [...byItem.keys()].map((item) => byResult.get(item) as [number, number, number, string]);
  const unknownAll = new Set(users.filter((_, i) => known[i] === 0));
  let accepted = 0;
  let unknownUserEvents = 0;
  const touched: Array<string | number> = [];
  [...byItem.keys()].forEach((item, i) => {
    const [a, d, version] = perItem[i];
    accepted += a;
    duplicates += d;
    if (a > 0) touched.push(version, item);
  });
  const unknown = new Set<string>();
  [...byItem.values()].forEach((list, i) => {
    const flags = perItem[i][3];
    list.forEach((e, j) => {
      if (flags[j] !== '1' || !unknownAll.has(e.user)) return;
      unknownUserEvents++;
      if (unknown.size < 100) unknown.add(e.user);
    });
  });
  if (!single) {
    const writes: Array<Promise<unknown>> = [
      client.hincrby(keys.counters, 'eventsAccepted', accepted),
      client.hincrby(keys.counters, 'eventsDuplicate', duplicates),
      client.hincrby(keys.counters, 'eventsUnknownUser', unknownUserEvents),
    ];
    if (touched.length > 0) {
      writes.push(client.zadd(keys.dirty, 'GT', ...touched));
      writes.push(client.sadd(keys.items, ...touched.filter((_, i) => i % 2 === 1).map(String)));
    }
    await Promise.all(writes);
  }
  return { accepted, duplicates, unknownUserEvents, unknownUsers: [...unknown] };
}

/**
 * The items of an ingest grouped into script calls: on one node, all of them (a few calls at
 * most, each of at most INGEST_EVENTS_PER_CALL events) — one AOF write and fsync per call rather
 * than one per 16 KiB the server reads; on a Cluster, one item per call.
 */
function ingestCalls(client: RedisClient, byItem: Map<string, ClickEvent[]>): string[][] {
  const groups = new Map<number, Array<{ items: string[]; events: number }>>();
  for (const [item, list] of byItem) {
    const group = client instanceof Cluster ? groups.size : 0;
    const chunks = groups.get(group) ?? [];
    let last = chunks[chunks.length - 1];
    if (!last || last.events + list.length > INGEST_EVENTS_PER_CALL) chunks.push(last = { items: [], events: 0 });
    last.items.push(item);
    last.events += list.length;
    groups.set(group, chunks);
  }
  return [...groups.values()].flatMap((chunks) => chunks.map((c) => c.items));
}
