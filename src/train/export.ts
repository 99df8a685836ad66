/**
 * Writes a trained model directory: stage 2's look-alike weights, stage 1's user tower with its
 * vocabularies, and a manifest whose provenance records the data, parameters and metrics.
 */
import { createHash } from 'node:crypto';
import { weightsChecksum } from '../model/identity.js';
import { saveModel, type ModelManifest, type RalmModel, type UserTowerToSave } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import type { TowerExport } from './stage1.js';

export interface TrainedProvenance {
  modelVersion: string;
  dataset: string;
  seed: number;
  metrics: Record<string, number>;
  training: Record<string, unknown>;
}

/** The trainer's tower (named tensors) in the model module's form. */
export function towerToSave(t: TowerExport): UserTowerToSave {
  const get = (name: string): Float32Array => {
    const v = t.tensors[name];
    if (!v) throw new RalmError('RALM_ERR_MODEL_FORMAT', `tower: tensor ${name} missing from the trainer's export`);
    return v.data;
  };
  const has = (name: string): boolean => name in t.tensors;
  const embeddings = new Map<string, Float32Array>();
  for (const f of t.userFields) if (f.kind !== 'continuous') embeddings.set(f.name, get(`tower.field.${f.name}.embedding`));
  return {
    spec: { merge: t.spec.merge, ...(t.spec.attentionSize !== undefined ? { attentionSize: t.spec.attentionSize } : {}), hidden: t.spec.hidden },
    weights: {
      embeddings,
      ...(has('tower.continuous.weight') ? { continuousWeight: get('tower.continuous.weight'), continuousBias: get('tower.continuous.bias') } : {}),
      ...(has('tower.merge.w1') ? { mergeW1: get('tower.merge.w1'), mergeW2: get('tower.merge.w2') } : {}),
      mlp: t.spec.hidden.map((_, j) => ({ weight: get(`tower.mlp.${j}.weight`), bias: get(`tower.mlp.${j}.bias`) })),
    },
    vocab: new Map(Object.entries(t.vocab)),
  };
}

/**
 * A short digest of everything trained (look-alike weights and the user tower's tensors): the
 * default model name ends with it, so two trainings that produced different weights never share a
 * name (the service keys stored data by name and weights checksum either way, see model/identity.ts).
 */
export function trainedWeightsTag(model: RalmModel, tower: TowerExport): string {
  const hash = createHash('sha256').update(weightsChecksum(model));
  for (const name of Object.keys(tower.tensors).sort()) {
    const t = tower.tensors[name].data;
    hash.update(name).update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  }
  return hash.digest('hex').slice(0, 8);
}

export async function saveTrainedModel(dir: string, model: RalmModel, tower: TowerExport, p: TrainedProvenance): Promise<ModelManifest> {
  const { weightsSha256: _s, format: _f, formatVersion: _v, userTower: _t, ...manifest } = model.manifest;
  void _s; void _f; void _v; void _t;
  return saveModel(dir, {
    ...manifest,
    modelVersion: p.modelVersion,
    userFields: tower.userFields,
    provenance: { kind: 'trained', dataset: p.dataset, createdAt: new Date().toISOString(), seed: p.seed, metrics: p.metrics, notes: manifest.provenance.notes, training: p.training },
  }, model.weights, towerToSave(tower));
}
