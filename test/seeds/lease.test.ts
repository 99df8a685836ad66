/**
 * Two seed services on one Valkey, as two replicas: one re-clusterer at a time, and a run whose
 * lease expired while it was paused (its renewals stopped, as under SIGSTOP) has its publication
 * refused where the newer leader published; nothing is lost, the item keeps the newer clusters.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { smallModel } from '../helpers/fixtures.js';
import { startValkey, valkeySkip } from '../helpers/valkey.js';
import { Rng } from '../../src/util/rng.js';

describe('re-clustering under the lease', { skip: valkeySkip() }, () => {
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

      // A takes the lease and computes, then "pauses" just before publishing: its renewals stop.
      let resume!: () => void;
      const paused = new Promise<void>((r) => { resume = r; });
      let reached!: () => void;
      const atPublish = new Promise<void>((r) => { reached = r; });
      const save = a.saveClusters.bind(a);
      a.saveClusters = async (c) => { reached(); await paused; return save(c); };
      a.coordination.renewLease = async () => false;
      const runA = sa.recluster('demand');
      await atPublish;
      // Meanwhile B cannot run (the lease is held) until it expires; then B publishes.
      await assert.rejects(sb.recluster('schedule'), { code: 'RALM_ERR_STORE_UNAVAILABLE', message: /holds the re-clustering lease/ });
      const runB = await sb.recluster('demand');
      assert.deepEqual(runB.newlyServable, ['x']);
      const published = (await b.getItem('x'))?.clusters;
      // A wakes: its publication is refused, reported as a failure of the item, and B's clusters stand.
      resume();
      const reportA = await runA;
      assert.equal(reportA.itemsClustered, 0);
      assert.match(reportA.failures[0]?.error ?? '', /newer re-clustering lease/);
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
});
