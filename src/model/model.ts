/**
 * The RALM model directory: `manifest.json` (dimensions, blend weights, field schema,
 * provenance) plus `model.safetensors` (the tensors). Loading validates every tensor's
 * name, dtype, shape and finiteness against the manifest and names the tensor at fault.
 *
 * Tensors (row-major, float32 after loading):
 *   transform.weight  [h, m]   W_t of the shared transform T(x) = PReLU(W_t x + b_t)
 *   transform.bias    [h]      b_t
 *   transform.prelu   [h] or [1]  PReLU negative slope (per channel, or one shared slope)
 *   local.weight      [h, h]   W_l: local attention query q_u = W_l e_u
 *   global.weight     [s, h]   W_g: global attention g_j = softmax_j(w_g · tanh(W_g C_j))
 *   global.vector     [s]      w_g
 *
 * Optional stage-1 user tower (raw feature fields → the universal embedding x_u, see
 * user-tower.ts), present when the manifest has `userTower`. Field index f counts only the
 * categorical and multi-categorical fields of `userFields`, in order; c is the number of
 * continuous fields, n = f-count + (c ≥ 1 ? 1 : 0) the rows of H:
 *   tower.field.<name>.embedding  [V_f + 1, m]  one row per vocabulary id; row V_f is "missing/unknown"
 *   tower.continuous.weight       [m, 2c]       when c ≥ 1: input [v_1..v_c, miss_1..miss_c]
 *   tower.continuous.bias         [m]
 *   tower.merge.w1                [a, m]        when merge = attention
 *   tower.merge.w2                [a]
 *   tower.mlp.<j>.weight          [hidden_j, in_j]  j = 0..hidden.length−1; in_0 = m (attention)
 *   tower.mlp.<j>.bias            [hidden_j]        or n·m (concat), in_j = hidden_{j−1}
 * and `vocab.json` = {"fields": {"<name>": ["value of id 0", …]}} for each categorical and
 * multi-categorical field (length V_f), checked against `userTower.vocabSha256`.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors, type Tensor, type TensorToWrite } from './safetensors.js';
import { RalmError } from '../util/errors.js';
import { MANIFEST_FILE, MODEL_FORMAT, MODEL_FORMAT_VERSION, parseVocab, validateManifest, VOCAB_FILE, vocabFileBytes, WEIGHTS_FILE } from './manifest.js';

export { MANIFEST_FILE, MODEL_FORMAT, MODEL_FORMAT_VERSION, parseVocab, validateManifest, VOCAB_FILE, vocabFileBytes, WEIGHTS_FILE };


export type FieldKind = 'categorical' | 'multi-categorical' | 'continuous';

export interface UserFieldSchema {
  readonly name: string;
  readonly kind: FieldKind;
  /** Vocabulary size V_f of a categorical or multi-categorical field (required with a user tower). */
  readonly vocabulary?: number;
  /** Raw [min, max] of a continuous field in the training data (required with a user tower). */
  readonly range?: readonly [number, number];
}

/** The manifest's description of the stage-1 user tower. */
export interface UserTowerSpec {
  /** How the field rows H are merged: attention (the paper's layer) or plain concatenation. */
  readonly merge: 'attention' | 'concat';
  /** a, the rows of W1; present when merge = attention. */
  readonly attentionSize?: number;
  /** The MLP's output widths in order; the last one equals m (its output is x_u). */
  readonly hidden: readonly number[];
  /** sha256 of vocab.json, checked on load. */
  readonly vocabSha256: string;
}

/** One MLP layer: out = weight · in + bias, weight [out, in] row-major. */
export interface UserTowerLayer {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export interface UserTowerWeights {
  /** By categorical / multi-categorical field name: [V_f + 1, m]; row V_f is the missing/unknown row. */
  readonly embeddings: ReadonlyMap<string, Float32Array>;
  /** [m, 2c], when there are c ≥ 1 continuous fields. */
  readonly continuousWeight?: Float32Array;
  /** [m], with continuousWeight. */
  readonly continuousBias?: Float32Array;
  /** W1 [a, m], when merge = attention. */
  readonly mergeW1?: Float32Array;
  /** w2 [a], when merge = attention. */
  readonly mergeW2?: Float32Array;
  /** hidden.length layers; ReLU after each but the last. */
  readonly mlp: readonly UserTowerLayer[];
}

/** The user tower of a model: its spec (the manifest's `userTower`), tensors and vocabularies. */
export interface UserTower {
  readonly spec: UserTowerSpec;
  readonly weights: UserTowerWeights;
  /** By categorical / multi-categorical field name: the values, index = id (length V_f). */
  readonly vocab: ReadonlyMap<string, readonly string[]>;
}

export interface Provenance {
  /** `seeded-random` for placeholder weights, `trained` for a trainer's output. */
  readonly kind: 'seeded-random' | 'trained';
  readonly dataset: string | null;
  readonly createdAt: string;
  readonly seed?: number;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly notes?: string;
  /** A trainer's record: the data (source, sizes, cut), its parameters, per-epoch history and timings. */
  readonly training?: Readonly<Record<string, unknown>>;
}

export interface ModelManifest {
  readonly format: typeof MODEL_FORMAT;
  readonly formatVersion: number;
  /** Identifies the weights; reported with every result. */
  readonly modelVersion: string;
  /** Look-alike embedding width. */
  readonly h: number;
  /** Universal (stage-1) embedding width. */
  readonly m: number;
  /** Centroids per item. */
  readonly k: number;
  /** Global attention size s (rows of W_g). */
  readonly attentionSize: number;
  readonly alpha: number;
  readonly beta: number;
  /**
   * λ of the popularity prior λ · ln(1 + clickers) added to every item's score (model/prior.ts),
   * chosen on stage 2's validation split; absent (models written before it) means 0.
   */
  readonly popularityPrior?: number;
  readonly activation: 'prelu';
  readonly userFields: readonly UserFieldSchema[];
  /** Present when the model carries a stage-1 user tower (users may then be given as raw features). */
  readonly userTower?: UserTowerSpec;
  readonly provenance: Provenance;
  /** sha256 of model.safetensors, checked on load. */
  readonly weightsSha256: string;
}

export interface ModelWeights {
  readonly transformWeight: Float32Array; // [h, m]
  readonly transformBias: Float32Array; // [h]
  /** Always expanded to [h] on load. */
  readonly transformPrelu: Float32Array;
  readonly localWeight: Float32Array; // [h, h]
  readonly globalWeight: Float32Array; // [s, h]
  readonly globalVector: Float32Array; // [s]
}

export interface RalmModel {
  readonly manifest: ModelManifest;
  readonly weights: ModelWeights;
  /** The stage-1 user tower, when the manifest has `userTower` (`tower.spec` is that object). */
  readonly tower?: UserTower;
}

function expectTensor(tensors: ReadonlyMap<string, Tensor>, name: string, shapes: ReadonlyArray<readonly number[]>): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new RalmError('RALM_ERR_MODEL_FORMAT', `tensor "${name}" is missing from ${WEIGHTS_FILE}`, { tensor: name });
  if (!shapes.some((s) => s.length === t.shape.length && s.every((d, i) => d === t.shape[i]))) {
    throw new RalmError(
      'RALM_ERR_MODEL_FORMAT',
      `tensor "${name}": shape [${t.shape.join(', ')}] does not match the manifest, expected ${shapes.map((s) => `[${s.join(', ')}]`).join(' or ')}`,
      { tensor: name },
    );
  }
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i])) {
      throw new RalmError('RALM_ERR_MODEL_FORMAT', `tensor "${name}": value at flat index ${i} is ${t.data[i]}, expected finite`, { tensor: name, index: i });
    }
  }
  return t.data;
}

/** How the manifest's user fields map onto the tower: the embedded fields, c, n and each MLP layer's input width. */
export function towerLayout(manifest: ModelManifest, spec: Pick<UserTowerSpec, 'merge' | 'hidden'>): { categorical: UserFieldSchema[]; c: number; n: number; mlpIn: number[] } {
  const categorical = manifest.userFields.filter((f) => f.kind !== 'continuous');
  const c = manifest.userFields.length - categorical.length;
  const n = categorical.length + (c > 0 ? 1 : 0);
  const mlpIn = spec.hidden.map((_, j) => (j > 0 ? spec.hidden[j - 1] : spec.merge === 'attention' ? manifest.m : n * manifest.m));
  return { categorical, c, n, mlpIn };
}

/** The user tower's tensors (name and shape, in file order) that a manifest implies; empty without a tower. */
export function userTowerTensorShapes(manifest: ModelManifest): Array<{ name: string; shape: number[] }> {
  const spec = manifest.userTower;
  if (!spec) return [];
  const { m } = manifest;
  const { categorical, c, mlpIn } = towerLayout(manifest, spec);
  const out = categorical.map((f) => ({ name: `tower.field.${f.name}.embedding`, shape: [(f.vocabulary as number) + 1, m] }));
  if (c > 0) out.push({ name: 'tower.continuous.weight', shape: [m, 2 * c] }, { name: 'tower.continuous.bias', shape: [m] });
  if (spec.merge === 'attention') {
    const a = spec.attentionSize as number;
    out.push({ name: 'tower.merge.w1', shape: [a, m] }, { name: 'tower.merge.w2', shape: [a] });
  }
  spec.hidden.forEach((w, j) => out.push({ name: `tower.mlp.${j}.weight`, shape: [w, mlpIn[j]] }, { name: `tower.mlp.${j}.bias`, shape: [w] }));
  return out;
}

const BASE_TENSORS = ['transform.weight', 'transform.bias', 'transform.prelu', 'local.weight', 'global.weight', 'global.vector'];

/** Builds validated weights from parsed tensors; unknown extra tensors are an error (a typo must not pass silently). */
export function weightsFromTensors(manifest: ModelManifest, tensors: ReadonlyMap<string, Tensor>): ModelWeights {
  const { h, m, attentionSize: s } = manifest;
  const known = new Set([...BASE_TENSORS, ...userTowerTensorShapes(manifest).map((t) => t.name)]);
  for (const name of tensors.keys()) {
    if (known.has(name)) continue;
    if (name.startsWith('tower.') && !manifest.userTower) {
      throw new RalmError('RALM_ERR_MODEL_FORMAT', `tensor "${name}" belongs to a user tower, but the manifest has no userTower`, { tensor: name });
    }
    throw new RalmError('RALM_ERR_MODEL_FORMAT', `tensor "${name}" is not part of format version ${MODEL_FORMAT_VERSION}${manifest.userTower ? ' with this manifest\'s userFields and userTower' : ''}`, { tensor: name });
  }
  const prelu = expectTensor(tensors, 'transform.prelu', [[h], [1]]);
  return {
    transformWeight: expectTensor(tensors, 'transform.weight', [[h, m]]),
    transformBias: expectTensor(tensors, 'transform.bias', [[h]]),
    transformPrelu: prelu.length === h ? prelu : new Float32Array(h).fill(prelu[0]),
    localWeight: expectTensor(tensors, 'local.weight', [[h, h]]),
    globalWeight: expectTensor(tensors, 'global.weight', [[s, h]]),
    globalVector: expectTensor(tensors, 'global.vector', [[s]]),
  };
}

/** Builds the validated user tower from parsed tensors and vocabularies (the manifest must have `userTower`). */
export function towerFromTensors(manifest: ModelManifest, tensors: ReadonlyMap<string, Tensor>, vocab: ReadonlyMap<string, readonly string[]>): UserTower {
  const spec = manifest.userTower;
  if (!spec) throw new RalmError('RALM_ERR_MODEL_FORMAT', 'the manifest has no userTower');
  const { m } = manifest;
  const { categorical, c, mlpIn } = towerLayout(manifest, spec);
  const embeddings = new Map(categorical.map((f) => [f.name, expectTensor(tensors, `tower.field.${f.name}.embedding`, [[(f.vocabulary as number) + 1, m]])]));
  const continuous = c > 0
    ? { continuousWeight: expectTensor(tensors, 'tower.continuous.weight', [[m, 2 * c]]), continuousBias: expectTensor(tensors, 'tower.continuous.bias', [[m]]) }
    : {};
  const a = spec.attentionSize as number;
  const merge = spec.merge === 'attention'
    ? { mergeW1: expectTensor(tensors, 'tower.merge.w1', [[a, m]]), mergeW2: expectTensor(tensors, 'tower.merge.w2', [[a]]) }
    : {};
  const mlp = spec.hidden.map((w, j) => ({
    weight: expectTensor(tensors, `tower.mlp.${j}.weight`, [[w, mlpIn[j]]]),
    bias: expectTensor(tensors, `tower.mlp.${j}.bias`, [[w]]),
  }));
  return { spec, weights: { embeddings, ...continuous, ...merge, mlp }, vocab };
}

/** Loads and validates a model directory. */
export async function loadModel(dir: string): Promise<RalmModel> {
  let manifestText: string;
  let weightsBytes: Uint8Array;
  try {
    manifestText = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    weightsBytes = new Uint8Array(await readFile(join(dir, WEIGHTS_FILE)));
  } catch (err) {
    throw new RalmError('RALM_ERR_MODEL_FORMAT', `cannot read model directory ${dir}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(manifestText);
  } catch (err) {
    throw new RalmError('RALM_ERR_MODEL_FORMAT', `${MANIFEST_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  const manifest = validateManifest(raw);
  const sha = createHash('sha256').update(weightsBytes).digest('hex');
  if (sha !== manifest.weightsSha256) {
    throw new RalmError('RALM_ERR_MODEL_FORMAT', `${WEIGHTS_FILE} has sha256 ${sha}, the manifest expects ${manifest.weightsSha256} (file corrupted or replaced)`);
  }
  let vocab: Map<string, string[]> | undefined;
  if (manifest.userTower) {
    let vocabBytes: Uint8Array;
    try {
      vocabBytes = new Uint8Array(await readFile(join(dir, VOCAB_FILE)));
    } catch (err) {
      throw new RalmError('RALM_ERR_MODEL_FORMAT', `the manifest has a userTower but ${VOCAB_FILE} cannot be read: ${(err as Error).message}`);
    }
    vocab = parseVocab(manifest, vocabBytes);
  }
  const { tensors } = parseSafetensors(weightsBytes);
  const weights = weightsFromTensors(manifest, tensors);
  return vocab ? { manifest, weights, tower: towerFromTensors(manifest, tensors, vocab) } : { manifest, weights };
}

/** A user tower to write: its spec without the checksum (saveModel computes it), tensors and vocabularies. */
export interface UserTowerToSave {
  readonly spec: Omit<UserTowerSpec, 'vocabSha256'> & { readonly vocabSha256?: string };
  readonly weights: UserTowerWeights;
  readonly vocab: ReadonlyMap<string, readonly string[]>;
}

function towerTensorsToWrite(manifest: ModelManifest, w: UserTowerWeights): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const data = new Map<string, Float32Array | undefined>([
    ...Array.from(w.embeddings, ([name, t]) => [`tower.field.${name}.embedding`, t] as const),
    ['tower.continuous.weight', w.continuousWeight], ['tower.continuous.bias', w.continuousBias],
    ['tower.merge.w1', w.mergeW1], ['tower.merge.w2', w.mergeW2],
    ...w.mlp.flatMap((l, j) => [[`tower.mlp.${j}.weight`, l.weight], [`tower.mlp.${j}.bias`, l.bias]] as const),
  ]);
  for (const { name, shape } of userTowerTensorShapes(manifest)) {
    const t = data.get(name);
    if (!t) throw new RalmError('RALM_ERR_VALIDATION', `saveModel: the user tower has no data for tensor "${name}"`, { tensor: name });
    out[name] = { shape, data: t };
  }
  return out;
}

/**
 * Writes a model directory (used by the trainers and by `ralm model init`): the weights file, then
 * vocab.json when there is a user tower, each atomically, and the manifest last. A tower is checked
 * exactly as loading will check it before anything is written. `manifest.userTower` is taken from
 * `tower` (with the vocabulary checksum computed here); giving one without the other is an error.
 */
export async function saveModel(
  dir: string,
  manifest: Omit<ModelManifest, 'weightsSha256' | 'format' | 'formatVersion'>,
  weights: ModelWeights,
  tower?: UserTowerToSave,
): Promise<ModelManifest> {
  if (manifest.userTower !== undefined && !tower) {
    throw new RalmError('RALM_ERR_VALIDATION', 'saveModel: the manifest has a userTower but no tower (weights and vocabularies) was given');
  }
  const { userTower: _given, ...rest } = manifest;
  const vocabBytes = tower ? vocabFileBytes(tower.vocab) : undefined;
  const userTower: UserTowerSpec | undefined = tower && vocabBytes
    ? {
      merge: tower.spec.merge,
      ...(tower.spec.merge === 'attention' ? { attentionSize: tower.spec.attentionSize } : {}),
      hidden: [...tower.spec.hidden],
      vocabSha256: createHash('sha256').update(vocabBytes).digest('hex'),
    }
    : undefined;
  const shaped: ModelManifest = { format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, ...rest, ...(userTower ? { userTower } : {}), weightsSha256: '0'.repeat(64) };
  validateManifest(shaped);
  const { h, m, attentionSize: s } = manifest;
  const tensors: Record<string, TensorToWrite> = {
    'transform.weight': { shape: [h, m], data: weights.transformWeight },
    'transform.bias': { shape: [h], data: weights.transformBias },
    'transform.prelu': { shape: [h], data: weights.transformPrelu },
    'local.weight': { shape: [h, h], data: weights.localWeight },
    'global.weight': { shape: [s, h], data: weights.globalWeight },
    'global.vector': { shape: [s], data: weights.globalVector },
    ...(tower ? towerTensorsToWrite(shaped, tower.weights) : {}),
  };
  if (tower && vocabBytes) {
    // The same checks as loading, so a trainer learns of a bad tower before anything is written.
    parseVocab(shaped, vocabBytes);
    towerFromTensors(shaped, new Map(Object.entries(tensors).map(([name, t]) => [name, { dtype: 'F32' as const, ...t }])), tower.vocab);
  }
  const bytes = serializeSafetensors(tensors, { format: MODEL_FORMAT, modelVersion: manifest.modelVersion });
  const full: ModelManifest = { ...shaped, weightsSha256: createHash('sha256').update(bytes).digest('hex') };
  await mkdir(dir, { recursive: true });
  const put = async (file: string, data: Uint8Array | string): Promise<void> => {
    await writeFile(join(dir, file + '.tmp'), data);
    await rename(join(dir, file + '.tmp'), join(dir, file));
  };
  await put(WEIGHTS_FILE, bytes);
  if (vocabBytes) await put(VOCAB_FILE, vocabBytes);
  else await rm(join(dir, VOCAB_FILE), { force: true });
  await put(MANIFEST_FILE, JSON.stringify(full, null, 2) + '\n');
  return full;
}
