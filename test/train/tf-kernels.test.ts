import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { tfReady } from '../../src/train/tf-kernels.js';
import { Rng } from '../../src/util/rng.js';

/** a [batch, M, K] × b [batch, K, N] (row-major), by hand, in float64. */
function product(a: Float32Array, b: Float32Array, batch: number, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(batch * M * N);
  for (let i = 0; i < batch; i++) {
    for (let r = 0; r < M; r++) {
      for (let c = 0; c < N; c++) {
        let s = 0;
        for (let j = 0; j < K; j++) s += a[i * M * K + r * K + j] * b[i * K * N + j * N + c];
        out[i * M * N + r * N + c] = s;
      }
    }
  }
  return out;
}

/** x [batch, R, C] transposed to [batch, C, R]. */
function flip(x: Float32Array, batch: number, R: number, C: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < batch; i++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[i * R * C + c * R + r] = x[i * R * C + r * C + c];
  return y;
}

function maxDiff(got: Float32Array, want: Float64Array): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m;
}

describe('TensorFlow.js kernels on the WebAssembly backend', () => {
  // Below and above the size from which a batched product runs one XNNPACK product per batch,
  // a single product (batch 1, no batch axis), and both transposes.
  const shapes = [
    { batch: 1, M: 7, K: 5, N: 3, rank2: true },
    { batch: 4, M: 6, K: 5, N: 1, rank2: false },
    { batch: 3, M: 40, K: 30, N: 50, rank2: false },
    { batch: 2, M: 67, K: 50, N: 50, rank2: false },
  ];
  for (const { batch, M, K, N, rank2 } of shapes) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`matMul ${rank2 ? '' : `batch ${batch}, `}${M}×${K} · ${K}×${N}${ta ? ', a transposed' : ''}${tb ? ', b transposed' : ''}: the product, and no tensor left behind`, async () => {
        await tfReady();
        const rng = new Rng(M * 1000 + K * 10 + N);
        const a = Float32Array.from({ length: batch * M * K }, () => rng.normal());
        const b = Float32Array.from({ length: batch * K * N }, () => rng.normal());
        const want = product(a, b, batch, M, K, N);
        const shape = (R: number, C: number): number[] => (rank2 ? [R, C] : [batch, R, C]);
        const ids = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
        const got = tf.tidy(() => {
          const at = tf.tensor(ta ? flip(a, batch, M, K) : a, ta ? shape(K, M) : shape(M, K));
          const bt = tf.tensor(tb ? flip(b, batch, K, N) : b, tb ? shape(N, K) : shape(K, N));
          return tf.matMul(at, bt, ta, tb);
        });
        assert.deepEqual(got.shape, shape(M, N));
        const diff = maxDiff(got.dataSync() as Float32Array, want);
        got.dispose();
        assert.ok(diff < 1e-4 * Math.sqrt(K), `max |difference| ${diff}`);
        assert.equal((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), ids, 'every temporary freed');
      });
    }
  }

  it('gradients through a product with a transposed operand equal the hand-written ones', async () => {
    await tfReady();
    const rng = new Rng(3);
    const x = tf.tensor2d(Float32Array.from({ length: 12 * 5 }, () => rng.normal()), [12, 5]);
    const w = tf.tensor2d(Float32Array.from({ length: 4 * 5 }, () => rng.normal()), [4, 5]);
    // f = Σ (x wᵀ)²: df/dw = 2 (x wᵀ)ᵀ x, df/dx = 2 (x wᵀ) w.
    const v = tf.variable(w, true, 'w-grad-test');
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(x, v, false, true))), [v]);
    const y = product(x.dataSync() as Float32Array, flip(w.dataSync() as Float32Array, 1, 4, 5), 1, 12, 5, 4);
    const yT = flip(Float32Array.from(y), 1, 12, 4);
    const want = product(yT, x.dataSync() as Float32Array, 1, 4, 12, 5).map((v) => 2 * v);
    const diff = maxDiff(grads['w-grad-test'].dataSync() as Float32Array, want);
    assert.ok(diff < 1e-3, `max |difference| ${diff}`);
    tf.dispose([x, w, v, value, ...Object.values(grads)]);
  });

  it('tanh is within 2e-7 of Math.tanh from −20 to 20, keeps ±1, ±∞ and NaN, frees its temporaries, and has tanh\'s gradient', async () => {
    await tfReady();
    const xs = Float32Array.from({ length: 40_001 }, (_, i) => -20 + i / 1000);
    const ids = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const y = tf.tidy(() => tf.tanh(tf.tensor1d(xs)));
    const ys = y.dataSync();
    y.dispose();
    assert.equal((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), ids, 'every temporary freed');
    let worst = 0;
    xs.forEach((x, i) => { worst = Math.max(worst, Math.abs(ys[i] - Math.tanh(x))); });
    assert.ok(worst < 2e-7, `max |difference| ${worst}`);
    const edge = tf.tanh(tf.tensor1d([100, -100, Infinity, -Infinity, NaN]));
    assert.deepEqual(Array.from(edge.dataSync()), [1, -1, 1, -1, NaN]);
    edge.dispose();
    const z = [0.5, -1, 2, 0];
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.tanh(v)))(tf.tensor1d(z));
    const gs = g.dataSync();
    z.forEach((v, i) => assert.ok(Math.abs(gs[i] - (1 - Math.tanh(v) ** 2)) < 1e-6, `gradient at ${v}: ${gs[i]}`));
    g.dispose();
  });
});

