/**
 * Two seed services on one Valkey, as two replicas: one re-clusterer at a time, and a run whose
 * lease expired while it was paused (its renewals stopped, as under SIGSTOP) has its publication
 * refused where the newer leader published; nothing is lost, the item keeps the newer clusters.
 * A run asked of the replica that does not hold the lease goes through the holder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { smallModel } from '../helpers/fixtures.js';
import { startValkey, valkeySkip } from '../helpers/valkey.js';
import { Rng } from '../../src/util/rng.js';

/** Holds `store`'s next publication: `atPublish` resolves when a run reaches it, `resume()` lets it through. */
function holdBeforePublish(store: RedisStore): { atPublish: Promise<void>; resume: () => void } {
  let resume!: () => void;
  const paused = new Promise<void>((r) => { resume = r; });
  let reached!: () => void;
  const atPublish = new Promise<void>((r) => { reached = r; });
  const save = store.saveClusters.bind(store);
  store.saveClusters = async (c) => { reached(); await paused; return save(c); };
  return { atPublish, resume };
}

describe('re-clustering under the lease', { skip: valkeySkip(), timeout: 60_000 }, () => {
  it('a paused leader\'s late publication is refused; the newer leader\'s clusters stand', async () => {
    const v = await startValkey();
    const model = smallModel({ seed: 55 });
    const a = (await RedisStore.open(v.url)).store;
    const b = (await RedisStore.open(v.url)).store;
    const engines = await Promise.all([RalmEngine.create(model, { backend: 'cpu' }), RalmEngine.create(model, { backend: 'cpu' })]);
    try {
      const sa = new SeedService(a, engines[0], { minSeeds: 1, leaseMs: 300 });
      const sb = new SeedService(b, engines[1], { minSeeds: 1, leaseMs: 300 });
      const rng = new Rng(3);
      await sa.putUsers(Array.from({ length: 20 }, (_, i) => ({ id: `u${i}`, universal: rng.normals(model.manifest.m, 1) })));
      await sa.ingest(Array.from({ length: 20 }, (_, i) => ({ user: `u${i}`, item: 'x', ts: i })));

      // A takes the lease and computes, then "pauses" just before publishing: its renewals stop
      // there (not before: on a loaded machine a renewal refused while A still computes would end
      // its run before the publication this test holds).
      const { atPublish, resume } = holdBeforePublish(a);
      const runA = sa.recluster('demand');
      await atPublish;
      a.coordination.renewLease = async () => false;
      // Meanwhile B cannot run (the lease is held) until it expires; then B publishes.
      await assert.rejects(sb.recluster('schedule'), { code: 'RALM_ERR_STORE_UNAVAILABLE', message: /holds the re-clustering lease/ });
      const runB = await sb.recluster('demand');
      assert.deepEqual(runB.newlyServable, ['x']);
      const published = (await b.getItem('x'))?.clusters;
      // A wakes: its publication is refused, its run ends there (no failure is recorded against the item), and B's clusters stand.
      resume();
      await assert.rejects(runA, { code: 'RALM_ERR_STALE_LEASE', message: /newer re-clustering lease/ });
      assert.equal(await a.failureOf('x'), undefined);
      const after = (await b.getItem('x'))?.clusters;
      assert.equal(after?.clusteredAt, published?.clusteredAt);
      assert.deepEqual(Array.from(after?.centroids ?? []), Array.from(published?.centroids ?? []));
    } finally {
      await Promise.all(engines.map((e) => e.close()));
      await a.close();
      await b.close();
      await v.stop();
    }
  });

  it('a leader whose lease renewal is refused stops its run before its next publication', async () => {
    const v = await startValkey();
    const model = smallModel({ seed: 57 });
    const a = (await RedisStore.open(v.url)).store;
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    try {
      const sa = new SeedService(a, engine, { minSeeds: 1, leaseMs: 300, batchItems: 2 });
      const rng = new Rng(5);
      await sa.putUsers(Array.from({ length: 10 }, (_, i) => ({ id: `u${i}`, universal: rng.normals(model.manifest.m, 1) })));
      await sa.ingest(Array.from({ length: 30 }, (_, i) => ({ user: `u${i % 10}`, item: `item${i % 6}`, ts: i })));
      // Three batches of two items. The first publication is held until a renewal has been refused.
      let refused!: () => void;
      const renewalRefused = new Promise<void>((r) => { refused = r; });
      a.coordination.renewLease = async () => { refused(); return false; };
      const { atPublish, resume } = holdBeforePublish(a);
      let publications = 0;
      const save = a.saveClusters.bind(a);
      a.saveClusters = async (c) => { publications++; return save(c); };
      const run = sa.recluster('demand');
      await atPublish;
      await renewalRefused;
      await new Promise((r) => setImmediate(r));
      resume();
      await assert.rejects(run, { code: 'RALM_ERR_STALE_LEASE', message: /lease \(token \d+\) was lost/ });
      assert.equal(publications, 1, 'the run published again after its lease was lost');
      assert.equal((await a.dirtyItems()).length, 4, 'the items of the batches not run stay queued');
    } finally {
      await engine.close();
      await a.close();
      await v.stop();
    }
  });

  it('a run asked for on a replica that does not hold the lease is run by the holder, which answers with that run\'s report; a holder that never answers is a coded timeout', async () => {
    const v = await startValkey();
    const model = smallModel({ seed: 56 });
    const a = (await RedisStore.open(v.url)).store;
    const b = (await RedisStore.open(v.url)).store;
    const engines = await Promise.all([RalmEngine.create(model, { backend: 'cpu' }), RalmEngine.create(model, { backend: 'cpu' })]);
    try {
      const sa = new SeedService(a, engines[0], { minSeeds: 1, leaseMs: 1000 });
      const sb = new SeedService(b, engines[1], { minSeeds: 1, leaseMs: 1000 });
      assert.notEqual(sa.holder, sb.holder);
      const rng = new Rng(4);
      await sa.putUsers(Array.from({ length: 20 }, (_, i) => ({ id: `u${i}`, universal: rng.normals(model.manifest.m, 1) })));
      await sa.ingest(Array.from({ length: 5 }, (_, i) => ({ user: `u${i}`, item: 'first', ts: i })));

      // A holds the lease, its run held just before publishing (renewing as a live leader does).
      const { atPublish, resume } = holdBeforePublish(a);
      const runA = sa.recluster('demand');
      await atPublish;
      // Clicks on a new item arrive, then B is asked for a run: B queues the request with the holder.
      await sb.ingest(Array.from({ length: 5 }, (_, i) => ({ user: `u${i + 5}`, item: 'second', ts: i })));
      const runB = sb.recluster('demand');
      while ((await a.client.llen(a.keys.runRequests)) === 0) await new Promise((r) => setTimeout(r, 10));
      resume();
      const [reportA, reportB] = await Promise.all([runA, runB]);
      assert.deepEqual(reportA.newlyServable, ['first']);
      // B's answer is the holder's second run, which covers the clicks sent before B was asked.
      assert.equal(reportB.ranBy, sa.holder);
      assert.deepEqual(reportB.newlyServable, ['second']);
      assert.equal(engines[1].table.size, 0, 'B ran nothing itself');
      assert.equal(await a.coordination.leaseHolder(), undefined, 'the holder gave the lease up after answering');

      // A holder that neither answers nor lets the lease go: a coded timeout after twice the lease's time.
      assert.ok(await a.coordination.acquireLease('a-holder-that-never-answers', 60_000));
      const t0 = Date.now();
      await assert.rejects(sb.recluster('demand'), { code: 'RALM_ERR_LEADER_TIMEOUT', message: /no re-clustering leader answered within 2000 ms/ });
      assert.ok(Date.now() - t0 >= 2000);
      assert.equal(await a.client.llen(a.keys.runRequests), 0, 'the request was withdrawn');
    } finally {
      await Promise.all(engines.map((e) => e.close()));
      await a.close();
      await b.close();
      await v.stop();
    }
  });
});
