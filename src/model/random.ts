/**
 * Seeded-random models: placeholder weights for `ralm model init`, benchmarks and tests, with the
 * model format's shapes and checks (and optionally a random user tower). Never a trained model.
 */
import { createHash } from 'node:crypto';
import { Rng } from '../util/rng.js';
import {
  MODEL_FORMAT, MODEL_FORMAT_VERSION, towerLayout, validateManifest, vocabFileBytes,
  type ModelManifest, type ModelWeights, type RalmModel, type UserFieldSchema, type UserTower, type UserTowerSpec, type UserTowerWeights,
} from './model.js';

export interface RandomModelOptions {
  h?: number;
  m?: number;
  k?: number;
  attentionSize?: number;
  alpha?: number;
  beta?: number;
  seed?: number;
  modelVersion?: string;
  /** Adds a seeded-random user tower over these fields. */
  tower?: RandomTowerOptions;
}

export interface RandomTowerOptions {
  /** The user fields; categorical ones need `vocabulary`, continuous ones `range`. */
  fields: readonly UserFieldSchema[];
  /** Default `attention`. */
  merge?: 'attention' | 'concat';
  /** a. Default 16 (attention only). */
  attentionSize?: number;
  /** MLP widths; the last must be m. Default [m]. */
  hidden?: readonly number[];
  /** Values per categorical field; default `<field>-0`, `<field>-1`, … */
  vocab?: Readonly<Record<string, readonly string[]>>;
}

function randomTower(manifest: ModelManifest, o: RandomTowerOptions, rng: Rng): { manifest: ModelManifest; tower: UserTower } {
  const { m } = manifest;
  const vocab = new Map(o.fields.filter((f) => f.kind !== 'continuous').map((f) => [
    f.name, o.vocab?.[f.name] ?? Array.from({ length: f.vocabulary ?? 0 }, (_, i) => `${f.name}-${i}`),
  ]));
  const merge = o.merge ?? 'attention';
  const spec: UserTowerSpec = {
    merge,
    ...(merge === 'attention' ? { attentionSize: o.attentionSize ?? 16 } : {}),
    hidden: o.hidden ?? [m],
    vocabSha256: createHash('sha256').update(vocabFileBytes(vocab)).digest('hex'),
  };
  const full = validateManifest({ ...manifest, userFields: o.fields, userTower: spec });
  const { categorical, c, mlpIn } = towerLayout(full, spec);
  const a = spec.attentionSize ?? 0;
  const weights: UserTowerWeights = {
    embeddings: new Map(categorical.map((f) => [f.name, rng.normals(((f.vocabulary as number) + 1) * m, 0.5)])),
    ...(c > 0 ? { continuousWeight: rng.normals(m * 2 * c, Math.sqrt(2 / (m + 2 * c))), continuousBias: rng.normals(m, 0.1) } : {}),
    ...(merge === 'attention' ? { mergeW1: rng.normals(a * m, Math.sqrt(2 / (a + m))), mergeW2: rng.normals(a, 1) } : {}),
    mlp: spec.hidden.map((w, j) => ({ weight: rng.normals(w * mlpIn[j], Math.sqrt(2 / mlpIn[j])), bias: rng.normals(w, 0.01) })),
  };
  return { manifest: full, tower: { spec, weights, vocab } };
}

/**
 * Seeded-random weights with the right shapes and sensible scales (Glorot-style), for tests,
 * benchmarks and the placeholder default model. Labelled `seeded-random` in provenance.
 */
/** randomModel's defaults (`ralm model init` reads them too): the paper's widths and blend. */
export const RANDOM_MODEL_DEFAULTS: Readonly<Required<Omit<RandomModelOptions, 'tower'>>> = {
  h: 128, m: 128, k: 20, attentionSize: 64, alpha: 0.3, beta: 0.7, seed: 1, modelVersion: '',
};

export function randomModel(options: RandomModelOptions = {}): RalmModel {
  const o: Required<Omit<RandomModelOptions, 'tower'>> = { ...RANDOM_MODEL_DEFAULTS, ...options };
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
    modelVersion: o.modelVersion || `random-h${h}-m${m}-k${o.k}-s${s}-seed${o.seed}${options.tower ? '-tower' : ''}`,
    h, m, k: o.k, attentionSize: s, alpha: o.alpha, beta: o.beta,
    activation: 'prelu' as const,
    userFields: [],
    provenance: { kind: 'seeded-random' as const, dataset: null, createdAt: new Date(0).toISOString(), seed: o.seed, notes: 'placeholder weights, not trained' },
    weightsSha256: '0'.repeat(64),
  };
  if (!options.tower) return { manifest, weights };
  // Drawn after the base weights, so a tower leaves them as the same seed gives without one.
  const withTower = randomTower(manifest, options.tower, rng);
  return { manifest: withTower.manifest, weights, tower: withTower.tower };
}
