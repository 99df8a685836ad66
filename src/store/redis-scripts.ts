/**
 * The Valkey/Redis store's key layout and its server-side scripts.
 *
 * Every key carries a hash tag (`{…}`), so that a Valkey/Redis Cluster keeps together what one
 * script touches: an item's state, seeds, event ids and clusters share the item's tag; an
 * audience's record and chunks share the audience's tag; the indexes share `{idx}`. A script
 * here touches keys of one tag only, so each runs atomically on the one node holding it (the
 * ingest, redis-ingest-lua.ts, touches several, all on its node).
 * (https://valkey.io/topics/cluster-spec/ — "Hash tags"; https://valkey.io/topics/eval-intro/.)
 */

/** Names of the keys under a prefix (default `ralm`). Ids go inside the tag as they are. */
export class RedisKeys {
  constructor(readonly prefix: string) {}
  item(id: string): string { return `${this.prefix}:{i:${id}}`; }
  /** An item's seeds in a hash of their own: the earlier layout, moved into the item's hash on its next click. */
  seeds(id: string): string { return `${this.prefix}:{i:${id}}:s`; }
  /** An item's event ids in a sorted set of their own: layouts 1 and 2 (layout 3 keeps them in the item's hash, INGEST_LUA). */
  eventIds(id: string): string { return `${this.prefix}:{i:${id}}:e`; }
  clusters(id: string): string { return `${this.prefix}:{i:${id}}:c`; }
  user(id: string): string { return `${this.prefix}:{u:${id}}`; }
  audience(id: string): string { return `${this.prefix}:{a:${id}}`; }
  audienceChunk(id: string, c: number): string { return `${this.prefix}:{a:${id}}:u:${c}`; }
  audienceCount(id: string): string { return `${this.prefix}:{a:${id}}:n`; }
  /** A running job's progress (JSON), written by its runner; it expires if the runner stops writing. */
  audienceProgress(id: string): string { return `${this.prefix}:{a:${id}}:p`; }
  /**
   * Indexes and counters: one tag, one node. An index is a sorted set, every score 0, walked in
   * member order a page at a time (walkIndex): no member twice, nothing remembered between pages.
   */
  get users(): string { return `${this.prefix}:{idx}:user-index`; }
  get items(): string { return `${this.prefix}:{idx}:item-index`; }
  get clustered(): string { return `${this.prefix}:{idx}:clustered-index`; }
  get audiences(): string { return `${this.prefix}:{idx}:audience-index`; }
  /** The indexes as plain sets (the layout before sorted sets): moved into the sorted sets when a store opens. */
  get setIndexes(): Array<{ set: string; index: string }> {
    return (['users', 'items', 'clustered', 'audiences'] as const).map((name) => ({ set: `${this.prefix}:{idx}:${name}`, index: this[name] }));
  }
  get dirty(): string { return `${this.prefix}:{idx}:dirty`; }
  get failures(): string { return `${this.prefix}:{idx}:failures`; }
  get counters(): string { return `${this.prefix}:{idx}:counters`; }
  get lease(): string { return `${this.prefix}:{lease}`; }
  get fence(): string { return `${this.prefix}:{lease}:fence`; }
  get changes(): string { return `${this.prefix}:{lease}:changes`; }
  /** The model last rolled out (JSON {id, dir}), for replicas that start after the announcement. */
  get model(): string { return `${this.prefix}:{lease}:model`; }
  /** Run requests waiting for the lease holder (a list of request ids), and each one's answer. */
  get runRequests(): string { return `${this.prefix}:{lease}:requests`; }
  runAnswer(id: string): string { return `${this.prefix}:{lease}:answer:${id}`; }
  /** The audience-job stream (a consumer group's queue). */
  get jobs(): string { return `${this.prefix}:{jobs}:queue`; }
  /** The jobs in that stream (waiting or claimed), by id: a job is added only when it is not there (JOB_PUSH_LUA). */
  get jobsQueued(): string { return `${this.prefix}:{jobs}:queued`; }
}

/**
 * Publishes one item's clusters, fenced: a writer whose token is lower than the one that last
 * wrote this item is refused (returns 0), so a paused old leader can never overwrite clusters a
 * newer leader published. The first publication's `firstServableAt` is kept.
 * KEYS: clusters hash. ARGV: fence token, then field/value pairs (firstServableAt among them).
 */
export const PUBLISH_LUA = `
local fence = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
if fence < last then return 0 end
local first = redis.call('HGET', KEYS[1], 'firstServableAt')
redis.call('HSET', KEYS[1], 'fence', fence, unpack(ARGV, 2))
if first then redis.call('HSET', KEYS[1], 'firstServableAt', first) end
return 1
`;

/**
 * Clears an item's dirty mark if the version clustered covers it (clicks that arrived meanwhile
 * keep it dirty). KEYS: dirty set, failures hash. ARGV: item id, seed version clustered.
 */
export const CLEAN_LUA = `
local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if d and tonumber(d) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/**
 * The re-clustering lease. With token 0: taken when free (a new fencing token, one higher than any
 * before), else refused. With a token: renewed if `holder` still holds it under that token, else
 * refused — a holder whose lease expired never silently takes a new one mid-run.
 * KEYS: lease, fence counter. ARGV: holder, ttl ms, token. Returns the token, or 0 when refused.
 */
export const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if ARGV[3] ~= '0' then
  if cur == ARGV[1] .. ' ' .. ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(ARGV[3])
  end
  return 0
end
if cur then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
`;

/** Gives the lease up if `holder` still holds it. KEYS: lease. ARGV: holder. */
export const RELEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^(.*) %d+$') == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;

/**
 * A runner's heart-beat on the job it claimed: if `consumer` still owns stream entry `entry`, its
 * idle time starts again (XCLAIM … JUSTID, which leaves the delivery count alone) and 1 is
 * returned; 0 when another runner has taken the entry over (or it is gone).
 * KEYS: job stream. ARGV: group, consumer, entry id.
 */
export const JOB_BEAT_LUA = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`;

/**
 * Forgets runners that are gone: a consumer of the job group with nothing pending (its jobs were
 * finished, or taken over by others) that has not read for `idle` ms — a live runner reads at
 * least every second while it waits, and holds its job pending while it runs. Atomic, so a job
 * delivered meanwhile is never dropped with its consumer. A live runner forgotten by mistake is
 * added again by its next read.
 * KEYS: job stream. ARGV: group, the calling runner (kept), idle ms. Returns how many were removed.
 */
export const JOB_FORGET_LUA = `
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0 and tonumber(f['idle']) >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
`;

/**
 * Queues a job unless it is in the queue already (waiting or claimed), in one step: so the
 * replica that stored a job and was paused before queueing it, and another replica that queued it
 * meanwhile as lost, add one entry between them, and the job runs once.
 * KEYS: job stream, queued-jobs hash. ARGV: job id. Returns 1 when added, 0 when it was there.
 */
export const JOB_PUSH_LUA = `
if redis.call('HSETNX', KEYS[2], ARGV[1], 1) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'job', ARGV[1])
return 1
`;

/**
 * A job finished: its entry acknowledged and deleted, and the job no longer counted as queued.
 * KEYS: job stream, queued-jobs hash. ARGV: group, entry id, job id.
 */
export const JOB_DONE_LUA = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[3])
return 1
`;

/**
 * The queued-jobs hash filled from the stream, for a queue written before the hash existed (each
 * job there counted as queued). Idempotent. KEYS: job stream, queued-jobs hash. Returns how many
 * were added.
 */
export const JOB_MARK_LUA = `
local added = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'job' then added = added + redis.call('HSETNX', KEYS[2], f[i + 1], 1) end
  end
end
return added
`;
