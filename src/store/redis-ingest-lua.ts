/**
 * The server-side half of an ingest into the Valkey/Redis store: one script for a group of items
 * that live on one node (every item of a call on a single server; on a Cluster, the items whose
 * slots one primary serves). Per item, atomically: seeds, counts and event-id de-duplication.
 *
 * Slots. A Cluster checks that a command's declared keys share one slot before it runs it; a
 * script flagged `allow-cross-slot-keys` may then touch keys of other slots, as long as the node
 * serves them (https://valkey.io/topics/eval-intro/ — "Script flags";
 * https://redis.io/docs/latest/develop/interact/programmability/eval-intro/). Checked on Valkey
 * 8.0.1: declared keys in two slots are refused with CROSSSLOT whatever the flag, and an
 * undeclared key of a slot the node does not serve fails at the command that touches it. So the
 * script declares one key (routing), builds the others from the item names, and — where the
 * caller asks (on a Cluster) — first touches every key it will write with a read of that key
 * alone, through `redis.pcall`: a key the node does not serve (a slot moved or being moved since the caller
 * looked) makes it answer `{'MOVED', error}` before it has written anything, and the caller falls
 * back to one script per item through the Cluster client, which follows MOVED and ASK.
 *
 * Cost. What an item costs the server bounds a durable ingest (a 2,000-event call touches ~1,600
 * items): every command a script runs is also appended to the AOF, and each `redis.call` converts
 * its arguments and reply. So an item takes two commands in the common case — one HMGET reads its
 * state and its events' ids, one HSET writes its clicks, its seeds and their ids (layout 3: all in
 * the item's hash, times as hex offsets — decodeSeed in redis-codec.ts; no lastSeedAt, the newest
 * seed's arrival is it) — and none that change nothing (ids past retention are recognised by
 * their time, the trim of an item's ids runs every eighth of the window, an item joins the item
 * index only on its first click); the script allocates no table per event on the common path, and
 * answers with a few values, not four per item.
 *
 * ARGV: 1 now, 2 max seeds kept, 3 id cutoff (an id that arrived before it is forgotten: new
 * again), 4 bookkeeping ('1': update the re-cluster queue, item index and counters here), 5
 * duplicates the caller found (added to the counters with bookkeeping), 6 ms between trims of an
 * item's ids, 7 the item key's start (`<prefix>:{i:`; an item's key is that, its id and `}`; its
 * seeds and event ids of earlier layouts add `:s` and `:e`, as RedisKeys names them), 8
 * check ('1': every key read before any write, see above), 9–11 the re-cluster queue, item index
 * and counters keys, then per item: its id, its event count n and n × (event id or '', user, its
 * time as the seed keeps it (seedTime in redis-codec.ts: now less ts, in hex), '1' if the user is
 * known else '0'), ids distinct within an item (the caller drops repeats).
 * Returns {accepted, duplicates found here, events of unknown users, flags ('1' stored or '0'
 * duplicate per event, items in order), dirty (seedVersion, id pairs), fresh (0, id pairs of
 * items clicked for the first time)} — the last two empty when the bookkeeping was done here.
 */
export const INGEST_LUA = `#!lua flags=allow-cross-slot-keys
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local cutoff = tonumber(ARGV[3])
local book = ARGV[4] == '1'
local trimEvery = tonumber(ARGV[6])
local pre = ARGV[7]
local check = ARGV[8] == '1'
-- Times kept in an item's hash (a seed's arrival, an event id's) are hex offsets from the item's
-- firstSeedAt (decodeSeed in redis-codec.ts).
local function hex(x)
  if x < 0 then return '-' .. string.format('%x', -x) end
  return string.format('%x', x)
end
local function unhex(v)
  if string.byte(v, 1) == 45 then return -tonumber(string.sub(v, 2), 16) end
  return tonumber(v, 16)
end
-- cmd on key with list[1..len] appended, at most 2,000 at a time (an even count, so field/value
-- and score/member pairs stay together), after option where one is given.
local function inChunks(cmd, key, list, len, option)
  for j = 1, len, 2000 do
    local last = math.min(j + 1999, len)
    if option then redis.call(cmd, key, option, unpack(list, j, last))
    else redis.call(cmd, key, unpack(list, j, last)) end
  end
end
-- Reads first: each item's state and its events' ids (one HMGET), and, when checking, that the
-- node serves every key. An item is of an earlier layout for its ids (some may be in the sorted
-- set '<item>:e') until seedsHere says '3'; and again when a replica of an earlier version has
-- clicked it since (that version writes lastSeedAt).
local STATE = {'clicks', 'seedVersion', 'createdAt', 'firstSeedAt', 'idsTrimAt', 'seedsHere', 'seedCount', 'lastSeedAt', 'idsTrimCursor'}
local NS = #STATE
local q = {unpack(STATE)}
local nargs = #ARGV
local keys, starts, counts, curs, legacy = {}, {}, {}, {}, {}
local items = 0
local a = 12
while a <= nargs do
  local key = pre .. ARGV[a] .. '}'
  local n = tonumber(ARGV[a + 1])
  local nq = NS
  for i = a + 2, a + 4 * n - 2, 4 do if ARGV[i] ~= '' then nq = nq + 1; q[nq] = '#' .. ARGV[i] end end
  local cur = redis.pcall('HMGET', key, unpack(q, 1, nq))
  if cur.err then return {'MOVED', cur.err} end
  local old = cur[1] and (cur[6] ~= '3' or cur[8]) and true or false
  if check then
    -- One key a command: during a reshard a command on several keys of a slot is refused unless
    -- all of them exist on the node (TRYAGAIN), while one that is not there yet may be created.
    local r = (old and nq > NS) and redis.pcall('EXISTS', key .. ':e') or 0
    if type(r) == 'table' then return {'MOVED', r.err} end
    r = cur[1] and not cur[6] and redis.pcall('EXISTS', key .. ':s') or 0
    if type(r) == 'table' then return {'MOVED', r.err} end
  end
  items = items + 1
  keys[items] = key
  counts[items] = n
  starts[items] = a + 2
  curs[items] = cur
  legacy[items] = old
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
local buf, drop, named, gone = {}, {}, {}, {}
local dirty, fresh, nd, nfr = {}, {}, 0, 0
local total, dups, unknown = 0, 0, 0
for it = 1, items do
  local key, cur, s, n, old = keys[it], curs[it], starts[it], counts[it], legacy[it]
  local last = s + 4 * n - 4
  local nb = 0
  -- Seeds live in the item's own hash (one write for state and seeds); an item whose seeds are
  -- still in a hash of their own (layout 1) has them moved on its first click now.
  if not cur[6] then
    if cur[1] then
      local moved = redis.call('HGETALL', key .. ':s')
      inChunks('HSET', key, moved, #moved)
      redis.call('DEL', key .. ':s')
      buf[1] = 'seedsHere'; buf[2] = 1; nb = 2
    else
      buf[1] = 'seedsHere'; buf[2] = 3; nb = 2
    end
  end
  local clicks = tonumber(cur[1] or '0')
  local version = tonumber(cur[2] or cur[1] or '0')
  local base = tonumber(cur[4] or now)
  local at = hex(now - base)
  -- Which ids are duplicates: an id's field '#<id>' holds its arrival (read above), and on an item
  -- of an earlier layout its score in '<item>:e' too; an id is a duplicate while that is >= cutoff.
  local dup = NONE
  local nn = 0
  for i = s, last, 4 do if ARGV[i] ~= '' then nn = nn + 1; named[nn] = ARGV[i] end end
  if nn > 0 then
    local scores = old and redis.call('ZMSCORE', key .. ':e', unpack(named, 1, nn))
    for j = 1, nn do
      local v = cur[NS + j]
      local sc = scores and scores[j]
      if (v and base + unhex(v) >= cutoff) or (sc and tonumber(sc) >= cutoff) then
        if dup == NONE then dup = {} end
        dup[named[j]] = true
      end
    end
  end
  -- A seed is '~<arrival - firstSeedAt> <event time as the caller encoded it> <user>'.
  local head = '~' .. at .. ' '
  local accepted, ndrop = 0, 0
  for i = s, last, 4 do
    nf = nf + 1
    if dup[ARGV[i]] then
      dups = dups + 1
      flags[nf] = '0'
    else
      flags[nf] = '1'
      buf[nb + 1] = clicks
      buf[nb + 2] = head .. ARGV[i + 2] .. ' ' .. ARGV[i + 1]
      nb = nb + 2
      if ARGV[i] ~= '' then buf[nb + 1] = '#' .. ARGV[i]; buf[nb + 2] = at; nb = nb + 2 end
      if clicks >= max then ndrop = ndrop + 1; drop[ndrop] = clicks - max end
      if ARGV[i + 3] == '0' then unknown = unknown + 1 end
      clicks = clicks + 1
      version = version + 1
      accepted = accepted + 1
    end
  end
  if accepted > 0 then
    -- No lastSeedAt: it is the newest seed's arrival, which readers take from there.
    buf[nb + 1] = 'clicks'; buf[nb + 2] = clicks
    nb = nb + 2
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
  -- Ids past retention are forgotten (memory only: the check above is by time) by a trim every
  -- trimEvery ms per item: a step of an HSCAN over the item's '#' fields per call, resumed at the
  -- next call from the cursor kept in idsTrimCursor; on an item of an earlier layout the old set
  -- is trimmed too, and once it is gone the item says '3'.
  local ngone = 0
  if cur[9] or (nn > 0 and (not cur[5] or tonumber(cur[5]) <= now)) then
    local done = true
    if cur[5] or cur[9] then
      if old and not cur[9] then
        redis.call('ZREMRANGEBYSCORE', key .. ':e', '-inf', '(' .. cutoff)
        if redis.call('EXISTS', key .. ':e') == 0 then
          buf[nb + 1] = 'seedsHere'; buf[nb + 2] = 3; nb = nb + 2
          if cur[8] then ngone = 1; gone[1] = 'lastSeedAt' end
        end
      end
      local r = redis.call('HSCAN', key, cur[9] or '0', 'MATCH', '#*', 'COUNT', 256 + 4 * n)
      local found = r[2]
      for j = 1, #found, 2 do
        if base + unhex(found[j + 1]) < cutoff then ngone = ngone + 1; gone[ngone] = found[j] end
      end
      if r[1] ~= '0' then done = false; buf[nb + 1] = 'idsTrimCursor'; buf[nb + 2] = r[1]; nb = nb + 2
      elseif cur[9] then ngone = ngone + 1; gone[ngone] = 'idsTrimCursor' end
    end
    if done then buf[nb + 1] = 'idsTrimAt'; buf[nb + 2] = now + trimEvery; nb = nb + 2 end
  end
  -- Expired ids out before the write (an id sent again after it expired is written anew), then
  -- state, seeds and ids in one write, then the oldest seeds dropped.
  inChunks('HDEL', key, gone, ngone)
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
