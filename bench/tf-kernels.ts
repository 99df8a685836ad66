/**
 * `node dist/bench/tf-kernels.js`: TensorFlow.js's WebAssembly BatchMatMul and Tanh, as the backend
 * ships them and as `tfReady()` registers them (src/train/tf-kernels.ts: each transposed operand
 * transposed first, large batched products one XNNPACK product per batch; tanh on the backend's
 * Sigmoid), on what stage 2 and the stage-1 tower run: the ranking validation's users × every
 * centroid (MovieLens at k = 50: 1,182 items, h = 64, 67 users a block), its per-item Gram products
 * and its attention logits, a training step's global attention and its two gradient products, a
 * dense layer's gradients. Both kernels run in the same process on the same operands, alternated;
 * prints the median of `--reps` runs (default 7) in ms and the ratio. One thread (the backend's
 * default in Node).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { tfReady } from '../src/train/tf-kernels.js';

interface Case {
  name: string;
  kernel: 'BatchMatMul' | 'Tanh';
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const CASES: Case[] = [
  { kernel: 'BatchMatMul', name: 'ranking: users × centroidsᵀ (67 × 64 · 59,100 × 64ᵀ)', a: [67, 64], b: [59_100, 64], transposeA: false, transposeB: true },
  { kernel: 'BatchMatMul', name: 'ranking: attention × Gram, per item (1,182 × [67 × 50 · 50 × 50])', a: [1182, 67, 50], b: [1182, 50, 50], transposeA: false, transposeB: false },
  { kernel: 'BatchMatMul', name: 'training: centroids × W_gᵀ (12,800 × 64 · 64 × 64ᵀ)', a: [12_800, 64], b: [64, 64], transposeA: false, transposeB: true },
  { kernel: 'BatchMatMul', name: 'training gradient: xᵀ · dy (12,800 × 64ᵀ · 12,800 × 64)', a: [12_800, 64], b: [12_800, 64], transposeA: true, transposeB: false },
  { kernel: 'BatchMatMul', name: 'training: per-pair logits (256 × [50 × 64 · 64 × 1])', a: [256, 50, 64], b: [256, 64, 1], transposeA: false, transposeB: false },
  { kernel: 'BatchMatMul', name: 'dense layer gradient: dy · Wᵀ (512 × 128 · 256 × 128ᵀ)', a: [512, 128], b: [256, 128], transposeA: false, transposeB: true },
  { kernel: 'Tanh', name: 'ranking: tanh of the attention logits (67 × 1,182 × 50)', a: [67, 1182, 50], b: [], transposeA: false, transposeB: false },
  { kernel: 'Tanh', name: 'training: tanh of the global attention (12,800 × 64)', a: [12_800, 64], b: [], transposeA: false, transposeB: false },
];

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function time(c: Case, a: tf.Tensor, b: tf.Tensor | null): number {
  const t0 = performance.now();
  const r = c.kernel === 'Tanh' ? tf.tanh(a) : tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, c.transposeA, c.transposeB);
  r.dataSync();
  const ms = performance.now() - t0;
  r.dispose();
  return ms;
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--reps');
  const reps = at > 0 ? Number(process.argv[at + 1]) : 7;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps: expected a positive integer');
  await tf.setBackend('wasm');
  await tf.ready();
  const kernels = ['BatchMatMul', 'Tanh'] as const;
  const stock = new Map(kernels.map((name) => [name, tf.getKernel(name, 'wasm')]));
  await tfReady();
  const adjusted = new Map(kernels.map((name) => [name, tf.getKernel(name, 'wasm')]));
  for (const name of kernels) {
    const s = stock.get(name);
    const a = adjusted.get(name);
    if (!s || !a || s.kernelFunc === a.kernelFunc) throw new Error(`tfReady() did not register its ${name}`);
  }
  const use = (k: tf.KernelConfig): void => {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  };
  console.log(`TensorFlow.js ${tf.version.tfjs}, wasm backend, Node ${process.versions.node}; median of ${reps} runs, alternated`);
  console.log('| operation | stock ms | adjusted ms | stock / adjusted |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const c of CASES) {
    const a = tf.randomNormal(c.a);
    const b = c.kernel === 'BatchMatMul' ? tf.randomNormal(c.b) : null;
    const kernelsOf = { stock: stock.get(c.kernel) as tf.KernelConfig, adjusted: adjusted.get(c.kernel) as tf.KernelConfig };
    const times: Record<'stock' | 'adjusted', number[]> = { stock: [], adjusted: [] };
    for (let r = 0; r <= reps; r++) {
      for (const name of ['stock', 'adjusted'] as const) {
        use(kernelsOf[name]);
        const ms = time(c, a, b);
        if (r > 0) times[name].push(ms); // the first run of each warms up
      }
    }
    use(kernelsOf.adjusted);
    const s = median(times.stock);
    const d = median(times.adjusted);
    console.log(`| ${c.name} | ${s.toFixed(2)} | ${d.toFixed(2)} | ${(s / d).toFixed(1)}× |`);
    tf.dispose(b ? [a, b] : [a]);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
