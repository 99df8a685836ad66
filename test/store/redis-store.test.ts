/**
 * What only the shared store shows: the durability rule checked against the server at start,
 * no acknowledged event lost across a kill -9 of Valkey, coded errors while it is away and
 * recovery when it returns, and fenced publication under the re-clustering lease.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { parseRedisUrl } from '../../src/store/redis-connection.js';
import { startValkey, startValkeyCluster, valkeySkip } from '../helpers/valkey.js';

const clusters = (id: string, seedVersion: number, v: number) => ({
  id, seedVersion, modelVersion: 'm', clusteredAt: 1, count: 1, centroids: Float32Array.of(v), global: Float32Array.of(v), seeds: 1, cold: true, firstServableAt: 1,
});

describe('Valkey/Redis addresses', () => {
  it('parses one node, a database, credentials and Cluster seeds; refuses the rest naming the setting', () => {
    assert.deepEqual(parseRedisUrl('redis://h:7000/3'), { cluster: false, nodes: [{ host: 'h', port: 7000 }], db: 3, display: 'redis://h:7000/3', username: undefined, password: undefined });
    assert.equal(parseRedisUrl('redis://:s3cret@h:1').password, 's3cret');
    assert.equal(parseRedisUrl('redis://:s3cret@h:1').display, 'redis://h:1');
    assert.deepEqual(parseRedisUrl('redis-cluster://a:1,b:2').nodes, [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
    for (const bad of ['http://h:1', 'redis://h:99999', 'redis://a:1,b:2', 'redis-cluster://a:1/2', 'redis://']) {
      assert.throws(() => parseRedisUrl(bad), { code: 'RALM_ERR_VALIDATION', message: /^store: expected redis:\/\// }, bad);
    }
  });
});

describe('Valkey store', { skip: valkeySkip() }, () => {
  it('refuses a server without AOF unless durability none is asked for (then warns); waitaof works where AOF is on without fsync always', async () => {
    const noAof = await startValkey(['--appendonly', 'no']);
    const lazy = await startValkey(['--appendfsync', 'everysec']);
    const strict = await startValkey();
    try {
      await assert.rejects(RedisStore.open(noAof.url), { code: 'RALM_ERR_STORE', message: /needs AOF/ });
      await assert.rejects(RedisStore.open(noAof.url, { durability: 'fsync' }), { code: 'RALM_ERR_STORE', message: /appendfsync always/ });
      const none = await RedisStore.open(noAof.url, { durability: 'none' });
      assert.match(none.warning ?? '', /may lose recent events/);
      await none.store.close();
      await assert.rejects(RedisStore.open(lazy.url, { durability: 'fsync' }), { code: 'RALM_ERR_STORE' });
      const { store } = await RedisStore.open(lazy.url);
      assert.equal(store.durability, 'waitaof');
      assert.equal((await store.ingest([{ user: 'u', item: 'a', ts: 1 }])).accepted, 1);
      await store.close();
      const fsync = (await RedisStore.open(strict.url)).store;
      assert.equal(fsync.durability, 'fsync');
      await fsync.close();
    } finally {
      await Promise.all([noAof.stop(), lazy.stop(), strict.stop()]);
    }
  });

  it('a server that is not there is a coded start-up error', async () => {
    await assert.rejects(RedisStore.open('redis://127.0.0.1:1', { connectTimeoutMs: 500 }), { code: 'RALM_ERR_STORE', message: /cannot connect/ });
  });

  it('kill -9 of Valkey after acknowledged ingests loses none of them; while it is down writes get a coded error, and the store recovers when it returns', async () => {
    const v = await startValkey();
    try {
      const { store } = await RedisStore.open(v.url);
      let acked = 0;
      for (let b = 0; b < 20; b++) {
        const r = await store.ingest(Array.from({ length: 500 }, (_, i) => ({ user: `u${i}`, item: `item${i % 7}`, ts: b * 1000 + i, id: `${b}-${i}` })));
        acked += r.accepted;
      }
      await v.kill();
      await assert.rejects(store.ingest([{ user: 'u', item: 'a', ts: 1 }]), { code: 'RALM_ERR_STORE_UNAVAILABLE' });
      await assert.rejects(store.stats(), { code: 'RALM_ERR_STORE_UNAVAILABLE' });
      await v.restart();
      let stats;
      for (let t = 0; t < 100 && !stats; t++) stats = await store.stats().catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)));
      assert.ok(stats, 'the store did not reconnect');
      assert.equal(stats.eventsAccepted, acked);
      let seeds = 0;
      for (let i = 0; i < 7; i++) seeds += (await store.seedsOf(`item${i}`)).length;
      assert.equal(seeds, 10_000);
      // Re-sending everything after the crash adds nothing.
      assert.equal((await store.ingest(Array.from({ length: 500 }, (_, i) => ({ user: `u${i}`, item: `item${i % 7}`, ts: i, id: `0-${i}` })))).accepted, 0);
      await store.close();
    } finally {
      await v.stop();
    }
  });

  it('one lease holder at a time; a holder whose lease was taken over cannot overwrite what the new holder published', async () => {
    const v = await startValkey();
    try {
      const a = (await RedisStore.open(v.url)).store;
      const b = (await RedisStore.open(v.url)).store;
      await a.ingest([{ user: 'u', item: 'x', ts: 1 }, { user: 'u', item: 'y', ts: 1 }]);
      const ta = await a.coordination.acquireLease('A', 200);
      assert.ok(ta !== null && ta > 0);
      assert.equal(await b.coordination.acquireLease('B', 200), null, 'B took a held lease');
      assert.equal(await a.coordination.acquireLease('A', 200), null, 'a held lease is not taken twice, even by its holder');
      assert.equal(await a.coordination.renewLease('A', ta, 200), true, 'its holder renews it');
      assert.equal(await b.coordination.renewLease('B', ta, 200), false, 'another cannot renew it');
      await a.saveClusters([clusters('x', 1, 1)]);
      await new Promise((r) => setTimeout(r, 300)); // A pauses past its lease
      const tb = await b.coordination.acquireLease('B', 5000);
      assert.ok(tb !== null && tb > ta);
      assert.equal(await a.coordination.renewLease('A', ta, 200), false, 'A finds its lease lost');
      await b.saveClusters([clusters('x', 1, 2)]);
      // A wakes and publishes x (refused: B wrote it) and y (nobody newer wrote it: accepted).
      await assert.rejects(a.saveClusters([clusters('x', 1, 3), clusters('y', 1, 3)]), { code: 'RALM_ERR_STALE_LEASE', message: /\(x\)/ });
      assert.deepEqual(Array.from((await b.getItem('x'))?.clusters?.centroids ?? []), [2]);
      assert.deepEqual((await b.coordination.leaseHolder())?.holder, 'B');
      await a.coordination.releaseLease('A'); // not A's any more: nothing happens
      assert.deepEqual((await b.coordination.leaseHolder())?.holder, 'B');
      await b.coordination.releaseLease('B');
      assert.equal(await b.coordination.leaseHolder(), undefined);
      await a.close();
      await b.close();
    } finally {
      await v.stop();
    }
  });
});

describe('Valkey Cluster coordination', { skip: valkeySkip() }, () => {
  it('on 3 primaries: the lease, fenced publication and the change stream work as on one node', async () => {
    const cluster = await startValkeyCluster();
    try {
      const a = (await RedisStore.open(cluster.url)).store;
      const b = (await RedisStore.open(cluster.url)).store;
      const seen: string[] = [];
      const follower = b.coordination.follow(await b.coordination.changesOffset(), async (changes) => {
        for (const c of changes) seen.push(`${c.kind}:${c.ids.join(',')}`);
      });
      await follower.caughtUp;
      await a.ingest(['x', 'y', 'z'].map((item) => ({ user: 'u', item, ts: 1 })));
      const ta = await a.coordination.acquireLease('A', 200);
      assert.ok(ta);
      await a.saveClusters([clusters('x', 1, 1), clusters('y', 1, 1), clusters('z', 1, 1)]);
      await a.putUsers([{ id: 'u', universal: Float32Array.of(1), lookalike: Float32Array.of(2), modelVersion: 'm' }]);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(await b.coordination.acquireLease('B', 5000));
      await b.saveClusters([clusters('y', 1, 2)]);
      await assert.rejects(a.saveClusters([clusters('y', 1, 3)]), { code: 'RALM_ERR_STALE_LEASE' });
      assert.deepEqual(Array.from((await a.getItem('y'))?.clusters?.centroids ?? []), [2]);
      assert.equal(await a.coordination.claimOnce('demo-world'), true);
      assert.equal(await b.coordination.claimOnce('demo-world'), false);
      for (let t = 0; t < 100 && seen.length < 2; t++) await new Promise((r) => setTimeout(r, 20));
      await follower.stop();
      // B reads what A announced (not its own announcement of y).
      assert.deepEqual(seen, ['clusters:x,y,z', 'users:u']);
      await a.close();
      await b.close();
    } finally {
      await cluster.stop();
    }
  });
});
