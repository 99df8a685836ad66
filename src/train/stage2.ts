/**
 * Stage 2 of RALM — look-alike learning — on TensorFlow.js (WebAssembly backend, autodiff, Adam),
 * exactly as the spec states it: frozen universal embeddings x_u go through the shared transform
 * T(x) = PReLU(W_t x + b_t) (dropout in training); an item is represented by k-means centroids of
 * its seeds' T(x) (recomputed with the current T at the start of every epoch and held fixed
 * between); local attention softmax_j(tanh(C_j · W_l e_u)) and global attention
 * softmax_j(w_g · tanh(W_g C_j)) give two vectors whose cosines with e_u are blended α/β; the
 * probability of a click is σ(a·score + b) with a learned scale a and bias b (recorded in the
 * manifest, not used for ranking), trained with binary cross-entropy.
 *
 * Leakage rule. Every epoch, each training item's clickers are split at random into seeds (which
 * form the centroids) and targets (the positive examples), so a user is never among the seeds of
 * an example it is the target of. Negatives are users who did not click the item.
 *
 * Validation: a share of the items is held out; their targets and negatives give the validation
 * AUC each epoch, and training stops early when it has not improved for `patience` epochs (the
 * best epoch's weights are kept).
 *
 * Adam's learning rate defaults to 1e-2 here (the spec fixes 1e-3 for stage 1 only): on
 * MovieLens with rank-16 SVD embeddings, 1e-3 took six epochs to get back to the untrained
 * validation AUC (0.73 → 0.75), 1e-2 reached 0.84.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { clusterBatch } from '../clustering/cluster-batch.js';
import { runKMeansJobs } from '../cpu/kmeans.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, type ModelWeights, type RalmModel } from '../model/model.js';
import { Rng } from '../util/rng.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { tfReady } from './tf-kernels.js';
import type { TrainingProgress } from './progress.js';
import { forwardScore, initParams, inputScaling, transform, type Centroids } from './stage2-model.js';

export { forwardScore, inputScaling, scoreWithWeights, type InputScaling } from './stage2-model.js';

export interface Stage2Options {
  h?: number;
  k?: number;
  attentionSize?: number;
  alpha?: number;
  beta?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Negatives per positive. */
  negatives?: number;
  /**
   * How negatives are drawn among users who did not click the item: `uniform` (every user alike)
   * or `activity` (in proportion to how many items a user clicked: harder negatives, closer to
   * ranking every user for an item).
   */
  negativeSampling?: 'uniform' | 'activity';
  /** Share of an item's clickers used as its seeds each epoch (the rest are targets). */
  seedShare?: number;
  /** Items need at least this many clickers to be trained on. */
  minClickers?: number;
  /** Seeds clustered per item at most (sampled). */
  maxSeeds?: number;
  /** Targets per item per epoch at most (sampled), so popular items do not dominate. */
  maxTargets?: number;
  /**
   * Train on at most this many items (a seeded sample, taken after the validation items are set
   * aside), for logs whose epochs would otherwise take too long; the manifest records it.
   */
  maxItems?: number;
  dropout?: number;
  /**
   * How x is scaled before training; the scaling is linear, so it is folded into W_t and b_t on
   * export and the served model still takes raw x.
   *   whiten (default): z = Λ^(−1/2) Vᵀ (x − μ) over the users' covariance (eigenvalues floored at
   *     1e-6 of the largest). Stage-1 embeddings put 99.9% of their variance across users on one
   *     direction (MovieLens, per-user split); per-dimension standardising leaves that direction
   *     in every coordinate, and stage 2 then did not learn (validation AUC 0.67 → 0.65 over four
   *     epochs), while whitened it went 0.59 → 0.76.
   *   standardize: per dimension, (x − μ) / σ.
   *   none: x as given (the audience evaluation's SVD factors, measured that way).
   */
  inputScaling?: 'whiten' | 'standardize' | 'none';
  validationShare?: number;
  patience?: number;
  seed?: number;
  modelVersion?: string;
  dataset?: string | null;
  log?: (line: string) => void;
  /** Called after every batch (for a progress bar). */
  onProgress?: (p: TrainingProgress) => void;
}

/** The options that have a fixed default (h's is m, the input width; modelVersion's is built from h, m, k and seed). */
export type Stage2Defaults = Readonly<Required<Pick<Stage2Options,
  'k' | 'attentionSize' | 'alpha' | 'beta' | 'epochs' | 'batchSize' | 'learningRate' | 'negatives' | 'negativeSampling' | 'seedShare'
  | 'minClickers' | 'maxSeeds' | 'maxTargets' | 'dropout' | 'inputScaling' | 'validationShare' | 'patience' | 'seed' | 'dataset'>>>;

/**
 * Stage 2's defaults, read by trainStage2 and the option tables. k = 20 and α = 0.3, β = 0.7 are
 * the paper's; the pipeline (`ralm train`, `ralm eval`) trains with its own learning rate and
 * patience on top of these (TRAIN_DEFAULTS in pipeline.ts).
 */
export const STAGE2_DEFAULTS: Stage2Defaults = {
  k: 20, attentionSize: 32, alpha: 0.3, beta: 0.7, epochs: 10, batchSize: 256, learningRate: 1e-2, negatives: 4, negativeSampling: 'uniform',
  seedShare: 0.5, minClickers: 10, maxSeeds: 200, maxTargets: 50, dropout: 0.1, inputScaling: 'whiten', validationShare: 0.1, patience: 2, seed: 1,
  dataset: null,
};

export interface EpochReport {
  epoch: number;
  loss: number;
  validationAuc: number;
  examples: number;
  seconds: number;
}

export interface Stage2Result {
  model: RalmModel;
  history: EpochReport[];
  /** Validation AUC of the initial (untrained) weights. */
  initialValidationAuc: number;
  bestEpoch: number;
  bestValidationAuc: number;
  /** The learned probability calibration p = σ(scale · score + bias). */
  scale: number;
  bias: number;
}

/** TensorFlow.js on its WebAssembly backend (once per process); see tf-kernels.ts. */
export { tfReady };

/**
 * Fisher–Yates from the last position down (Rng.shuffle runs from the front; this order is kept
 * so that a trained model stays the same for the same seed).
 */
function shuffleFromEnd<T>(a: T[], rng: Rng): T[] {
  for (let t = a.length - 1; t > 0; t--) {
    const j = rng.int(t + 1);
    [a[t], a[j]] = [a[j], a[t]];
  }
  return a;
}

function auc(scores: Float32Array, labels: Uint8Array): number {
  const idx = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let pos = 0;
  for (let r = 0; r < idx.length; ) {
    let e = r;
    while (e + 1 < idx.length && scores[idx[e + 1]] === scores[idx[r]]) e++;
    const avg = (r + e) / 2 + 1;
    for (let t = r; t <= e; t++) if (labels[idx[t]]) {
      rankSum += avg;
      pos++;
    }
    r = e + 1;
  }
  const neg = idx.length - pos;
  return pos === 0 || neg === 0 ? 0.5 : (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Trains stage 2 on universal embeddings `x` (users × m, row-major) and distinct clicks
 * (user, item) index pairs; returns the model in the engine's format.
 */
export async function trainStage2(x: Float32Array, m: number, clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, options: Stage2Options = {}): Promise<Stage2Result> {
  await tfReady();
  const o = withDefaults(STAGE2_DEFAULTS, options);
  const h = o.h ?? m;
  const { k, attentionSize: s, alpha, beta, epochs, batchSize: B, negatives, negativeSampling: sampling, seedShare, minClickers, maxSeeds, maxTargets, dropout, patience, seed } = o;
  const log = o.log ?? (() => undefined);
  const nu = x.length / m;
  if (!Number.isInteger(nu)) throw new RalmError('RALM_ERR_DIMENSION', `x: expected rows of ${m} values, got ${x.length} values`);
  const rng = new Rng(seed);
  const scaling = inputScaling(x, nu, m, o.inputScaling);
  x = scaling.apply(x);

  // Items and their distinct clickers.
  const byItem = new Map<number, number[]>();
  for (let i = 0; i < clicks.user.length; i++) {
    let l = byItem.get(clicks.item[i]);
    if (!l) byItem.set(clicks.item[i], (l = []));
    l.push(clicks.user[i]);
  }
  const items = [...byItem.entries()].map(([item, us]) => ({ item, users: [...new Set(us)] })).filter((t) => t.users.length >= minClickers).sort((a, b) => a.item - b.item);
  if (items.length < 2) throw new RalmError('RALM_ERR_VALIDATION', `stage 2: need at least 2 items with ${minClickers}+ clickers, found ${items.length}`);
  shuffleFromEnd(items, rng);
  const nVal = Math.max(1, Math.round(items.length * o.validationShare));
  const val = items.slice(0, nVal);
  const train = o.maxItems !== undefined && items.length - nVal > o.maxItems ? items.slice(nVal, nVal + o.maxItems) : items.slice(nVal);
  log(`stage 2: ${nu} users, ${train.length} training items, ${val.length} validation items (≥ ${minClickers} clickers), k = ${k}, h = ${h}`);

  // Activity-weighted sampling: cumulative distinct-click counts, searched by bisection.
  const activity = new Float64Array(nu);
  for (const t of items) for (const u of t.users) activity[u]++;
  const cumulative = new Float64Array(nu);
  let acc = 0;
  for (let u = 0; u < nu; u++) cumulative[u] = acc += activity[u];
  const drawNegative = (r: Rng): number => {
    if (sampling === 'uniform' || acc === 0) return r.int(nu);
    const target = r.next() * acc;
    let lo = 0;
    let hi = nu - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };

  const p = initParams(m, h, s, seed);
  const optimizer = tf.train.adam(o.learningRate);
  const xAll = tf.tensor2d(x, [nu, m]);

  /** Splits each item's clickers into seeds and targets, clusters the seeds in T-space. */
  const prepare = async (list: typeof items, splitRng: Rng): Promise<{ cent: Centroids; examples: Array<[number, number, number]> }> => {
    const et = tf.tidy(() => transform(p, xAll));
    const e = et.dataSync() as Float32Array; // a copy: the tensor is freed at once (users × h, 83 MB on Globo.com)
    et.dispose();
    const jobs: Array<{ points: Float32Array; n: number }> = [];
    const examples: Array<[number, number, number]> = [];
    list.forEach((t, ii) => {
      const us = shuffleFromEnd(t.users.slice(), splitRng);
      const ns = Math.max(1, Math.round(us.length * seedShare));
      const seeds = us.slice(0, Math.min(ns, maxSeeds));
      const targets = us.slice(ns, ns + maxTargets);
      const points = new Float32Array(seeds.length * h);
      seeds.forEach((u, r) => points.set(e.subarray(u * h, (u + 1) * h), r * h));
      jobs.push({ points, n: seeds.length });
      const clicked = new Set(t.users);
      for (const u of targets) {
        examples.push([u, ii, 1]);
        for (let n = 0; n < negatives; n++) {
          let v = drawNegative(splitRng);
          for (let tries = 0; clicked.has(v) && tries < 20; tries++) v = drawNegative(splitRng);
          if (!clicked.has(v)) examples.push([v, ii, 0]);
        }
      }
    });
    const res = await clusterBatch(runKMeansJobs, jobs, h, k, { seed });
    const c = new Float32Array(list.length * k * h);
    const mask = new Float32Array(list.length * k);
    res.forEach((r, ii) => {
      c.set(r.centroids.subarray(0, r.count * h), ii * k * h);
      mask.fill(1, ii * k, ii * k + r.count);
    });
    return { cent: { c, mask }, examples };
  };

  const batchTensors = (ex: Array<[number, number, number]>, cent: Centroids): { xb: tf.Tensor2D; cb: tf.Tensor3D; mb: tf.Tensor2D; yb: tf.Tensor1D } => {
    const n = ex.length;
    const xb = new Float32Array(n * m);
    const cb = new Float32Array(n * k * h);
    const mb = new Float32Array(n * k);
    const yb = new Float32Array(n);
    ex.forEach(([u, ii, y], r) => {
      xb.set(x.subarray(u * m, (u + 1) * m), r * m);
      cb.set(cent.c.subarray(ii * k * h, (ii + 1) * k * h), r * k * h);
      mb.set(cent.mask.subarray(ii * k, (ii + 1) * k), r * k);
      yb[r] = y;
    });
    return { xb: tf.tensor2d(xb, [n, m]), cb: tf.tensor3d(cb, [n, k, h]), mb: tf.tensor2d(mb, [n, k]), yb: tf.tensor1d(yb) };
  };

  const validate = async (): Promise<number> => {
    const { cent, examples } = await prepare(val, new Rng(seed + 7)); // the same split every epoch
    const scores = new Float32Array(examples.length);
    const labels = Uint8Array.from(examples, (e) => e[2]);
    for (let b = 0; b < examples.length; b += 1024) {
      const chunk = examples.slice(b, b + 1024);
      const t = batchTensors(chunk, cent);
      const sc = tf.tidy(() => forwardScore(p, t.xb, t.cb, t.mb, alpha, beta));
      scores.set(sc.dataSync() as Float32Array, b);
      sc.dispose();
      for (const v of Object.values(t)) v.dispose();
    }
    return auc(scores, labels);
  };

  const history: EpochReport[] = [];
  let best = { auc: -1, epoch: 0, weights: null as Float32Array[] | null };
  const paramList = (): tf.Variable[] => [p.wt, p.bt, p.pt, p.wl, p.wg, p.vg, p.scale, p.bias];
  let auc0 = 0.5;
  try {
    auc0 = await validate();
    log(`epoch 0: validation AUC ${auc0.toFixed(4)} (untrained)`);
    best = { auc: auc0, epoch: 0, weights: paramList().map((v) => v.dataSync().slice() as Float32Array) };
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      const { cent, examples } = await prepare(train, new Rng(seed * 7919 + epoch));
      shuffleFromEnd(examples, rng);
      let lossSum = 0;
      let batches = 0;
      for (let b = 0; b < examples.length; b += B) {
        const t = batchTensors(examples.slice(b, b + B), cent);
        const loss = optimizer.minimize(() => {
          const score = forwardScore(p, t.xb, t.cb, t.mb, alpha, beta, dropout, seed * 1_000_003 + epoch * 100_003 + batches);
          const logit = tf.add(tf.mul(score, p.scale), p.bias);
          return tf.losses.sigmoidCrossEntropy(t.yb, logit) as tf.Scalar;
        }, true, paramList());
        lossSum += (loss as tf.Scalar).dataSync()[0];
        batches++;
        if (o.onProgress) {
          const done = Math.min(examples.length, b + B);
          const rate = done / ((performance.now() - t0) / 1000);
          o.onProgress({ stage: 'stage2', epoch, epochs, step: batches, steps: Math.ceil(examples.length / B), loss: lossSum / batches, examplesPerSecond: rate, etaSeconds: (examples.length - done) / rate + (epochs - epoch) * (examples.length / rate) });
        }
        loss?.dispose();
        for (const v of Object.values(t)) v.dispose();
      }
      const valAuc = await validate();
      const report: EpochReport = { epoch, loss: lossSum / Math.max(1, batches), validationAuc: valAuc, examples: examples.length, seconds: (performance.now() - t0) / 1000 };
      history.push(report);
      log(`epoch ${epoch}: loss ${report.loss.toFixed(4)}, validation AUC ${valAuc.toFixed(4)}, ${examples.length} examples in ${report.seconds.toFixed(1)} s`);
      if (valAuc > best.auc) best = { auc: valAuc, epoch, weights: paramList().map((v) => v.dataSync().slice() as Float32Array) };
      else if (epoch - best.epoch >= patience) {
        log(`early stop: no improvement for ${patience} epochs; keeping epoch ${best.epoch}`);
        break;
      }
    }
    const w = best.weights as Float32Array[];
    const weights: ModelWeights = {
      ...scaling.fold(w[0], w[1], h), transformPrelu: w[2], localWeight: w[3], globalWeight: w[4], globalVector: w[5],
    };
    const model: RalmModel = {
      manifest: {
        format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION,
        modelVersion: o.modelVersion ?? `stage2-h${h}-m${m}-k${k}-seed${seed}`,
        h, m, k, attentionSize: s, alpha, beta, activation: 'prelu', userFields: [],
        provenance: {
          kind: 'trained', dataset: o.dataset, createdAt: new Date().toISOString(), seed,
          notes: `stage 2 (look-alike) on fixed universal embeddings; best epoch ${best.epoch}, validation AUC ${best.auc.toFixed(4)}; calibration p = sigmoid(${w[6][0].toFixed(4)}·score + ${w[7][0].toFixed(4)})`,
        },
        weightsSha256: '0'.repeat(64),
      },
      weights,
    } as RalmModel;
    return { model, history, initialValidationAuc: auc0, bestEpoch: best.epoch, bestValidationAuc: best.auc, scale: w[6][0], bias: w[7][0] };
  } finally {
    xAll.dispose();
    for (const v of paramList()) v.dispose();
    optimizer.dispose();
  }
}
