/**
 * What a re-clustering run clusters for one item: its usable seeds in the transformed space
 * (distinct users, most recent click first, sampled when many), with the previous clusters to
 * warm-start k-means from.
 */
import type { RalmEngine } from '../engine/engine.js';
import type { ItemClusters, RalmStore, UserRecord } from '../store/store.js';
import { inRange } from '../engine/validate.js';
import { Rng, hashString } from '../util/rng.js';

export interface PrepareOptions {
  maxClusterPoints: number;
  seed: number;
  timeWindowMs: number | null;
  now: () => number;
}

export interface Prepared {
  id: string;
  seedVersion: number;
  points: Float32Array;
  n: number;
  previous: ItemClusters | undefined;
  firstSeedAt: number | null;
}

/** Gathers an item's usable seeds in the transformed space (distinct users, sampled when many). */
export async function prepareItem(store: RalmStore, engine: RalmEngine, o: PrepareOptions, id: string, seedVersion: number): Promise<Prepared | null> {
  const { h } = engine.model.manifest;
  const version = engine.modelId;
  const since = o.timeWindowMs === null ? undefined : o.now() - o.timeWindowMs;
  const item = await store.getItem(id);
  // Huge seed lists are sampled by position (twice the cap, so that repeat clickers still
  // leave about `maxClusterPoints` distinct users).
  const seeds = await store.seedsOf(id, since, { count: 2 * o.maxClusterPoints, seed: o.seed ^ seedVersion ^ hashString(id) });
  // Distinct users, most recent click first.
  const seen = new Set<string>();
  let users: string[] = [];
  for (let s = seeds.length - 1; s >= 0; s--) {
    if (!seen.has(seeds[s].user)) {
      seen.add(seeds[s].user);
      users.push(seeds[s].user);
    }
  }
  if (users.length > o.maxClusterPoints) {
    // Seeded partial Fisher-Yates: a uniform sample, the same for the same item and version.
    new Rng(o.seed ^ seedVersion ^ hashString(id)).shuffle(users, o.maxClusterPoints);
    users = users.slice(0, o.maxClusterPoints);
  }
  const all = new Float32Array(users.length * h);
  const found = await store.readLookalikes(users, version, h, all);
  let n = 0;
  const missing: string[] = [];
  for (let u = 0; u < users.length; u++) {
    // A stored embedding out of range (written before the range rule) is recomputed, never clustered.
    if (found[u] && inRange(all.subarray(u * h, (u + 1) * h))) {
      if (n !== u) all.copyWithin(n * h, u * h, (u + 1) * h);
      n++;
    } else missing.push(users[u]);
  }
  const rows: Float32Array[] = [all.subarray(0, n * h)];
  let count = n;
  if (missing.length > 0) {
    // Users embedded under another model (or not yet known): transform the known ones now.
    const records = (await store.getUsers(missing)).filter((r): r is UserRecord => r !== undefined && inRange(r.universal));
    if (records.length > 0) {
      const { m } = engine.model.manifest;
      const x = new Float32Array(records.length * m);
      records.forEach((r, i) => x.set(r.universal, i * m));
      const { e, ok } = await engine.transformUsable(x, records.length);
      let kept = 0;
      for (let r = 0; r < records.length; r++) if (ok[r]) e.copyWithin(kept++ * h, r * h, (r + 1) * h);
      rows.push(e.subarray(0, kept * h));
      count += kept;
    }
  }
  if (count === 0) return null;
  let points = rows[0];
  if (rows.length > 1) {
    points = new Float32Array(count * h);
    points.set(rows[0]);
    points.set(rows[1], n * h);
  }
  // Previous centroids warm-start k-means, unless they are unusable (another model, or out of range).
  const c = item?.clusters;
  const previous = c && c.modelVersion === version && inRange(c.centroids.subarray(0, c.count * h)) ? c : undefined;
  return { id, seedVersion, points, n: count, previous, firstSeedAt: item?.info.firstSeedAt ?? null };
}
