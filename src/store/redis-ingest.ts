/**
 * An ingest into the Valkey/Redis store: the events grouped by item, the items by the node that
 * holds them, and one script (INGEST_LUA) per node and ≤ 2,000 events. On a single server that
 * is one script per call, with the call's bookkeeping (re-cluster queue, item index, counters) in
 * it: one AOF write and one fsync. On a Cluster it is one script per primary that holds items of
 * the call (its keys of several slots, all served by that node); the one on the node that holds
 * the indexes does the bookkeeping too, and the rest of it follows there, idempotently (an item
 * re-marked dirty is re-clustered, never lost). A node script that finds a key its node does not
 * serve — a slot moved during a reshard — writes nothing and its items go one script per item
 * through the Cluster client, which follows MOVED and ASK.
 *
 * Scripts of one call go out together (ioredis pipelines them on each node's connection), and a
 * server fsyncs once per event-loop turn before it replies, so the calls of one ingest, and of
 * ingests that other requests have in flight, share their fsyncs.
 */
import { Cluster } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { RalmError } from '../util/errors.js';
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-scripts.js';
import type { ClickEvent, IngestResult } from './store.js';
import { seedTime } from './redis-codec.js';

export { INGEST_LUA } from './redis-ingest-lua.js';

/** Events per ingest script call at most (a call holds the server while it runs: ~2,000 events is ~20 ms). */
const INGEST_EVENTS_PER_CALL = 2000;

/** Tries of one item whose keys a reshard has half moved, RESHARD_RETRY_MS apart, before the ingest fails (503: retry). */
const RESHARD_RETRIES = 20;
const RESHARD_RETRY_MS = 50;

/** Parts of the retention window between two trims of an item's event ids (ids are kept up to 1 + 1/8 of it). */
const TRIMS_PER_RETENTION = 8;

/**
 * The script under two names: a node's items (auto-pipelined), and one item through the Cluster
 * client, not auto-pipelined (see redis-connection.ts). One declared key each, so that ioredis,
 * which groups auto-pipelined commands by their first argument, sees the key there.
 */
interface IngestScripts {
  ralmIngest(key: string, ...args: Array<string | number>): Promise<ScriptReply>;
  ralmIngestItem(item: string, ...args: Array<string | number>): Promise<ScriptReply>;
}

/** See INGEST_LUA: totals, flags, and the bookkeeping left to the caller; or 'MOVED' and why. */
type ScriptReply = [accepted: number, duplicates: number, unknown: number, flags: string, dirty: string[], fresh: string[]] | ['MOVED', string];

interface Call { items: string[]; book: boolean }

/** What a call's script did, for the caller's totals and the bookkeeping it still owes. */
interface Done { items: string[]; booked: boolean; accepted: number; duplicates: number; unknown: number; flags: string; dirty: string[] }

/** Where an item's keys live: the primary serving its slot (as the client last learnt it), or one group on a single server. */
function nodeOf(client: RedisClient, key: string): string {
  if (!(client instanceof Cluster)) return '';
  const slot = calculateSlot(key);
  return client.slots[slot]?.[0] ?? `slot ${slot}`;
}

/**
 * The items grouped by node, each group cut into calls of ≤ INGEST_EVENTS_PER_CALL events; the
 * first call of the group on the node holding the indexes does the bookkeeping.
 */
function ingestCalls(client: RedisClient, keys: RedisKeys, byItem: Map<string, ClickEvent[]>): Call[] {
  const groups = new Map<string, Array<{ items: string[]; events: number }>>();
  for (const [item, list] of byItem) {
    const node = nodeOf(client, keys.item(item));
    const chunks = groups.get(node) ?? [];
    let last = chunks[chunks.length - 1];
    if (!last || last.events + list.length > INGEST_EVENTS_PER_CALL) chunks.push(last = { items: [], events: 0 });
    last.items.push(item);
    last.events += list.length;
    groups.set(node, chunks);
  }
  const bookNode = nodeOf(client, keys.dirty);
  return [...groups].flatMap(([node, chunks]) => chunks.map((c, i) => ({ items: c.items, book: node === bookNode && i === 0 })));
}

/** Stores validated `events` (see RalmStore.ingest); the caller waits for durability. */
export async function ingestEvents(client: RedisClient, keys: RedisKeys, maxSeeds: number, retentionMs: number, events: readonly ClickEvent[]): Promise<IngestResult> {
  const s = client as unknown as IngestScripts;
  const now = Date.now();
  const cluster = client instanceof Cluster;
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
  const users = [...new Set(events.map((e) => e.user))];
  // Known users: one ZMSCORE on the user index (Valkey, Redis ≥ 6.2), a read (no fsync) before the scripts.
  const known = await client.zmscore(keys.users, ...users);
  const unknownAll = new Set(users.filter((_, i) => known[i] === null));
  const clientDuplicates = duplicates;
  const head = (book: boolean, check: boolean): Array<string | number> => [
    now, maxSeeds, now - retentionMs, book ? '1' : '0', book ? clientDuplicates : 0,
    Math.max(1, Math.floor(retentionMs / TRIMS_PER_RETENTION)), keys.item('').slice(0, -1), check ? '1' : '0',
    keys.dirty, keys.items, keys.counters,
  ];
  const itemArgs = (items: string[]): Array<string | number> => items.flatMap((item) => {
    const list = byItem.get(item) as ClickEvent[];
    return [item, list.length, ...list.flatMap((e) => [e.id ?? '', e.user, seedTime(now, e.ts), unknownAll.has(e.user) ? '0' : '1'])];
  });
  const done = (items: string[], booked: boolean, r: ScriptReply): Done => {
    if (r[0] === 'MOVED') throw new RalmError('RALM_ERR_STORE_UNAVAILABLE', `the store's slots moved while an ingest ran (${r[1]}); retry`);
    return { items, booked, accepted: Number(r[0]), duplicates: Number(r[1]), unknown: Number(r[2]), flags: String(r[3]), dirty: r[4] };
  };
  // An item alone, through the Cluster client (which follows MOVED and ASK; not auto-pipelined, see
  // redis-connection.ts, since a pipeline that mixes commands hands redirections back).
  const oneByOne = (items: string[]): Promise<Done[]> => Promise.all(items.map(async (item) => {
    for (let attempt = 1; ; attempt++) {
      const r = await s.ralmIngestItem(keys.item(item), ...head(false, true), ...itemArgs([item]));
      // Its keys half moved (some on each node): the reshard moves the rest of the slot soon.
      if (r[0] !== 'MOVED' || attempt === RESHARD_RETRIES) return done([item], false, r);
      await new Promise((res) => setTimeout(res, RESHARD_RETRY_MS));
    }
  }));
  const run = async (call: Call): Promise<Done[]> => {
    let r: ScriptReply;
    try {
      r = await s.ralmIngest(keys.item(call.items[0]), ...head(call.book, cluster), ...itemArgs(call.items));
    } catch (err) {
      // The routing key itself moved: refused before the script ran (an auto-pipeline that
      // carried other commands too hands the redirection back instead of following it).
      if (cluster && /^(MOVED|ASK) /.test((err as Error).message)) return oneByOne(call.items);
      throw err;
    }
    if (r[0] === 'MOVED') return oneByOne(call.items);
    return [done(call.items, call.book, r)];
  };
  const results = (await Promise.all(ingestCalls(client, keys, byItem).map(run))).flat();

  let accepted = 0;
  let unknownUserEvents = 0;
  const unknown = new Set<string>();
  const owed = { accepted: 0, duplicates: clientDuplicates, unknown: 0, dirty: [] as string[] };
  for (const r of results) {
    accepted += r.accepted;
    duplicates += r.duplicates;
    unknownUserEvents += r.unknown;
    if (!r.booked) {
      owed.accepted += r.accepted;
      owed.duplicates += r.duplicates;
      owed.unknown += r.unknown;
      owed.dirty.push(...r.dirty);
    } else {
      owed.duplicates -= clientDuplicates;
    }
    let f = 0;
    for (const item of r.items) {
      for (const e of byItem.get(item) as ClickEvent[]) {
        if (r.flags[f++] === '1' && unknown.size < 100 && unknownAll.has(e.user)) unknown.add(e.user);
      }
    }
  }
  if (owed.duplicates > 0 || owed.accepted > 0) {
    // Bookkeeping that no node script did (items on other nodes, or gone one by one): idempotent,
    // so every touched item joins the item index (its first click may have been stored by an
    // earlier attempt whose bookkeeping never ran).
    const writes: Array<Promise<unknown>> = [
      client.hincrby(keys.counters, 'eventsAccepted', owed.accepted),
      client.hincrby(keys.counters, 'eventsDuplicate', owed.duplicates),
      client.hincrby(keys.counters, 'eventsUnknownUser', owed.unknown),
    ];
    if (owed.dirty.length > 0) {
      writes.push(client.zadd(keys.dirty, 'GT', ...owed.dirty));
      writes.push(client.zadd(keys.items, ...owed.dirty.flatMap((x, i) => (i % 2 === 1 ? [0, x] : []))));
    }
    await Promise.all(writes);
  }
  return { accepted, duplicates, unknownUserEvents, unknownUsers: [...unknown] };
}
