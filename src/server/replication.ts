/**
 * Keeps this replica's engine and user table current with a shared store: changes other replicas
 * announce (clusters published, users stored) are applied as they arrive, so an item published
 * anywhere is served here within one round trip. The offset is taken before the start-up
 * snapshot (restore), so nothing announced meanwhile is missed; `caughtUp` gates readiness. A
 * model another replica rolled out is loaded here too (server.ts), so every replica follows it.
 */
import type { RalmEngine } from '../engine/engine.js';
import type { AudienceService } from '../audience/audience-service.js';
import { clustersItem, type RalmStore, type StoreChange } from '../store/store.js';

export interface Follower {
  caughtUp: Promise<void>;
  /** Publication (announcement) to applied here, ms, most recent first-in. */
  lagsMs: number[];
  applied: { items: number; users: number };
  stop(): Promise<void>;
}

const RECENT = 10_000;

/**
 * Applies announced changes to the engine and user table `current()` names (they change on a model
 * reload); a model another replica rolled out is handed to `rollOut` (after the batch's clusters
 * and users: the new model's own sets are read from the store when it loads).
 */
export function followStore(store: RalmStore, offset: string, current: () => { engine: RalmEngine; audience: AudienceService }, log: (line: string) => void,
  rollOut: (modelId: string, dir: string) => Promise<void> = async () => undefined): Follower | undefined {
  const c = store.coordination;
  if (!c) return undefined;
  const lagsMs: number[] = [];
  const applied = { items: 0, users: 0 };
  const apply = async (changes: StoreChange[]): Promise<void> => {
    const { engine, audience } = current();
    const { h } = engine.model.manifest;
    // Stored sets and embeddings are keyed by the model id (name and weights checksum).
    const modelVersion = engine.modelId;
    const items = [...new Set(changes.filter((x) => x.kind === 'clusters').flatMap((x) => x.ids))];
    const users = [...new Set(changes.filter((x) => x.kind === 'users').flatMap((x) => x.ids))];
    if (items.length > 0) {
      const rows = await Promise.all(items.map((id) => store.getItem(id)));
      // Clusters of another model are not mixed in: that model's replicas serve them; this one re-clusters on its own reload.
      const mine = rows.flatMap((r) => (r?.clusters && r.clusters.modelVersion === modelVersion ? [r.clusters] : []));
      if (mine.length > 0) {
        try {
          await engine.upsertItems(mine.map(clustersItem));
          applied.items += mine.length;
        } catch (err) {
          log(`replication: clusters of ${mine.length} item(s) refused by the engine: ${(err as Error).message}`);
        }
      }
    }
    if (users.length > 0) {
      const out = new Float32Array(users.length * h);
      const found = await store.readLookalikes(users, modelVersion, h, out);
      const ids: string[] = [];
      const rows = new Float32Array(users.length * h);
      users.forEach((id, i) => {
        if (!found[i]) return;
        rows.set(out.subarray(i * h, (i + 1) * h), ids.length * h);
        ids.push(id);
      });
      if (ids.length > 0) audience.addUsers(ids, rows.subarray(0, ids.length * h));
      applied.users += ids.length;
    }
    const model = changes.filter((x) => x.kind === 'model' && x.dir !== undefined && x.ids.length === 1).pop();
    if (model) await rollOut(model.ids[0], model.dir as string);
    const now = Date.now();
    for (const x of changes) {
      lagsMs.push(now - x.at);
      if (lagsMs.length > RECENT) lagsMs.shift();
    }
  };
  const f = c.follow(offset, apply);
  return { caughtUp: f.caughtUp, lagsMs, applied, stop: f.stop };
}
