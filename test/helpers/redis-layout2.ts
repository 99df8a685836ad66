/**
 * A writer of the Valkey/Redis store's earlier item layout (layout 2: seeds stored as
 * "ts arrival user" in decimal, `lastSeedAt` written on every click), kept so that the tests can
 * build a store as that version wrote it — and write into a store beside the current version, as
 * a replica not yet upgraded does during a rolling upgrade — and check that the current version
 * reads it. The script is that version's ingest script as it was, called with that version's
 * arguments.
 */
import { connectRedis, parseRedisUrl, type RedisClient } from '../../src/store/redis-connection.js';
import type { RedisKeys } from '../../src/store/redis-scripts.js';
import type { ClickEvent, IngestResult } from '../../src/store/store.js';

const LAYOUT2_INGEST_LUA = `#!lua flags=allow-cross-slot-keys
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local cutoff = tonumber(ARGV[3])
local book = ARGV[4] == '1'
local trimEvery = tonumber(ARGV[6])
local pre = ARGV[7]
local check = ARGV[8] == '1'
local mid = ' ' .. ARGV[1] .. ' '
-- cmd on key with list[1..len] appended, at most 2,000 at a time (an even count, so field/value
-- and score/member pairs stay together), after option where one is given.
local function inChunks(cmd, key, list, len, option)
  for j = 1, len, 2000 do
    local last = math.min(j + 1999, len)
    if option then redis.call(cmd, key, option, unpack(list, j, last))
    else redis.call(cmd, key, unpack(list, j, last)) end
  end
end
-- Reads first: each item's state (and, when checking, that the node serves every key).
local nargs = #ARGV
local keys, starts, counts, curs = {}, {}, {}, {}
local items = 0
local a = 12
while a <= nargs do
  local key = pre .. ARGV[a] .. '}'
  local n = tonumber(ARGV[a + 1])
  local cur = redis.pcall('HMGET', key, 'clicks', 'seedVersion', 'createdAt', 'firstSeedAt', 'idsTrimAt', 'seedsHere', 'seedCount')
  if cur.err then return {'MOVED', cur.err} end
  if check then
    -- One key a command: during a reshard a command on several keys of a slot is refused unless
    -- all of them exist on the node (TRYAGAIN), while one that is not there yet may be created.
    local named = false
    for i = a + 2, a + 4 * n - 2, 4 do if ARGV[i] ~= '' then named = true end end
    local r = named and redis.pcall('EXISTS', key .. ':e') or 0
    if type(r) == 'table' then return {'MOVED', r.err} end
    r = cur[1] and not cur[6] and redis.pcall('EXISTS', key .. ':s') or 0
    if type(r) == 'table' then return {'MOVED', r.err} end
  end
  items = items + 1
  keys[items] = key
  counts[items] = n
  starts[items] = a + 2
  curs[items] = cur
  a = a + 2 + 4 * n
end
if check and book then
  for k = 9, 11 do
    local r = redis.pcall('EXISTS', ARGV[k])
    if type(r) == 'table' then return {'MOVED', r.err} end
  end
end
local NONE = {}
local flags, nf = {}, 0
local buf, drop, named, add = {}, {}, {}, {}
local dirty, fresh, nd, nfr = {}, {}, 0, 0
local total, dups, unknown = 0, 0, 0
for it = 1, items do
  local key, cur, s, n = keys[it], curs[it], starts[it], counts[it]
  local last = s + 4 * n - 4
  local nb = 0
  -- Seeds live in the item's own hash (one write for state and seeds); an item whose seeds are
  -- still in a hash of their own (the earlier layout) has them moved on its first click now.
  if not cur[6] then
    if cur[1] then
      local old = redis.call('HGETALL', key .. ':s')
      inChunks('HSET', key, old, #old)
      redis.call('DEL', key .. ':s')
    end
    buf[1] = 'seedsHere'; buf[2] = 1; nb = 2
  end
  local clicks = tonumber(cur[1] or '0')
  local version = tonumber(cur[2] or cur[1] or '0')
  -- Which ids are duplicates: one ZADD NX for a lone id (a re-send finds it there, then its time
  -- decides), else one ZMSCORE and one ZADD for all of the item's ids.
  local dup = NONE
  local nn = 0
  for i = s, last, 4 do if ARGV[i] ~= '' then nn = nn + 1; named[nn] = ARGV[i] end end
  if nn == 1 then
    if redis.call('ZADD', key .. ':e', 'NX', now, named[1]) == 0 then
      if tonumber(redis.call('ZSCORE', key .. ':e', named[1])) >= cutoff then dup = {[named[1]] = true}
      else redis.call('ZADD', key .. ':e', now, named[1]) end
    end
  elseif nn > 1 then
    local scores = redis.call('ZMSCORE', key .. ':e', unpack(named, 1, nn))
    local na = 0
    for j = 1, nn do
      if scores[j] and tonumber(scores[j]) >= cutoff then
        if dup == NONE then dup = {} end
        dup[named[j]] = true
      else add[na + 1] = now; add[na + 2] = named[j]; na = na + 2 end
    end
    inChunks('ZADD', key .. ':e', add, na)
  end
  local accepted, ndrop = 0, 0
  for i = s, last, 4 do
    nf = nf + 1
    if dup[ARGV[i]] then
      dups = dups + 1
      flags[nf] = '0'
    else
      flags[nf] = '1'
      buf[nb + 1] = clicks
      buf[nb + 2] = ARGV[i + 2] .. mid .. ARGV[i + 1]
      nb = nb + 2
      if clicks >= max then ndrop = ndrop + 1; drop[ndrop] = clicks - max end
      if ARGV[i + 3] == '0' then unknown = unknown + 1 end
      clicks = clicks + 1
      version = version + 1
      accepted = accepted + 1
    end
  end
  if accepted > 0 then
    buf[nb + 1] = 'clicks'; buf[nb + 2] = clicks
    buf[nb + 3] = 'lastSeedAt'; buf[nb + 4] = now
    nb = nb + 4
    -- Written only where they differ from clicks (fewer bytes per click): seedVersion on items of
    -- the earlier layout, which have the field; seedCount once seeds have been dropped.
    if cur[2] then buf[nb + 1] = 'seedVersion'; buf[nb + 2] = version; nb = nb + 2 end
    if cur[7] or clicks > max then buf[nb + 1] = 'seedCount'; buf[nb + 2] = math.min(clicks, max); nb = nb + 2 end
    if not cur[3] then buf[nb + 1] = 'createdAt'; buf[nb + 2] = now; nb = nb + 2 end
    if not cur[4] then buf[nb + 1] = 'firstSeedAt'; buf[nb + 2] = now; nb = nb + 2 end
    local name = ARGV[s - 2]
    dirty[nd + 1] = version; dirty[nd + 2] = name; nd = nd + 2
    if not cur[1] then fresh[nfr + 1] = 0; fresh[nfr + 2] = name; nfr = nfr + 2 end
  end
  -- Ids past retention go in a trim every trimEvery ms per item (memory only: the check above is by time).
  if nn > 0 and (not cur[5] or tonumber(cur[5]) <= now) then
    if cur[5] then redis.call('ZREMRANGEBYSCORE', key .. ':e', '-inf', '(' .. cutoff) end
    buf[nb + 1] = 'idsTrimAt'; buf[nb + 2] = now + trimEvery; nb = nb + 2
  end
  -- State and seeds in one write, then the oldest seeds dropped.
  inChunks('HSET', key, buf, nb)
  inChunks('HDEL', key, drop, ndrop)
  total = total + accepted
end
if book then
  inChunks('ZADD', ARGV[9], dirty, nd, 'GT')
  inChunks('ZADD', ARGV[10], fresh, nfr)
  redis.call('HINCRBY', ARGV[11], 'eventsAccepted', total)
  redis.call('HINCRBY', ARGV[11], 'eventsDuplicate', dups + tonumber(ARGV[5]))
  redis.call('HINCRBY', ARGV[11], 'eventsUnknownUser', unknown)
  dirty, fresh = {}, {}
end
return {total, dups, unknown, table.concat(flags), dirty, fresh}
`;

/**
 * A client of its own that ingests as layout 2 did on one server (close it with `quit`): the
 * events grouped by item, one script call with that version's arguments (≤ 2,000 events a call,
 * which is all the tests send).
 */
export async function layout2Writer(url: string, keys: RedisKeys, maxSeeds: number, retentionMs: number): Promise<{ client: RedisClient; ingest(events: readonly ClickEvent[]): Promise<IngestResult> }> {
  const client = await connectRedis(parseRedisUrl(url));
  client.defineCommand('ralmIngestLayout2', { numberOfKeys: 1, lua: LAYOUT2_INGEST_LUA });
  const run = client as unknown as { ralmIngestLayout2(key: string, ...args: Array<string | number>): Promise<[number, number, number]> };
  const ingest = async (events: readonly ClickEvent[]): Promise<IngestResult> => {
    const now = Date.now();
    const byItem = new Map<string, ClickEvent[]>();
    const seen = new Set<string>();
    let repeats = 0;
    for (const e of events) {
      if (e.id !== undefined && seen.has(`${e.item}\u0000${e.id}`)) { repeats++; continue; }
      if (e.id !== undefined) seen.add(`${e.item}\u0000${e.id}`);
      byItem.set(e.item, [...(byItem.get(e.item) ?? []), e]);
    }
    const users = [...new Set(events.map((e) => e.user))];
    const known = await client.zmscore(keys.users, ...users);
    const unknown = new Set(users.filter((_, i) => known[i] === null));
    const r = await run.ralmIngestLayout2(keys.item(events[0].item), now, maxSeeds, now - retentionMs, '1', repeats,
      Math.max(1, Math.floor(retentionMs / 8)), keys.item('').slice(0, -1), '0', keys.dirty, keys.items, keys.counters,
      ...[...byItem].flatMap(([item, list]) => [item, list.length, ...list.flatMap((e) => [e.id ?? '', e.user, e.ts, unknown.has(e.user) ? '0' : '1'])]));
    return { accepted: Number(r[0]), duplicates: Number(r[1]) + repeats, unknownUserEvents: Number(r[2]), unknownUsers: [] };
  };
  return { client, ingest };
}
