/**
 * Audience jobs and their users in Valkey/Redis. A job's record, user count and user chunks share
 * the job's hash tag, so a Cluster keeps them on one node; chunks are written first and the count
 * and record last, so a reader never sees a job done without all of its users.
 */
import { yieldToEventLoop } from '../util/time-slice.js';
import type { RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-scripts.js';
import { bytes, floats, walkIndex } from './redis-codec.js';
import type { AudienceRecord, AudienceUsers } from './store.js';

/**
 * A running job's progress, stored only while its record says it runs under this runner (the
 * record is read, never rewritten: a cancellation or a takeover on another replica stands).
 * KEYS: the job's record, its progress key. ARGV: runner, progress JSON, time to live ms.
 */
export const PROGRESS_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if r.status ~= 'running' or r.runner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`;

interface ProgressScript {
  ralmProgress(record: string, progress: string, runner: string, json: string, ttlMs: number): Promise<number>;
}

/** How long stored progress outlives its last write, ms (a runner that stopped writing stops showing any). */
const PROGRESS_TTL_MS = 60_000;

/** Audience users per stored chunk (as in the LMDB store). */
const AUDIENCE_CHUNK = 16_384;

export class RedisAudiences {
  constructor(private readonly client: RedisClient, private readonly keys: RedisKeys, private readonly durable: () => Promise<void>) {}

  async put(record: AudienceRecord, users?: AudienceUsers): Promise<void> {
    const id = record.id;
    if (users) {
      const total = users.ids.length;
      for (let c = 0; c * AUDIENCE_CHUNK < total; c++) {
        const from = c * AUDIENCE_CHUNK;
        const to = Math.min(total, from + AUDIENCE_CHUNK);
        await this.client.hset(this.keys.audienceChunk(id, c), {
          ids: JSON.stringify(users.ids.slice(from, to)), score: bytes(users.score.subarray(from, to)),
          cosGlobal: bytes(users.cosGlobal.subarray(from, to)), cosLocal: bytes(users.cosLocal.subarray(from, to)),
        });
      }
      // `chunks` remembers the most chunks ever written, so deletion finds every one.
      const old = Number((await this.client.hget(this.keys.audienceCount(id), 'chunks')) ?? 0);
      await this.client.hset(this.keys.audienceCount(id), { total, chunks: Math.max(old, Math.ceil(total / AUDIENCE_CHUNK)) });
    }
    await this.client.zadd(this.keys.audiences, 0, id);
    // Progress lives beside the record (see progress()), never in it.
    await this.client.set(this.keys.audience(id), JSON.stringify({ ...record, progress: undefined }));
    await this.durable();
  }

  async get(id: string): Promise<AudienceRecord | undefined> {
    // One slot (the job's tag): one MGET on a Cluster too.
    const [v, p] = await this.client.mget(this.keys.audience(id), this.keys.audienceProgress(id));
    if (!v) return undefined;
    const record = JSON.parse(v) as AudienceRecord;
    if (record.status === 'running' && p) record.progress = JSON.parse(p) as AudienceRecord['progress'];
    return record;
  }

  /** See RalmStore.putAudienceProgress. */
  async progress(id: string, runner: string, progress: { scored: number; total: number }): Promise<boolean> {
    const json = JSON.stringify({ scored: progress.scored, total: progress.total, at: Date.now() });
    return (await (this.client as unknown as ProgressScript).ralmProgress(this.keys.audience(id), this.keys.audienceProgress(id), runner, json, PROGRESS_TTL_MS)) === 1;
  }

  async users(id: string, range: { offset?: number; limit?: number } = {}): Promise<(AudienceUsers & { total: number }) | undefined> {
    const t = await this.client.hget(this.keys.audienceCount(id), 'total');
    if (t === null) return undefined;
    const total = Number(t);
    const offset = range.offset ?? 0;
    const end = Math.max(offset, Math.min(total, offset + (range.limit ?? Infinity)));
    const n = end - offset;
    const out = { ids: new Array<string>(n), score: new Float32Array(n), cosGlobal: new Float32Array(n), cosLocal: new Float32Array(n), total };
    for (let c = Math.floor(offset / AUDIENCE_CHUNK); n > 0 && c * AUDIENCE_CHUNK < end; c++) {
      if (c > offset / AUDIENCE_CHUNK) await yieldToEventLoop();
      const chunk = await this.client.hgetallBuffer(this.keys.audienceChunk(id, c));
      if (!chunk.ids) return undefined; // deleted meanwhile
      const ids = JSON.parse(chunk.ids.toString()) as string[];
      const base = c * AUDIENCE_CHUNK;
      const from = Math.max(offset, base) - base;
      const to = Math.min(end, base + ids.length) - base;
      for (let i = from; i < to; i++) out.ids[base + i - offset] = ids[i];
      for (const k of ['score', 'cosGlobal', 'cosLocal'] as const) out[k].set(floats(chunk[k]).subarray(from, to), base + from - offset);
    }
    return out;
  }

  async delete(id: string): Promise<boolean> {
    const chunks = Number((await this.client.hget(this.keys.audienceCount(id), 'chunks')) ?? 0);
    const existed = await this.client.del(this.keys.audience(id));
    const keys = [this.keys.audienceCount(id), this.keys.audienceProgress(id), ...Array.from({ length: chunks }, (_, c) => this.keys.audienceChunk(id, c))];
    await this.client.del(...keys);
    await this.client.zrem(this.keys.audiences, id);
    return existed > 0;
  }

  async *all(): AsyncIterable<AudienceRecord> {
    for await (const page of walkIndex(this.client, this.keys.audiences)) {
      const rows = await Promise.all(page.map((id) => this.client.get(this.keys.audience(id))));
      for (const r of rows) if (r) yield JSON.parse(r) as AudienceRecord;
    }
  }
}
