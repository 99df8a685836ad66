/**
 * TensorFlow.js on its WebAssembly backend, with the one kernel stage-1 training needs that the
 * backend lacks: `UnsortedSegmentSum`. It is the gradient of `gather` (every embedding lookup) and
 * the forward op of the mean-pooled multi-valued fields, so without it no embedding table trains
 * on the wasm backend (tfjs-backend-wasm 4.22 registers GatherV2 but not its gradient's kernel).
 *
 * The kernel runs in JavaScript on views of the wasm heap: out[segmentIds[r], :] += x[r, :],
 * rows with a negative or out-of-range segment id dropped (TensorFlow's semantics). It costs one
 * pass over x; the tables' Adam update, not this sum, dominates a training step.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { RalmError } from '../util/errors.js';

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
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

let ready: Promise<void> | undefined;

/** TensorFlow.js on its WebAssembly backend with the missing kernel registered (once per process). */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
      tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
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
