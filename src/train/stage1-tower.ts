/**
 * Stage 1's user tower on TensorFlow.js: the layout of a dataset's fields, the packing of a batch
 * of users' features into typed arrays, the variables, the forward pass features → x_u (see
 * stage1.ts for the model), and the export to the model directory's tower format.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import type { ContinuousColumn, FeatureColumn, MultiColumn, SingleColumn } from '../data/features.js';
import type { TensorToWrite } from '../model/safetensors.js';
import type { UserFieldSchema } from '../model/model.js';
import { RalmError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { MergeKind, Stage1Result, TowerExport } from './stage1.js';
import { historyColumn } from './history.js';
import { tfReady, variableFrom } from './tf-kernels.js';

/** The categorical fields (in dataset order) and the continuous ones, as the tower uses them. */
export interface Layout {
  /** Every user field the tower reads, in order: the dataset's, then derived ones (the click history). */
  columns: FeatureColumn[];
  cat: Array<SingleColumn | MultiColumn>;
  cont: ContinuousColumn[];
  /** Index into `cat` of fields whose values are the dataset's item ids. */
  itemIdFields: Set<number>;
  rows: number;
}

export function layoutOf(ds: Dataset, derived: readonly MultiColumn[] = []): Layout {
  const cat: Array<SingleColumn | MultiColumn> = [];
  const cont: ContinuousColumn[] = [];
  const itemIdFields = new Set<number>();
  const columns = [...ds.userFields as FeatureColumn[], ...derived];
  for (const c of columns) {
    if (c.type === 'continuous') cont.push(c);
    else {
      if (c.vocab === ds.items) itemIdFields.add(cat.length);
      cat.push(c);
    }
  }
  const rows = cat.length + (cont.length > 0 ? 1 : 0);
  if (rows === 0) throw new RalmError('RALM_ERR_VALIDATION', `${ds.name}: stage 1 needs user feature fields, and the dataset has none`);
  return { columns, cat, cont, itemIdFields, rows };
}

/** One batch of tower inputs, already in typed arrays. */
export interface FeatureBatch {
  n: number;
  /** Per categorical field: flat ids, the batch row of each, and its pooling weight. */
  ids: Int32Array[];
  seg: Int32Array[];
  w: Float32Array[];
  /** [n, 2c] values then missing flags. */
  cont: Float32Array;
}

/**
 * Packs the features of `users` (with, per row, an item id to leave out of item-id bags, or −1).
 * A missing single value, or a bag with nothing left, points at the table's last row ("missing").
 */
export function packFeatures(lay: Layout, users: ArrayLike<number>, leaveOut: ArrayLike<number> | null): FeatureBatch {
  const n = users.length;
  const ids: Int32Array[] = [];
  const seg: Int32Array[] = [];
  const w: Float32Array[] = [];
  lay.cat.forEach((col, f) => {
    const missing = col.vocab.size;
    if (col.type === 'single') {
      const a = new Int32Array(n);
      for (let r = 0; r < n; r++) {
        const v = col.ids[users[r]];
        a[r] = v < 0 ? missing : v;
      }
      ids.push(a);
      seg.push(Int32Array.from({ length: n }, (_, r) => r));
      w.push(new Float32Array(n).fill(1));
      return;
    }
    const skipItems = leaveOut !== null && lay.itemIdFields.has(f);
    const fi: number[] = [];
    const fs: number[] = [];
    const fw: number[] = [];
    for (let r = 0; r < n; r++) {
      const u = users[r];
      const lo = col.offsets[u];
      const hi = col.offsets[u + 1];
      const skip = skipItems ? (leaveOut as ArrayLike<number>)[r] : -1;
      let count = 0;
      for (let j = lo; j < hi; j++) if (col.ids[j] !== skip) count++;
      if (count === 0) {
        fi.push(missing);
        fs.push(r);
        fw.push(1);
        continue;
      }
      for (let j = lo; j < hi; j++) {
        if (col.ids[j] === skip) continue;
        fi.push(col.ids[j]);
        fs.push(r);
        fw.push(1 / count);
      }
    }
    ids.push(Int32Array.from(fi));
    seg.push(Int32Array.from(fs));
    w.push(Float32Array.from(fw));
  });
  const c = lay.cont.length;
  const cont = new Float32Array(n * 2 * c);
  for (let r = 0; r < n; r++) {
    lay.cont.forEach((col, j) => {
      const v = col.values[users[r]];
      if (Number.isNaN(v)) cont[r * 2 * c + c + j] = 1;
      else cont[r * 2 * c + j] = Math.min(1, Math.max(0, v));
    });
  }
  return { n, ids, seg, w, cont };
}

export interface Vars {
  emb: tf.Variable[];
  contW: tf.Variable | null;
  contB: tf.Variable | null;
  w1: tf.Variable | null;
  w2: tf.Variable | null;
  mlpW: tf.Variable[];
  mlpB: tf.Variable[];
  item: tf.Variable;
  itemBias: tf.Variable;
}

export function listVars(v: Vars): Array<[string, tf.Variable]> {
  const out: Array<[string, tf.Variable]> = [];
  v.emb.forEach((e, f) => out.push([`emb.${f}`, e]));
  if (v.contW && v.contB) out.push(['cont.w', v.contW], ['cont.b', v.contB]);
  if (v.w1 && v.w2) out.push(['merge.w1', v.w1], ['merge.w2', v.w2]);
  v.mlpW.forEach((w, j) => out.push([`mlp.${j}.w`, w], [`mlp.${j}.b`, v.mlpB[j]]));
  out.push(['item', v.item], ['item.bias', v.itemBias]);
  return out;
}

/**
 * Where the tower starts from click factors (history.ts): the item-id fields' embedding rows and
 * the softmax's item embeddings are the given item rows, the other fields start near zero, and an
 * MLP of widths [2m, m] starts as the identity (W1 = [I; −I], W2 = [I, −I]: relu(z) − relu(−z) = z),
 * so the untrained tower passes the merged fields through.
 */
export interface TowerInit {
  itemRows: Float32Array;
}

export function initVars(lay: Layout, items: number, m: number, merge: MergeKind, a: number, hidden: number[], seed: number, init?: TowerInit): Vars {
  const rng = new Rng(seed * 31 + 7);
  // Unnamed: tfjs names must be unique per process, and several trainings may run in one.
  const v = (data: Float32Array, shape: number[], _name: string): tf.Variable => variableFrom(data, shape);
  const glorot = (rows: number, cols: number): Float32Array => {
    const lim = Math.sqrt(6 / (rows + cols));
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * lim;
    return out;
  };
  const emb = lay.cat.map((col, f) => {
    const rows = rng.normals((col.vocab.size + 1) * m, init ? 0.01 : 0.1);
    if (init && lay.itemIdFields.has(f)) {
      rows.set(init.itemRows);
      rows.fill(0, init.itemRows.length);
    }
    return v(rows, [col.vocab.size + 1, m], `emb.${f}`);
  });
  const c = lay.cont.length;
  const contW = c > 0 ? v(glorot(m, 2 * c).map((x) => (init ? 0.03 * x : x)), [m, 2 * c], 'cont.w') : null;
  const contB = c > 0 ? v(new Float32Array(m), [m], 'cont.b') : null;
  const w1 = merge === 'attention' ? v(glorot(a, m), [a, m], 'merge.w1') : null;
  const w2 = merge === 'attention' ? v(rng.normals(a, 0.1), [a], 'merge.w2') : null;
  const mlpW: tf.Variable[] = [];
  const mlpB: tf.Variable[] = [];
  let fan = merge === 'attention' ? m : lay.rows * m;
  const identity = init !== undefined && merge === 'attention' && hidden.length === 2 && hidden[0] === 2 * m && hidden[1] === m;
  hidden.forEach((out, j) => {
    const w = glorot(out, fan);
    if (identity) {
      w.fill(0);
      // j = 0: [I; −I] (2m × m); j = 1: [I, −I] (m × 2m).
      for (let d = 0; d < m; d++) {
        if (j === 0) { w[d * m + d] = 1; w[(m + d) * m + d] = -1; } else { w[d * 2 * m + d] = 1; w[d * 2 * m + m + d] = -1; }
      }
    }
    mlpW.push(v(w, [out, fan], `mlp.${j}.w`));
    mlpB.push(v(new Float32Array(out), [out], `mlp.${j}.b`));
    fan = out;
  });
  const item = init ? init.itemRows.slice() : rng.normals(items * m, 0.01);
  return { emb, contW, contB, w1, w2, mlpW, mlpB, item: v(item, [items, m], 'item'), itemBias: v(new Float32Array(items), [items], 'item.bias') };
}

/** The tower's forward pass: features → x [n, m]. */
export function tower(v: Vars, fb: FeatureBatch, merge: MergeKind): tf.Tensor2D {
  const n = fb.n;
  const rows: tf.Tensor2D[] = v.emb.map((table, f) => {
    const looked = tf.gather(table, tf.tensor1d(fb.ids[f], 'int32')) as tf.Tensor2D;
    if (fb.ids[f].length === n && fb.w[f].every((x) => x === 1)) return looked; // single-valued: one row each
    const weighted = tf.mul(looked, tf.tensor2d(fb.w[f], [fb.w[f].length, 1]));
    return tf.unsortedSegmentSum(weighted, tf.tensor1d(fb.seg[f], 'int32'), n) as tf.Tensor2D;
  });
  if (v.contW && v.contB) {
    const c2 = fb.cont.length / n;
    rows.push(tf.add(tf.matMul(tf.tensor2d(fb.cont, [n, c2]), v.contW, false, true), v.contB) as tf.Tensor2D);
  }
  const H = tf.stack(rows, 1) as tf.Tensor3D; // [n, f, m]
  const [, nf, m] = H.shape;
  let z: tf.Tensor2D;
  if (merge === 'attention' && v.w1 && v.w2) {
    const a = v.w1.shape[0];
    const U = tf.tanh(tf.matMul(tf.reshape(H, [n * nf, m]), v.w1, false, true)); // [n·f, a]
    const s = tf.reshape(tf.matMul(U, tf.reshape(v.w2, [a, 1])), [n, nf]);
    const alpha = tf.softmax(s); // over the fields, per user
    z = tf.squeeze(tf.matMul(tf.reshape(alpha, [n, 1, nf]), H), [1]) as tf.Tensor2D;
  } else {
    z = tf.reshape(H, [n, nf * m]) as tf.Tensor2D;
  }
  v.mlpW.forEach((w, j) => {
    z = tf.add(tf.matMul(z, w, false, true), v.mlpB[j]) as tf.Tensor2D;
    if (j < v.mlpW.length - 1) z = tf.relu(z);
  });
  return z;
}

/**
 * The forward pass of an exported tower, each user embedded with one item left out of their
 * item-id fields: stage 2's target as it was before clicking the item it is scored on.
 */
export class TowerEmbedder {
  private readonly vars: Vars;

  constructor(private readonly lay: Layout, private readonly t: TowerExport) {
    const get = (name: string): tf.Variable => {
      const x = t.tensors[name];
      if (!x) throw new RalmError('RALM_ERR_MODEL_FORMAT', `tower: tensor ${name} missing`);
      return variableFrom(x.data, [...x.shape], false);
    };
    const has = (name: string): boolean => name in t.tensors;
    this.vars = {
      emb: lay.cat.map((c) => get(`tower.field.${c.name}.embedding`)),
      contW: has('tower.continuous.weight') ? get('tower.continuous.weight') : null,
      contB: has('tower.continuous.bias') ? get('tower.continuous.bias') : null,
      w1: has('tower.merge.w1') ? get('tower.merge.w1') : null,
      w2: has('tower.merge.w2') ? get('tower.merge.w2') : null,
      mlpW: t.spec.hidden.map((_, j) => get(`tower.mlp.${j}.weight`)),
      mlpB: t.spec.hidden.map((_, j) => get(`tower.mlp.${j}.bias`)),
      item: variableFrom(new Float32Array(1), [1, 1], false),
      itemBias: variableFrom(new Float32Array(1), [1], false),
    };
  }

  /** x rows (users × m) of `users`, each without `leaveOut[r]` (−1: nothing left out). */
  embed(users: Int32Array, leaveOut: Int32Array): Float32Array {
    const m = this.t.spec.hidden[this.t.spec.hidden.length - 1];
    const out = new Float32Array(users.length * m);
    for (let b = 0; b < users.length; b += 1024) {
      const fb = packFeatures(this.lay, users.subarray(b, b + 1024), leaveOut.subarray(b, b + 1024));
      const x = tf.tidy(() => tower(this.vars, fb, this.t.spec.merge));
      out.set(x.dataSync() as Float32Array, b * m);
      x.dispose();
    }
    return out;
  }

  dispose(): void {
    for (const [, v] of listVars(this.vars)) v.dispose();
  }
}

/**
 * Stage 2's `xWithout` for a trained tower: users embedded with one item left out of their
 * item-id fields (the click history, recently clicked items). Null when the tower has no such
 * field (x never carries a clicked item). Dispose it when stage 2 is done.
 */
export async function targetEmbedder(ds: Dataset, trainEnd: number, s1: Stage1Result): Promise<TowerEmbedder | null> {
  await tfReady();
  const lay = layoutOf(ds, s1.historyItems > 0 ? [historyColumn(ds, trainEnd, s1.historyItems)] : []);
  return lay.itemIdFields.size === 0 ? null : new TowerEmbedder(lay, s1.tower);
}

export function exportTower(lay: Layout, v: Vars, spec: TowerExport['spec']): TowerExport {
  const t = (x: tf.Variable): TensorToWrite => ({ shape: x.shape, data: x.dataSync().slice() as Float32Array });
  const tensors: Record<string, TensorToWrite> = {};
  const vocab: Record<string, string[]> = {};
  const userFields: UserFieldSchema[] = [];
  let f = 0;
  for (const col of lay.columns) {
    if (col.type === 'continuous') {
      userFields.push({ name: col.name, kind: 'continuous', range: [Number.isNaN(col.min) ? 0 : col.min, Number.isNaN(col.max) ? 0 : col.max] });
      continue;
    }
    userFields.push({ name: col.name, kind: col.type === 'single' ? 'categorical' : 'multi-categorical', vocabulary: col.vocab.size });
    tensors[`tower.field.${col.name}.embedding`] = t(v.emb[f++]);
    vocab[col.name] = col.vocab.values();
  }
  if (v.contW && v.contB) {
    tensors['tower.continuous.weight'] = t(v.contW);
    tensors['tower.continuous.bias'] = t(v.contB);
  }
  if (v.w1 && v.w2) {
    tensors['tower.merge.w1'] = t(v.w1);
    tensors['tower.merge.w2'] = t(v.w2);
  }
  v.mlpW.forEach((w, j) => {
    tensors[`tower.mlp.${j}.weight`] = t(w);
    tensors[`tower.mlp.${j}.bias`] = t(v.mlpB[j]);
  });
  return { userFields, spec, tensors, vocab };
}

/**
 * A dataset user's fields as raw values, the shape the API's `features` input takes: a string
 * for a single-valued field, an array of strings for a multi-valued one, the unscaled number for
 * a continuous one; missing values are left out.
 */
export function userFeatureValues(ds: Dataset, u: number, derived: readonly MultiColumn[] = []): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  for (const c of [...ds.userFields as FeatureColumn[], ...derived]) {
    if (c.type === 'single') {
      if (c.ids[u] >= 0) out[c.name] = c.vocab.value(c.ids[u]);
    } else if (c.type === 'multi') {
      const lo = c.offsets[u];
      const hi = c.offsets[u + 1];
      if (hi > lo) out[c.name] = Array.from(c.ids.subarray(lo, hi), (id) => c.vocab.value(id));
    } else if (!Number.isNaN(c.values[u])) {
      out[c.name] = c.max > c.min ? c.min + c.values[u] * (c.max - c.min) : c.min;
    }
  }
  return out;
}
