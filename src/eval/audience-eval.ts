/**
 * `ralm eval audience`: how well audience expansion finds an item's other clickers.
 *
 * Protocol. Items with enough clickers are sampled; for each, a share of its clickers is hidden
 * (those user–item clicks are removed from everything the methods see) and the rest are the
 * seeds. Each method expands the seeds to the N users it ranks highest (seeds excluded), and
 * recall@N = hidden clickers found / hidden clickers, precision@N = hidden clickers found / N,
 * averaged over items (with standard errors).
 *
 * User embeddings. Until trained stage-1 embeddings are available, users are embedded by a
 * randomized truncated SVD of the visible clicks (rank r, unit-length rows), and RALM runs with
 * the identity configuration of its weights (transform = identity, W_l = I, W_g = 0 so the global
 * vector is the mean of the centroids; α = 0.3, β = 0.7): the seed clustering, local attention and
 * the blend, without learned weights. The methods:
 *   - RALM (k): the service's own expansion (AudienceService), seeds clustered into ≤ k centroids;
 *   - averaged seeds: cosine between each user and the mean of the seeds' embeddings;
 *   - most active: users by number of visible clicks.
 */
import { performance } from 'node:perf_hooks';
import { RalmEngine } from '../engine/engine.js';
import { AudienceService, type AudienceSpec } from '../audience/audience-service.js';
import { Rng } from '../util/rng.js';
import { withDefaults } from '../util/options.js';
import { TopSelector } from '../core/top-k.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, type RalmModel } from '../model/model.js';
import type { ClickLog } from '../data/dataset.js';
import { toCsr, userFactors } from '../train/click-factors.js';
import { trainStage2 } from '../train/stage2.js';
import { meanSpread, type MeanSpread } from './metrics.js';
import { AUDIENCE_EVAL_DEFAULTS } from './defaults.js';

export interface AudienceEvalOptions {
  rank?: number;
  hideShare?: number;
  minClickers?: number;
  maxClickers?: number;
  items?: number;
  ns?: number[];
  ks?: number[];
  seed?: number;
  backend?: 'auto' | 'cpu' | 'webgpu';
  /** Also evaluate RALM with stage-2 weights trained (this many epochs at most) on the visible clicks; 0 skips. */
  trainEpochs?: number;
  /** How the trainer draws negatives (see Stage2Options.negativeSampling). */
  trainNegatives?: 'uniform' | 'activity';
  /** The trainer's loss over each item's target and its negative users: one softmax (a retrieval loss), or labelled pairs. */
  trainLoss?: 'softmax' | 'bce';
  /** Train on a seeded sample of this many items (0: every item), for large logs; recorded in the result. */
  trainMaxItems?: number;
  /**
   * Which weights that training updates: every one, or all but the transform T
   * (stage2-model.ts trainableParams). Several: each is trained, and the one whose kept weights
   * validate best on the held-out items is the trained row.
   */
  trainParams?: Array<'all' | 'attention'>;
  /** That training's Adam learning rate. */
  trainLr?: number;
  /** Whether that training also learns the blend α, β (from the identity configuration's 0.3 / 0.7). */
  trainBlend?: 'fixed' | 'learned';
  log?: (line: string) => void;
}

export interface MethodMetrics {
  method: string;
  description: string;
  /** Per N: mean recall and precision over items, with standard errors. */
  atN: Array<{ n: number; recall: number; recallSe: number; precision: number; precisionSe: number }>;
  seconds: number;
}

export interface AudienceEvalResult {
  kind: 'ralm-eval-audience';
  dataset: string;
  createdAt: string;
  settings: Required<Omit<AudienceEvalOptions, 'log' | 'backend'>> & { backend: string; embeddings: string; ralmWeights: string };
  /**
   * When trainEpochs > 0: the stage-2 training run — validation AUC (users per item, held-out
   * items) of the start (the identity configuration) and of the weights kept, and which they are.
   */
  training: {
    epochs: number; bestEpoch: number; initialValidationAuc: number; bestValidationAuc: number; kept: string; seconds: number;
    /** The weights trained (`trainParams`) of the row, and every candidate's validation when several were tried. */
    params: 'all' | 'attention'; candidates: Array<{ params: 'all' | 'attention'; bestValidationAuc: number; kept: string }>;
  } | null;
  data: { users: number; items: number; clicks: number; evalItems: number; hiddenClicks: number; seedsPerItem: { median: number; min: number; max: number } };
  svdSeconds: number;
  methods: MethodMetrics[];
}

/** RALM's weights in their identity configuration (see the module comment), width h, k centroids. */
export function identityModel(h: number, k: number): RalmModel {
  const eye = (n: number): Float32Array => {
    const m = new Float32Array(n * n);
    for (let i = 0; i < n; i++) m[i * n + i] = 1;
    return m;
  };
  const s = 8;
  return {
    manifest: {
      format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, modelVersion: `identity-h${h}-k${k}`, h, m: h, k, attentionSize: s, alpha: 0.3, beta: 0.7,
      activation: 'prelu', userFields: [],
      provenance: { kind: 'seeded-random', dataset: null, createdAt: new Date(0).toISOString(), seed: 0, notes: 'identity configuration for evaluation, not trained' },
      weightsSha256: '0'.repeat(64),
    },
    weights: {
      transformWeight: eye(h), transformBias: new Float32Array(h), transformPrelu: new Float32Array(h).fill(1),
      localWeight: eye(h), globalWeight: new Float32Array(s * h), globalVector: new Float32Array(s),
    },
  } as RalmModel;
}

function meanSe(xs: readonly number[]): [number, number] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return [mean, Math.sqrt(v / n)];
}

export async function evalAudience(clicks: ClickLog, options: AudienceEvalOptions = {}): Promise<AudienceEvalResult> {
  const o = withDefaults(AUDIENCE_EVAL_DEFAULTS, options);
  const log = o.log ?? (() => undefined);
  const settings = {
    rank: o.rank, hideShare: o.hideShare, minClickers: o.minClickers, maxClickers: o.maxClickers,
    items: o.items, ns: o.ns, ks: o.ks, seed: o.seed, trainEpochs: o.trainEpochs, trainNegatives: o.trainNegatives, trainLoss: o.trainLoss, trainMaxItems: o.trainMaxItems,
    trainParams: o.trainParams, trainLr: o.trainLr, trainBlend: o.trainBlend,
  };
  const nu = clicks.userIds.length;
  const ni = clicks.itemIds.length;
  const rng = new Rng(settings.seed);

  // Distinct clicks, per user (CSR) and per item.
  const byUser = toCsr(nu, ni, clicks.user, clicks.item);
  const clickers: number[][] = Array.from({ length: ni }, () => []);
  for (let u = 0; u < nu; u++) for (let p = byUser.ptr[u]; p < byUser.ptr[u + 1]; p++) clickers[byUser.idx[p]].push(u);
  const eligible = clickers.flatMap((c, i) => (c.length >= settings.minClickers && c.length <= settings.maxClickers ? [i] : []));
  rng.shuffle(eligible);
  const evalItems = eligible.slice(0, settings.items);
  if (evalItems.length === 0) throw new Error(`no item has between ${settings.minClickers} and ${settings.maxClickers} clickers`);

  // Hide a share of each evaluated item's clickers.
  const hidden = new Set<number>();
  const cases = evalItems.map((item) => {
    const c = rng.shuffle(clickers[item].slice());
    const nh = Math.max(1, Math.round(settings.hideShare * c.length));
    const hid = c.slice(0, nh);
    for (const u of hid) hidden.add(u * ni + item);
    return { item, hidden: new Set(hid), seeds: c.slice(nh) };
  });
  const tu: number[] = [];
  const ti: number[] = [];
  for (let u = 0; u < nu; u++) {
    for (let p = byUser.ptr[u]; p < byUser.ptr[u + 1]; p++) {
      if (!hidden.has(u * ni + byUser.idx[p])) {
        tu.push(u);
        ti.push(byUser.idx[p]);
      }
    }
  }
  const visible = toCsr(nu, ni, tu, ti);
  const activity = Array.from({ length: nu }, (_, u) => visible.ptr[u + 1] - visible.ptr[u]);
  log(`${clicks.name}: ${nu} users, ${ni} items, ${byUser.idx.length} distinct clicks; ${cases.length} items evaluated, ${hidden.size} clicks hidden`);

  const t0 = performance.now();
  const h = settings.rank;
  const factors = userFactors(visible, { rank: h, seed: settings.seed });
  const svdSeconds = (performance.now() - t0) / 1000;
  log(`user embeddings: rank-${h} randomized SVD of the visible clicks in ${svdSeconds.toFixed(1)} s`);

  const maxN = Math.max(...settings.ns);
  const methods: MethodMetrics[] = [];
  const score = (name: string, description: string, lists: number[][], seconds: number): void => {
    const atN = settings.ns.map((n) => {
      const rec: number[] = [];
      const prec: number[] = [];
      cases.forEach((c, i) => {
        let hits = 0;
        for (const u of lists[i].slice(0, n)) if (c.hidden.has(u)) hits++;
        rec.push(hits / c.hidden.size);
        prec.push(hits / n);
      });
      const [recall, recallSe] = meanSe(rec);
      const [precision, precisionSe] = meanSe(prec);
      return { n, recall, recallSe, precision, precisionSe };
    });
    methods.push({ method: name, description, atN, seconds });
    log(`${name.padEnd(18)} ${atN.map((a) => `R@${a.n} ${a.recall.toFixed(3)} P@${a.n} ${a.precision.toFixed(3)}`).join('  ')}  (${seconds.toFixed(1)} s)`);
  };

  // Optionally, stage 2 trained on the visible clicks (the hidden ones never reach it).
  let training: AudienceEvalResult['training'] = null;
  const models: Array<{ k: number; model: RalmModel; label: string; description: string }> = settings.ks.map((k) => ({
    k, model: identityModel(h, k), label: `RALM (k=${k})`, description: `audience expansion, seeds clustered into <= ${k} centroids, identity weights`,
  }));
  if (settings.trainEpochs > 0) {
    const k = Math.max(...settings.ks);
    const t1 = performance.now();
    // Audience expansion ranks users for a seed set: the users-per-item task, from the untrained
    // (identity) configuration, kept only where held-out items validate it better.
    const candidates: Array<{ params: 'all' | 'attention'; r: Awaited<ReturnType<typeof trainStage2>> }> = [];
    for (const params of new Set(settings.trainParams)) {
      candidates.push({ params, r: await trainStage2(factors, h, { user: tu, item: ti }, {
        h, k, epochs: settings.trainEpochs, seed: settings.seed, negativeSampling: settings.trainNegatives, dataset: clicks.name, log: (l) => log(`  [${params}] ${l}`),
        ...(settings.trainMaxItems > 0 ? { maxItems: settings.trainMaxItems } : {}),
        objective: 'users', loss: settings.trainLoss, negatives: settings.trainLoss === 'softmax' ? 20 : 4, validationMetric: 'users', init: 'identity',
        train: params, learningRate: settings.trainLr, learnBlend: settings.trainBlend === 'learned',
        // SVD factors are unit rows, as the untrained rows use them.
        inputScaling: 'none',
      }) });
    }
    // The first best: ties keep the order given.
    const { params, r } = candidates.reduce((best, c) => (c.r.bestValidationAuc > best.r.bestValidationAuc ? c : best));
    if (candidates.length > 1) log(`  kept the training of ${params === 'all' ? 'every weight' : 'all but T'} (held-out items: ${candidates.map((c) => `${c.params} ${c.r.bestValidationAuc.toFixed(4)}`).join(', ')})`);
    training = {
      epochs: r.history.length, bestEpoch: r.bestEpoch, initialValidationAuc: r.initialValidationAuc, bestValidationAuc: r.bestValidationAuc, kept: r.kept, seconds: (performance.now() - t1) / 1000,
      params, candidates: candidates.map((c) => ({ params: c.params, bestValidationAuc: c.r.bestValidationAuc, kept: c.r.kept })),
    };
    const kept = r.kept === 'trained' ? `epoch ${r.bestEpoch} of ${r.history.length}` : 'the identity configuration: no epoch validated better';
    models.push({ k, model: r.model, label: `RALM (k=${k}, trained)`, description: `audience expansion with stage-2 weights trained on the visible clicks (${settings.trainLoss}, ${settings.trainNegatives} negatives, ${params === 'all' ? 'every weight' : 'T held'}${candidates.length > 1 ? ', chosen on held-out items' : ''}, Adam ${settings.trainLr}, blend ${settings.trainBlend}; kept ${kept})` });
  }

  // RALM through the audience service, several items per scan.
  const ids = clicks.userIds;
  let backendName = 'cpu';
  for (const { model, label, description } of models) {
    const t1 = performance.now();
    const engine = await RalmEngine.create(model, { backend: o.backend, recoverDevice: false });
    try {
      backendName = engine.adapterName;
      const svc = new AudienceService(engine, null, { maxSize: Math.max(maxN, 1) });
      // Users enter the table in the model's look-alike space: e = T(x) (the identity for untrained weights).
      svc.addUsers(ids, await engine.transform(factors, nu));
      await svc.load();
      const lists: number[][] = [];
      const index = new Map(ids.map((id, u) => [id, u]));
      const GROUP = 8;
      for (let g = 0; g < cases.length; g += GROUP) {
        const specs: AudienceSpec[] = cases.slice(g, g + GROUP).map((c) => ({
          seeds: c.seeds.map((u) => ids[u]), seedEmbeddings: [], size: maxN, threshold: null, exclude: [], excludeSeeds: true, pool: null, seed: settings.seed,
        }));
        for (const r of await svc.runMany(specs)) lists.push(r.users.map((u) => index.get(u.id) as number));
      }
      score(label, description, lists, (performance.now() - t1) / 1000);
    } finally {
      await engine.close();
    }
  }

  // Averaged seeds: cosine with the mean seed embedding.
  {
    const t1 = performance.now();
    const lists = cases.map((c) => {
      const mean = new Float64Array(h);
      for (const u of c.seeds) for (let t = 0; t < h; t++) mean[t] += factors[u * h + t];
      const seeds = new Set(c.seeds);
      const scores = new Float64Array(nu);
      for (let u = 0; u < nu; u++) {
        let s = 0;
        for (let t = 0; t < h; t++) s += factors[u * h + t] * mean[t];
        scores[u] = seeds.has(u) ? -Infinity : s;
      }
      return topIndices(scores, maxN);
    });
    score('averaged seeds', 'cosine with the mean of the seed embeddings', lists, (performance.now() - t1) / 1000);
  }

  // Most active users (visible clicks), seeds excluded.
  {
    const t1 = performance.now();
    const order = Array.from({ length: nu }, (_, u) => u).sort((a, b) => activity[b] - activity[a] || a - b);
    const lists = cases.map((c) => {
      const seeds = new Set(c.seeds);
      const out: number[] = [];
      for (const u of order) {
        if (out.length === maxN) break;
        if (!seeds.has(u)) out.push(u);
      }
      return out;
    });
    score('most active', 'users with the most visible clicks', lists, (performance.now() - t1) / 1000);
  }

  const seedCounts = cases.map((c) => c.seeds.length).sort((a, b) => a - b);
  return {
    kind: 'ralm-eval-audience',
    dataset: clicks.name,
    createdAt: new Date().toISOString(),
    settings: {
      ...settings, backend: backendName, embeddings: `rank-${h} randomized SVD of the visible clicks, unit rows`,
      ralmWeights: settings.trainEpochs > 0 ? 'identity configuration (untrained), and stage 2 trained on the visible clicks' : 'identity configuration (untrained)',
    },
    training,
    data: {
      users: nu, items: ni, clicks: byUser.idx.length, evalItems: cases.length, hiddenClicks: hidden.size,
      seedsPerItem: { median: seedCounts[Math.floor(seedCounts.length / 2)], min: seedCounts[0], max: seedCounts[seedCounts.length - 1] },
    },
    svdSeconds,
    methods,
  };
}

/** Indices of the `n` highest scores, best first (ties: lower index first); -Infinity never returned. */
function topIndices(scores: Float64Array, n: number): number[] {
  const sel = new TopSelector(n, -Number.MAX_VALUE);
  for (let i = 0; i < scores.length; i++) sel.offer(scores[i], i, 0, 0);
  return Array.from(sel.result().position);
}

/** Several seeds' runs of the audience evaluation: per method and N, recall and precision as mean ± sample SD over the seeds. */
export interface AudienceSeedsSummary {
  kind: 'ralm-eval-audience-seeds';
  dataset: string;
  seeds: number[];
  summary: Array<{ method: string; atN: Array<{ n: number; recall: MeanSpread; precision: MeanSpread }> }>;
  runs: AudienceEvalResult[];
}

export function summarizeAudience(runs: AudienceEvalResult[]): AudienceSeedsSummary {
  const methods = runs[0].methods.map((m) => m.method);
  return {
    kind: 'ralm-eval-audience-seeds', dataset: runs[0].dataset, seeds: runs.map((r) => r.settings.seed),
    summary: methods.map((method) => ({
      method,
      atN: runs[0].settings.ns.map((n, j) => {
        const at = runs.map((r) => (r.methods.find((m) => m.method === method) as MethodMetrics).atN[j]);
        return { n, recall: meanSpread(at.map((a) => a.recall)), precision: meanSpread(at.map((a) => a.precision)) };
      }),
    })),
    runs,
  };
}
