/**
 * The shared look-alike transform T(x) = PReLU(W_t x + b_t) in plain TypeScript: what every
 * user input goes through before scoring (the backends run the same math in batches).
 */
import type { RalmModel } from './model.js';

/** PReLU(W_t x + b_t) for `count` row vectors of width m. */
export function transformCpu(model: RalmModel, x: Float32Array, count: number): Float32Array {
  const { h, m } = model.manifest;
  const { transformWeight: W, transformBias: b, transformPrelu: p } = model.weights;
  const out = new Float32Array(count * h);
  for (let v = 0; v < count; v++) {
    const xb = v * m;
    for (let o = 0; o < h; o++) {
      let z = b[o];
      const wr = o * m;
      for (let i = 0; i < m; i++) z += W[wr + i] * x[xb + i];
      out[v * h + o] = z >= 0 ? z : p[o] * z;
    }
  }
  return out;
}
