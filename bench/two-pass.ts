/**
 * `ralm bench two-pass`: how much of the exact audience scan's top N the two-pass scan
 * (core/two-pass.ts) returns on real seed sets. The setting is `ralm eval audience`'s: users
 * embedded by a rank-r randomized SVD of a real click log (unit rows), RALM's weights in their
 * identity configuration, and for a seeded sample of items with 20 to 5,000 clickers, half of
 * each item's clickers as its seeds, clustered into ≤ k centroids as the audience service does.
 * Every user is scored against each seed set by the exact scan and by the two-pass scan at
 * each candidate factor; recall@N = |two-pass top N ∩ exact top N| / |exact top N|. The
 * candidates are max(minCandidates, factor × N), as the service keeps them (a floor of 0 shows
 * the first pass alone at small N); where they would be half the users or more, the row is left
 * out (the service would scan exactly).
 */
import { existsSync } from 'node:fs';
import { RalmEngine } from '../src/engine/engine.js';
import { UserTable, type UserStorage } from '../src/core/user-table.js';
import { prepareSeedSet } from '../src/core/seed-set.js';
import { candidateCount, scanTwoPass } from '../src/core/two-pass.js';
import type { ScanHits, ScanJob } from '../src/core/scan.js';
import { openClickLog } from '../src/data/open.js';
import { toCsr, userFactors } from '../src/train/click-factors.js';
import { identityModel } from '../src/eval/audience-eval.js';
import { RalmError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { withDefaults } from '../src/util/options.js';
import { TWO_PASS_BENCH_DEFAULTS } from './defaults.js';
import { finishMachineInfo, machineInfo, type MachineInfo } from './machine.js';

export interface TwoPassBenchOptions {
  dataset: 'movielens' | 'globo';
  data: string;
  rank?: number;
  items?: number;
  ks?: number[];
  ns?: number[];
  factors?: number[];
  minCandidates?: number;
  storage?: UserStorage;
  seed?: number;
  log?: (line: string) => void;
}

export interface TwoPassRecallRow {
  k: number;
  n: number;
  factor: number;
  /** Candidates per set. */
  candidates: number;
  /** Seed sets measured. */
  sets: number;
  recall: number;
  recallMin: number;
  /** Share of sets whose top N the two passes returned whole. */
  whole: number;
}

export interface TwoPassBenchResult {
  kind: 'ralm-bench-two-pass';
  createdAt: string;
  machine: MachineInfo;
  dataset: string;
  users: number;
  storage: UserStorage;
  rank: number;
  items: number;
  minCandidates: number;
  rows: TwoPassRecallRow[];
}

export async function runTwoPassBench(options: TwoPassBenchOptions): Promise<TwoPassBenchResult> {
  const o = withDefaults(TWO_PASS_BENCH_DEFAULTS, options);
  const log = options.log ?? (() => undefined);
  if (!existsSync(options.data)) throw new RalmError('RALM_ERR_VALIDATION', `bench two-pass: the ${options.dataset} dataset is not at ${options.data}; nothing was measured (give --data)`);
  const machine = await machineInfo({ probeWebGpu: false });
  const clicks = await openClickLog({ kind: options.dataset, path: options.data });
  const nu = clicks.userIds.length;
  const ni = clicks.itemIds.length;
  const byUser = toCsr(nu, ni, clicks.user, clicks.item);
  const clickers: number[][] = Array.from({ length: ni }, () => []);
  for (let u = 0; u < nu; u++) for (let p = byUser.ptr[u]; p < byUser.ptr[u + 1]; p++) clickers[byUser.idx[p]].push(u);
  const rng = new Rng(o.seed);
  const eligible = rng.shuffle(clickers.flatMap((c, i) => (c.length >= 20 && c.length <= 5000 ? [i] : [])));
  const items = eligible.slice(0, o.items).map((i) => rng.shuffle(clickers[i].slice()).slice(Math.round(clickers[i].length / 2)));
  log(`${clicks.name}: ${nu} users, ${items.length} seed sets (median ${items.map((s) => s.length).sort((a, b) => a - b)[items.length >> 1]} seeds)`);
  const h = o.rank;
  const factors = userFactors(byUser, { rank: h, seed: o.seed });
  const rows: TwoPassRecallRow[] = [];
  for (const k of o.ks) {
    const model = identityModel(h, k);
    const engine = await RalmEngine.create(model, { backend: 'cpu', recoverDevice: false });
    const table = new UserTable({ h, maxCentroids: k, storage: o.storage });
    table.upsert(clicks.userIds, await engine.transform(factors, nu));
    const snapshot = table.acquire();
    try {
      const run = async (job: ScanJob): Promise<ScanHits[]> => (await engine.scanUsers(job)).hits;
      const acc = new Map<string, { sum: number; min: number; whole: number; sets: number }>();
      for (const seeds of items) {
        const points = new Float32Array(seeds.length * h);
        seeds.forEach((u, i) => points.set(factors.subarray(u * h, (u + 1) * h), i * h));
        const [c] = await engine.clusterPoints([{ points, n: seeds.length }], { seed: o.seed });
        const g = await engine.globalVectors([{ centroids: c.centroids, count: c.count }]);
        const set = prepareSeedSet(model, c.centroids, c.count, g.globals);
        for (const n of o.ns) {
          const job: ScanJob = { table, snapshot, sets: [{ set, topN: n, threshold: -Infinity }], alpha: model.manifest.alpha, beta: model.manifest.beta };
          const exact = new Set((await run(job))[0].position);
          for (const factor of o.factors) {
            const tp = { factor, minCandidates: o.minCandidates };
            if (candidateCount(n, tp) * 2 > nu) continue;
            const got = (await scanTwoPass(run, job, tp))[0].position;
            const r = got.filter((p) => exact.has(p)).length / Math.max(1, exact.size);
            const key = `${n}:${factor}`;
            const a = acc.get(key) ?? { sum: 0, min: 1, whole: 0, sets: 0 };
            acc.set(key, { sum: a.sum + r, min: Math.min(a.min, r), whole: a.whole + (r === 1 ? 1 : 0), sets: a.sets + 1 });
          }
        }
      }
      for (const n of o.ns) {
        for (const factor of o.factors) {
          const a = acc.get(`${n}:${factor}`);
          if (!a) continue;
          const row = { k, n, factor, candidates: candidateCount(n, { factor, minCandidates: o.minCandidates }), sets: a.sets, recall: a.sum / a.sets, recallMin: a.min, whole: a.whole / a.sets };
          rows.push(row);
          log(`k=${String(k).padStart(2)}  N=${String(n).padStart(5)}  factor ${String(factor).padStart(2)} (${row.candidates} candidates)  recall@N ${row.recall.toFixed(4)}  lowest ${row.recallMin.toFixed(3)}  whole in ${(row.whole * 100).toFixed(0)}% of ${row.sets} sets`);
        }
      }
    } finally {
      snapshot.release();
      await engine.close();
    }
  }
  return { kind: 'ralm-bench-two-pass', createdAt: new Date().toISOString(), machine: finishMachineInfo(machine), dataset: clicks.name, users: nu, storage: o.storage, rank: h, items: items.length, minCandidates: o.minCandidates, rows };
}
