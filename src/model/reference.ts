/**
 * A straightforward implementation of the RALM serving math exactly as the spec writes it,
 * in float64 with ml-matrix. It is the test oracle for both backends: clarity over speed.
 */
import { Matrix } from 'ml-matrix';
import type { RalmModel } from './model.js';

/**
 * The cosine rule shared by every backend: a vector whose Euclidean norm is below ZERO_NORM
 * counts as the zero vector, and its cosine with anything is 0 (never NaN).
 */
export const ZERO_NORM = 1e-6;

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  const na = Math.sqrt(aa);
  const nb = Math.sqrt(bb);
  return na < ZERO_NORM || nb < ZERO_NORM ? 0 : ab / (na * nb);
}

/** e = PReLU(W_t x + b_t). */
export function referenceTransform(model: RalmModel, x: ArrayLike<number>): Float64Array {
  const { h, m } = model.manifest;
  const w = model.weights;
  const z = Matrix.from1DArray(h, m, Array.from(w.transformWeight)).mmul(Matrix.columnVector(Array.from(x)));
  const out = new Float64Array(h);
  for (let o = 0; o < h; o++) {
    const v = z.get(o, 0) + w.transformBias[o];
    out[o] = v >= 0 ? v : w.transformPrelu[o] * v;
  }
  return out;
}

function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const ex = logits.map((v) => Math.exp(v - max));
  const sum = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / sum);
}

/** global = Σ_j softmax_j(w_g · tanh(W_g C_j)) C_j over the n valid centroids (rows of `centroids`, width h). */
export function referenceGlobal(model: RalmModel, centroids: ArrayLike<number>, n: number): Float64Array {
  const { h, attentionSize: s } = model.manifest;
  const C = Matrix.from1DArray(n, h, Array.from(centroids).slice(0, n * h));
  const Wg = Matrix.from1DArray(s, h, Array.from(model.weights.globalWeight));
  const act = Wg.mmul(C.transpose()).apply(function (this: Matrix, i: number, j: number) {
    this.set(i, j, Math.tanh(this.get(i, j)));
  }); // [s, n]
  const logits = Matrix.rowVector(Array.from(model.weights.globalVector)).mmul(act).to1DArray();
  const g = softmax(logits);
  return Float64Array.from(Matrix.rowVector(g).mmul(C).to1DArray());
}

export interface ReferenceScore {
  score: number;
  cosGlobal: number;
  cosLocal: number;
}

/**
 * score(u, i) = α·cos(e, global_i) + β·cos(e, local_i) + λ·ln(1 + clickers_i),
 * local_i = Σ_j softmax_j(tanh(C_j · W_l e)) C_j; λ is the manifest's popularityPrior (0 when
 * absent), or `lambda` when given (a serving override).
 */
export function referenceScore(
  model: RalmModel,
  e: ArrayLike<number>,
  centroids: ArrayLike<number>,
  n: number,
  global: ArrayLike<number>,
  clickers = 0,
  lambda = model.manifest.popularityPrior ?? 0,
): ReferenceScore {
  const { h, alpha, beta } = model.manifest;
  const C = Matrix.from1DArray(n, h, Array.from(centroids).slice(0, n * h));
  const q = Matrix.from1DArray(h, h, Array.from(model.weights.localWeight)).mmul(Matrix.columnVector(Array.from(e)));
  const a = softmax(C.mmul(q).to1DArray().map(Math.tanh));
  const local = Matrix.rowVector(a).mmul(C).to1DArray();
  const cosGlobal = cosine(e, global);
  const cosLocal = cosine(e, local);
  return { score: alpha * cosGlobal + beta * cosLocal + lambda * Math.log(1 + clickers), cosGlobal, cosLocal };
}

/**
 * x_u of the stage-1 user tower for raw features `{field: value}`, read straight from the
 * format's description (model.ts) with no shared code: H row by row, then
 * `U = tanh(W1 Hᵀ)`, `α = softmax(w2ᵀ U)`, `M = α H` (or H's rows concatenated), then the MLP.
 * Values are assumed valid; a value not in the vocabulary takes the missing row.
 */
export function referenceUserTower(model: RalmModel, raw: Readonly<Record<string, unknown>>): Float64Array {
  const tower = model.tower;
  if (!tower) throw new Error('referenceUserTower: the model has no user tower');
  const { m } = model.manifest;
  const { weights: w, spec } = tower;
  const rows: number[][] = [];
  const embeddingRow = (table: Float32Array, id: number): number[] => Array.from(table.subarray(id * m, (id + 1) * m));
  const continuous = model.manifest.userFields.filter((f) => f.kind === 'continuous');
  for (const f of model.manifest.userFields) {
    if (f.kind === 'continuous') continue;
    const values = tower.vocab.get(f.name) as readonly string[];
    const table = w.embeddings.get(f.name) as Float32Array;
    const given = raw[f.name];
    const asList = given === undefined || given === null ? [] : f.kind === 'categorical' ? [given] : (given as unknown[]);
    const ids = [...new Set(asList.map((v) => values.indexOf(String(v))).filter((id) => id >= 0))];
    if (ids.length === 0) {
      rows.push(embeddingRow(table, values.length));
    } else {
      const sum = ids.map((id) => Matrix.rowVector(embeddingRow(table, id))).reduce((acc, r) => acc.add(r));
      rows.push(sum.div(ids.length).to1DArray());
    }
  }
  if (continuous.length > 0) {
    const input = [
      ...continuous.map((f) => {
        const v = raw[f.name];
        const [min, max] = f.range as readonly [number, number];
        return typeof v !== 'number' || max === min ? 0 : Math.min(1, Math.max(0, (v - min) / (max - min)));
      }),
      ...continuous.map((f) => (typeof raw[f.name] === 'number' ? 0 : 1)),
    ];
    const W = Matrix.from1DArray(m, 2 * continuous.length, Array.from(w.continuousWeight as Float32Array));
    rows.push(W.mmul(Matrix.columnVector(input)).to1DArray().map((v, o) => v + (w.continuousBias as Float32Array)[o]));
  }
  const H = new Matrix(rows);
  let x: Matrix;
  if (spec.merge === 'attention') {
    const a = spec.attentionSize as number;
    const U = Matrix.from1DArray(a, m, Array.from(w.mergeW1 as Float32Array)).mmul(H.transpose()).apply(function (this: Matrix, i: number, j: number) {
      this.set(i, j, Math.tanh(this.get(i, j)));
    });
    const alpha = softmax(Matrix.rowVector(Array.from(w.mergeW2 as Float32Array)).mmul(U).to1DArray());
    x = Matrix.rowVector(alpha).mmul(H).transpose();
  } else {
    x = Matrix.columnVector(rows.flat());
  }
  spec.hidden.forEach((outW, j) => {
    const layer = w.mlp[j];
    const z = Matrix.from1DArray(outW, x.rows, Array.from(layer.weight)).mmul(x).add(Matrix.columnVector(Array.from(layer.bias)));
    x = j === spec.hidden.length - 1 ? z : z.apply(function (this: Matrix, r: number, c: number) {
      this.set(r, c, Math.max(0, this.get(r, c)));
    });
  });
  return Float64Array.from(x.to1DArray());
}
