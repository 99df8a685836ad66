/**
 * A small deterministic demo world for a fresh store: 6 topics, 150 users per topic, 8 articles
 * per topic clicked by 120 of its users (and a few others), and one brand-new article with 3
 * clicks (cold). Loaded through the same APIs as real data, then clustered, so the example
 * requests return meaningful results.
 *
 * With a model that has a user tower (the shipped default does), every demo user is given raw
 * feature values in the tower's own vocabularies — a topic's users share a profile (up to three
 * values per multi-valued field, one per single-valued field, a level per continuous field), each
 * user with an occasional extra value and a little jitter — and embedded by the tower, as a client
 * sending `{features}` would be.
 * Without a tower, universal embeddings are drawn around one random centre per topic.
 */
import type { SeedService } from '../seeds/seed-service.js';
import type { ClickEvent } from '../store/store.js';
import type { RalmModel } from '../model/model.js';
import { embedUserFeatures } from '../model/user-tower.js';
import { Rng } from '../util/rng.js';

type Features = Record<string, string | string[] | number>;

/** Per topic, `perTopic` users' feature values in the tower's vocabularies. */
export function demoFeatures(model: RalmModel, topics: number, perTopic: number, rng: Rng): Features[][] {
  const tower = model.tower;
  if (!tower) throw new Error('demoFeatures: the model has no user tower');
  const fields = model.manifest.userFields;
  const pick = (name: string): string => {
    const values = tower.vocab.get(name) ?? [];
    return values.length ? values[rng.int(values.length)] : '';
  };
  const profiles: Features[] = Array.from({ length: topics }, () => {
    const p: Features = {};
    for (const f of fields) {
      if (f.kind === 'categorical') p[f.name] = pick(f.name);
      else if (f.kind === 'multi-categorical') p[f.name] = [...new Set([pick(f.name), pick(f.name), pick(f.name)])];
      else {
        const [lo, hi] = f.range ?? [0, 1];
        p[f.name] = lo + rng.next() * (hi - lo);
      }
    }
    return p;
  });
  // Each user: the topic's profile, plus (three times in ten, per multi-valued field) one extra
  // value of their own, and continuous values within ±5 % of the range around the profile's.
  return profiles.map((profile) => Array.from({ length: perTopic }, () => {
    const u: Features = {};
    for (const f of fields) {
      if (f.kind === 'categorical') u[f.name] = profile[f.name];
      else if (f.kind === 'multi-categorical') {
        const l = (profile[f.name] as string[]).slice();
        if (rng.next() < 0.3) l.push(pick(f.name));
        u[f.name] = [...new Set(l)].filter((v) => v !== '');
      } else {
        const [lo, hi] = f.range ?? [0, 1];
        const v = Math.min(hi, Math.max(lo, (profile[f.name] as number) + (rng.next() - 0.5) * 0.1 * (hi - lo)));
        u[f.name] = Math.round(v * 10) / 10; // readable in the printed example
      }
    }
    return u;
  }));
}

export const DEMO_TOPICS = ['politics', 'sports', 'science', 'music', 'travel', 'food'] as const;

export async function loadDemoWorld(seeds: SeedService): Promise<{ users: number; items: number; events: number }> {
  const rng = new Rng(2019);
  const model = seeds.engine.model;
  const { m } = model.manifest;
  const users: Array<{ id: string; universal: Float32Array; features: Record<string, unknown> }> = [];
  if (model.tower) {
    const features = demoFeatures(model, DEMO_TOPICS.length, 150, rng);
    DEMO_TOPICS.forEach((topic, t) => features[t].forEach((f, u) => {
      users.push({ id: `demo-${topic}-${u}`, universal: embedUserFeatures(model, f).universal, features: f });
    }));
  } else {
    const centres = DEMO_TOPICS.map(() => rng.normals(m, 1));
    DEMO_TOPICS.forEach((topic, t) => {
      for (let u = 0; u < 150; u++) {
        users.push({ id: `demo-${topic}-${u}`, universal: centres[t].map((v) => v + rng.normal() * 0.35), features: { favouriteTopic: topic } });
      }
    });
  }
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
