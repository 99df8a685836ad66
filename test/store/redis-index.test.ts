/**
 * The shared store's indexes (users, items, clustered items, audiences): sorted sets walked a page
 * at a time in member order, so a walk yields no member twice and remembers nothing between pages
 * while the index changes under it; and the earlier layout is read and moved: indexes kept as
 * plain sets when a store opens, an item's seeds kept in a hash of their own on its next click.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { walkIndex } from '../../src/store/redis-codec.js';
import { startValkey, valkeySkip, type Valkey } from '../helpers/valkey.js';

const user = (id: string) => ({ id, universal: Float32Array.of(1), lookalike: Float32Array.of(2), modelVersion: 'm' });
const id4 = (i: number): string => `u${String(i).padStart(4, '0')}`;

describe('Valkey store indexes', { skip: valkeySkip() }, () => {
  let v: Valkey;
  before(async () => { v = await startValkey(); });
  after(async () => { await v?.stop(); });

  it('a walk while members are added and removed: each member present throughout once, none twice, none removed before it was reached', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'walk' });
    t.after(() => store.close());
    const key = store.keys.users;
    // Even numbers at first; odd ones are added during the walk, and some of each removed.
    await store.client.zadd(key, ...Array.from({ length: 1000 }, (_, i) => [0, id4(2 * i)]).flat());
    const removed = new Set<string>();
    const added = new Set<string>();
    const seen: string[] = [];
    let pages = 0;
    for await (const page of walkIndex(store.client, key, 64)) {
      seen.push(...page);
      pages++;
      // Around and ahead of the walk: members it has passed, and members it has not reached yet.
      const at = 2 * Math.min(999, Math.floor(seen.length / 2));
      const add = [at - 61, at - 1, at + 1, at + 41, at + 401].filter((x) => x > 0 && x < 2000).map(id4);
      const drop = [at - 100, at + 60, at + 300].filter((x) => x >= 0 && x < 2000).map(id4);
      await store.client.zadd(key, ...add.flatMap((m) => [0, m]));
      await store.client.zrem(key, ...drop);
      add.forEach((m) => added.add(m));
      drop.forEach((m) => { removed.add(m); added.delete(m); });
    }
    assert.ok(pages > 10, `${pages} pages`);
    assert.equal(new Set(seen).size, seen.length, 'a member came twice');
    const inSeen = new Set(seen);
    for (let i = 0; i < 1000; i++) {
      const m = id4(2 * i);
      if (!removed.has(m)) assert.ok(inSeen.has(m), `${m}, present throughout, was not yielded`);
    }
    for (const m of seen) {
      // Yielded members were in the index when their page was read: an original or an added one.
      assert.ok(Number(m.slice(1)) % 2 === 0 || added.has(m) || removed.has(m), `${m} was never in the index`);
    }
    // A member removed before the walk reached it is not yielded.
    const lastSeen = seen[seen.length - 1];
    for (const m of removed) {
      if (m > lastSeen) assert.ok(!inSeen.has(m), `${m} was removed ahead of the walk but yielded`);
    }
    await store.close();
  });

  it('allUsers while users are being stored: every user stored before the walk comes once', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'walk-users' });
    t.after(() => store.close());
    await store.putUsers(Array.from({ length: 1200 }, (_, i) => user(id4(2 * i))));
    const seen: string[] = [];
    let n = 0;
    for await (const u of store.allUsers()) {
      seen.push(u.id);
      // Between the walk's pages (of 500), more users arrive, before and after where it is.
      if (++n % 250 === 0) await store.putUsers(Array.from({ length: 100 }, (_, i) => user(id4(2 * ((n + i * 7) % 1200) + 1))));
    }
    assert.equal(new Set(seen).size, seen.length, 'a user came twice');
    for (let i = 0; i < 1200; i++) assert.ok(seen.includes(id4(2 * i)), id4(2 * i));
    await store.close();
  });

  it('indexes kept as plain sets (the earlier layout) are moved into the sorted sets when a store opens', async () => {
    let { store } = await RedisStore.open(v.url, { prefix: 'old' });
    await store.putUsers([user('a'), user('b')]);
    await store.ingest([{ user: 'a', item: 'x', ts: 1 }, { user: 'b', item: 'y', ts: 1 }]);
    // The earlier layout: the same members in sets under the earlier names, no sorted sets.
    const raw = store.client;
    for (const { set, index } of store.keys.setIndexes) {
      const members = await raw.zrange(index, 0, -1);
      await raw.del(index);
      if (members.length > 0) await raw.sadd(set, ...members);
    }
    assert.equal((await store.stats()).users, 0, 'the sorted sets are gone before reopening');
    await store.close();
    ({ store } = await RedisStore.open(v.url, { prefix: 'old' }));
    const stats = await store.stats();
    assert.deepEqual([stats.users, stats.items], [2, 2]);
    const users: string[] = [];
    for await (const u of store.allUsers()) users.push(u.id);
    assert.deepEqual(users, ['a', 'b']);
    for (const { set } of store.keys.setIndexes) assert.equal(await store.client.exists(set), 0, `${set} is left`);
    assert.equal((await store.ingest([{ user: 'a', item: 'z', ts: 2 }])).unknownUserEvents, 0, 'a moved user is known to ingest');
    await store.close();
  });

  it('an item whose seeds are in a hash of their own (the earlier layout) is read as it is, and moved into the item on its next click', async (t) => {
    const { store } = await RedisStore.open(v.url, { prefix: 'old-seeds', maxSeedsPerItem: 3 });
    t.after(() => store.close());
    const raw = store.client;
    // As the earlier layout stored three clicks on x: state in the item's hash, seeds beside it.
    await raw.hset(store.keys.item('x'), { clicks: 3, seedVersion: 3, seedCount: 3, createdAt: 5, firstSeedAt: 5, lastSeedAt: 7 });
    await raw.hset(store.keys.seeds('x'), { 0: '1 5 a', 1: '2 6 b', 2: '3 7 c' });
    await raw.zadd(store.keys.items, 0, 'x');
    assert.deepEqual((await store.seedsOf('x')).map((s) => [s.user, s.ts, s.arrivedAt]), [['a', 1, 5], ['b', 2, 6], ['c', 3, 7]]);
    await store.ingest([{ user: 'd', item: 'x', ts: 4 }]);
    assert.equal(await raw.exists(store.keys.seeds('x')), 0, 'the seeds hash of the earlier layout is left');
    assert.deepEqual((await store.seedsOf('x')).map((s) => s.user), ['b', 'c', 'd'], 'the latest three, the oldest dropped');
    const info = (await store.getItem('x'))?.info;
    assert.deepEqual([info?.clicks, info?.seedCount, info?.seedVersion, info?.createdAt, info?.firstSeedAt], [4, 3, 4, 5, 5]);

    // Seeds in the item's hash, counts written on every click (the layout before the counts were
    // derived from clicks): the fields there are kept current.
    await raw.hset(store.keys.item('y'), { clicks: 1, seedVersion: 1, seedCount: 1, seedsHere: 1, createdAt: 5, firstSeedAt: 5, lastSeedAt: 5, 0: '1 5 a' });
    await store.ingest([{ user: 'b', item: 'y', ts: 2 }]);
    const y = (await store.getItem('y'))?.info;
    assert.deepEqual([y?.clicks, y?.seedCount, y?.seedVersion], [2, 2, 2]);
    assert.deepEqual(await raw.hmget(store.keys.item('y'), 'seedCount', 'seedVersion'), ['2', '2']);
    // A new item: its counts are its clicks, and seedCount is written once seeds are dropped.
    await store.ingest([1, 2, 3].map((ts) => ({ user: 'u', item: 'n', ts })));
    assert.deepEqual(await raw.hmget(store.keys.item('n'), 'seedCount', 'seedVersion'), [null, null]);
    assert.deepEqual(await store.dirtyItems().then((d) => d.find((x) => x.id === 'n')), { id: 'n', seedVersion: 3 });
    await store.ingest([{ user: 'u', item: 'n', ts: 4 }]);
    const n = (await store.getItem('n'))?.info;
    assert.deepEqual([n?.clicks, n?.seedCount, n?.seedVersion], [4, 3, 4]);
    assert.deepEqual((await store.seedsOf('n')).map((x) => x.ts), [2, 3, 4]);
  });
});
