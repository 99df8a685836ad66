/**
 * Stage 1 of RALM — user representation learning — on TensorFlow.js (WebAssembly backend,
 * autodiff, Adam), as the spec states it:
 *
 *   fields → H (n × m): one row per categorical field (its embedding; a multi-valued field's
 *            values embedded and mean-pooled), plus one row for all continuous fields together
 *            (min-max scaled values and missing flags, projected linearly to width m);
 *   merge  → attention: U = tanh(W1 Hᵀ), s_f = w2 · U[:, f], α = softmax_f(s), M = Σ_f α_f H_f
 *            (personal field weights), or, for the ablation, concatenation of the rows of H;
 *   MLP    → ReLU hidden layers, a linear last layer of width m: x_u.
 *
 * Objective (YouTube-DNN style): the user's clicked item against sampled negatives, a sampled
 * softmax over learned item embeddings v_i (and biases) with negatives drawn log-uniformly by
 * training popularity rank r, p(r) = (log(r+2) − log(r+1)) / log(D+1), and the usual logQ
 * correction (each logit minus log of its expected sampling count); negatives that happen to be
 * the positive are masked. At most `maxPositives` positives per user per epoch (drawn afresh each
 * epoch), `negatives` per positive, Adam, learning rate 1e-3, batch 256.
 *
 * An example never sees its own answer: where a field's values are item ids of the dataset (the
 * recently clicked items), the positive is removed from that example's bag, so the tower cannot
 * learn to echo its input. At serving time the bag is whole (no item is being predicted).
 *
 * Validation: a share of the users with two or more training clicks keep their latest click out
 * of training; each epoch ranks it among all items (full softmax, the user's other training items
 * excluded) and reports its hit rate at 50. Training stops when that has not improved for
 * `patience` epochs; the best epoch's weights are kept.
 *
 * Determinism: every random choice comes from a generator seeded by (seed, epoch), so a run
 * resumed from a checkpoint continues exactly as the uninterrupted run would.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import type { UserFieldSchema } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { Rng } from '../util/rng.js';
import { assignFrom, tfReady } from './tf-kernels.js';
import { formatDuration, type TrainingProgress } from './progress.js';
import { exportTower, initVars, layoutOf, listVars, packFeatures, tower } from './stage1-tower.js';
import { clickFactorInit, historyColumn } from './history.js';
import { defaultHidden, STAGE1_DEFAULTS } from './defaults.js';

export { targetEmbedder, userFeatureValues } from './stage1-tower.js';


export type MergeKind = 'attention' | 'concat';

export interface Stage1Options {
  /** Universal embedding width m (also the field width). */
  m?: number;
  merge?: MergeKind;
  /** Rows a of W1 in the attention merge. */
  attentionSize?: number;
  /** MLP output widths; the last must equal m. Default [2m, m]. */
  hidden?: number[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Sampled negatives per positive. */
  negatives?: number;
  /** Positives per user per epoch at most. */
  maxPositives?: number;
  /** Share of eligible users whose latest training click is held out for validation. */
  validationShare?: number;
  /**
   * Train on at most this many users' clicks (a seeded sample; every user is still embedded).
   * For logs too large to train on whole within the time at hand; the manifest records it.
   */
  maxTrainUsers?: number;
  /** Validation users at most (sampled). */
  maxValidationUsers?: number;
  patience?: number;
  seed?: number;
  /**
   * Adds the user's click history as a field (history.ts): the latest this many distinct items
   * clicked before the cut, as item ids. 0: no history field.
   */
  history?: number;
  /** Starts the item-id embeddings (and the softmax's item embeddings) from click factors (history.ts). */
  clickFactors?: boolean;
  /** Writes a checkpoint here after every epoch, and resumes from the one found there. */
  checkpointDir?: string;
  log?: (line: string) => void;
  onProgress?: (p: Progress) => void;
}

export type Progress = TrainingProgress;

export interface Stage1Epoch {
  epoch: number;
  loss: number;
  validationHitAt50: number;
  examples: number;
  seconds: number;
}

/** The tower in the model directory's format: manifest fields, tensors, vocabularies. */
export interface TowerExport {
  userFields: UserFieldSchema[];
  spec: { merge: MergeKind; attentionSize?: number; hidden: number[] };
  tensors: Record<string, TensorToWrite>;
  vocab: Record<string, string[]>;
}

export interface Stage1Result {
  tower: TowerExport;
  m: number;
  /** The click-history field's length (0: none); see history.ts. */
  historyItems: number;
  /** x_u for every user of the dataset (users × m), from their whole feature rows. */
  x: Float32Array;
  /** The softmax's item embeddings (items × m) and biases: the YouTube-DNN-style scorer. */
  itemEmbeddings: Float32Array;
  itemBias: Float32Array;
  history: Stage1Epoch[];
  bestEpoch: number;
  bestValidationHitAt50: number;
  validationUsers: number;
  trainingExamplesPerEpoch: number;
  resumedFromEpoch: number;
}

const CKPT_FILE = 'stage1.ckpt.safetensors';

/** Log-uniform sampling by popularity rank over D items: p(r) = (log(r+2) − log(r+1)) / log(D+1). */
export class LogUniform {
  readonly logQ: Float32Array;
  private readonly byRank: Uint32Array;
  private readonly logD1: number;

  constructor(readonly counts: Float64Array, readonly samples: number) {
    const D = counts.length;
    this.byRank = Uint32Array.from({ length: D }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
    this.logD1 = Math.log(D + 1);
    this.logQ = new Float32Array(D);
    this.byRank.forEach((item, r) => {
      const p = (Math.log(r + 2) - Math.log(r + 1)) / this.logD1;
      this.logQ[item] = Math.log(samples * p);
    });
  }

  draw(rng: Rng): number {
    const D = this.byRank.length;
    const r = Math.min(D - 1, Math.max(0, Math.floor(Math.exp(rng.next() * this.logD1)) - 1));
    return this.byRank[r];
  }
}

/**
 * Trains stage 1 on the dataset's user fields and its positive clicks in rows [0, trainEnd).
 * Returns the tower (model-directory format), x_u for every user, and the item embeddings.
 */
export async function trainStage1(ds: Dataset, trainEnd: number, options: Stage1Options = {}): Promise<Stage1Result> {
  await tfReady();
  const o = withDefaults(STAGE1_DEFAULTS, options);
  const { m, merge, attentionSize: a, epochs, batchSize: B, negatives: S, maxPositives: maxPos, patience, seed } = o;
  const hidden = o.hidden ?? defaultHidden(m);
  const log = o.log ?? (() => undefined);
  if (hidden.length === 0 || hidden[hidden.length - 1] !== m) throw new RalmError('RALM_ERR_VALIDATION', `hidden: expected MLP widths ending in m = ${m}, got [${hidden.join(', ')}]`, { field: 'hidden' });
  if (!(trainEnd > 0 && trainEnd <= ds.clickCount)) throw new RalmError('RALM_ERR_VALIDATION', `trainEnd: expected 1..${ds.clickCount}, got ${trainEnd}`);
  const derived = o.history > 0 ? [historyColumn(ds, trainEnd, o.history)] : [];
  const lay = layoutOf(ds, derived);
  const nu = ds.users.size;
  const D = ds.items.size;

  // Each user's distinct training positives, oldest first.
  const { user, item, label } = ds.clicks;
  const perUser: number[][] = Array.from({ length: nu }, () => []);
  const seen = new Set<number>();
  const counts = new Float64Array(D);
  for (let j = 0; j < trainEnd; j++) {
    if (!label[j]) continue;
    counts[item[j]]++;
    const key = user[j] * D + item[j];
    if (seen.has(key)) continue;
    seen.add(key);
    perUser[user[j]].push(item[j]);
  }
  seen.clear();

  // Validation: the latest click of a sample of users with ≥ 2 clicks.
  const vrng = new Rng(seed * 13 + 1);
  const eligible = perUser.flatMap((l, u) => (l.length >= 2 ? [u] : []));
  const nVal = Math.min(o.maxValidationUsers, Math.round(eligible.length * o.validationShare));
  vrng.shuffle(eligible, nVal);
  const valUsers = eligible.slice(0, nVal).sort((x, y) => x - y);
  const valItems = valUsers.map((u) => perUser[u].pop() as number);
  let trainUsers = perUser.flatMap((l, u) => (l.length > 0 ? [u] : []));
  if (o.maxTrainUsers !== undefined && trainUsers.length > o.maxTrainUsers) {
    new Rng(seed * 17 + 3).shuffle(trainUsers, o.maxTrainUsers);
    trainUsers = trainUsers.slice(0, o.maxTrainUsers).sort((x, y) => x - y);
  }
  const examplesPerEpoch = trainUsers.reduce((s, u) => s + Math.min(maxPos, perUser[u].length), 0);
  if (examplesPerEpoch === 0) throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: no positive training clicks before row ${trainEnd}`);
  const sampler = new LogUniform(counts, S);
  log(`stage 1: ${trainUsers.length} users, ${examplesPerEpoch} examples per epoch, ${valUsers.length} validation users; ${lay.cat.length} categorical + ${lay.cont.length} continuous fields, merge ${merge}, m = ${m}, MLP [${hidden.join(', ')}]`);

  let init: { itemRows: Float32Array } | undefined;
  if (o.clickFactors) {
    const cu: number[] = [];
    const ci: number[] = [];
    perUser.forEach((l, u) => l.forEach((i) => { cu.push(u); ci.push(i); })); // validation clicks are already out
    init = { itemRows: clickFactorInit(nu, D, { user: cu, item: ci }, m, seed) };
  }
  const vars = initVars(lay, D, m, merge, a, hidden, seed, init);
  const named = listVars(vars);
  const trainable = named.map(([, v]) => v);
  const optimizer = tf.train.adam(o.learningRate);
  try {
    const validate = (): number => {
      if (valUsers.length === 0) return NaN;
      let hits = 0;
      for (let b = 0; b < valUsers.length; b += 256) {
        const us = valUsers.slice(b, b + 256);
        const targets = valItems.slice(b, b + 256);
        const fb = packFeatures(lay, us, targets);
        const logits = tf.tidy(() => tf.add(tf.matMul(tower(vars, fb, merge), vars.item, false, true), vars.itemBias));
        const L = logits.dataSync() as Float32Array;
        logits.dispose();
        us.forEach((u, r) => {
          const row = L.subarray(r * D, (r + 1) * D);
          for (const i of perUser[u]) row[i] = -Infinity; // already clicked: not ranked
          const t = row[targets[r]];
          let above = 0;
          for (let i = 0; i < D && above < 50; i++) if (row[i] > t) above++;
          if (above < 50) hits++;
        });
      }
      return hits / valUsers.length;
    };

    const history: Stage1Epoch[] = [];
    let best = { hit: -1, epoch: 0, weights: null as Float32Array[] | null };
    let startEpoch = 1;
    let resumedFrom = 0;

    const ckptPath = o.checkpointDir ? join(o.checkpointDir, CKPT_FILE) : null;
    if (ckptPath && existsSync(ckptPath)) {
      const file = parseSafetensors(await readFile(ckptPath));
      const meta = JSON.parse(file.metadata.state ?? '{}') as { epoch: number; history: Stage1Epoch[]; best: { hit: number; epoch: number }; seed: number; merge: MergeKind; m: number };
      if (meta.seed !== seed || meta.merge !== merge || meta.m !== m) {
        throw new RalmError('RALM_ERR_VALIDATION', `${ckptPath}: a checkpoint of a different run (seed ${meta.seed}, merge ${meta.merge}, m ${meta.m}); remove it or train into another directory`);
      }
      const get = (name: string): Float32Array => {
        const t = file.tensors.get(name);
        if (!t) throw new RalmError('RALM_ERR_MODEL_FORMAT', `${ckptPath}: tensor ${name} missing`);
        return t.data;
      };
      for (const [name, variable] of named) assignFrom(variable, get(`var.${name}`));
      const optNames = JSON.parse(file.metadata.optimizer ?? '[]') as string[];
      await optimizer.setWeights(optNames.map((name) => {
        const t = file.tensors.get(`opt.${name}`);
        if (!t) throw new RalmError('RALM_ERR_MODEL_FORMAT', `${ckptPath}: optimizer tensor ${name} missing`);
        return { name, tensor: tf.tensor(t.data, [...t.shape]) };
      }));
      best = { hit: meta.best.hit, epoch: meta.best.epoch, weights: named.map(([name]) => get(`best.${name}`).slice()) };
      history.push(...meta.history);
      startEpoch = meta.epoch + 1;
      resumedFrom = meta.epoch;
      log(`stage 1: resumed from the checkpoint after epoch ${meta.epoch}`);
    }

    const saveCheckpoint = async (epoch: number): Promise<void> => {
      if (!o.checkpointDir || !ckptPath) return;
      await mkdir(o.checkpointDir, { recursive: true });
      const tensors: Record<string, TensorToWrite> = {};
      for (const [name, variable] of named) tensors[`var.${name}`] = { shape: variable.shape, data: variable.dataSync() as Float32Array };
      named.forEach(([name], j) => (tensors[`best.${name}`] = { shape: named[j][1].shape, data: (best.weights as Float32Array[])[j] }));
      const ow = await optimizer.getWeights();
      for (const { name, tensor } of ow) tensors[`opt.${name}`] = { shape: tensor.shape, data: Float32Array.from(tensor.dataSync() as Float32Array) };
      const state = JSON.stringify({ epoch, history, best: { hit: best.hit, epoch: best.epoch }, seed, merge, m });
      const bytes = serializeSafetensors(tensors, { state, optimizer: JSON.stringify(ow.map((w) => w.name)) });
      await writeFile(`${ckptPath}.tmp`, bytes);
      await rename(`${ckptPath}.tmp`, ckptPath);
    };

    if (best.weights === null) {
      const hit0 = validate();
      log(`epoch 0: validation hit@50 ${hit0.toFixed(4)} (untrained)`);
      best = { hit: hit0, epoch: 0, weights: trainable.map((v) => v.dataSync().slice() as Float32Array) };
    }
    const stopped = history.length > 0 && history[history.length - 1].epoch - best.epoch >= patience;
    for (let epoch = startEpoch; epoch <= epochs && !stopped; epoch++) {
      const t0 = performance.now();
      const rng = new Rng(seed * 7919 + epoch);
      const exUser: number[] = [];
      const exItem: number[] = [];
      for (const u of trainUsers) {
        const l = perUser[u].slice();
        const take = Math.min(maxPos, l.length);
        if (take < l.length) rng.shuffle(l, take);
        for (let t = 0; t < take; t++) {
          exUser.push(u);
          exItem.push(l[t]);
        }
      }
      const order = rng.shuffle(Array.from(exUser.keys()));
      const steps = Math.ceil(order.length / B);
      let lossSum = 0;
      for (let step = 0; step < steps; step++) {
        const idx = order.slice(step * B, (step + 1) * B);
        const us = idx.map((j) => exUser[j]);
        const pos = idx.map((j) => exItem[j]);
        const n = idx.length;
        const cand = new Int32Array(n * (S + 1));
        const corr = new Float32Array(n * (S + 1));
        for (let r = 0; r < n; r++) {
          cand[r * (S + 1)] = pos[r];
          corr[r * (S + 1)] = sampler.logQ[pos[r]];
          for (let t = 1; t <= S; t++) {
            const neg = sampler.draw(rng);
            cand[r * (S + 1) + t] = neg;
            // An accidental hit (the positive drawn as a negative) is masked out of the softmax.
            corr[r * (S + 1) + t] = neg === pos[r] ? 1e9 : sampler.logQ[neg];
          }
        }
        const fb = packFeatures(lay, us, pos);
        const loss = optimizer.minimize(() => {
          const x = tower(vars, fb, merge); // [n, m]
          const ci = tf.tensor1d(cand, 'int32');
          const V = tf.reshape(tf.gather(vars.item, ci), [n, S + 1, m]);
          const bias = tf.reshape(tf.gather(vars.itemBias, ci), [n, S + 1]);
          const logits = tf.sub(tf.add(tf.squeeze(tf.matMul(V, tf.reshape(x, [n, m, 1])), [2]), bias), tf.tensor2d(corr, [n, S + 1]));
          const lse = tf.logSumExp(logits, 1);
          const first = tf.squeeze(tf.slice(logits, [0, 0], [n, 1]), [1]);
          return tf.mean(tf.sub(lse, first)) as tf.Scalar;
        }, true, trainable) as tf.Scalar;
        lossSum += loss.dataSync()[0];
        loss.dispose();
        if (o.onProgress) {
          const el = (performance.now() - t0) / 1000;
          const done = Math.min(order.length, (step + 1) * B);
          const rate = done / el;
          o.onProgress({ stage: 'stage1', epoch, epochs, step: step + 1, steps, loss: lossSum / (step + 1), examplesPerSecond: rate, etaSeconds: (order.length - done) / rate + (epochs - epoch) * (order.length / rate) });
        }
      }
      const hit = validate();
      const rep: Stage1Epoch = { epoch, loss: lossSum / Math.max(1, steps), validationHitAt50: hit, examples: order.length, seconds: (performance.now() - t0) / 1000 };
      history.push(rep);
      log(`epoch ${epoch}: loss ${rep.loss.toFixed(4)}, validation hit@50 ${hit.toFixed(4)}, ${order.length} examples in ${rep.seconds.toFixed(1)} s (${formatDuration(rep.seconds * (epochs - epoch))} left at most)`);
      const improved = hit > best.hit || Number.isNaN(hit);
      if (improved) best = { hit, epoch, weights: trainable.map((v) => v.dataSync().slice() as Float32Array) };
      await saveCheckpoint(epoch);
      if (!improved && epoch - best.epoch >= patience) {
        log(`early stop: no improvement for ${patience} epochs; keeping epoch ${best.epoch}`);
        break;
      }
    }

    // Keep the best epoch's weights, then embed every user with their whole feature rows.
    trainable.forEach((v, j) => assignFrom(v, (best.weights as Float32Array[])[j]));
    const x = new Float32Array(nu * m);
    for (let b = 0; b < nu; b += 1024) {
      const us = Array.from({ length: Math.min(1024, nu - b) }, (_, r) => b + r);
      const t = tf.tidy(() => tower(vars, packFeatures(lay, us, null), merge));
      x.set(t.dataSync() as Float32Array, b * m);
      t.dispose();
    }
    const tower_ = exportTower(lay, vars, { merge, attentionSize: merge === 'attention' ? a : undefined, hidden });
    return {
      tower: tower_, m, historyItems: o.history, x,
      itemEmbeddings: vars.item.dataSync().slice() as Float32Array, itemBias: vars.itemBias.dataSync().slice() as Float32Array,
      history, bestEpoch: best.epoch, bestValidationHitAt50: best.hit, validationUsers: valUsers.length,
      trainingExamplesPerEpoch: examplesPerEpoch, resumedFromEpoch: resumedFrom,
    };
  } finally {
    for (const v of trainable) v.dispose();
    optimizer.dispose();
  }
}
