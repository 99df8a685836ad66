/**
 * A small deterministic demo world for a fresh store: 6 topics, 150 users per topic whose
 * universal embeddings cluster around the topic, 8 articles per topic clicked by 120 of its
 * users (and a few others), and one brand-new article with 3 clicks (cold). Loaded through the
 * same APIs as real data, then clustered, so the example requests return meaningful results.
 */
import type { SeedService } from '../seeds/seed-service.js';
import type { ClickEvent } from '../store/store.js';
import { Rng } from '../util/rng.js';

export const DEMO_TOPICS = ['politics', 'sports', 'science', 'music', 'travel', 'food'] as const;

export async function loadDemoWorld(seeds: SeedService): Promise<{ users: number; items: number; events: number }> {
  const rng = new Rng(2019);
  const { m } = seeds.engine.model.manifest;
  const centres = DEMO_TOPICS.map(() => rng.normals(m, 1));
  const users: Array<{ id: string; universal: Float32Array; features: Record<string, unknown> }> = [];
  DEMO_TOPICS.forEach((topic, t) => {
    for (let u = 0; u < 150; u++) {
      users.push({ id: `demo-${topic}-${u}`, universal: centres[t].map((v) => v + rng.normal() * 0.35), features: { favouriteTopic: topic } });
    }
  });
  await seeds.putUsers(users);
  const events: ClickEvent[] = [];
  const t0 = Date.UTC(2026, 0, 1);
  DEMO_TOPICS.forEach((topic, t) => {
    for (let i = 0; i < 8; i++) {
      const item = `demo-${topic}-article-${i}`;
      for (let c = 0; c < 120; c++) events.push({ user: `demo-${topic}-${(c + i * 7) % 150}`, item, ts: t0 + events.length, id: `demo-${events.length}` });
      for (let c = 0; c < 6; c++) events.push({ user: `demo-${DEMO_TOPICS[rng.int(DEMO_TOPICS.length)]}-${rng.int(150)}`, item, ts: t0 + events.length, id: `demo-${events.length}` });
      void t;
    }
  });
  for (let c = 0; c < 3; c++) events.push({ user: `demo-science-${c}`, item: 'demo-science-breaking-news', ts: t0 + events.length, id: `demo-${events.length}` });
  for (let i = 0; i < events.length; i += 5000) await seeds.ingest(events.slice(i, i + 5000));
  for (const topic of DEMO_TOPICS) {
    for (let i = 0; i < 8; i++) await seeds.store.putItemInfo(`demo-${topic}-article-${i}`, { metadata: { title: `${topic} story ${i}`, topic } });
  }
  await seeds.store.putItemInfo('demo-science-breaking-news', { metadata: { title: 'science: breaking news', topic: 'science' } });
  await seeds.recluster('demand');
  return { users: users.length, items: DEMO_TOPICS.length * 8 + 1, events: events.length };
}
