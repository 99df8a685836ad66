/**
 * Stage 1 at serving time: a user's raw feature fields → the universal embedding x_u, through the
 * user tower exported with the model (tensors and vocab.json: see model.ts).
 *
 *   1. H (n × m): per categorical field its value's embedding row; per multi-categorical field the
 *      mean of its distinct known values' rows; a missing field, an unknown value or a list with no
 *      known value takes the field's "missing" row V_f. With c ≥ 1 continuous fields, one more row:
 *      the linear projection of [v_1..v_c, miss_1..miss_c], v = clamp((raw − min)/(max − min), 0, 1)
 *      (0 when max = min or the value is missing), miss = 1 when missing.
 *   2. Merge: attention, M = Σ_f α_f H_f with α = softmax_f(w2 · tanh(W1 H_f)); or concatenation.
 *   3. MLP, ReLU after every layer but the last; the last output is x_u (width m).
 *
 * Plain TypeScript, accumulating in float64. It is the only implementation (one user costs well
 * under a millisecond at paper sizes, so it runs on the host); src/model/reference.ts holds the
 * ml-matrix oracle the tests compare it with.
 */
import type { RalmModel, UserTower } from './model.js';
import { RalmError } from '../util/errors.js';

/** At most this many distinct unknown values are reported per field (responses stay small). */
export const MAX_UNKNOWN_REPORTED = 10;

/** A user's features checked against the model's fields and mapped to vocabulary ids. */
export interface EncodedUserFeatures {
  /**
   * Per categorical / multi-categorical field, in `userFields` order: the distinct known ids, in
   * first-seen order (at most one for a categorical field); empty means "use the missing row".
   */
  readonly ids: readonly Int32Array[];
  /** The continuous projection's input [v_1..v_c, miss_1..miss_c]; empty when c = 0. */
  readonly continuous: Float64Array;
  /** Values not in their field's vocabulary, by field (distinct, at most MAX_UNKNOWN_REPORTED each); fields without any are absent. */
  readonly unknownValues: Record<string, string[]>;
}

interface EmbeddedField {
  readonly name: string;
  readonly multi: boolean;
  /** V_f: also the index of the missing row. */
  readonly vocabulary: number;
  readonly ids: ReadonlyMap<string, number>;
}

interface ContinuousField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

/** What encoding needs, derived once per tower: the value → id maps above all. */
interface TowerPlan {
  readonly embedded: readonly EmbeddedField[];
  readonly continuous: readonly ContinuousField[];
  readonly byName: ReadonlyMap<string, { kind: 'embedded' | 'continuous'; index: number }>;
  /** Rows of H. */
  readonly n: number;
}

// Keyed by the tower object, so a reloaded model (a new tower) gets its own plan and the old one is collected with it.
const plans = new WeakMap<UserTower, TowerPlan>();

function planOf(model: RalmModel, tower: UserTower): TowerPlan {
  let plan = plans.get(tower);
  if (plan) return plan;
  const embedded: EmbeddedField[] = [];
  const continuous: ContinuousField[] = [];
  const byName = new Map<string, { kind: 'embedded' | 'continuous'; index: number }>();
  for (const f of model.manifest.userFields) {
    if (f.kind === 'continuous') {
      const [min, max] = f.range as readonly [number, number];
      byName.set(f.name, { kind: 'continuous', index: continuous.length });
      continuous.push({ name: f.name, min, max });
    } else {
      const values = tower.vocab.get(f.name) ?? [];
      byName.set(f.name, { kind: 'embedded', index: embedded.length });
      embedded.push({ name: f.name, multi: f.kind === 'multi-categorical', vocabulary: values.length, ids: new Map(values.map((v, i) => [v, i])) });
    }
  }
  plan = { embedded, continuous, byName, n: embedded.length + (continuous.length > 0 ? 1 : 0) };
  plans.set(tower, plan);
  return plan;
}

/** The model's tower, or RALM_ERR_VALIDATION naming `field` when it has none. */
export function requireTower(model: RalmModel, field: string): UserTower {
  if (!model.tower) {
    throw new RalmError('RALM_ERR_VALIDATION', `${field}: model ${model.manifest.modelVersion} has no user tower to embed raw features (its manifest has no userTower)`, { field });
  }
  return model.tower;
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** A categorical value as the vocabulary spells it: a string, or a finite number written as a string. */
function categoricalValue(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected a string (or a number), got ${describe(v)}`, { field });
}

/**
 * Checks a user's raw features (`{fieldName: value}`) against the model's user fields and maps
 * them to vocabulary ids. Categorical: a string (a number is written as a string); multi-categorical:
 * an array of them; continuous: a finite number. A field left out (or null) is missing, which the
 * tower has a row for; an unknown categorical value is allowed too (it takes the missing row) and
 * is reported. Errors name the field (`<field>.<name>`): RALM_ERR_VALIDATION for an unknown field
 * name (listing the known ones) or a value of the wrong type, RALM_ERR_NON_FINITE for NaN/±Infinity.
 */
export function encodeUserFeatures(model: RalmModel, raw: unknown, field = 'user.features'): EncodedUserFeatures {
  const tower = requireTower(model, field);
  const plan = planOf(model, tower);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RalmError('RALM_ERR_VALIDATION', `${field}: expected an object {fieldName: value}`, { field });
  }
  const ids: Int32Array[] = plan.embedded.map(() => new Int32Array(0));
  const c = plan.continuous.length;
  const continuous = new Float64Array(2 * c);
  continuous.fill(1, c);
  const unknownValues = new Map<string, string[]>();
  const unknown = (f: EmbeddedField, v: string): void => {
    const list = unknownValues.get(f.name) ?? [];
    unknownValues.set(f.name, list);
    if (list.length < MAX_UNKNOWN_REPORTED && !list.includes(v)) list.push(v);
  };
  for (const [name, v] of Object.entries(raw)) {
    const at = plan.byName.get(name);
    const path = `${field}.${name}`;
    if (!at) {
      throw new RalmError('RALM_ERR_VALIDATION', `${path}: model ${model.manifest.modelVersion} has no user field "${name}" (its fields: ${[...plan.byName.keys()].join(', ')})`, { field: path });
    }
    if (v === undefined || v === null) continue;
    if (at.kind === 'continuous') {
      if (typeof v !== 'number') throw new RalmError('RALM_ERR_VALIDATION', `${path}: expected a number, got ${describe(v)}`, { field: path });
      if (!Number.isFinite(v)) throw new RalmError('RALM_ERR_NON_FINITE', `${path}: expected a finite number, got ${v}`, { field: path });
      const { min, max } = plan.continuous[at.index];
      continuous[at.index] = max > min ? Math.min(1, Math.max(0, (v - min) / (max - min))) : 0;
      continuous[c + at.index] = 0;
      continue;
    }
    const f = plan.embedded[at.index];
    if (!f.multi) {
      const s = categoricalValue(v, path);
      const id = f.ids.get(s);
      if (id === undefined) unknown(f, s);
      else ids[at.index] = Int32Array.of(id);
      continue;
    }
    if (!Array.isArray(v)) throw new RalmError('RALM_ERR_VALIDATION', `${path}: expected an array of strings, got ${describe(v)}`, { field: path });
    const known: number[] = [];
    const seen = new Set<number>();
    v.forEach((item: unknown, j: number) => {
      const s = categoricalValue(item, `${path}[${j}]`);
      const id = f.ids.get(s);
      if (id === undefined) unknown(f, s);
      else if (!seen.has(id)) {
        seen.add(id);
        known.push(id);
      }
    });
    ids[at.index] = Int32Array.from(known);
  }
  return { ids, continuous, unknownValues: Object.fromEntries(unknownValues) };
}

/** x_u (width m) of one encoded user. */
export function userTowerForward(model: RalmModel, encoded: EncodedUserFeatures): Float32Array {
  return userTowerForwardBatch(model, [encoded]);
}

/** x_u of several encoded users: count × m, row-major. */
export function userTowerForwardBatch(model: RalmModel, encoded: readonly EncodedUserFeatures[]): Float32Array {
  const tower = requireTower(model, 'user.features');
  const plan = planOf(model, tower);
  const { m } = model.manifest;
  const { weights: w, spec } = tower;
  const out = new Float32Array(encoded.length * m);
  const n = plan.n;
  const c = plan.continuous.length;
  const H = new Float64Array(n * m);
  const a = spec.attentionSize ?? 0;
  const scores = new Float64Array(n);
  const widest = Math.max(n * m, ...spec.hidden);
  let x = new Float64Array(widest);
  let y = new Float64Array(widest);
  encoded.forEach((e, u) => {
    if (e.ids.length !== plan.embedded.length || e.continuous.length !== 2 * c) {
      throw new RalmError('RALM_ERR_VALIDATION', `user tower: encoded features have ${e.ids.length} embedded and ${e.continuous.length / 2} continuous fields, the model ${plan.embedded.length} and ${c}`);
    }
    // 1. The field rows.
    plan.embedded.forEach((f, r) => {
      const table = w.embeddings.get(f.name) as Float32Array;
      const ids = e.ids[r];
      const row = H.subarray(r * m, (r + 1) * m);
      if (ids.length === 0) {
        for (let j = 0; j < m; j++) row[j] = table[f.vocabulary * m + j];
        return;
      }
      row.fill(0);
      for (const id of ids) for (let j = 0; j < m; j++) row[j] += table[id * m + j];
      if (ids.length > 1) for (let j = 0; j < m; j++) row[j] /= ids.length;
    });
    if (c > 0) {
      const W = w.continuousWeight as Float32Array;
      const b = w.continuousBias as Float32Array;
      const row = H.subarray((n - 1) * m, n * m);
      for (let o = 0; o < m; o++) {
        let z = b[o];
        for (let i = 0; i < 2 * c; i++) z += W[o * 2 * c + i] * e.continuous[i];
        row[o] = z;
      }
    }
    // 2. The merge.
    let width: number;
    if (spec.merge === 'attention') {
      const W1 = w.mergeW1 as Float32Array;
      const w2 = w.mergeW2 as Float32Array;
      let top = -Infinity;
      for (let f = 0; f < n; f++) {
        let s = 0;
        for (let i = 0; i < a; i++) {
          let z = 0;
          for (let j = 0; j < m; j++) z += W1[i * m + j] * H[f * m + j];
          s += w2[i] * Math.tanh(z);
        }
        scores[f] = s;
        if (s > top) top = s;
      }
      let sum = 0;
      for (let f = 0; f < n; f++) sum += (scores[f] = Math.exp(scores[f] - top));
      x.fill(0, 0, m);
      for (let f = 0; f < n; f++) {
        const alpha = scores[f] / sum;
        for (let j = 0; j < m; j++) x[j] += alpha * H[f * m + j];
      }
      width = m;
    } else {
      x.set(H);
      width = n * m;
    }
    // 3. The MLP.
    w.mlp.forEach((layer, j) => {
      const outW = spec.hidden[j];
      const last = j === w.mlp.length - 1;
      for (let o = 0; o < outW; o++) {
        let z = layer.bias[o];
        const base = o * width;
        for (let i = 0; i < width; i++) z += layer.weight[base + i] * x[i];
        y[o] = last || z > 0 ? z : 0;
      }
      [x, y] = [y, x];
      width = outW;
    });
    for (let j = 0; j < m; j++) out[u * m + j] = x[j];
  });
  return out;
}

/** Raw features → x_u, and the unknown values to report: encodeUserFeatures then userTowerForward. */
export function embedUserFeatures(model: RalmModel, raw: unknown, field = 'user.features'): { universal: Float32Array; unknownValues: Record<string, string[]> } {
  const encoded = encodeUserFeatures(model, raw, field);
  return { universal: userTowerForward(model, encoded), unknownValues: encoded.unknownValues };
}
