/**
 * An ingest into the Valkey/Redis store. Per item, atomically: seeds, counts and event-id
 * de-duplication (INGEST_LUA). On one node a call's items and its bookkeeping (re-cluster queue,
 * item index, counters) run in one script: one AOF write and one fsync per call. On a Cluster each
 * item is its own script and the bookkeeping follows on the index node, idempotently (an item
 * re-marked dirty is re-clustered, never lost).
 *
 * What an item costs the server is what bounds a durable ingest (a 2,000-event call touches ~1,600
 * items): every command a script runs is also appended to the AOF. So an item takes three commands
 * in the common case — read its state, add its event ids, write its state with its seeds — and
 * none that change nothing: event ids past retention are recognised by their time (an id kept
 * longer than the window counts as new), so the trim of an item's ids runs only every eighth of
 * the window, and an item joins the item index only on its first click.
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-scripts.js';
import type { ClickEvent, IngestResult } from './store.js';

/** Events per ingest script call at most (a call holds the server while it runs: ~2,000 events is ~1 ms). */
const INGEST_EVENTS_PER_CALL = 2000;

/** Parts of the retention window between two trims of an item's event ids (ids are kept up to 1 + 1/8 of it). */
const TRIMS_PER_RETENTION = 8;

/**
 * Items' shares of an ingest call, each atomically (all of them in one script where they may be
 * on one node: a single-node server then appends the whole call to its AOF, and fsyncs it, once).
 * KEYS: per item, its hash (state, and its seeds: position → "ts arrivedAt user"), its seeds hash
 * of the earlier layout (moved into the item's hash, then deleted) and event-id sorted set
 * (id → arrival ms); with bookkeeping, then the re-cluster queue, the item index and the counters.
 * ARGV: now, max seeds kept, id cutoff (an id that arrived before it is forgotten: new again),
 * bookkeeping ('1' or '0'), duplicates found before the call, ms between trims of an item's ids,
 * then per item: its event count and (id or '', user, ts, '1' if the user is known else '0') per
 * event in order (ids distinct within an item: the caller drops repeats).
 * Returns, flat, per item: accepted, duplicates, seedVersion, flags ('1' stored or '0' duplicate
 * per event).
 */
export const INGEST_LUA = `
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local cutoff = tonumber(ARGV[3])
local book = ARGV[4] == '1'
local trimEvery = tonumber(ARGV[6])
local nkeys = #KEYS
if book then nkeys = nkeys - 3 end
local out = {}
local total, totalDups, unknown = 0, tonumber(ARGV[5]), 0
local dirty, fresh = {}, {}
local a = 7
-- cmd on key with list's values appended, at most 2,000 at a time (an even count, so field/value and
-- score/member pairs stay together), after option where one is given.
local function inChunks(cmd, key, list, option)
  for j = 1, #list, 2000 do
    local last = math.min(j + 1999, #list)
    if option then redis.call(cmd, key, option, unpack(list, j, last))
    else redis.call(cmd, key, unpack(list, j, last)) end
  end
end
for k = 1, nkeys, 3 do
  local item, seeds, ids = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local n = tonumber(ARGV[a])
  a = a + 1
  local last = a + 4 * n - 4
  local cur = redis.call('HMGET', item, 'clicks', 'seedVersion', 'createdAt', 'firstSeedAt', 'idsTrimAt', 'seedsHere')
  local state = {}
  -- Seeds live in the item's own hash (one write for state and seeds); an item whose seeds are
  -- still in a hash of their own (the earlier layout) has them moved on its first click now.
  if not cur[6] then
    if cur[1] then
      local old = redis.call('HGETALL', seeds)
      inChunks('HSET', item, old)
      redis.call('DEL', seeds)
    end
    state = {'seedsHere', 1}
  end
  local clicks = tonumber(cur[1] or '0')
  local version = tonumber(cur[2] or '0')
  -- Which ids are duplicates: one ZADD NX for a lone id (a re-send finds it there, then its
  -- time decides), else one ZMSCORE and one ZADD for all of the item's ids.
  local dup = {}
  local named = {}
  for i = a, last, 4 do if ARGV[i] ~= '' then named[#named + 1] = ARGV[i] end end
  if #named == 1 then
    if redis.call('ZADD', ids, 'NX', now, named[1]) == 0 then
      if tonumber(redis.call('ZSCORE', ids, named[1])) >= cutoff then dup[named[1]] = true
      else redis.call('ZADD', ids, now, named[1]) end
    end
  elseif #named > 1 then
    local scores = redis.call('ZMSCORE', ids, unpack(named))
    local add = {}
    for j = 1, #named do
      if scores[j] and tonumber(scores[j]) >= cutoff then dup[named[j]] = true
      else add[#add + 1] = now; add[#add + 1] = named[j] end
    end
    inChunks('ZADD', ids, add)
  end
  local accepted, dups = 0, 0
  local flags = {}
  local fields = {}
  local drop = {}
  for i = a, last, 4 do
    if dup[ARGV[i]] then
      dups = dups + 1
      flags[#flags + 1] = '0'
    else
      flags[#flags + 1] = '1'
      fields[#fields + 1] = clicks
      fields[#fields + 1] = ARGV[i + 2] .. ' ' .. ARGV[1] .. ' ' .. ARGV[i + 1]
      if clicks >= max then drop[#drop + 1] = clicks - max end
      if ARGV[i + 3] == '0' then unknown = unknown + 1 end
      clicks = clicks + 1
      version = version + 1
      accepted = accepted + 1
    end
  end
  a = last + 4
  if accepted > 0 then
    state[#state + 1] = 'clicks'; state[#state + 1] = clicks
    state[#state + 1] = 'seedVersion'; state[#state + 1] = version
    state[#state + 1] = 'seedCount'; state[#state + 1] = math.min(clicks, max)
    state[#state + 1] = 'lastSeedAt'; state[#state + 1] = now
    if not cur[3] then state[#state + 1] = 'createdAt'; state[#state + 1] = now end
    if not cur[4] then state[#state + 1] = 'firstSeedAt'; state[#state + 1] = now end
    local name = string.sub(item, string.find(item, '{i:', 1, true) + 3, -2)
    dirty[#dirty + 1] = version
    dirty[#dirty + 1] = name
    if not cur[1] then fresh[#fresh + 1] = 0; fresh[#fresh + 1] = name end
  end
  -- Ids past retention go in a trim every trimEvery ms per item (memory only: the check above is by time).
  if #named > 0 and (not cur[5] or tonumber(cur[5]) <= now) then
    if cur[5] then redis.call('ZREMRANGEBYSCORE', ids, '-inf', '(' .. cutoff) end
    state[#state + 1] = 'idsTrimAt'
    state[#state + 1] = now + trimEvery
  end
  -- State and seeds in one write, then the oldest seeds dropped.
  for j = 1, #fields do state[#state + 1] = fields[j] end
  inChunks('HSET', item, state)
  inChunks('HDEL', item, drop)
  total = total + accepted
  totalDups = totalDups + dups
  out[#out + 1] = accepted
  out[#out + 1] = dups
  out[#out + 1] = version
  out[#out + 1] = table.concat(flags)
end
if book then
  inChunks('ZADD', KEYS[nkeys + 1], dirty, 'GT')
  inChunks('ZADD', KEYS[nkeys + 2], fresh)
  redis.call('HINCRBY', KEYS[nkeys + 3], 'eventsAccepted', total)
  redis.call('HINCRBY', KEYS[nkeys + 3], 'eventsDuplicate', totalDups)
  redis.call('HINCRBY', KEYS[nkeys + 3], 'eventsUnknownUser', unknown)
end
return out
`;

type Row = [accepted: number, duplicates: number, seedVersion: number, flags: string];

interface IngestScripts {
  ralmIngest(numKeys: number, ...args: Array<string | number>): Promise<Array<number | string>>;
  ralmIngestItem(...args: Array<string | number>): Promise<Array<number | string>>;
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
  // Known users: one ZMSCORE on the user index (Valkey, Redis ≥ 6.2), not one EXISTS per user.
  const knownP = client.zmscore(keys.users, ...users);
  // One node: known users first (a read, no fsync), then each call in one script with its
  // bookkeeping — one AOF write and fsync. A Cluster: a script per item (a command is routed by
  // its first argument there), the bookkeeping on the index node after.
  const single = !(client instanceof Cluster);
  const known = await knownP;
  const knownUsers = single ? new Set(users.filter((_, i) => known[i] !== null)) : undefined;
  const calls = ingestCalls(client, byItem);
  const trimEvery = Math.max(1, Math.floor(retentionMs / TRIMS_PER_RETENTION));
  const runCall = async (items: string[], c: number): Promise<Row[]> => {
    const itemKeys = items.flatMap((item) => [keys.item(item), keys.seeds(item), keys.eventIds(item)]);
    const args = [now, maxSeeds, cutoff, single ? '1' : '0', single && c === 0 ? duplicates : 0, trimEvery, ...items.flatMap((item) => {
      const list = byItem.get(item) as ClickEvent[];
      return [list.length, ...list.flatMap((e) => [e.id ?? '', e.user, e.ts, knownUsers?.has(e.user) ? '1' : '0'])];
    })];
    const flat = single ? await s.ralmIngest(itemKeys.length + 3, ...itemKeys, keys.dirty, keys.items, keys.counters, ...args) : await s.ralmIngestItem(...itemKeys, ...args);
    return items.map((_, i) => [Number(flat[4 * i]), Number(flat[4 * i + 1]), Number(flat[4 * i + 2]), String(flat[4 * i + 3])]);
  };
  const results = await Promise.all(calls.map(runCall));
  const byResult = new Map<string, Row>();
  calls.forEach((items, c) => items.forEach((item, i) => byResult.set(item, results[c][i])));
  const perItem = [...byItem.keys()].map((item) => byResult.get(item) as Row);
  const unknownAll = new Set(users.filter((_, i) => known[i] === null));
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
      writes.push(client.zadd(keys.items, ...touched.flatMap((x, i) => (i % 2 === 1 ? [0, String(x)] : []))));
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
