/**
 * User factors from a binary user × item click matrix by a randomized truncated SVD (Halko,
 * Martinsson & Tropp, "Finding structure with randomness", SIAM Review 2011: range finder with
 * power iterations). The sparse products are loops over the clicks; the small dense steps
 * (Cholesky for orthonormalisation, the symmetric eigen-decomposition) use ml-matrix.
 *
 * `userFactors` returns rows U_r Σ_r (so that dot products of user rows approximate co-click
 * counts), each row scaled to unit length; users without clicks get a zero row. `clickSvd` also
 * returns the item factors V_r: a user's row U_r Σ_r is the sum of the V_r rows of the items they
 * clicked (the fold-in), which is how stage 1 starts its item-id embeddings from click factors.
 */
import { CholeskyDecomposition, EigenvalueDecomposition, inverse, Matrix } from 'ml-matrix';
import { Rng } from '../util/rng.js';

export interface Csr {
  rows: number;
  cols: number;
  ptr: Uint32Array;
  idx: Uint32Array;
}

/** Distinct (row, col) pairs as CSR. */
export function toCsr(rows: number, cols: number, r: ArrayLike<number>, c: ArrayLike<number>): Csr {
  const count = new Uint32Array(rows + 1);
  for (let i = 0; i < r.length; i++) count[r[i] + 1]++;
  for (let i = 0; i < rows; i++) count[i + 1] += count[i];
  const fill = count.slice(0, rows);
  const idx = new Uint32Array(r.length);
  for (let i = 0; i < r.length; i++) idx[fill[r[i]]++] = c[i];
  // Sort and deduplicate each row.
  const ptr = new Uint32Array(rows + 1);
  let out = 0;
  for (let i = 0; i < rows; i++) {
    const row = idx.subarray(count[i], count[i + 1]).sort();
    ptr[i] = out;
    for (let j = 0; j < row.length; j++) if (j === 0 || row[j] !== row[j - 1]) idx[out++] = row[j];
  }
  ptr[rows] = out;
  return { rows, cols, ptr, idx: idx.slice(0, out) };
}

/** Y = A X: A is rows × cols (CSR, ones), X is cols × l row-major → rows × l. */
function mul(a: Csr, x: Float64Array, l: number): Float64Array {
  const y = new Float64Array(a.rows * l);
  for (let i = 0; i < a.rows; i++) {
    const o = i * l;
    for (let p = a.ptr[i]; p < a.ptr[i + 1]; p++) {
      const xo = a.idx[p] * l;
      for (let t = 0; t < l; t++) y[o + t] += x[xo + t];
    }
  }
  return y;
}

/** Z = Aᵀ Y: Y is rows × l → cols × l. */
function mulT(a: Csr, y: Float64Array, l: number): Float64Array {
  const z = new Float64Array(a.cols * l);
  for (let i = 0; i < a.rows; i++) {
    const o = i * l;
    for (let p = a.ptr[i]; p < a.ptr[i + 1]; p++) {
      const zo = a.idx[p] * l;
      for (let t = 0; t < l; t++) z[zo + t] += y[o + t];
    }
  }
  return z;
}

/** Orthonormal columns spanning Y's (n × l): Cholesky QR, done twice for stability. */
function orthonormalize(y: Float64Array, n: number, l: number): Float64Array {
  let q = y;
  for (let pass = 0; pass < 2; pass++) {
    const g = new Float64Array(l * l);
    for (let i = 0; i < n; i++) {
      const o = i * l;
      for (let a = 0; a < l; a++) {
        const v = q[o + a];
        if (v === 0) continue;
        for (let b = a; b < l; b++) g[a * l + b] += v * q[o + b];
      }
    }
    const G = new Matrix(l, l);
    for (let a = 0; a < l; a++) {
      for (let b = a; b < l; b++) {
        G.set(a, b, g[a * l + b]);
        G.set(b, a, g[a * l + b]);
      }
      G.set(a, a, G.get(a, a) + 1e-10 * (1 + G.get(a, a))); // keeps rank-deficient inputs positive definite
    }
    const L = new CholeskyDecomposition(G).lowerTriangularMatrix; // G = L Lᵀ → Q = Y L⁻ᵀ
    const Linv = inverse(L); // l is small
    const out = new Float64Array(n * l);
    for (let i = 0; i < n; i++) {
      const o = i * l;
      for (let a = 0; a < l; a++) {
        let s = 0;
        for (let b = 0; b <= a; b++) s += q[o + b] * Linv.get(a, b);
        out[o + a] = s;
      }
    }
    q = out;
  }
  return q;
}

export interface SvdOptions {
  rank: number;
  oversample?: number;
  powerIterations?: number;
  seed?: number;
}

export interface ClickSvd {
  rank: number;
  /** rows × rank: U_r Σ_r, not normalised. */
  users: Float32Array;
  /** cols × rank: V_r (orthonormal columns). */
  items: Float32Array;
  /** The r largest singular values, descending. */
  sigma: Float64Array;
}

/** A rank-r randomized SVD of a binary click matrix: user rows U_r Σ_r, item factors V_r, Σ_r. */
export function clickSvd(a: Csr, o: SvdOptions): ClickSvd {
  const r = o.rank;
  const l = r + (o.oversample ?? 10);
  const rng = new Rng(o.seed ?? 1);
  const omega = new Float64Array(a.cols * l);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  let q = orthonormalize(mul(a, omega, l), a.rows, l);
  for (let it = 0; it < (o.powerIterations ?? 2); it++) {
    const z = mulT(a, q, l);
    q = orthonormalize(mul(a, z, l), a.rows, l);
  }
  // B = Qᵀ A (l × cols); B Bᵀ = W Λ Wᵀ; A ≈ Q W Σ Vᵀ with Σ = √Λ, so U Σ = Q W Σ and V = Bᵀ W Σ⁻¹.
  const bt = mulT(a, q, l); // cols × l = Bᵀ
  const bb = new Matrix(l, l);
  for (let c = 0; c < a.cols; c++) {
    const o2 = c * l;
    for (let i = 0; i < l; i++) {
      const v = bt[o2 + i];
      if (v === 0) continue;
      for (let j = i; j < l; j++) bb.set(i, j, bb.get(i, j) + v * bt[o2 + j]);
    }
  }
  for (let i = 0; i < l; i++) for (let j = 0; j < i; j++) bb.set(i, j, bb.get(j, i));
  const evd = new EigenvalueDecomposition(bb, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).slice(0, r);
  const w = evd.eigenvectorMatrix;
  const sigma = Float64Array.from(order, ([v]) => Math.sqrt(Math.max(v, 0)));
  // Projection P (l × r): column t = w[:, order[t]] · σ_t.
  const proj = new Float64Array(l * r);
  order.forEach(([, i], t) => {
    for (let a2 = 0; a2 < l; a2++) proj[a2 * r + t] = w.get(a2, i) * sigma[t];
  });
  const users = new Float32Array(a.rows * r);
  for (let i = 0; i < a.rows; i++) {
    for (let a2 = 0; a2 < l; a2++) {
      const v = q[i * l + a2];
      if (v === 0) continue;
      for (let t = 0; t < r; t++) users[i * r + t] += v * proj[a2 * r + t];
    }
  }
  const items = new Float32Array(a.cols * r);
  for (let c = 0; c < a.cols; c++) {
    for (let t = 0; t < r; t++) {
      if (sigma[t] === 0) continue;
      let s = 0;
      for (let a2 = 0; a2 < l; a2++) s += bt[c * l + a2] * w.get(a2, order[t][1]);
      items[c * r + t] = s / sigma[t];
    }
  }
  return { rank: r, users, items, sigma };
}

/** Unit-length user factors (rows × rank, Float32) of a binary click matrix. */
export function userFactors(a: Csr, o: SvdOptions): Float32Array {
  const { users, rank: r } = clickSvd(a, o);
  const out = new Float32Array(users.length);
  for (let i = 0; i < a.rows; i++) {
    let ss = 0;
    for (let t = 0; t < r; t++) ss += users[i * r + t] * users[i * r + t];
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let t = 0; t < r; t++) out[i * r + t] = users[i * r + t] * inv;
  }
  return out;
}
