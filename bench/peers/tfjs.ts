/**
 * TensorFlow.js with its WebAssembly backend (the `.wasm` files ship in the package; the native
 * tfjs-node backend downloads libtensorflow at install and so cannot be used offline). Same
 * graph as the ONNX peer: q = W_l e, w = exp(tanh(C q)), L = Σ w C, the cosines with the zero
 * rule, the α/β blend, then tf.topk. Items live in backend memory for the session's lifetime.
 */
import { importOptional, OPTIONAL_INSTALL_FIX, type Peer, type PeerSession } from './peer.js';
import type { Workload } from '../workload.js';

/** The slice of the tfjs-core API used here (functional ops; chaining needs the full tfjs bundle). */
interface Tensor {
  shape: number[];
  data(): Promise<Float32Array | Int32Array>;
  dispose(): void;
}
interface Tf {
  version_core: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  env(): { getBool(flag: string): boolean };
  tensor(values: Float32Array, shape: number[], dtype?: 'float32'): Tensor;
  scalar(v: number): Tensor;
  tidy<T>(fn: () => T): T;
  keep<T extends Tensor>(t: T): T;
  matMul(a: Tensor, b: Tensor, transposeA?: boolean, transposeB?: boolean): Tensor;
  reshape(t: Tensor, shape: number[]): Tensor;
  transpose(t: Tensor, perm?: number[]): Tensor;
  tanh(t: Tensor): Tensor;
  exp(t: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  div(a: Tensor, b: Tensor): Tensor;
  sum(t: Tensor, axis: number, keepDims?: boolean): Tensor;
  sqrt(t: Tensor): Tensor;
  less(a: Tensor, b: Tensor): Tensor;
  logicalOr(a: Tensor, b: Tensor): Tensor;
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor;
  zerosLike(t: Tensor): Tensor;
  topk(t: Tensor, k: number, sorted?: boolean): { values: Tensor; indices: Tensor };
}

const FIX = OPTIONAL_INSTALL_FIX;

export async function tfjsWasmPeer(): Promise<Peer> {
  const core = await importOptional<Tf & { default?: Tf }>('@tensorflow/tfjs-core', FIX);
  const tf: Tf = typeof core.setBackend === 'function' ? core : (core.default as Tf);
  await importOptional('@tensorflow/tfjs-backend-wasm', FIX);
  if (tf.getBackend() !== 'wasm') {
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
    await tf.ready();
  }
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  return {
    name: 'tfjs-wasm',
    label: `TensorFlow.js ${tf.version_core}, wasm backend (${simd ? 'simd' : 'no simd'}, ${threads ? 'threads' : '1 thread'})`,
    version: tf.version_core,
    // The backend's WebAssembly heap is 32-bit: items, the [N,B,h] local vectors and scratch must fit in it.
    maxItemBytes: 2 ** 30,
    async open(w: Workload, topK: number): Promise<PeerSession> {
      const { n, k, h } = w;
      const C = tf.tensor(w.centroids, [n, k, h]);
      const C2 = tf.reshape(C, [n * k, h]);
      const G = tf.tensor(w.globals, [n, h]);
      const nG = tf.tidy(() => tf.sqrt(tf.sum(tf.mul(G, G), 1, true)));
      const Wl = tf.tensor(w.model.weights.localWeight, [h, h]);
      const alpha = tf.scalar(w.model.manifest.alpha);
      const beta = tf.scalar(w.model.manifest.beta);
      const eps = tf.scalar(1e-6);
      const kk = Math.min(topK, n);
      const cosine = (dot: Tensor, na: Tensor, nb: Tensor): Tensor =>
        tf.where(tf.logicalOr(tf.less(na, eps), tf.less(nb, eps)), tf.zerosLike(dot), tf.div(dot, tf.mul(na, nb)));
      return {
        async run(users: Float32Array, b: number) {
          const top = tf.tidy(() => {
            const E = tf.tensor(users.subarray(0, b * h), [b, h]);
            const Q = tf.matMul(E, Wl, false, true); // [b,h]
            const S = tf.reshape(tf.matMul(C2, Q, false, true), [n, k, b]);
            const W = tf.exp(tf.tanh(S));
            const L = tf.matMul(W, C, true, false); // [n,b,h]
            const dotL = tf.sum(tf.mul(L, E), 2); // [n,b]
            const nL = tf.sqrt(tf.sum(tf.mul(L, L), 2));
            const nE = tf.sqrt(tf.sum(tf.mul(E, E), 1)); // [b]
            const dotG = tf.matMul(G, E, false, true); // [n,b]
            const score = tf.add(tf.mul(alpha, cosine(dotG, nG, nE)), tf.mul(beta, cosine(dotL, nL, nE)));
            const t = tf.topk(tf.transpose(score), kk, true);
            return { values: tf.keep(t.values), indices: tf.keep(t.indices) };
          });
          const [score, index] = await Promise.all([top.values.data(), top.indices.data()]);
          top.values.dispose();
          top.indices.dispose();
          return { index, score: score as Float32Array };
        },
        async close() {
          for (const t of [C, C2, G, nG, Wl, alpha, beta, eps]) t.dispose();
        },
      };
    },
  };
}
