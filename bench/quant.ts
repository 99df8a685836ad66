/**
 * `ralm bench quant`: what quantized storage does to the answers on real clusters. A trained
 * model (`ralm train` output: the model directory and its users.msgpack) and its click log give
 * real look-alike embeddings; each item with at least `minSeeds` clickers is clustered from its
 * clickers' embeddings (as the seed service does) into the same items of an f32 engine and of
 * one engine per other storage. Then, for every user:
 *   - ranking: |Δscore| against f32 over every item, and the overlap of the top 10 and top 100;
 *   - audience: for a sample of items, the scan of every user against the item's seed set, recall
 *     of the f32 scan's top N in the int8 user table's top N (N = min(100, users / 4)).
 * Without the dataset or the model it says what is missing and measures nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RalmEngine } from '../src/engine/engine.js';
import { loadModel } from '../src/model/model.js';
import { openDataset, type DatasetKind } from '../src/data/open.js';
import { readUsers, USERS_FILE } from '../src/train/pipeline.js';
import type { CentroidStorage } from '../src/core/item-table.js';
import { UserTable } from '../src/core/user-table.js';
import { prepareSeedSet } from '../src/core/seed-set.js';
import type { ItemCentroids } from '../src/engine/types.js';
import { RalmError } from '../src/util/errors.js';
import { QUANT_BENCH_DEFAULTS } from './defaults.js';
import { finishMachineInfo, machineInfo, type MachineInfo } from './machine.js';

export interface QuantBenchOptions {
  dataset: Exclude<DatasetKind, 'synthetic' | 'schema'>;
  /** The dataset's folder. */
  data: string;
  /** The trained model's directory (with users.msgpack). */
  model: string;
  storages?: CentroidStorage[];
  /** Items need this many distinct clickers to be clustered. */
  minSeeds?: number;
  /** Items whose seed sets the audience comparison scans. */
  audienceItems?: number;
  log?: (line: string) => void;
}

export interface RankingEffect {
  storage: CentroidStorage;
  users: number;
  items: number;
  maxAbsScoreDiff: number;
  meanAbsScoreDiff: number;
  top10Overlap: number;
  /** The lowest single user's top-10 overlap. */
  top10OverlapMin: number;
  top100Overlap: number;
}

export interface QuantBenchResult {
  kind: 'ralm-bench-quant';
  createdAt: string;
  machine: MachineInfo;
  dataset: string;
  modelVersion: string;
  ranking: RankingEffect[];
  audience: { storage: 'int8'; users: number; sets: number; topN: number; recall: number; recallMin: number } | null;
}

const overlap = (a: readonly string[], b: readonly string[]): number => {
  const s = new Set(a);
  return b.filter((x) => s.has(x)).length / Math.max(1, a.length);
};

export async function runQuantBench(o: QuantBenchOptions): Promise<QuantBenchResult> {
  const log = o.log ?? (() => undefined);
  const storages = o.storages ?? QUANT_BENCH_DEFAULTS.storages;
  const minSeeds = o.minSeeds ?? QUANT_BENCH_DEFAULTS.minSeeds;
  const usersPath = join(o.model, USERS_FILE);
  if (!existsSync(o.data)) throw new RalmError('RALM_ERR_VALIDATION', `bench quant: the ${o.dataset} dataset is not at ${o.data}; nothing was measured (give --data)`);
  if (!existsSync(usersPath)) throw new RalmError('RALM_ERR_VALIDATION', `bench quant: no trained model at ${o.model} (${USERS_FILE} missing; run ralm train --out ${o.model}); nothing was measured`);
  const machine = await machineInfo({ probeWebGpu: false });
  const model = await loadModel(o.model);
  const { h } = model.manifest;
  const file = await readUsers(usersPath);
  const ds = await openDataset({ kind: o.dataset, path: o.data });
  const base = await RalmEngine.create(model, { backend: 'cpu' });
  // Look-alike embeddings e of every user in the file, by dataset user index.
  const e = await base.transform(file.universal, file.ids.length);
  const row = new Map<string, number>(file.ids.map((id, i) => [id, i]));
  const byItem = new Map<number, Set<number>>();
  const { user, item, label } = ds.clicks;
  for (let c = 0; c < user.length; c++) {
    if (label[c] !== 1) continue;
    const r = row.get(ds.users.value(user[c]));
    if (r === undefined) continue;
    let s = byItem.get(item[c]);
    if (!s) byItem.set(item[c], (s = new Set()));
    s.add(r);
  }
  const items: ItemCentroids[] = [];
  const seedsOf: number[][] = [];
  for (const [it, seeds] of byItem) {
    if (seeds.size < minSeeds) continue;
    const list = [...seeds];
    const points = new Float32Array(list.length * h);
    list.forEach((r, i) => points.set(e.subarray(r * h, (r + 1) * h), i * h));
    const [c] = await base.clusterPoints([{ points, n: list.length }], { seed: 1 });
    items.push({ id: ds.items.value(it), centroids: c.centroids.slice(0, c.count * h) });
    seedsOf.push(list);
  }
  await base.close();
  log(`${ds.name}: ${file.ids.length} users, ${items.length} items with ≥ ${minSeeds} clickers clustered (k ≤ ${model.manifest.k})`);

  const open = async (storage: CentroidStorage): Promise<RalmEngine> => {
    const eng = await RalmEngine.create(model, { backend: 'cpu', storage });
    for (let i = 0; i < items.length; i += 2000) await eng.upsertItems(items.slice(i, i + 2000));
    return eng;
  };
  const ids = items.map((it) => it.id);
  const f32 = await open('f32');
  const users = file.ids.length;
  const want: Array<{ scores: Float32Array; top10: string[]; top100: string[] }> = [];
  for (let u = 0; u < users; u++) {
    const emb = e.subarray(u * h, (u + 1) * h);
    const [s] = await f32.score([{ user: { embedding: emb }, items: ids }]);
    const [r] = await f32.rank([{ user: { embedding: emb }, candidates: ids, k: 100 }]);
    want.push({ scores: s.scores, top10: r.items.slice(0, 10).map((x) => x.id), top100: r.items.map((x) => x.id) });
  }
  const ranking: RankingEffect[] = [];
  for (const storage of storages) {
    const eng = await open(storage);
    let maxAbs = 0;
    let sumAbs = 0;
    let o10 = 0;
    let o10min = 1;
    let o100 = 0;
    for (let u = 0; u < users; u++) {
      const emb = e.subarray(u * h, (u + 1) * h);
      const [s] = await eng.score([{ user: { embedding: emb }, items: ids }]);
      const [r] = await eng.rank([{ user: { embedding: emb }, candidates: ids, k: 100 }]);
      for (let i = 0; i < ids.length; i++) {
        const d = Math.abs(s.scores[i] - want[u].scores[i]);
        maxAbs = Math.max(maxAbs, d);
        sumAbs += d;
      }
      const x = overlap(want[u].top10, r.items.slice(0, 10).map((y) => y.id));
      o10 += x;
      o10min = Math.min(o10min, x);
      o100 += overlap(want[u].top100, r.items.map((y) => y.id));
    }
    await eng.close();
    const fx: RankingEffect = { storage, users, items: ids.length, maxAbsScoreDiff: maxAbs, meanAbsScoreDiff: sumAbs / (users * ids.length), top10Overlap: o10 / users, top10OverlapMin: o10min, top100Overlap: o100 / users };
    ranking.push(fx);
    log(describeRanking(fx));
  }

  // Audience: every user against sampled items' seed sets, f32 and int8 user tables.
  let audience: QuantBenchResult['audience'] = null;
  const nSets = Math.min(o.audienceItems ?? QUANT_BENCH_DEFAULTS.audienceItems, items.length);
  if (nSets > 0 && users >= 8) {
    const topN = Math.min(100, Math.floor(users / 4));
    const userIds = file.ids.map(String);
    const tables = (['f32', 'int8'] as const).map((storage) => {
      const t = new UserTable({ h, maxCentroids: model.manifest.k, storage });
      t.upsert(userIds, e);
      return t;
    });
    const step = Math.max(1, Math.floor(items.length / nSets));
    let sum = 0;
    let min = 1;
    for (let s = 0; s < nSets; s++) {
      const it = items[s * step];
      const count = it.centroids.length / h;
      const g = await f32.globalVectors([{ centroids: Float32Array.from(it.centroids), count }]);
      const set = prepareSeedSet(model, Float32Array.from(it.centroids), count, g.globals);
      const tops = [];
      for (const t of tables) {
        const snapshot = t.acquire();
        const { hits } = await f32.scanUsers({ table: t, snapshot, sets: [{ set, topN, threshold: -Infinity }], alpha: model.manifest.alpha, beta: model.manifest.beta });
        snapshot.release();
        tops.push(Array.from(hits[0].position, (p) => snapshot.idOf(p)));
      }
      const r = overlap(tops[0], tops[1]);
      sum += r;
      min = Math.min(min, r);
    }
    audience = { storage: 'int8', users, sets: nSets, topN, recall: sum / nSets, recallMin: min };
    log(`audience, int8 user table vs f32: recall@${topN} ${audience.recall.toFixed(4)} (lowest ${min.toFixed(2)}) over ${nSets} items' seed sets, ${users} users`);
  }
  await f32.close();
  return { kind: 'ralm-bench-quant', createdAt: new Date().toISOString(), machine: finishMachineInfo(machine), dataset: ds.name, modelVersion: model.manifest.modelVersion, ranking, audience };
}

export function describeRanking(fx: RankingEffect): string {
  return `${fx.storage} vs f32 on ${fx.items} items × ${fx.users} users: max |Δscore| ${fx.maxAbsScoreDiff.toExponential(2)}, mean ${fx.meanAbsScoreDiff.toExponential(2)}, top-10 overlap ${fx.top10Overlap.toFixed(4)} (lowest user ${fx.top10OverlapMin.toFixed(1)}), top-100 overlap ${fx.top100Overlap.toFixed(4)}`;
}
