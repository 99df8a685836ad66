/**
 * Checks of a model directory's text files: the manifest (shape, ranges, the user-tower spec
 * against the user fields) and vocab.json (checksum, one list of distinct strings per embedded
 * field). Every error is RALM_ERR_MODEL_FORMAT naming the field at fault.
 */
import { createHash } from 'node:crypto';
import { RalmError } from '../util/errors.js';
import type { ModelManifest, UserFieldSchema } from './model.js';
import { isPriorWeight, MAX_PRIOR_WEIGHT } from './prior.js';

export const MODEL_FORMAT = 'ralm-model';
export const MODEL_FORMAT_VERSION = 1;
export const WEIGHTS_FILE = 'model.safetensors';
export const MANIFEST_FILE = 'manifest.json';
export const VOCAB_FILE = 'vocab.json';

function manifestError(field: string, expected: string, got: unknown): RalmError {
  return new RalmError('RALM_ERR_MODEL_FORMAT', `manifest.${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field });
}

function positiveInt(obj: Record<string, unknown>, field: string, max: number, prefix = ''): number {
  const v = obj[field];
  if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > max) throw manifestError(prefix + field, `an integer in [1, ${max}]`, v);
  return v as number;
}

/** Vocabulary ids are int32 with one more row for "missing". */
const MAX_VOCABULARY = 2 ** 31 - 2;

function validateTowerSpec(raw: unknown, fields: readonly UserFieldSchema[], m: number): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw manifestError('userTower', 'an object', raw);
  const t = raw as Record<string, unknown>;
  if (t.merge !== 'attention' && t.merge !== 'concat') throw manifestError('userTower.merge', '"attention" or "concat"', t.merge);
  if (t.merge === 'attention') positiveInt(t, 'attentionSize', 4096, 'userTower.');
  if (!Array.isArray(t.hidden) || t.hidden.length === 0) throw manifestError('userTower.hidden', 'a non-empty array of layer widths', t.hidden);
  t.hidden.forEach((w: unknown, j: number) => {
    if (!Number.isSafeInteger(w) || (w as number) < 1 || (w as number) > 65536) throw manifestError(`userTower.hidden[${j}]`, 'an integer in [1, 65536]', w);
  });
  if (t.hidden[t.hidden.length - 1] !== m) throw manifestError(`userTower.hidden[${t.hidden.length - 1}]`, `m = ${m} (the last layer's output is x_u)`, t.hidden[t.hidden.length - 1]);
  if (typeof t.vocabSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(t.vocabSha256)) throw manifestError('userTower.vocabSha256', 'a lowercase hex sha256', t.vocabSha256);
  if (fields.length === 0) throw manifestError('userFields', 'at least one field for the user tower', fields);
  fields.forEach((f, i) => {
    if (f.kind === 'continuous') {
      if (f.range === undefined) throw manifestError(`userFields[${i}].range`, `[min, max] (field "${f.name}" is continuous and the model has a user tower)`, f.range);
    } else if (f.vocabulary === undefined) {
      throw manifestError(`userFields[${i}].vocabulary`, `the vocabulary size (field "${f.name}" is ${f.kind} and the model has a user tower)`, f.vocabulary);
    }
  });
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
  if (o.popularityPrior !== undefined && !isPriorWeight(o.popularityPrior)) {
    throw manifestError('popularityPrior', `a finite number within ±${MAX_PRIOR_WEIGHT} (or absent for 0)`, o.popularityPrior);
  }
  if (o.activation !== 'prelu') throw manifestError('activation', '"prelu"', o.activation);
  if (!Array.isArray(o.userFields)) throw manifestError('userFields', 'an array', o.userFields);
  const names = new Set<string>();
  o.userFields.forEach((f: unknown, i: number) => {
    const field = f as Record<string, unknown>;
    if (typeof field?.name !== 'string' || field.name.length === 0) throw manifestError(`userFields[${i}].name`, 'a non-empty string', field?.name);
    if (names.has(field.name)) throw manifestError(`userFields[${i}].name`, 'a name no other field has', field.name);
    names.add(field.name);
    if (!['categorical', 'multi-categorical', 'continuous'].includes(field.kind as string)) {
      throw manifestError(`userFields[${i}].kind`, '"categorical", "multi-categorical" or "continuous"', field.kind);
    }
    const v = field.vocabulary;
    if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_VOCABULARY)) {
      throw manifestError(`userFields[${i}].vocabulary`, `an integer in [0, ${MAX_VOCABULARY}]`, v);
    }
    const r = field.range;
    if (r !== undefined && (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x)) || r[0] > r[1])) {
      throw manifestError(`userFields[${i}].range`, '[min, max], finite numbers with min <= max', r);
    }
  });
  if (o.userTower !== undefined) validateTowerSpec(o.userTower, o.userFields as UserFieldSchema[], o.m as number);
  const p = o.provenance as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null) throw manifestError('provenance', 'an object', p);
  if (p.kind !== 'seeded-random' && p.kind !== 'trained') throw manifestError('provenance.kind', '"seeded-random" or "trained"', p.kind);
  if (typeof p.createdAt !== 'string') throw manifestError('provenance.createdAt', 'an ISO date string', p.createdAt);
  if (typeof o.weightsSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.weightsSha256)) {
    throw manifestError('weightsSha256', 'a lowercase hex sha256', o.weightsSha256);
  }
  return raw as ModelManifest;
}

/** vocab.json's bytes for the given vocabularies (what saveModel writes and vocabSha256 covers). */
export function vocabFileBytes(vocab: ReadonlyMap<string, readonly string[]>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ fields: Object.fromEntries(vocab) }) + '\n');
}

function vocabError(message: string, field?: string): RalmError {
  return new RalmError('RALM_ERR_MODEL_FORMAT', `${VOCAB_FILE}: ${message}`, field !== undefined ? { field } : undefined);
}

/** Checks vocab.json against the manifest (checksum, one list of V_f distinct strings per embedded field) and parses it. */
export function parseVocab(manifest: ModelManifest, bytes: Uint8Array): Map<string, string[]> {
  const spec = manifest.userTower;
  if (!spec) throw new RalmError('RALM_ERR_MODEL_FORMAT', 'the manifest has no userTower');
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== spec.vocabSha256) {
    throw vocabError(`has sha256 ${sha}, the manifest's userTower.vocabSha256 is ${spec.vocabSha256} (file corrupted or replaced)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw vocabError(`not valid UTF-8 JSON (${(err as Error).message})`);
  }
  const fields = (raw as { fields?: unknown } | null)?.fields;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw vocabError('expected {"fields": {"<field name>": [values]}}');
  const embedded = manifest.userFields.filter((f) => f.kind !== 'continuous');
  for (const name of Object.keys(fields)) {
    if (!embedded.some((f) => f.name === name)) {
      throw vocabError(`fields.${name} is not a categorical or multi-categorical field of the manifest (those are: ${embedded.map((f) => f.name).join(', ')})`, name);
    }
  }
  const vocab = new Map<string, string[]>();
  for (const f of embedded) {
    const values = Object.hasOwn(fields, f.name) ? (fields as Record<string, unknown>)[f.name] : undefined;
    if (!Array.isArray(values)) throw vocabError(`fields.${f.name}: expected an array of ${f.vocabulary} strings`, f.name);
    if (values.length !== f.vocabulary) throw vocabError(`fields.${f.name} has ${values.length} values, the manifest's vocabulary for it is ${f.vocabulary}`, f.name);
    const seen = new Map<string, number>();
    values.forEach((v: unknown, id: number) => {
      if (typeof v !== 'string') throw vocabError(`fields.${f.name}[${id}]: expected a string, got ${JSON.stringify(v)}`, f.name);
      const before = seen.get(v);
      if (before !== undefined) throw vocabError(`fields.${f.name}: value ${JSON.stringify(v)} has two ids, ${before} and ${id}`, f.name);
      seen.set(v, id);
    });
    vocab.set(f.name, values as string[]);
  }
  return vocab;
}
