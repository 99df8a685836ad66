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
 * its arguments and reply. So an item takes three commands in the common case — read its state,
 * add its event ids, write its clicks with its seeds, each seed a few bytes (layout 3: times as
 * hex offsets, decodeSeed in redis-codec.ts; no lastSeedAt, the newest seed's arrival is it) —
 * and none that change nothing (ids past
 * retention are recognised by their time, the trim of an item's ids runs every eighth of the
 * window, an item joins the item index only on its first click); the script allocates no table
 * per item or per event on the common path, and answers with a few values, not four per item.
 *
 * ARGV: 1 now, 2 max seeds kept, 3 id cutoff (an id that arrived before it is forgotten: new
 * again), 4 bookkeeping ('1': update the re-cluster queue, item index and counters here), 5
 * duplicates the caller found (added to the counters with bookkeeping), 6 ms between trims of an
 * item's ids, 7 the item key's start (`<prefix>:{i:`; an item's key is that, its id and `}`; its
 * seeds of the earlier layout and its event ids add `:s` and `:e`, as RedisKeys names them), 8
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
-- A seed's arrival is a hex offset from the item's firstSeedAt (decodeSeed in redis-codec.ts).
local function hex(x)
  if x < 0 then return '-' .. string.format('%x', -x) end
  return string.format('%x', x)
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
  -- A seed is '~<arrival - firstSeedAt> <event time as the caller encoded it> <user>'.
  local head = '~' .. hex(now - tonumber(cur[4] or now)) .. ' '
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
