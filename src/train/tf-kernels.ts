/**
 * TensorFlow.js on its WebAssembly backend, with three kernels adjusted.
 *
 * `UnsortedSegmentSum`, which the backend lacks: it is the gradient of `gather` (every embedding
 * lookup) and the forward op of the mean-pooled multi-valued fields, so without it no embedding
 * table trains on the wasm backend (tfjs-backend-wasm 4.22 registers GatherV2 but not its
 * gradient's kernel). The kernel runs in JavaScript on views of the wasm heap: out[segmentIds[r], :]
 * += x[r, :], rows with a negative or out-of-range segment id dropped (TensorFlow's semantics). It
 * costs one pass over x; the tables' Adam update, not this sum, dominates a training step.
 *
 * `BatchMatMul`: the backend hands a product to XNNPACK only when neither operand is transposed
 * and the batch is 1 (tensorflow/tfjs#2532); otherwise it runs a generic loop, 8–10 times slower
 * with a transposed operand (`bench/tf-kernels.ts`: [67, 64] × [59,100, 64]ᵀ 236 ms against 24.5 ms
 * once the operand is transposed first; [12,800, 64] × [64, 64]ᵀ 48 against 4.8 ms) and 2–3 times
 * slower on a batch of 1,182 products of 67 × 50 · 50 × 50. Every backward pass of a product asks
 * for a transposed one, and the ranking validation's Gram products are such a batch. The wrapper
 * transposes a flagged operand with the backend's own Transpose kernel, and runs a batch whose
 * products are large enough one XNNPACK product at a time: the same products, summed in
 * XNNPACK's order (scores move in the last float bits, `test/train/tf-kernels.test.ts`).
 *
 * `Tanh`: the backend's is a scalar loop, 5–10 times slower than its `Sigmoid` (16 against 1.5 ms
 * on 819,200 values); tanh(x) = 2·σ(2x) − 1 runs on that Sigmoid with two broadcast products,
 * within 2·10⁻⁷ of tanh in absolute terms (float32 rounding of σ near ½). Its gradient is
 * TensorFlow.js's own for Tanh, read from this output.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { RalmError } from '../util/errors.js';

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId): boolean;
}

function unsortedSegmentSum({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const b = backend as WasmHeapBackend;
  if (x.dtype !== 'float32') throw new RalmError('RALM_ERR_VALIDATION', `UnsortedSegmentSum: float32 input expected, got ${x.dtype}`);
  const rows = x.shape[0] ?? 1;
  const width = x.shape.slice(1).reduce((a, d) => a * d, 1);
  const out = b.makeOutput([numSegments, ...x.shape.slice(1)], 'float32');
  // Views are taken after makeOutput: allocating may grow (and move) the heap.
  const o = b.typedArrayFromHeap(out) as Float32Array;
  const xs = b.typedArrayFromHeap(x) as Float32Array;
  const ids = b.typedArrayFromHeap(segmentIds) as Int32Array;
  o.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = ids[r];
    if (s < 0 || s >= numSegments) continue;
    const src = r * width;
    const dst = s * width;
    for (let c = 0; c < width; c++) o[dst + c] += xs[src + c];
  }
  return out;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Per-batch products of at least this many multiply-adds go to XNNPACK one batch at a time. */
const PER_BATCH_MIN_WORK = 32_768;

/**
 * a [..., M, K] × b [..., K, N] with the same batch dimensions on both sides, one XNNPACK product
 * per batch: the backend hands a batched product to its generic loop (1 G multiply-adds a second
 * here against ≈ 10 G for XNNPACK). Each batch's b is a fresh tensor: the backend caches XNNPACK's
 * packed weights by b's id and frees them when b is disposed. null: not worth it, or shapes that
 * broadcast.
 */
function perBatch(base: tf.KernelFunc, backend: WasmHeapBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 3 || ra !== rb || a.shape.slice(0, -2).some((d, i) => d !== b.shape[i])) return null;
  const [M, K] = a.shape.slice(-2);
  const N = b.shape[rb - 1];
  const batch = a.shape.slice(0, -2).reduce((x, d) => x * d, 1);
  if (batch < 2 || M * K * N < PER_BATCH_MIN_WORK || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const out = backend.makeOutput([...a.shape.slice(0, -2), M, N], 'float32');
  for (let i = 0; i < batch; i++) {
    const sa = backend.makeOutput([M, K], 'float32');
    const sb = backend.makeOutput([K, N], 'float32');
    // Views after every allocation: allocating may grow (and move) the heap.
    (backend.typedArrayFromHeap(sa) as Float32Array).set((backend.typedArrayFromHeap(a) as Float32Array).subarray(i * M * K, (i + 1) * M * K));
    (backend.typedArrayFromHeap(sb) as Float32Array).set((backend.typedArrayFromHeap(b) as Float32Array).subarray(i * K * N, (i + 1) * K * N));
    const r = base({ inputs: { a: sa, b: sb }, backend, attrs: { transposeA: false, transposeB: false } } as unknown as KernelArgs) as tf.TensorInfo;
    (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(r) as Float32Array, i * M * N);
    for (const t of [sa, sb, r]) backend.disposeData(t.dataId);
  }
  return out;
}

/** The backend's BatchMatMul with each transposed operand transposed first, and large batched products one batch at a time (see the header). */
function plainBatchMatMul(base: tf.KernelFunc, transpose: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: WasmHeapBackend; attrs: { transposeA?: boolean; transposeB?: boolean } };
    const temporary: tf.TensorInfo[] = [];
    const flipped = (x: tf.TensorInfo): tf.TensorInfo => {
      const r = x.shape.length;
      const perm = [...Array(r - 2).keys(), r - 1, r - 2];
      const y = transpose({ inputs: { x }, backend, attrs: { perm } } as unknown as KernelArgs) as tf.TensorInfo;
      temporary.push(y);
      return y;
    };
    try {
      const a = attrs.transposeA ? flipped(inputs.a) : inputs.a;
      const b = attrs.transposeB ? flipped(inputs.b) : inputs.b;
      return perBatch(base, backend, a, b) ?? base({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } } as unknown as KernelArgs);
    } finally {
      for (const t of temporary) backend.disposeData(t.dataId);
    }
  };
}

/** Tanh as 2·σ(2x) − 1 on the backend's Sigmoid, Multiply and Sub kernels (see the header). */
function sigmoidTanh(base: tf.KernelFunc, sigmoid: tf.KernelFunc, multiply: tf.KernelFunc, sub: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend } = args as unknown as { inputs: { x: tf.TensorInfo }; backend: WasmHeapBackend };
    if (inputs.x.dtype !== 'float32') return base(args);
    const scalar = (v: number): tf.TensorInfo => {
      const t = backend.makeOutput([], 'float32');
      (backend.typedArrayFromHeap(t) as Float32Array)[0] = v;
      return t;
    };
    const temporary: tf.TensorInfo[] = [];
    const run = (k: tf.KernelFunc, kernelInputs: Record<string, tf.TensorInfo>): tf.TensorInfo => {
      const y = k({ inputs: kernelInputs, backend, attrs: {} } as unknown as KernelArgs) as tf.TensorInfo;
      temporary.push(y);
      return y;
    };
    try {
      const two = scalar(2);
      const one = scalar(1);
      temporary.push(two, one);
      const s = run(sigmoid, { x: run(multiply, { a: inputs.x, b: two }) });
      return sub({ inputs: { a: run(multiply, { a: s, b: two }), b: one }, backend, attrs: {} } as unknown as KernelArgs);
    } finally {
      for (const t of temporary) backend.disposeData(t.dataId);
    }
  };
}

let ready: Promise<void> | undefined;
const adjustedKernels = new WeakSet<tf.KernelFunc>();

/** TensorFlow.js on its WebAssembly backend with the kernels above registered (once per process). */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
      tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
    }
    const matMul = tf.getKernel('BatchMatMul', 'wasm');
    const transpose = tf.getKernel('Transpose', 'wasm');
    if (matMul && transpose && !adjustedKernels.has(matMul.kernelFunc)) {
      const plain = plainBatchMatMul(matMul.kernelFunc, transpose.kernelFunc);
      adjustedKernels.add(plain);
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel({ ...matMul, kernelFunc: plain });
    }
    const [tanh, sigmoid, multiply, sub] = ['Tanh', 'Sigmoid', 'Multiply', 'Sub'].map((name) => tf.getKernel(name, 'wasm'));
    if (tanh && sigmoid && multiply && sub && !adjustedKernels.has(tanh.kernelFunc)) {
      const fast = sigmoidTanh(tanh.kernelFunc, sigmoid.kernelFunc, multiply.kernelFunc, sub.kernelFunc);
      adjustedKernels.add(fast);
      tf.unregisterKernel('Tanh', 'wasm');
      tf.registerKernel({ ...tanh, kernelFunc: fast });
    }
    if (!(await tf.setBackend('wasm'))) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'TensorFlow.js: the WebAssembly backend failed to initialise');
    await tf.ready();
  })();
  return ready;
}

/**
 * A variable holding a copy of `data`. `tf.variable(tf.tensor(…))` leaves the source tensor alive
 * (the variable shares its data), one leaked tensor per parameter per training; this frees it.
 */
export function variableFrom(data: Float32Array, shape: number[], trainable = true, name?: string): tf.Variable {
  const t = tf.tensor(data, shape);
  const v = tf.variable(t, trainable, name);
  t.dispose();
  return v;
}

/** Sets a variable's value from `data`, freeing the temporary tensor. */
export function assignFrom(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape);
  v.assign(t);
  t.dispose();
}
