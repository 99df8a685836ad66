/**
 * The demo world under a model with a user tower: users are embedded from raw feature values in
 * the tower's vocabularies, so a topic's users share a profile and its articles come first for
 * them — the same structure the random-centre demo has without a tower.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomModel } from '../../src/model/random.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { SeedService } from '../../src/seeds/seed-service.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { DEMO_TOPICS, demoFeatures, loadDemoWorld } from '../../src/server/demo.js';
import { embedUserFeatures } from '../../src/model/user-tower.js';
import { Rng } from '../../src/util/rng.js';

const model = randomModel({
  h: 16, m: 12, k: 4, attentionSize: 8, seed: 5,
  tower: {
    fields: [
      { name: 'interests', kind: 'multi-categorical', vocabulary: 40 },
      { name: 'region', kind: 'categorical', vocabulary: 9 },
      { name: 'age', kind: 'continuous', range: [14, 80] },
    ],
    hidden: [24, 12],
  },
});

describe('demo world with a user tower', () => {
  it('gives each topic a feature profile in the tower vocabularies, varied per user', () => {
    const f = demoFeatures(model, 3, 20, new Rng(1));
    const vocab = model.tower?.vocab;
    for (const topic of f) {
      for (const u of topic) {
        assert.ok((u.interests as string[]).every((v) => vocab?.get('interests')?.includes(v)));
        assert.ok(vocab?.get('region')?.includes(u.region as string));
        assert.ok((u.age as number) >= 14 && (u.age as number) <= 80);
        assert.doesNotThrow(() => embedUserFeatures(model, u));
      }
    }
    assert.ok(f[0].every((u) => u.region === f[0][0].region), "a topic's users share its region");
    assert.ok(new Set(f[0].map((u) => JSON.stringify(u.interests))).size > 1, 'some users add a value of their own');
  });

  it('stores tower-embedded users with their features, and a topic\'s articles rank first for its users', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-demo-'));
    const store = LmdbStore.open(dir);
    const engine = await RalmEngine.create(model, { backend: 'cpu' });
    try {
      const seeds = new SeedService(store, engine, { minSeeds: 100 });
      const r = await loadDemoWorld(seeds);
      assert.equal(r.users, DEMO_TOPICS.length * 150);
      const [u] = await store.getUsers(['demo-science-7']);
      assert.ok(u?.features && 'interests' in u.features, 'the raw features are stored');
      assert.deepEqual(Array.from(u.universal), Array.from(embedUserFeatures(model, u.features).universal));
      let inTopic = 0;
      for (const topic of DEMO_TOPICS) {
        const [res] = await engine.rank([{ user: { universal: (await store.getUsers([`demo-${topic}-3`]))[0]?.universal }, k: 4, exclude: ['demo-science-breaking-news'] }]);
        inTopic += res.items.filter((i) => i.id.startsWith(`demo-${topic}-article-`)).length;
      }
      assert.ok(inTopic >= 2 * 4, `${inTopic} of ${4 * DEMO_TOPICS.length} top-4 slots hold the user's own topic (chance: 4); even an untrained tower keeps a shared profile together`);
    } finally {
      await engine.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
