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
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors, type Tensor } from './safetensors.js';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export const MODEL_FORMAT = 'ralm-model';
export const MODEL_FORMAT_VERSION = 1;
export const WEIGHTS_FILE = 'model.safetensors';
export const MANIFEST_FILE = 'manifest.json';

export type FieldKind = 'categorical' | 'multi-categorical' | 'continuous';

export interface UserFieldSchema {
  readonly name: string;
  readonly kind: FieldKind;
  /** Vocabulary size for categorical fields. */
  readonly vocabulary?: number;
  /** Min-max range for continuous fields. */
  readonly range?: readonly [number, number];
}

export interface Provenance {
  /** `seeded-random` for placeholder weights, `trained` for a trainer's output. */
  readonly kind: 'seeded-random' | 'trained';
  readonly dataset: string | null;
  readonly createdAt: string;
  readonly seed?: number;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly notes?: string;
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
  readonly activation: 'prelu';
  readonly userFields: readonly UserFieldSchema[];
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
}

function manifestError(field: string, expected: string, got: unknown): RalmError {
  return new RalmError('RALM_ERR_MODEL_FORMAT', `manifest.${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field });
}

function positiveInt(obj: Record<string, unknown>, field: string, max: number): number {
  const v = obj[field];
  if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > max) throw manifestError(field, `an integer in [1, ${max}]`, v);
  return v as number;
}

/** Validates a parsed manifest object; returns it typed. */
export function validateManifest(raw: unknown): ModelManifest {
  if (typeof raw !== 'object' || raw === null) throw manifestError('', 'an object', raw);
  const o = raw as Record<string, unknown>;
  if (o.format !== MODEL_FORMAT) throw manifestError('format', JSON.stringify(MODEL_FORMAT), o.format);
  if (o.formatVersion !== MODEL_FORMAT_VERSION) throw manifestError('formatVersion', String(MODEL_FORMAT_VERSION), o.formatVersion);
  if (typeof o.modelVersion !== 'string' || o.modelVersion.length === 0) throw manifestError('modelVersion', 'a non-empty string', o.modelVersion);
  positiveInt(o, 'h', 4096);
  positiveInt(o, 'm', 65536);
  positiveInt(o, 'k', 1024);
  positiveInt(o, 'attentionSize', 4096);
  for (const f of ['alpha', 'beta'] as const) {
    if (typeof o[f] !== 'number' || !Number.isFinite(o[f])) throw manifestError(f, 'a finite number', o[f]);
  }
  if (o.activation !== 'prelu') throw manifestError('activation', '"prelu"', o.activation);
  if (!Array.isArray(o.userFields)) throw manifestError('userFields', 'an array', o.userFields);
  o.userFields.forEach((f: unknown, i: number) => {
    const field = f as Record<string, unknown>;
    if (typeof field?.name !== 'string') throw manifestError(`userFields[${i}].name`, 'a string', field?.name);
    if (!['categorical', 'multi-categorical', 'continuous'].includes(field.kind as string)) {
      throw manifestError(`userFields[${i}].kind`, '"categorical", "multi-categorical" or "continuous"', field.kind);
    }
  });
  const p = o.provenance as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null) throw manifestError('provenance', 'an object', p);
  if (p.kind !== 'seeded-random' && p.kind !== 'trained') throw manifestError('provenance.kind', '"seeded-random" or "trained"', p.kind);
  if (typeof p.createdAt !== 'string') throw manifestError('provenance.createdAt', 'an ISO date string', p.createdAt);
  if (typeof o.weightsSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.weightsSha256)) {
    throw manifestError('weightsSha256', 'a lowercase hex sha256', o.weightsSha256);
  }
  return raw as ModelManifest;
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

/** Builds validated weights from parsed tensors; unknown extra tensors are an error (a typo must not pass silently). */
export function weightsFromTensors(manifest: ModelManifest, tensors: ReadonlyMap<string, Tensor>): ModelWeights {
  const { h, m, attentionSize: s } = manifest;
  const known = new Set(['transform.weight', 'transform.bias', 'transform.prelu', 'local.weight', 'global.weight', 'global.vector']);
  for (const name of tensors.keys()) {
    if (!known.has(name)) throw new RalmError('RALM_ERR_MODEL_FORMAT', `tensor "${name}" is not part of format version ${MODEL_FORMAT_VERSION}`, { tensor: name });
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
  const { tensors } = parseSafetensors(weightsBytes);
  return { manifest, weights: weightsFromTensors(manifest, tensors) };
}

/** Writes a model directory (used by the trainer and by `ralm model init`). The weights file is written first, atomically. */
export async function saveModel(
  dir: string,
  manifest: Omit<ModelManifest, 'weightsSha256' | 'format' | 'formatVersion'>,
  weights: ModelWeights,
): Promise<ModelManifest> {
  const { h, m, attentionSize: s } = manifest;
  const bytes = serializeSafetensors(
    {
      'transform.weight': { shape: [h, m], data: weights.transformWeight },
      'transform.bias': { shape: [h], data: weights.transformBias },
      'transform.prelu': { shape: [h], data: weights.transformPrelu },
      'local.weight': { shape: [h, h], data: weights.localWeight },
      'global.weight': { shape: [s, h], data: weights.globalWeight },
      'global.vector': { shape: [s], data: weights.globalVector },
    },
    { format: MODEL_FORMAT, modelVersion: manifest.modelVersion },
  );
  const full: ModelManifest = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    ...manifest,
    weightsSha256: createHash('sha256').update(bytes).digest('hex'),
  };
  validateManifest(full);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, WEIGHTS_FILE + '.tmp'), bytes);
  await rename(join(dir, WEIGHTS_FILE + '.tmp'), join(dir, WEIGHTS_FILE));
  await writeFile(join(dir, MANIFEST_FILE + '.tmp'), JSON.stringify(full, null, 2) + '\n');
  await rename(join(dir, MANIFEST_FILE + '.tmp'), join(dir, MANIFEST_FILE));
  return full;
}

export interface RandomModelOptions {
  h?: number;
  m?: number;
  k?: number;
  attentionSize?: number;
  alpha?: number;
  beta?: number;
  seed?: number;
  modelVersion?: string;
}

/**
 * Seeded-random weights with the right shapes and sensible scales (Glorot-style), for tests,
 * benchmarks and the placeholder default model. Labelled `seeded-random` in provenance.
 */
export function randomModel(options: RandomModelOptions = {}): RalmModel {
  const o: Required<RandomModelOptions> = {
    h: 128, m: 128, k: 20, attentionSize: 64, alpha: 0.3, beta: 0.7, seed: 1, modelVersion: '', ...options,
  };
  const rng = new Rng(o.seed);
  const { h, m, attentionSize: s } = o;
  const weights: ModelWeights = {
    transformWeight: rng.normals(h * m, Math.sqrt(2 / (h + m))),
    transformBias: rng.normals(h, 0.01),
    transformPrelu: new Float32Array(h).fill(0.25),
    localWeight: rng.normals(h * h, Math.sqrt(2 / (2 * h))),
    globalWeight: rng.normals(s * h, Math.sqrt(2 / (s + h))),
    globalVector: rng.normals(s, Math.sqrt(1 / s)),
  };
  const manifest: ModelManifest = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    modelVersion: o.modelVersion || `random-h${h}-m${m}-k${o.k}-s${s}-seed${o.seed}`,
    h, m, k: o.k, attentionSize: s, alpha: o.alpha, beta: o.beta,
    activation: 'prelu' as const,
    userFields: [],
    provenance: { kind: 'seeded-random' as const, dataset: null, createdAt: new Date(0).toISOString(), seed: o.seed, notes: 'placeholder weights, not trained' },
    weightsSha256: '0'.repeat(64),
  };
  return { manifest, weights };
}
