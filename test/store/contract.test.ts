/**
 * One contract, every store: the same tests run against the embedded LMDB store, a single-node
 * Valkey and a 3-primary Valkey Cluster (both started here, on free ports in temporary
 * directories). Without valkey-server the Valkey runs skip and say why; RALM_REQUIRE_VALKEY=1
 * (CI) makes that a failure.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { clustersLevel, type AudienceRecord, type AudienceUsers, type ItemClusters, type RalmStore } from '../../src/store/store.js';
import { startValkey, startValkeyCluster, valkeySkip, type ValkeyCluster } from '../helpers/valkey.js';

interface StoreOptions { maxSeedsPerItem?: number; eventIdRetentionMs?: number }

interface Harness {
  name: string;
  skip: string | false;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** An empty store. */
  fresh(options?: StoreOptions): Promise<RalmStore>;
  /** Closes `store` and opens the same data again. */
  reopen(store: RalmStore): Promise<RalmStore>;
}

function lmdbHarness(): Harness {
  const dirs: string[] = [];
  const dirOf = new Map<RalmStore, string>();
  return {
    name: 'LMDB', skip: false,
    setup: async () => undefined,
    teardown: async () => { while (dirs.length) await rm(dirs.pop() as string, { recursive: true, force: true }); },
    async fresh(options = {}) {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-store-'));
      dirs.push(dir);
      const s = LmdbStore.open(dir, options);
      dirOf.set(s, dir);
      return s;
    },
    async reopen(store) {
      await store.close();
      const s = LmdbStore.open(dirOf.get(store) as string);
      dirOf.set(s, dirOf.get(store) as string);
      return s;
    },
  };
}

function redisHarness(name: string, start: () => Promise<{ url: string; stop(): Promise<void> }>): Harness {
  let server: { url: string; stop(): Promise<void> } | undefined;
  let n = 0;
  const prefixOf = new Map<RalmStore, string>();
  const open = async (prefix: string, options: StoreOptions = {}): Promise<RalmStore> => {
    const { store } = await RedisStore.open((server as { url: string }).url, { prefix, ...options });
    prefixOf.set(store, prefix);
    return store;
  };
  return {
    name, skip: valkeySkip(),
    async setup() { server = await start(); },
    async teardown() { await server?.stop(); },
    fresh: (options) => open(`t${n++}`, options),
    async reopen(store) {
      await store.close();
      return open(prefixOf.get(store) as string);
    },
  };
}

const user = (id: string) => ({ id, universal: Float32Array.of(1, 2), lookalike: Float32Array.of(3), modelVersion: 'v1' });
const clusters = (id: string, seedVersion: number, at: number, v: number[]) => ({
  id, seedVersion, modelVersion: 'm', clusteredAt: at, count: 1, centroids: Float32Array.from(v), global: Float32Array.from(v), seeds: seedVersion, cold: true, firstServableAt: at,
});
const record = (id: string): AudienceRecord => ({ id, status: 'done', spec: {}, createdAt: 1, startedAt: 2, finishedAt: 3, error: null, summary: { size: 1 } });
function audienceUsers(n: number): AudienceUsers {
  return {
    ids: Array.from({ length: n }, (_, i) => `user-${i}`), score: Float32Array.from({ length: n }, (_, i) => 1 - i / n),
    cosGlobal: Float32Array.from({ length: n }, (_, i) => i / 7), cosLocal: Float32Array.from({ length: n }, (_, i) => -i / 3),
  };
}
const slice = (u: AudienceUsers, from: number, to: number): AudienceUsers => ({ ids: u.ids.slice(from, to), score: u.score.slice(from, to), cosGlobal: u.cosGlobal.slice(from, to), cosLocal: u.cosLocal.slice(from, to) });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const harnesses: Harness[] = [
  lmdbHarness(),
  redisHarness('single-node Valkey', () => startValkey()),
  redisHarness('3-primary Valkey Cluster', async (): Promise<ValkeyCluster> => startValkeyCluster()),
];

for (const h of harnesses) {
  describe(`store contract: ${h.name}`, { skip: h.skip }, () => {
    before(() => h.setup());
    after(() => h.teardown());

    it('ingests clicks as seeds, counts per item and marks items dirty', async () => {
      const s = await h.fresh();
      await s.putUsers([user('u1'), user('u2')]);
      const r = await s.ingest([{ user: 'u1', item: 'a', ts: 1 }, { user: 'u2', item: 'a', ts: 2 }, { user: 'u1', item: 'b', ts: 3 }]);
      assert.deepEqual(r, { accepted: 3, duplicates: 0, unknownUserEvents: 0, unknownUsers: [] });
      const a = await s.getItem('a');
      assert.equal(a?.info.seedCount, 2);
      assert.equal(a?.info.seedVersion, 2);
      assert.ok((a?.info.firstSeedAt ?? 0) > 0);
      assert.deepEqual((await s.seedsOf('a')).map((x) => [x.user, x.ts]), [['u1', 1], ['u2', 2]]);
      assert.deepEqual((await s.dirtyItems()).map((d) => d.id).sort(), ['a', 'b']);
      assert.equal((await s.dirtyItems(1)).length, 1);
      const stats = await s.stats();
      assert.deepEqual([stats.users, stats.items, stats.dirtyItems, stats.eventsAccepted], [2, 2, 2, 3]);
      await s.close();
    });

    it('re-sent events with the same id are not counted twice, across calls and within a batch', async () => {
      const s = await h.fresh();
      const ev = { user: 'u', item: 'a', ts: 1, id: 'e1' };
      assert.equal((await s.ingest([ev, ev])).duplicates, 1);
      assert.deepEqual(await s.ingest([ev, { ...ev, id: 'e2' }]), { accepted: 1, duplicates: 1, unknownUserEvents: 1, unknownUsers: ['u'] });
      assert.equal((await s.getItem('a'))?.info.seedCount, 2);
      assert.equal((await s.stats()).eventsDuplicate, 2);
      await s.close();
    });

    it('de-duplicates event ids per item: one id on two items is two events', async () => {
      const s = await h.fresh();
      const r = await s.ingest([{ user: 'u', item: 'a', ts: 1, id: 'same' }, { user: 'u', item: 'b', ts: 1, id: 'same' }]);
      assert.deepEqual([r.accepted, r.duplicates], [2, 0]);
      const again = await s.ingest([{ user: 'u', item: 'b', ts: 1, id: 'same' }, { user: 'u', item: 'c', ts: 1, id: 'same' }]);
      assert.deepEqual([again.accepted, again.duplicates], [1, 1]);
      assert.deepEqual(await Promise.all(['a', 'b', 'c'].map(async (id) => (await s.getItem(id))?.info.seedCount)), [1, 1, 1]);
      await s.close();
    });

    it('remembers event ids for the retention window only', async () => {
      const s = await h.fresh({ eventIdRetentionMs: 50 });
      const ev = { user: 'u', item: 'a', ts: 1, id: 'e1' };
      assert.equal((await s.ingest([ev])).accepted, 1);
      assert.equal((await s.ingest([ev])).duplicates, 1);
      await new Promise((r) => setTimeout(r, 80));
      assert.equal((await s.ingest([ev])).accepted, 1);
      assert.equal((await s.getItem('a'))?.info.seedCount, 2);
      await s.close();
    });

    it('keeps and reports events of unknown users', async () => {
      const s = await h.fresh();
      const r = await s.ingest([{ user: 'ghost', item: 'a', ts: 1 }, { user: 'ghost', item: 'b', ts: 2 }]);
      assert.equal(r.unknownUserEvents, 2);
      assert.deepEqual(r.unknownUsers, ['ghost']);
      assert.equal((await s.seedsOf('a')).length, 1);
      await s.close();
    });

    it('bounds seed lists to the latest N per item, samples kept seeds, and drops seeds outside a time window', async () => {
      const s = await h.fresh({ maxSeedsPerItem: 3 });
      for (let i = 0; i < 7; i++) await s.ingest([{ user: `u${i}`, item: 'a', ts: i }]);
      assert.deepEqual((await s.seedsOf('a')).map((x) => x.user), ['u4', 'u5', 'u6']);
      assert.equal((await s.getItem('a'))?.info.seedCount, 3);
      assert.equal((await s.getItem('a'))?.info.clicks, 7);
      assert.equal((await s.seedsOf('a', Date.now() + 1000)).length, 0);
      const sample = await s.seedsOf('a', undefined, { count: 2, seed: 7 });
      assert.equal(sample.length, 2);
      assert.ok(sample.every((x) => ['u4', 'u5', 'u6'].includes(x.user)));
      assert.deepEqual(await s.seedsOf('a', undefined, { count: 2, seed: 7 }), sample, 'the same seed draws the same sample');
      await s.close();
    });

    it('rejects bad events naming the field, and stores nothing from that batch', async () => {
      const s = await h.fresh();
      await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: 1 }, { user: 'u', item: '', ts: 1 }]), /events\[1\]\.item: expected an item id/);
      await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: NaN }]), /events\[0\]\.ts: expected a timestamp/);
      await assert.rejects(s.ingest([{ user: 'u', item: 'a', ts: 1, id: 5 as never }]), /events\[0\]\.id/);
      assert.equal((await s.stats()).eventsAccepted, 0);
      await s.close();
    });

    it('stores users and reads look-alikes only under the model that embedded them', async () => {
      const s = await h.fresh();
      await s.putUsers([{ ...user('u1'), features: { age: 3 } }, { ...user('u2'), lookalike: Float32Array.of(5), modelVersion: 'v2' }]);
      const [u1, missing] = await s.getUsers(['u1', 'nobody']);
      assert.deepEqual([Array.from(u1?.universal ?? []), Array.from(u1?.lookalike ?? []), u1?.features, missing], [[1, 2], [3], { age: 3 }, undefined]);
      const out = new Float32Array(3);
      assert.deepEqual(Array.from(await s.readLookalikes(['u1', 'u2', 'nobody'], 'v1', 1, out)), [1, 0, 0]);
      assert.equal(out[0], 3);
      assert.deepEqual((await collect(s.allUsers())).map((u) => u.id).sort(), ['u1', 'u2']);
      await s.close();
    });

    it('keeps item metadata and content beside the seed state', async () => {
      const s = await h.fresh();
      const info = await s.putItemInfo('x', { metadata: { title: 'T' }, content: Float32Array.of(0.5, 1.5) });
      assert.deepEqual([info.metadata, Array.from(info.content ?? []), info.seedCount], [{ title: 'T' }, [0.5, 1.5], 0]);
      await s.ingest([{ user: 'u', item: 'x', ts: 1 }]);
      const got = await s.getItem('x');
      assert.deepEqual([got?.info.metadata, got?.info.seedCount, got?.clusters], [{ title: 'T' }, 1, undefined]);
      assert.equal(await s.getItem('nothing'), undefined);
      assert.deepEqual((await collect(s.seedCounts())).sort(), [1]);
      await s.close();
    });

    it('saved clusters survive reopening; clustering an old version leaves the item dirty', async () => {
      let s = await h.fresh();
      await s.ingest([{ user: 'u', item: 'a', ts: 1 }, { user: 'v', item: 'a', ts: 2 }, { user: 'v', item: 'b', ts: 2 }]);
      await s.saveClusters([clusters('a', 1, 5, [1, 2])]);
      assert.deepEqual((await s.dirtyItems()).map((d) => d.id).sort(), ['a', 'b']);
      await s.saveClusters([clusters('a', 2, 9, [3, 4])]);
      assert.deepEqual((await s.dirtyItems()).map((d) => d.id), ['b']);
      s = await h.reopen(s);
      const all = await collect(s.allClusters());
      assert.equal(all.length, 1);
      assert.deepEqual(Array.from(all[0].centroids), [3, 4]);
      assert.equal(all[0].firstServableAt, 5);
      assert.equal((await s.getItem('a'))?.clusters?.seedVersion, 2);
      assert.equal(await s.markAllDirty(), 2);
      assert.equal((await s.dirtyItems()).length, 2);
      await s.saveClusters([clusters('a', 2, 9, [3, 4]), clusters('b', 1, 9, [3, 4])]);
      assert.equal(await s.markDirty(['a', 'unknown']), 1);
      assert.deepEqual(await s.dirtyItems(), [{ id: 'a', seedVersion: 2 }]);
      await s.recordFailure('a', 'boom');
      assert.equal((await s.stats()).clusteredItems, 2);
      await s.close();
    });

    it('keeps a set\'s level and level offset; a set saved without them (older data) reads as offset 0, and a republication without them keeps no stale values', async () => {
      let s = await h.fresh();
      await s.ingest([{ user: 'u', item: 'a', ts: 1 }, { user: 'u', item: 'b', ts: 1 }]);
      await s.saveClusters([{ ...clusters('a', 1, 5, [1, 2]), level: 0.125, offset: -0.25 }, clusters('b', 1, 5, [1, 2])]);
      s = await h.reopen(s);
      const byId = new Map((await collect(s.allClusters())).map((c) => [c.id, c]));
      assert.deepEqual([byId.get('a')?.level, byId.get('a')?.offset], [0.125, -0.25]);
      assert.deepEqual(clustersLevel(byId.get('b') as ItemClusters), { offset: 0 });
      assert.deepEqual(clustersLevel((await s.getItem('a'))?.clusters as ItemClusters), { level: 0.125, offset: -0.25 });
      await s.saveClusters([clusters('a', 2, 9, [3, 4])]);
      assert.deepEqual(clustersLevel((await s.getItem('a'))?.clusters as ItemClusters), { offset: 0 });
      await s.close();
    });

    it('stores audience jobs and reads any range of their users across chunk boundaries; deletion removes them', async () => {
      const s = await h.fresh();
      const all = audienceUsers(40_000);
      await s.putAudience(record('a'), all);
      await s.putAudience({ ...record('b'), status: 'queued' });
      assert.deepEqual((await s.getAudience('b'))?.status, 'queued');
      assert.deepEqual((await collect(s.allAudiences())).map((r) => r.id).sort(), ['a', 'b']);
      const whole = await s.getAudienceUsers('a');
      assert.equal(whole?.total, 40_000);
      for (const [offset, limit] of [[0, 10], [16_380, 10], [16_384, 16_384], [39_999, 5], [40_000, 10]]) {
        const got = await s.getAudienceUsers('a', { offset, limit });
        assert.ok(got);
        assert.deepEqual({ ids: got.ids, score: got.score, cosGlobal: got.cosGlobal, cosLocal: got.cosLocal }, slice(all, offset, Math.min(40_000, offset + limit)), `offset ${offset}`);
      }
      await s.putAudience(record('a'), audienceUsers(10));
      assert.equal((await s.getAudienceUsers('a'))?.ids.length, 10);
      assert.equal(await s.deleteAudience('a'), true);
      assert.equal(await s.deleteAudience('a'), false);
      assert.equal(await s.getAudienceUsers('a'), undefined);
      assert.equal(await s.getAudience('a'), undefined);
      await s.close();
    });

    it('a closed store refuses calls with a coded error', async () => {
      const s = await h.fresh();
      await s.close();
      await assert.rejects(s.stats(), { code: 'RALM_ERR_CLOSED' });
    });
  });
}
