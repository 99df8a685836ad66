/** A large ingest is committed in chunks and answers exactly as one commit would. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { RalmEngine } from '../../src/engine/engine.js';
import type { ClickEvent } from '../../src/store/store.js';
import { smallModel } from '../helpers/fixtures.js';

describe('chunked ingest', () => {
  it('gives the same result and store as one commit; a bad event anywhere stores nothing', async () => {
    const model = smallModel({ seed: 31 });
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    const dirs = [await mkdtemp(join(tmpdir(), 'ralm-chunks-')), await mkdtemp(join(tmpdir(), 'ralm-chunks-'))];
    try {
      const events: ClickEvent[] = Array.from({ length: 1050 }, (_, i) => ({ user: `u${i % 300}`, item: `i${i % 17}`, ts: i, ...(i % 3 === 0 ? { id: `e${i % 510}` } : {}) }));
      // Every 510th event repeats an id on the same item (510 = 30 × 17): ids are per item.
      const results = [];
      const stats = [];
      for (const [d, chunk] of [[dirs[0], 100], [dirs[1], 5000]] as const) {
        const store = LmdbStore.open(d);
        let commits = 0;
        const ingest = store.ingest.bind(store);
        store.ingest = (e) => {
          commits++;
          return ingest(e);
        };
        await store.putUsers(Array.from({ length: 150 }, (_, i) => ({ id: `u${i}`, universal: new Float32Array(model.manifest.m), lookalike: new Float32Array(model.manifest.h), modelVersion: 'x' })));
        const svc = new SeedService(store, engine, { ingestChunk: chunk });
        await assert.rejects(svc.ingest([...events, { user: 'u1', item: '', ts: 1 }]), /events\[1050\]\.item/);
        assert.equal(commits, 0, 'a bad batch reached the store');
        results.push(await svc.ingest(events));
        assert.equal(commits, chunk === 100 ? 11 : 1);
        const { bytesOnDisk: _, ...counts } = await store.stats(); // more commits, more pages
        stats.push(counts);
        assert.equal(svc.metrics.eventsIngested, results[results.length - 1].accepted);
        await store.close();
      }
      assert.deepEqual(results[0], results[1]);
      assert.ok(results[0].duplicates > 0 && results[0].unknownUserEvents > 0, JSON.stringify(results[0]));
      assert.deepEqual(stats[0], stats[1]);
    } finally {
      await engine.close();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  });
});
