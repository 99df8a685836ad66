/**
 * The item layout of the Valkey/Redis store across versions. Layout 3 writes a seed as hex offsets
 * and no `lastSeedAt` on every click (redis-codec.ts, decodeSeed); a store written by layout 2 —
 * built here by that version's own ingest script (test/helpers/redis-layout2.ts) — opens and reads
 * the same (users, items, seeds with their arrival times, de-duplication, the re-cluster queue),
 * and during a rolling upgrade a replica of layout 3 reads what one of layout 2 writes beside it
 * into the same items, clicks, ids and queue included. Layout 3 keeps an item's event ids in the
 * item's hash too, trimmed past retention a step per call.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { decodeSeed } from '../../src/store/redis-codec.js';
import type { ClickEvent, SeedRecord } from '../../src/store/store.js';
import { startValkey, valkeySkip, type Valkey } from '../helpers/valkey.js';
import { layout2Writer } from '../helpers/redis-layout2.js';

const MAX = 4;
const RETENTION = 3_600_000;
const user = (id: string) => ({ id, universal: Float32Array.of(1, 2), lookalike: Float32Array.of(3, 4), modelVersion: 'm' });

/** Seeds as layout 2's reader parsed them: "<ts> <arrival> <user>" in decimal. */
function layout2Seeds(values: Array<string | null>): SeedRecord[] {
  return values.filter((v): v is string => v !== null).map((v) => {
    const [ts, arrivedAt] = v.split(' ', 2).map(Number);
    return { user: v.slice(v.indexOf(' ', v.indexOf(' ') + 1) + 1), ts, arrivedAt };
  });
}

describe('seed encoding (layout 3)', () => {
  it('reads hex offsets from firstSeedAt and from the arrival, negative ones, a time kept as it came, and the earlier decimal form', () => {
    assert.deepEqual(decodeSeed('~0 0 u1', 1000), { user: 'u1', ts: 1000, arrivedAt: 1000 });
    assert.deepEqual(decodeSeed('~1a -f u 2', 1000), { user: 'u 2', ts: 1041, arrivedAt: 1026 });
    assert.deepEqual(decodeSeed('~-2 3e8 x', 5000), { user: 'x', ts: 3998, arrivedAt: 4998 });
    assert.deepEqual(decodeSeed('~10 =1.5 y', 0), { user: 'y', ts: 1.5, arrivedAt: 16 });
    assert.deepEqual(decodeSeed('12 34 old user', 999), { user: 'old user', ts: 12, arrivedAt: 34 });
  });
});

describe('Valkey store layouts', { skip: valkeySkip() }, () => {
  let v: Valkey;
  before(async () => { v = await startValkey(); });
  after(async () => { await v?.stop(); });

  it('a store written by layout 2 opens and reads the same: users, items, seeds and their times, de-duplication, the queue', async (t) => {
    const { store: users } = await RedisStore.open(v.url, { prefix: 'l2' });
    await users.putUsers([user('a'), user('b')]);
    await users.close();
    const keys = (await RedisStore.open(v.url, { prefix: 'l2' })).store;
    const old = await layout2Writer(v.url, keys.keys, MAX, RETENTION);
    await keys.close();
    t.after(() => old.client.quit());
    const events: ClickEvent[] = [
      ...Array.from({ length: 6 }, (_, i) => ({ user: i % 2 ? 'a' : 'b', item: 'hot', ts: 1_700_000_000_000 + i, id: `h${i}` })),
      { user: 'a', item: 'one', ts: 5, id: 'o1' },
      { user: 'stranger', item: 'frac', ts: 12.25 },
      { user: 'b', item: 'frac', ts: 1e21 },
    ];
    assert.equal((await old.ingest(events)).accepted, 9);
    const raw = old.client;
    const before = new Map<string, { hash: Record<string, string>; seeds: SeedRecord[] }>();
    for (const item of ['hot', 'one', 'frac']) {
      const hash = await raw.hgetall(`l2:{i:${item}}`);
      const clicks = Number(hash.clicks);
      const positions = Array.from({ length: Math.min(clicks, MAX) }, (_, i) => String(clicks - Math.min(clicks, MAX) + i));
      before.set(item, { hash, seeds: layout2Seeds(await raw.hmget(`l2:{i:${item}}`, ...positions)) });
    }
    const queue = await raw.zrange('l2:{idx}:dirty', 0, -1, 'WITHSCORES');

    const { store } = await RedisStore.open(v.url, { prefix: 'l2', maxSeedsPerItem: MAX, eventIdRetentionMs: RETENTION });
    t.after(() => store.close());
    assert.deepEqual((await store.getUsers(['a', 'b'])).map((u) => [u?.id, Array.from(u?.lookalike ?? [])]), [['a', [3, 4]], ['b', [3, 4]]]);
    for (const [item, { hash, seeds }] of before) {
      assert.deepEqual(await store.seedsOf(item), seeds, `${item}: seeds, their times and order`);
      const info = (await store.getItem(item))?.info;
      assert.deepEqual([info?.clicks, info?.seedCount, info?.seedVersion, info?.createdAt, info?.firstSeedAt, info?.lastSeedAt],
        [Number(hash.clicks), Math.min(Number(hash.clicks), MAX), Number(hash.clicks), Number(hash.createdAt), Number(hash.firstSeedAt), Number(hash.lastSeedAt)], item);
    }
    assert.deepEqual((await store.seedsOf('hot')).map((s) => s.user), ['b', 'a', 'b', 'a'], 'the latest four of six');
    assert.deepEqual((await store.seedsOf('frac')).map((s) => s.ts), [12.25, 1e21]);
    assert.deepEqual(await store.dirtyItems(), Array.from({ length: queue.length / 2 }, (_, i) => ({ id: queue[2 * i], seedVersion: Number(queue[2 * i + 1]) })));
    const stats = await store.stats();
    assert.deepEqual([stats.items, stats.eventsAccepted, stats.eventsUnknownUser], [3, 9, 1]);

    // Every id layout 2 stored is a duplicate still; new clicks are stored in layout 3 behind the old seeds.
    assert.deepEqual(await store.ingest(events.filter((e) => e.id)), { accepted: 0, duplicates: 7, unknownUserEvents: 0, unknownUsers: [] });
    const t0 = Date.now();
    assert.equal((await store.ingest([{ user: 'a', item: 'hot', ts: t0 - 5, id: 'h6' }, { user: 'b', item: 'one', ts: 7, id: 'o2' }])).accepted, 2);
    assert.match(await raw.hget('l2:{i:hot}', '6') ?? '', /^~[0-9a-f]+ [0-9a-f]+ a$/, 'the new seed is written in layout 3');
    const hot = await store.seedsOf('hot');
    assert.deepEqual(hot.slice(0, 3), before.get('hot')?.seeds.slice(1), 'the old seeds read as before, the oldest dropped');
    assert.equal(hot[3].user, 'a');
    assert.equal(hot[3].ts, t0 - 5);
    assert.ok(hot[3].arrivedAt >= t0 && hot[3].arrivedAt <= Date.now(), 'the arrival time');
    assert.equal((await store.getItem('hot'))?.info.lastSeedAt, hot[3].arrivedAt, 'lastSeedAt is the newest seed\'s arrival');
    assert.deepEqual((await store.seedsOf('one')).map((s) => [s.user, s.ts]), [['a', 5], ['b', 7]]);
    assert.deepEqual((await store.dirtyItems()).find((d) => d.id === 'hot'), { id: 'hot', seedVersion: 7 });
  });

  it('a rolling upgrade: layout 3 reads what a replica of layout 2 writes beside it into the same items, ids and queue', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'mixed', maxSeedsPerItem: MAX, eventIdRetentionMs: RETENTION });
    t.after(() => store.close());
    const old = await layout2Writer(v.url, store.keys, MAX, RETENTION);
    t.after(() => old.client.quit());
    const ts0 = Date.now();
    // Clicks on x alternate between the two versions (layout 2 creates it), each call stamped with its own arrival.
    const sent: Array<{ user: string; ts: number; by: 'old' | 'new' }> = [];
    for (let i = 0; i < 6; i++) {
      const by = i % 2 ? 'new' : 'old';
      const e = { user: `u${i}`, item: 'x', ts: ts0 + i, id: `x${i}` };
      assert.equal((await (by === 'old' ? old : store).ingest([e])).accepted, 1, `click ${i} by ${by}`);
      sent.push({ user: e.user, ts: e.ts, by });
      await new Promise((r) => setTimeout(r, 3));
    }
    // An id either version stored is a duplicate on layout 3 (it reads the old id set while a
    // layout-2 replica clicks the item); layout 2 sees only its own ids.
    assert.equal((await store.ingest([{ user: 'u0', item: 'x', ts: ts0, id: 'x0' }, { user: 'u1', item: 'x', ts: ts0 + 1, id: 'x1' }])).duplicates, 2);
    assert.equal((await old.ingest([{ user: 'u2', item: 'x', ts: ts0 + 2, id: 'x2' }])).duplicates, 1);
    const seeds = await store.seedsOf('x');
    assert.deepEqual(seeds.map((s) => [s.user, s.ts]), sent.slice(2).map((s) => [s.user, s.ts]), 'the latest four, in order, from both versions');
    for (let i = 1; i < seeds.length; i++) assert.ok(seeds[i].arrivedAt >= seeds[i - 1].arrivedAt, 'arrival times in order');
    const info = (await store.getItem('x'))?.info;
    assert.deepEqual([info?.clicks, info?.seedCount, info?.seedVersion], [6, 4, 6]);
    assert.equal(info?.lastSeedAt, seeds[3].arrivedAt);
    // Layout 2 wrote lastSeedAt on its clicks; layout 3 wrote the last one, so the field is stale and the seed decides.
    assert.ok(Number(await old.client.hget(store.keys.item('x'), 'lastSeedAt')) < seeds[3].arrivedAt);
    assert.deepEqual(await store.dirtyItems(), [{ id: 'x', seedVersion: 6 }]);
    assert.equal((await store.stats()).eventsAccepted, 6);
    // An item a layout-3 replica creates, a layout-2 one carries on (its clicks counted on); an id
    // only layout 3 stored is new to layout 2 (the gap of a mixed fleet, docs/scale-out.md), and
    // once layout 2 has clicked the item layout 3 reads its id set again.
    await store.ingest([{ user: 'a', item: 'y', ts: 1, id: 'y1' }]);
    assert.equal((await old.ingest([{ user: 'b', item: 'y', ts: 2, id: 'y1' }])).accepted, 1);
    assert.equal((await old.ingest([{ user: 'c', item: 'y', ts: 3, id: 'y3' }])).accepted, 1);
    assert.equal((await store.ingest([{ user: 'c', item: 'y', ts: 3, id: 'y3' }])).duplicates, 1);
    assert.deepEqual((await store.seedsOf('y')).map((s) => [s.user, s.ts]), [['a', 1], ['b', 2], ['c', 3]]);
  });

  it('ids past retention leave the item hash a step per call, resumed across calls; an old id set goes, and the item then says layout 3', async (t) => {
    const retention = 600;
    const { store } = await RedisStore.open(v.url, { prefix: 'trim', maxSeedsPerItem: 10_000, eventIdRetentionMs: retention });
    t.after(() => store.close());
    const old = await layout2Writer(v.url, store.keys, 10_000, retention);
    t.after(() => old.client.quit());
    const raw = store.client;
    const ids = async (item: string): Promise<string[]> => (await raw.hkeys(store.keys.item(item))).filter((f) => f.startsWith('#')).sort();
    // 1,500 ids on one item: a hash too big for one HSCAN step (its fields are a hash table).
    for (let c = 0; c < 3; c++) await store.ingest(Array.from({ length: 500 }, (_, i) => ({ user: 'u', item: 'big', ts: i, id: `b${c}-${i}` })));
    await old.ingest([{ user: 'u', item: 'legacy', ts: 1, id: 'l1' }]);
    await store.ingest([{ user: 'u', item: 'legacy', ts: 2, id: 'l2' }]);
    assert.equal((await ids('big')).length, 1500);
    await new Promise((r) => setTimeout(r, retention + 100));
    assert.equal((await store.ingest([{ user: 'u', item: 'big', ts: 1, id: 'b0-0' }])).accepted, 1, 'an id past retention is new again');
    let calls = 1;
    while ((await raw.hexists(store.keys.item('big'), 'idsTrimCursor')) === 1 && calls < 50) {
      await store.ingest([{ user: 'u', item: 'big', ts: 1, id: `n${calls++}` }]);
    }
    assert.ok(calls > 1, 'the trim took more than one call');
    assert.deepEqual(await ids('big'), ['#b0-0', ...Array.from({ length: calls - 1 }, (_, i) => `#n${i + 1}`)].sort(), 'only the ids within retention are left');
    assert.equal((await store.getItem('big'))?.info.clicks, 1500 + calls, 'seeds are not touched');
    assert.equal((await store.seedsOf('big')).length, 1500 + calls);
    assert.equal((await store.ingest([{ user: 'u', item: 'big', ts: 1, id: `n${calls - 1}` }])).duplicates, 1);

    await store.ingest([{ user: 'u', item: 'legacy', ts: 3, id: 'l3' }]);
    assert.equal(await raw.exists(`${store.keys.item('legacy')}:e`), 0, 'the old id set is gone');
    assert.deepEqual(await raw.hmget(store.keys.item('legacy'), 'seedsHere', 'lastSeedAt'), ['3', null]);
    assert.deepEqual(await ids('legacy'), ['#l3']);
    assert.deepEqual((await store.seedsOf('legacy')).map((s) => s.ts), [1, 2, 3]);
  });
});
