/**
 * A model's identity is its weights, not its name. Everything the service derives from a model and
 * keeps (stored look-alike embeddings, published cluster sets) is tagged with `modelId`, so a model
 * with different weights re-embeds and re-clusters even when its `modelVersion` string is the same.
 *
 * The id is `<modelVersion>@<first 16 hex digits of the weights' sha256>`: the name keeps it
 * readable, the checksum makes it the weights'. A loaded model's checksum is its manifest's
 * `weightsSha256` (verified against model.safetensors on load); a model built in memory (seeded
 * random weights, a trainer's model before export) has none, so its tensors are hashed here.
 */
import { createHash } from 'node:crypto';
import type { RalmModel } from './model.js';

/** Hex digits of the checksum kept in the id: 64 bits, far beyond any accidental collision. */
export const MODEL_ID_SHA_DIGITS = 16;

const UNSET = '0'.repeat(64);
const computed = new WeakMap<RalmModel, string>();

function hashTensors(model: RalmModel): string {
  const hash = createHash('sha256');
  const add = (name: string, t: Float32Array | undefined): void => {
    if (!t) return;
    hash.update(name).update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  };
  const w = model.weights;
  add('transform.weight', w.transformWeight);
  add('transform.bias', w.transformBias);
  add('transform.prelu', w.transformPrelu);
  add('local.weight', w.localWeight);
  add('global.weight', w.globalWeight);
  add('global.vector', w.globalVector);
  const t = model.tower?.weights;
  if (t) {
    for (const name of [...t.embeddings.keys()].sort()) add(`tower.field.${name}`, t.embeddings.get(name));
    add('tower.continuous.weight', t.continuousWeight);
    add('tower.continuous.bias', t.continuousBias);
    add('tower.merge.w1', t.mergeW1);
    add('tower.merge.w2', t.mergeW2);
    t.mlp.forEach((l, j) => { add(`tower.mlp.${j}.weight`, l.weight); add(`tower.mlp.${j}.bias`, l.bias); });
  }
  // The blend and widths change scores too; the manifest's numbers are part of what is hashed.
  const { h, m, k, attentionSize, alpha, beta } = model.manifest;
  hash.update(JSON.stringify({ h, m, k, attentionSize, alpha, beta }));
  return hash.digest('hex');
}

/** The weights' sha256: the manifest's, or one computed from the tensors for a model built in memory. */
export function weightsChecksum(model: RalmModel): string {
  if (model.manifest.weightsSha256 !== UNSET) return model.manifest.weightsSha256;
  let sha = computed.get(model);
  if (!sha) {
    sha = hashTensors(model);
    computed.set(model, sha);
  }
  return sha;
}

/** `<modelVersion>@<checksum prefix>`: the key of everything derived from this model's weights. */
export function modelId(model: RalmModel): string {
  return `${model.manifest.modelVersion}@${weightsChecksum(model).slice(0, MODEL_ID_SHA_DIGITS)}`;
}
