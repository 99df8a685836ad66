/**
 * `ralm train`: the whole offline pipeline on one dataset — read it (user features as of the
 * training cut, so nothing after the cut leaks into them), stage 1 on its training clicks, stage 2
 * on the frozen stage-1 embeddings — and write a model directory the engine serves: the look-alike
 * weights, the user tower and its vocabularies, a manifest recording the data, the parameters and
 * the validation metrics, and the users' universal embeddings for the store (`users.msgpack`).
 *
 * Checkpoints: stage 1 writes one after every epoch and its finished result once it is done, both
 * under `checkpointDir`; a rerun with the same options resumes from them (stage 2, minutes long,
 * starts over). They are removed when the model has been written, unless asked to keep them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { Dataset } from '../data/dataset.js';
import { openAtCut, type OpenOptions } from '../data/open.js';
import { lowerBound } from '../data/split.js';
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import type { RalmModel } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import { withDefaults } from '../util/options.js';
import { targetEmbedder, trainStage1, type Stage1Options, type Stage1Result, type TowerExport } from './stage1.js';
import { trainStage2, type Stage2Options, type Stage2Result } from './stage2.js';
import { saveTrainedModel, trainedWeightsTag } from './export.js';
import { STAGE1_DEFAULTS, TRAIN_DEFAULTS } from './defaults.js';

export const USERS_FILE = 'users.msgpack';
const STAGE1_RESULT = 'stage1.result.safetensors';

export interface TrainOptions {
  data: OpenOptions;
  /** Train on clicks strictly before this time (epoch ms). Default: every click. */
  cut?: number;
  /** Or: train on the first share of the clicks (a cut by time). */
  trainShare?: number;
  out: string;
  /** Default: `<out>/checkpoints`. */
  checkpointDir?: string;
  keepCheckpoints?: boolean;
  stage1?: Stage1Options;
  stage2?: Stage2Options;
  /** Write users.msgpack (default true). */
  exportUsers?: boolean;
  modelVersion?: string;
  log?: (line: string) => void;
  onProgress?: Stage1Options['onProgress'] & Stage2Options['onProgress'];
}

export interface TrainReport {
  modelDir: string;
  modelVersion: string;
  dataset: ReturnType<Dataset['summary']>;
  cut: string | null;
  trainClicks: number;
  stage1: Pick<Stage1Result, 'history' | 'bestEpoch' | 'bestValidationHitAt50' | 'validationUsers' | 'trainingExamplesPerEpoch' | 'resumedFromEpoch'>;
  stage2: Pick<Stage2Result, 'history' | 'bestEpoch' | 'bestValidationAuc' | 'initialValidationAuc' | 'scale' | 'bias' | 'kept' | 'check' | 'validationMetric' | 'validation' | 'prior'>;
  usersFile: string | null;
  seconds: { read: number; stage1: number; stage2: number; total: number };
}

/** Reads the dataset with user features as of the cut, returning it and the cut (see openAtCut). */
export async function openForTraining(data: OpenOptions, cut?: number, trainShare?: number): Promise<{ ds: Dataset; cut: number | null }> {
  return openAtCut(data, cut, trainShare);
}

/** Distinct (user, item) positives of rows [0, end). */
export function distinctPositives(ds: Dataset, end: number): { user: Uint32Array; item: Uint32Array } {
  const seen = new Set<number>();
  const u: number[] = [];
  const i: number[] = [];
  const D = ds.items.size;
  for (let j = 0; j < end; j++) {
    if (!ds.clicks.label[j]) continue;
    const key = ds.clicks.user[j] * D + ds.clicks.item[j];
    if (seen.has(key)) continue;
    seen.add(key);
    u.push(ds.clicks.user[j]);
    i.push(ds.clicks.item[j]);
  }
  return { user: Uint32Array.from(u), item: Uint32Array.from(i) };
}

async function saveStage1(path: string, r: Stage1Result): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {
    x: { shape: [r.x.length / r.m, r.m], data: r.x },
    items: { shape: [r.itemBias.length, r.m], data: r.itemEmbeddings },
    'items.bias': { shape: [r.itemBias.length], data: r.itemBias },
  };
  for (const [name, t] of Object.entries(r.tower.tensors)) tensors[`tower:${name}`] = t;
  const { tower, x, itemEmbeddings, itemBias, ...rest } = r;
  void x; void itemEmbeddings; void itemBias;
  const meta = { rest: JSON.stringify(rest), tower: JSON.stringify({ userFields: tower.userFields, spec: tower.spec, vocab: tower.vocab }) };
  await writeFile(`${path}.tmp`, serializeSafetensors(tensors, meta));
  await rename(`${path}.tmp`, path);
}

async function loadStage1(path: string): Promise<Stage1Result> {
  const f = parseSafetensors(await readFile(path));
  const t = (name: string): Float32Array => {
    const v = f.tensors.get(name);
    if (!v) throw new RalmError('RALM_ERR_MODEL_FORMAT', `${path}: tensor ${name} missing`);
    return v.data;
  };
  const rest = JSON.parse(f.metadata.rest) as Omit<Stage1Result, 'tower' | 'x' | 'itemEmbeddings' | 'itemBias'>;
  const tw = JSON.parse(f.metadata.tower) as Omit<TowerExport, 'tensors'>;
  const tensors: TowerExport['tensors'] = {};
  for (const [name, v] of f.tensors) if (name.startsWith('tower:')) tensors[name.slice(6)] = { shape: v.shape, data: v.data };
  return { ...rest, x: t('x'), itemEmbeddings: t('items'), itemBias: t('items.bias'), tower: { ...tw, tensors } };
}

export async function trainModel(options: TrainOptions): Promise<TrainReport> {
  const o = withDefaults(TRAIN_DEFAULTS, options);
  const seed = o.stage1?.seed ?? STAGE1_DEFAULTS.seed;
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  const { ds, cut } = await openForTraining(o.data, o.cut, o.trainShare);
  const trainEnd = cut === null ? ds.clickCount : lowerBound(ds.clicks.ts, cut);
  if (trainEnd === 0) throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: no clicks before the cut ${cut === null ? '' : new Date(cut).toISOString()}`);
  const tRead = performance.now();
  log(`${ds.name}: ${ds.users.size} users, ${ds.items.size} items, ${trainEnd} training rows${cut === null ? '' : ` (before ${new Date(cut).toISOString()})`}, read in ${((tRead - t0) / 1000).toFixed(1)} s`);

  const ckDir = o.checkpointDir ?? join(o.out, 'checkpoints');
  const s1Path = join(ckDir, STAGE1_RESULT);
  let s1: Stage1Result;
  if (existsSync(s1Path)) {
    s1 = await loadStage1(s1Path);
    log('stage 1: finished result found in the checkpoints; going straight to stage 2');
  } else {
    s1 = await trainStage1(ds, trainEnd, { ...o.stage1, checkpointDir: ckDir, log, onProgress: o.onProgress });
    await mkdir(ckDir, { recursive: true });
    await saveStage1(s1Path, s1);
  }
  const tS1 = performance.now();

  const pairs = distinctPositives(ds, trainEnd);
  const s2options = withDefaults({ ...TRAIN_DEFAULTS.stage2, seed }, options.stage2 ?? {});
  const embedder = await targetEmbedder(ds, trainEnd, s1);
  let s2: Stage2Result;
  try {
    s2 = await trainStage2(s1.x, s1.m, pairs, {
      ...s2options, dataset: ds.name, log, onProgress: o.onProgress,
      ...(embedder ? { xWithout: (u: Int32Array, i: Int32Array) => embedder.embed(u, i) } : {}),
    });
  } finally {
    embedder?.dispose();
  }
  const tS2 = performance.now();

  const modelVersion = o.modelVersion ?? `${ds.name}-${s1.tower.spec.merge}-h${s2.model.manifest.h}-m${s1.m}-k${s2.model.manifest.k}-seed${seed}-${trainedWeightsTag(s2.model, s1.tower)}`;
  const summary = ds.summary();
  await saveTrainedModel(o.out, s2.model, s1.tower, {
    modelVersion,
    dataset: ds.name,
    seed,
    metrics: {
      stage1ValidationHitAt50: s1.bestValidationHitAt50, stage1BestEpoch: s1.bestEpoch,
      stage2ValidationAuc: s2.bestValidationAuc, stage2InitialValidationAuc: s2.initialValidationAuc, stage2BestEpoch: s2.bestEpoch,
      stage2ValidationItemsPerUser: s2.validation.kept.items, stage2ValidationUsersPerItem: s2.validation.kept.users,
      stage2KeptTrained: s2.kept === 'trained' ? 1 : 0, stage2KeptAveraged: s2.kept === 'averaged' ? 1 : 0, popularityPrior: s2.prior.lambda, popularityPriorChosen: s2.prior.chosen === 'validation' ? 1 : 0,
      calibrationScale: s2.scale, calibrationBias: s2.bias,
    },
    training: {
      data: { name: summary.name, users: summary.users, items: summary.items, clicks: summary.clicks, trainRows: trainEnd, cut: cut === null ? null : new Date(cut).toISOString(), firstClick: summary.firstClick, lastClick: summary.lastClick, featuresAsOf: summary.featuresAsOf, source: { kind: o.data.kind, hours: o.data.hours ?? null, synthetic: o.data.synthetic ?? null } },
      stage1: { ...o.stage1, onProgress: undefined, log: undefined, checkpointDir: undefined, history: s1.history, examplesPerEpoch: s1.trainingExamplesPerEpoch, validationUsers: s1.validationUsers },
      stage2: {
        ...s2options, onProgress: undefined, log: undefined, xWithout: undefined, history: s2.history,
        kept: s2.kept, check: s2.check, validationMetric: s2.validationMetric, validation: s2.validation, prior: s2.prior,
      },
      seconds: { stage1: (tS1 - tRead) / 1000, stage2: (tS2 - tS1) / 1000 },
    },
  });
  let usersFile: string | null = null;
  if (o.exportUsers) {
    usersFile = join(o.out, USERS_FILE);
    await writeUsers(usersFile, ds, s1.x, s1.m, modelVersion);
  }
  if (!o.keepCheckpoints) await rm(ckDir, { recursive: true, force: true });
  const tEnd = performance.now();
  log(`model written to ${o.out} (${modelVersion}) in ${((tEnd - t0) / 1000).toFixed(1)} s`);
  return {
    modelDir: o.out, modelVersion, dataset: summary, cut: cut === null ? null : new Date(cut).toISOString(), trainClicks: trainEnd,
    stage1: { history: s1.history, bestEpoch: s1.bestEpoch, bestValidationHitAt50: s1.bestValidationHitAt50, validationUsers: s1.validationUsers, trainingExamplesPerEpoch: s1.trainingExamplesPerEpoch, resumedFromEpoch: s1.resumedFromEpoch },
    stage2: {
      history: s2.history, bestEpoch: s2.bestEpoch, bestValidationAuc: s2.bestValidationAuc, initialValidationAuc: s2.initialValidationAuc, scale: s2.scale, bias: s2.bias,
      kept: s2.kept, check: s2.check, validationMetric: s2.validationMetric, validation: s2.validation, prior: s2.prior,
    },
    usersFile,
    seconds: { read: (tRead - t0) / 1000, stage1: (tS1 - tRead) / 1000, stage2: (tS2 - tS1) / 1000, total: (tEnd - t0) / 1000 },
  };
}

/**
 * The users' universal embeddings as the store takes them: a MessagePack document
 * `{ format: 'ralm-users', modelVersion, m, ids: string[], universal: bytes }`, where `universal`
 * is users × m little-endian float32 values, row u belonging to ids[u] (one blob: typed arrays
 * do not round-trip through MessagePack without an extension both sides agree on).
 */
export async function writeUsers(path: string, ds: Dataset, x: Float32Array, m: number, modelVersion: string): Promise<void> {
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  await writeFile(`${path}.tmp`, pack({ format: 'ralm-users', modelVersion, m, ids: ds.users.values(), universal: bytes }));
  await rename(`${path}.tmp`, path);
}

export interface UsersFile {
  modelVersion: string;
  m: number;
  ids: string[];
  /** users × m, row-major. */
  universal: Float32Array;
}

/** Reads and checks a users.msgpack file. */
export async function readUsers(path: string): Promise<UsersFile> {
  const doc = unpack(await readFile(path)) as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new RalmError('RALM_ERR_VALIDATION', `${path}: ${what}`);
  };
  if (doc?.format !== 'ralm-users') bad(`format: expected "ralm-users", got ${JSON.stringify(doc?.format)}`);
  const m = doc.m as number;
  if (!Number.isSafeInteger(m) || m < 1) bad(`m: expected a positive integer, got ${String(m)}`);
  if (!Array.isArray(doc.ids) || doc.ids.some((id) => typeof id !== 'string')) bad('ids: expected an array of strings');
  const raw = doc.universal as Uint8Array;
  if (!(raw instanceof Uint8Array)) bad('universal: expected bytes');
  const ids = doc.ids as string[];
  if (raw.byteLength !== ids.length * m * 4) bad(`universal: expected ${ids.length} × ${m} float32 values (${ids.length * m * 4} bytes), got ${raw.byteLength} bytes`);
  const universal = new Float32Array(ids.length * m);
  new Uint8Array(universal.buffer).set(raw);
  for (let i = 0; i < universal.length; i++) if (!Number.isFinite(universal[i])) bad(`universal: user ${ids[Math.floor(i / m)]} has a non-finite value`);
  return { modelVersion: String(doc.modelVersion ?? ''), m, ids, universal };
}

export type { RalmModel };
