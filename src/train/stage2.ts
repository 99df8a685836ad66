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
 * an example it is the target of (stage2-data.ts). Where x carries the user's clicked items (a
 * history field), `xWithout` embeds a target without the item it is asked about.
 *
 * Objective. Negatives are users who did not click the item (`users`: ranking users for an item,
 * the paper's formulation), items the target did not click (`items`: ranking items for a user, the
 * task `ralm eval` measures), or both; the loss reads each group of 1 + N pairs as labelled pairs
 * (`bce`) or as one softmax (`softmax`). `full` ranks each target's item against every candidate
 * the ranking validation ranks, in one softmax (stage2-listwise.ts).
 *
 * Validation: each sampled user's latest clicks are held out of training and ranked against every
 * item (prec@10, stage2-ranking.ts: the evaluation's question); a share of the items is also held
 * out, with items-per-user and users-per-item AUC on them (stage2-validate.ts). Training stops
 * early when the chosen measure has not improved for `patience` epochs. Never worse than the
 * start: the weights kept are the best of the trained epochs, the initial weights and (h = m) the
 * identity configuration, by the chosen measure, and the result says which (`kept`). The ranking
 * measure is taken as the weights are served, with the popularity prior λ·ln(1 + clickers): its
 * λ is chosen on the same held-out clicks for each set of weights (choosePrior) unless fixed.
 *
 * Adam's learning rate defaults to 1e-2 here (the spec fixes 1e-3 for stage 1 only): on MovieLens
 * (rank-16 SVD embeddings) 1e-3 took six epochs to regain the untrained AUC (0.73 → 0.75), 1e-2 0.84.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, type ModelWeights, type RalmModel } from '../model/model.js';
import { Rng } from '../util/rng.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { clusterBatch } from '../clustering/cluster-batch.js';
import { runKMeansJobs } from '../cpu/kmeans.js';
import { tfReady } from './tf-kernels.js';
import { blendLogit, blendOf, forwardScore, initParams, inputScaling, paramList, trainableParams, transform, type Centroids, type Params } from './stage2-model.js';
import { groupLoss } from './stage2-loss.js';
import { listwiseEpoch, pullToward } from './stage2-listwise.js';
import { chooseTrainingItems, ExampleSource, shuffledGroups, shuffleFromEnd, WeightedDraw, type TrainItem } from './stage2-data.js';
import { ValidationSet, type PairScorer } from './stage2-validate.js';
import { choosePrior, holdOutForRanking, type RankingValidation } from './stage2-ranking.js';
import { checkKeep, keepCheckLine, type KeepCandidate, type KeepCheck } from './stage2-keep.js';
import { STAGE2_DEFAULTS, type Stage2Options } from './stage2-options.js';
import { METRIC_NAMES, type EpochReport, type Kept, type Measures, type Stage2Result } from './stage2-result.js';

export type { EpochReport, Kept, Measures, Stage2Result } from './stage2-result.js';
import { isPriorWeight, MAX_PRIOR_WEIGHT } from '../model/prior.js';

export { forwardScore, inputScaling, scoreWithWeights, type InputScaling } from './stage2-model.js';
export type { Objective } from './stage2-data.js';
export type { ValidationMetric } from './stage2-validate.js';
export { STAGE2_DEFAULTS, type Stage2Defaults, type Stage2Options } from './stage2-options.js';

export { tfReady }; // TensorFlow.js on its WebAssembly backend (once per process); see tf-kernels.ts

/** How the training items were chosen, for the log. */
const ITEM_CHOICE_TEXT = { sample: 'a seeded sample', latest: 'those first clicked latest', popular: 'drawn by clickers' } as const;

/** (user, left-out item) rows of x kept during stage 2 at most: 250,000 × m floats (64 MB at m = 64). */
const X_WITHOUT_KEPT = 250_000;

/**
 * Trains stage 2 on universal embeddings `x` (users × m, row-major) and distinct clicks
 * (user, item) index pairs; returns the model in the engine's format.
 */
export async function trainStage2(x: Float32Array, m: number, clicks: { user: ArrayLike<number>; item: ArrayLike<number> }, options: Stage2Options = {}): Promise<Stage2Result> {
  await tfReady();
  const o = withDefaults(STAGE2_DEFAULTS, options);
  const h = o.h ?? m;
  const { k, attentionSize: s, alpha, beta, epochs, batchSize: B, negatives: N, minClickers, dropout, patience, seed } = o;
  const log = o.log ?? (() => undefined);
  const nu = x.length / m;
  if (!Number.isInteger(nu)) throw new RalmError('RALM_ERR_DIMENSION', `x: expected rows of ${m} values, got ${x.length} values`);
  if (o.init === 'identity' && h !== m) throw new RalmError('RALM_ERR_VALIDATION', `init: "identity" needs h = m, got h = ${h}, m = ${m}`, { field: 'init' });
  if (o.popularityPrior !== 'auto' && !isPriorWeight(o.popularityPrior)) throw new RalmError('RALM_ERR_VALIDATION', `popularityPrior: expected "auto" or a finite number within ±${MAX_PRIOR_WEIGHT}, got ${JSON.stringify(o.popularityPrior)}`, { field: 'popularityPrior' });
  if (o.learnPriorInLoss && (o.objective !== 'full' || !o.priorInLoss)) throw new RalmError('RALM_ERR_VALIDATION', 'learnPriorInLoss: a learned λ needs the full objective with the prior in the loss', { field: 'learnPriorInLoss' });
  if (o.objective === 'full' && o.loss !== 'softmax') throw new RalmError('RALM_ERR_VALIDATION', `loss: the full objective is a softmax over every item, got ${o.loss}`, { field: 'loss' });
  if (o.logQ && (o.objective !== 'items' || o.loss !== 'softmax')) throw new RalmError('RALM_ERR_VALIDATION', `logQ: the correction applies to the items objective with the softmax loss, got ${o.objective} (${o.loss})`, { field: 'logQ' });
  if (o.itemChoice !== 'sample' && o.maxItems === undefined) throw new RalmError('RALM_ERR_VALIDATION', `itemChoice: "${o.itemChoice}" chooses which items maxItems keeps; give maxItems`, { field: 'itemChoice' });
  const rng = new Rng(seed);
  const scaling = inputScaling(x, nu, m, o.inputScaling);
  x = scaling.apply(x);
  let zz = 0;
  for (let j = 0; j < x.length; j++) zz += x[j] * x[j];
  zz /= Math.max(1, nu);

  // Items and their distinct clickers; the ranking validation's held-out clicks are left out of training.
  const { ranking, training, byItem, ni, seeds: rankingSeeds } = holdOutForRanking(clicks, minClickers, o.maxSeeds, seed, o.holdout ?? {});
  clicks = training;
  const checked = o.keepRule === 'checked' && o.validationMetric === 'ranking';
  ranking.split = checked;
  const items: TrainItem[] = [...byItem.entries()].map(([item, us]) => ({ item, users: [...new Set(us)] })).filter((t) => t.users.length >= minClickers).sort((a, b) => a.item - b.item);
  if (items.length < 2) throw new RalmError('RALM_ERR_VALIDATION', `stage 2: need at least 2 items with ${minClickers}+ clickers, found ${items.length}`);
  shuffleFromEnd(items, rng);
  const nVal = Math.max(1, Math.round(items.length * o.validationShare));
  const val = items.slice(0, nVal);
  const train = chooseTrainingItems(items.slice(nVal), o.maxItems, o.itemChoice, clicks.item, new Rng(seed + 17));
  log(`stage 2: ${nu} users, ${train.length} training items${o.maxItems !== undefined && train.length === o.maxItems ? ` (${ITEM_CHOICE_TEXT[o.itemChoice]})` : ''}, ${val.length} validation items (≥ ${minClickers} clickers), k = ${k}, h = ${h}; objective ${o.objective} (${o.loss}${o.logQ ? ', logQ-corrected' : ''}, ${o.itemSampling} item negatives, scale from ${o.scale}, training ${o.train}), validation by ${o.validationMetric === 'ranking' ? `prec@10 of ${ranking.rows} held-out latest clicks over ${ranking.candidates.length} items` : `${o.validationMetric} per ${o.validationMetric === 'items' ? 'user' : 'item'}`}`);

  // The listwise objective ranks what the validation ranks: every candidate item, those too
  // few-clicked to train on (or set aside for the item AUCs) as seeds-only negatives.
  const inList = new Set([...train, ...val].map((t) => t.item));
  const negativesOnly: TrainItem[] = o.objective !== 'full' ? [] : ranking.candidates.filter((it) => !inList.has(it)).map((item) => ({ item, users: [...new Set(byItem.get(item) ?? [])] })).filter((t) => t.users.length > 0);
  const candidates = [...train, ...negativesOnly];
  if (o.objective === 'full') log(`stage 2 ranks each target against ${candidates.length} items (${negativesOnly.length} of them as negatives only: too few clickers to train on)`);
  const source = new ExampleSource(nu, ni, clicks, o.negativeSampling);
  const itemDraw = new WeightedDraw(o.itemSampling === 'popularity' ? train.map((t) => t.users.length) : null, train.length);
  const validation = new ValidationSet(val, source, { seedShare: o.seedShare, maxSeeds: o.maxSeeds, maxTargets: o.maxTargets, userNegatives: 4, itemNegatives: 100, maxItemTargets: 2000, seed: seed + 7 });
  const splitOpts = { k, h, seedShare: o.seedShare, maxSeeds: o.maxSeeds, maxTargets: o.maxTargets, negatives: N, objective: o.objective, seed };

  const p = initParams(m, h, s, seed, o.init, zz, o.learnBlend ? blendLogit(alpha, beta) : null, o.scale);
  const logQOf = o.logQ ? Float32Array.from({ length: train.length }, (_, i) => itemDraw.logProbability(i)) : null;
  const optimizer = tf.train.adam(o.learningRate);
  const xAll = tf.tensor2d(x, [nu, m]);
  const disposeParams = (q: Params): void => { for (const v of paramList(q)) v.dispose(); };

  /**
   * Scaled x rows of pairs; a pair with leaveOut ≥ 0 is its user without that item (when xWithout
   * is given). The tower is fixed during stage 2, so a (user, left-out item) row is embedded once
   * and kept (at most X_WITHOUT_KEPT rows): every validation re-reads the same held-out clicks.
   */
  const kept = new Map<string, Float32Array>();
  const xRows = async (users: Int32Array, leaveOut: Int32Array): Promise<Float32Array> => {
    const out = new Float32Array(users.length * m);
    // Pairs of one group share their (user, left-out item): each distinct one is embedded once.
    const need = new Map<string, number[]>();
    users.forEach((u, r) => {
      if (!o.xWithout || leaveOut[r] < 0) out.set(x.subarray(u * m, (u + 1) * m), r * m);
      else {
        const key = `${u}:${leaveOut[r]}`;
        const row = kept.get(key);
        const l = need.get(key);
        if (row) out.set(row, r * m);
        else if (l) l.push(r);
        else need.set(key, [r]);
      }
    });
    if (need.size > 0 && o.xWithout) {
      const keys = [...need.keys()];
      const rows = [...need.values()];
      const fresh = scaling.apply(await o.xWithout(Int32Array.from(rows, (l) => users[l[0]]), Int32Array.from(rows, (l) => leaveOut[l[0]])));
      rows.forEach((l, j) => {
        const row = fresh.slice(j * m, (j + 1) * m);
        for (const r of l) out.set(row, r * m);
        if (kept.size < X_WITHOUT_KEPT) kept.set(keys[j], row);
      });
    }
    return out;
  };
  const embedAll = (q: Params): Float32Array => {
    const et = tf.tidy(() => transform(q, xAll));
    const e = et.dataSync() as Float32Array; // a copy: the tensor is freed at once (users × h, 83 MB on Globo.com)
    et.dispose();
    return e;
  };
  const centroidsOf = async (e: Float32Array, seeds: ReadonlyArray<readonly number[]>, k = o.k, sized = false): Promise<Centroids> => {
    const jobs = seeds.map((l) => {
      const points = new Float32Array(l.length * h);
      l.forEach((u, r) => points.set(e.subarray(u * h, (u + 1) * h), r * h));
      return { points, n: l.length };
    });
    const res = await clusterBatch(runKMeansJobs, jobs, h, k, { seed });
    const c = new Float32Array(seeds.length * k * h);
    const mask = new Float32Array(seeds.length * k);
    res.forEach((r, ii) => {
      c.set(r.centroids.subarray(0, r.count * h), ii * k * h);
      if (sized) for (const a of r.assignments) mask[ii * k + a]++;
      else mask.fill(1, ii * k, ii * k + r.count);
    });
    return { c, mask };
  };
  const batchTensors = async (users: Int32Array, its: Int32Array, leaveOut: Int32Array, cent: Centroids, k = o.k): Promise<{ xb: tf.Tensor2D; cb: tf.Tensor3D; mb: tf.Tensor2D }> => {
    const n = users.length;
    const cb = new Float32Array(n * k * h);
    const mb = new Float32Array(n * k);
    its.forEach((ii, r) => {
      cb.set(cent.c.subarray(ii * k * h, (ii + 1) * k * h), r * k * h);
      mb.set(cent.mask.subarray(ii * k, (ii + 1) * k), r * k);
    });
    return { xb: tf.tensor2d(await xRows(users, leaveOut), [n, m]), cb: tf.tensor3d(cb, [n, k, h]), mb: tf.tensor2d(mb, [n, k]) };
  };
  const scorerFor = (q: Params, k = o.k, sized = false): PairScorer => async (users, its, leaveOut, seeds) => {
    const cent = await centroidsOf(embedAll(q), seeds, k, sized);
    const { alpha: a, beta: b } = blendOf(q, alpha, beta);
    const out = new Float32Array(users.length);
    for (let j = 0; j < users.length; j += 1024) {
      const t = await batchTensors(users.subarray(j, j + 1024), its.subarray(j, j + 1024), leaveOut.subarray(j, j + 1024), cent, k);
      const sc = tf.tidy(() => forwardScore(q, t.xb, t.cb, t.mb, a, b));
      out.set(sc.dataSync() as Float32Array, j);
      sc.dispose();
      for (const v of Object.values(t)) v.dispose();
    }
    return out;
  };
  /** Every measure of weights q served with kk centroids an item; the ranking rows' hits with the λ chosen are left in hitsOfLast. */
  const measure = async (q: Params, kk = k, sized = false): Promise<Measures> => {
    const v = await validation.evaluate(scorerFor(q, kk, sized));
    const cent = await centroidsOf(embedAll(q), rankingSeeds, kk, sized);
    const r = await ranking.evaluate(q, await xRows(ranking.rowUser, ranking.rowItem), m, cent, kk, h, alpha, beta);
    priorsOfLast = ranking.withPrior.slice();
    const chosen = choosePrior(o.popularityPrior, r, priorsOfLast);
    hitsOfLast = ranking.hitsAt(chosen.lambda);
    allHitsOfLast = ranking.lastHits;
    return { ...v, ranking: r, withPrior: chosen.ranking };
  };
  let priorsOfLast: number[] = [];
  let hitsOfLast: Uint8Array = new Uint8Array(0);
  let allHitsOfLast: Uint8Array[] = [];
  const pick = (v: Measures): number => (o.validationMetric === 'ranking' ? v.withPrior : v[o.validationMetric]);
  const said = (v: Measures): string => `validation ${v.items.toFixed(4)} AUC items per user, ${v.users.toFixed(4)} AUC users per item, ${v.ranking.toFixed(4)} prec@10 held-out clicks, ${v.withPrior.toFixed(4)} with the prior (${ranking.diagnostics()})`;
  const snapshot = (q: Params): Float32Array[] => paramList(q).map((v) => v.dataSync().slice() as Float32Array);

  const history: EpochReport[] = [];
  let identity: Params | null = null;
  let anchor: tf.Tensor[] | null = null;
  let lambdaVar: tf.Variable | null = null;
  try {
    const v0 = await measure(p);
    log(`epoch 0: ${said(v0)} (${o.init})`);
    type Candidate = { value: number; both: Measures; epoch: number; weights: Float32Array[]; kept: Kept; priors: number[]; hits: Uint8Array; allHits: Uint8Array[] };
    let best: Candidate = { value: pick(v0), both: v0, epoch: 0, weights: snapshot(p), kept: 'initial', priors: priorsOfLast, hits: hitsOfLast, allHits: allHitsOfLast };
    let vId: Measures | null = null;
    if (o.init === 'identity') vId = v0;
    else if (h === m) {
      identity = initParams(m, h, s, seed, 'identity', zz, o.learnBlend ? blendLogit(alpha, beta) : null, o.scale);
      vId = await measure(identity);
      log(`identity configuration: ${said(vId)}`);
      if (pick(vId) > best.value) best = { value: pick(vId), both: vId, epoch: 0, weights: snapshot(identity), kept: 'identity', priors: priorsOfLast, hits: hitsOfLast, allHits: allHitsOfLast };
    }
    const start = best;
    let averaged: Candidate | null = null;
    if (checked && o.keepAveraged && k > 1) {
      const vAvg = await measure(start.kept === 'identity' && identity ? identity : p, 1);
      log(`averaged seeds (the start at k = 1): ${said(vAvg)}`);
      averaged = { value: pick(vAvg), both: vAvg, epoch: 0, weights: start.weights, kept: 'averaged', priors: priorsOfLast, hits: hitsOfLast, allHits: allHitsOfLast };
    }
    if (o.sizeDiagnostic && o.validationMetric === 'ranking') {
      const vSize = await measure(start.kept === 'identity' && identity ? identity : p, k, true);
      log(`size-weighted attention (the start, each centroid weighted by its seeds; a diagnostic, never kept): ${said(vSize)}`);
      // measure() leaves each one's hits at the λ it chose: start.hits, and hitsOfLast for these weights.
      const lambdaOf = (v: Measures, priors: number[]): number => choosePrior(o.popularityPrior, v.ranking, priors).lambda;
      log(sizeDiagnosticLine({ kept: start.kept, lambda: lambdaOf(start.both, start.priors), hits: start.hits }, { kept: 'trained', lambda: lambdaOf(vSize, priorsOfLast), hits: hitsOfLast }, ranking, seed + 19));
    }
    let trainedBest: Candidate | null = null;
    let bestTrainedEpoch = 0;
    let bestTrained = -Infinity;
    const G = Math.max(1, Math.floor(B / (1 + N)));
    const trainLambda = o.priorInLoss ? choosePrior(o.popularityPrior, start.both.ranking, start.priors).lambda : 0;
    // A learned λ multiplies ln(1 + clickers) inside the loss; a fixed one is folded into the offsets.
    if (o.learnPriorInLoss) lambdaVar = tf.variable(tf.scalar(trainLambda), true);
    const offsetOf = lambdaVar ? Float32Array.from(candidates, (t) => Math.log1p(t.users.length))
      : trainLambda !== 0 ? Float32Array.from(candidates, (t) => trainLambda * Math.log1p(t.users.length)) : null;
    if (o.priorInLoss) log(`stage 2 trains with the served score: λ = ${trainLambda} (the start's${lambdaVar ? ', then learned' : ''}) times ln(1 + clickers) added to each pair's score in the loss`);
    const trainable = trainableParams(p, o.train);
    // The start's values of the trained weights, for the pull toward them (null without one).
    anchor = o.pullToStart > 0 ? trainable.map((v) => tf.keep(v.clone())) : null;
    if (anchor) log(`stage 2 pulls the trained weights toward the start: ${o.pullToStart} · Σ‖w − w₀‖² added to the loss`);
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      const ep = await source.epoch(train, embedAll(p), new Rng(seed * 7919 + epoch), splitOpts, itemDraw, negativesOnly);
      const groups = shuffledGroups(ep.groups, rng);
      const size = groups.size;
      let lossSum = 0;
      let batches = 0;
      const steps = o.objective === 'full' ? 0 : Math.ceil(groups.count / G);
      if (o.objective === 'full') {
        ({ lossSum, batches } = await listwiseEpoch({
          p, optimizer, vars: lambdaVar ? [...trainable, lambdaVar] : trainable, offsetWeight: lambdaVar, list: candidates, cent: ep.cent, k, h, m, users: ep.groups.user, items: ep.groups.item, byUser: source.byUser, xRows, offset: offsetOf,
          alpha, beta, dropout, seed: seed * 7919 + epoch, anchor, pull: o.pullToStart,
          onBatch: (done, sum, n) => o.onProgress?.({ stage: 'stage2', epoch, epochs, step: n, steps: n, loss: sum / n, examplesPerSecond: done / ((performance.now() - t0) / 1000), etaSeconds: 0 }),
        }));
      }
      for (let g = 0; o.objective !== 'full' && g < groups.count; g += G) {
        const ng = Math.min(G, groups.count - g);
        const users = groups.user.subarray(g * size, (g + ng) * size);
        const leaveOut = new Int32Array(users.length).fill(-1);
        for (let r = 0; r < users.length; r++) if (users[r] === groups.anchor[g + Math.floor(r / size)]) leaveOut[r] = groups.anchorItem[g + Math.floor(r / size)];
        const t = await batchTensors(users, groups.item.subarray(g * size, (g + ng) * size), leaveOut, ep.cent);
        const dropoutSeed = seed * 1_000_003 + epoch * 100_003 + batches;
        const lq = logQOf ? Float32Array.from(groups.item.subarray(g * size, (g + ng) * size), (i) => logQOf[i]) : null;
        const off = offsetOf ? Float32Array.from(groups.item.subarray(g * size, (g + ng) * size), (i) => offsetOf[i]) : null;
        const loss = optimizer.minimize(() => {
          const l = groupLoss(p, forwardScore(p, t.xb, t.cb, t.mb, alpha, beta, dropout, dropoutSeed), ng, size, o.loss, lq, off);
          return anchor ? tf.add(l, tf.mul(o.pullToStart, pullToward(trainable, anchor))) as tf.Scalar : l;
        }, true, trainable);
        lossSum += (loss as tf.Scalar).dataSync()[0];
        batches++;
        if (o.onProgress) {
          const done = Math.min(groups.count, g + G);
          const rate = (done * size) / ((performance.now() - t0) / 1000);
          const total = groups.count * size;
          o.onProgress({ stage: 'stage2', epoch, epochs, step: batches, steps, loss: lossSum / batches, examplesPerSecond: rate, etaSeconds: (total - done * size) / rate + (epochs - epoch) * (total / rate) });
        }
        loss?.dispose();
        for (const v of Object.values(t)) v.dispose();
      }
      const vb = await measure(p);
      const report: EpochReport = { epoch, loss: lossSum / Math.max(1, batches), validationAuc: pick(vb), validation: vb, examples: groups.count * size, seconds: (performance.now() - t0) / 1000 };
      history.push(report);
      log(`epoch ${epoch}: loss ${report.loss.toFixed(4)}, ${said(vb)}; ${report.examples} pairs in ${report.seconds.toFixed(1)} s${lambdaVar ? `; λ in the loss ${lambdaVar.dataSync()[0].toFixed(4)}` : ''}`);
      if (pick(vb) > bestTrained) {
        bestTrained = pick(vb);
        bestTrainedEpoch = epoch;
        if (checked) trainedBest = { value: pick(vb), both: vb, epoch, weights: snapshot(p), kept: 'trained', priors: priorsOfLast, hits: hitsOfLast, allHits: allHitsOfLast };
      }
      if (pick(vb) > best.value) best = trainedBest ?? { value: pick(vb), both: vb, epoch, weights: snapshot(p), kept: 'trained', priors: priorsOfLast, hits: hitsOfLast, allHits: allHitsOfLast };
      else if (epoch - bestTrainedEpoch >= patience && epoch - best.epoch >= patience) {
        log(`early stop: no improvement for ${patience} epochs`);
        break;
      }
    }
    let check: KeepCheck | null = null;
    if (checked) {
      const lambdaOf = (c: Candidate): number => choosePrior(o.popularityPrior, c.both.ranking, c.priors).lambda;
      const alts = [trainedBest, averaged].filter((c): c is Candidate => c !== null);
      check = checkKeep({ kept: start.kept, lambda: lambdaOf(start), hits: start.hits }, alts.map((c) => ({ kept: c.kept, lambda: lambdaOf(c), hits: c.hits })), ranking.rowUser, ranking.rowPart, { margin: o.keepMargin, seed: seed + 17 });
      log(keepCheckLine(check));
      best = alts.find((c) => c.kept === check?.kept) ?? start;
    }
    if (best.kept === 'averaged') log(`kept the averaged-seeds configuration (k = 1; validation ${best.value.toFixed(4)})`);
    else if (best.kept !== 'trained') log(`kept the ${best.kept === 'identity' ? 'identity configuration' : 'initial weights'}: no trained epoch validated better (${best.value.toFixed(4)})`);
    else log(`kept epoch ${best.epoch} (validation ${best.value.toFixed(4)})`);
    // λ once the weights are kept, on every held-out click (both halves): the halves served to
    // choose epochs and to check the keep; λ is one number for the weights already chosen, and a
    // half's 294 users had moved it between 0.05 and 0.1 on MovieLens (docs/quality.md).
    const prior = checked && best.allHits.length > 0
      ? choosePrior(o.popularityPrior, ranking.mean(best.allHits[0], null), best.allHits.slice(1).map((hs) => ranking.mean(hs, null)))
      : choosePrior(o.popularityPrior, best.both.ranking, best.priors);
    log(`popularity prior λ = ${prior.lambda} (${prior.chosen === 'fixed' ? 'fixed' : `chosen on validation${checked ? ', every held-out click' : ''}`}; prec@10 held-out clicks by λ: ${prior.grid.map((g) => `${g.lambda} ${g.ranking.toFixed(4)}`).join(', ')})`);
    const w = best.weights;
    const blend = w.length > 8 ? { alpha: 1 / (1 + Math.exp(-w[8][0])), beta: 1 - 1 / (1 + Math.exp(-w[8][0])) } : { alpha, beta };
    const weights: ModelWeights = {
      ...scaling.fold(w[0], w[1], h), transformPrelu: w[2], localWeight: w[3], globalWeight: w[4], globalVector: w[5],
    };
    const what = best.kept === 'trained' ? `best epoch ${best.epoch}` : best.kept === 'averaged' ? 'the start served with averaged seeds (k = 1) kept (it beat the start and the trained epochs on the check half)'
      : `${best.kept === 'identity' ? 'identity configuration' : 'initial weights'} kept (no trained epoch validated better${check ? ' beyond the check half\'s noise' : ''})`;
    const model: RalmModel = {
      manifest: {
        format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION,
        modelVersion: o.modelVersion ?? `stage2-h${h}-m${m}-k${k}-seed${seed}`,
        h, m, k: best.kept === 'averaged' ? 1 : k, attentionSize: s, alpha: blend.alpha, beta: blend.beta, popularityPrior: prior.lambda, activation: 'prelu', userFields: [],
        provenance: {
          kind: 'trained', dataset: o.dataset, createdAt: new Date().toISOString(), seed,
          notes: `stage 2 (look-alike) on fixed universal embeddings; ${what}, validation ${best.value.toFixed(4)} (${METRIC_NAMES[o.validationMetric]}); calibration p = sigmoid(${w[6][0].toFixed(4)}·score + ${w[7][0].toFixed(4)})`,
        },
        weightsSha256: '0'.repeat(64),
      },
      weights,
    } as RalmModel;
    return {
      model, history, validationMetric: o.validationMetric, validation: { initial: v0, identity: vId, kept: best.both },
      initialValidationAuc: pick(v0), bestEpoch: best.epoch, bestValidationAuc: best.value, kept: best.kept, check, prior, scale: w[6][0], bias: w[7][0],
    };
  } finally {
    xAll.dispose();
    disposeParams(p);
    if (identity) disposeParams(identity);
    for (const v of anchor ?? []) v.dispose();
    lambdaVar?.dispose();
    optimizer.dispose();
  }
}

/**
 * The size diagnostic's comparison: prec@10 with each one's λ, the size-weighted start minus the
 * start, on every held-out click and on the check half, each with checkKeep's paired-bootstrap SD.
 */
function sizeDiagnosticLine(start: KeepCandidate, sized: KeepCandidate, ranking: RankingValidation, seed: number): string {
  const every = checkKeep(start, [sized], ranking.rowUser, new Uint8Array(ranking.rows).fill(1), { seed });
  const half = checkKeep(start, [sized], ranking.rowUser, ranking.rowPart, { seed });
  const f = (c: KeepCheck): string => `${c.alternatives[0].value.toFixed(4)} vs ${c.start.value.toFixed(4)} (${c.alternatives[0].gain >= 0 ? '+' : ''}${c.alternatives[0].gain.toFixed(4)} ± ${c.alternatives[0].sd.toFixed(4)})`;
  return `size-weighted attention against the start, prec@10 with each one's λ (${sized.lambda}, ${start.lambda}): every held-out click ${f(every)}; check half ${f(half)}`;
}
