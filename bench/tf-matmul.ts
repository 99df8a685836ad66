/**
 * `node dist/bench/tf-matmul.js`: TensorFlow.js's WebAssembly BatchMatMul, as the backend ships it
 * and as `tfReady()` registers it (src/train/tf-kernels.ts: each transposed operand transposed
 * first, large batched products one XNNPACK product per batch), on the products stage 2 and the
 * stage-1 tower run: the ranking validation's users × every centroid (MovieLens at k = 50: 1,182
 * items, h = 64, 67 users a block) and its per-item Gram products, a training step's global
 * attention and its two gradient products, a dense layer's gradients. Both kernels run in the same
 * process on the same operands, alternated; prints the median of `--reps` runs (default 7) in ms
 * and the ratio. One thread (the backend's default in Node).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { tfReady } from '../src/train/tf-kernels.js';

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const CASES: Case[] = [
  { name: 'ranking: users × centroidsᵀ (67 × 64 · 59,100 × 64ᵀ)', a: [67, 64], b: [59_100, 64], transposeA: false, transposeB: true },
  { name: 'ranking: attention × Gram, per item (1,182 × [67 × 50 · 50 × 50])', a: [1182, 67, 50], b: [1182, 50, 50], transposeA: false, transposeB: false },
  { name: 'training: centroids × W_gᵀ (12,800 × 64 · 64 × 64ᵀ)', a: [12_800, 64], b: [64, 64], transposeA: false, transposeB: true },
  { name: 'training gradient: xᵀ · dy (12,800 × 64ᵀ · 12,800 × 64)', a: [12_800, 64], b: [12_800, 64], transposeA: true, transposeB: false },
  { name: 'training: per-pair logits (256 × [50 × 64 · 64 × 1])', a: [256, 50, 64], b: [256, 64, 1], transposeA: false, transposeB: false },
  { name: 'dense layer gradient: dy · Wᵀ (512 × 128 · 256 × 128ᵀ)', a: [512, 128], b: [256, 128], transposeA: false, transposeB: true },
];

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function time(c: Case, a: tf.Tensor, b: tf.Tensor): number {
  const t0 = performance.now();
  const r = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, c.transposeA, c.transposeB);
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
  const stock = tf.getKernel('BatchMatMul', 'wasm');
  if (!stock) throw new Error('the wasm backend has no BatchMatMul kernel');
  await tfReady();
  const adjusted = tf.getKernel('BatchMatMul', 'wasm');
  if (!adjusted || adjusted.kernelFunc === stock.kernelFunc) throw new Error('tfReady() did not register its BatchMatMul');
  const use = (k: tf.KernelConfig): void => {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel(k);
  };
  console.log(`TensorFlow.js ${tf.version.tfjs}, wasm backend, Node ${process.versions.node}; median of ${reps} runs, alternated`);
  console.log('| product | stock ms | adjusted ms | stock / adjusted |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const c of CASES) {
    const a = tf.randomNormal(c.a);
    const b = tf.randomNormal(c.b);
    const times: Record<'stock' | 'adjusted', number[]> = { stock: [], adjusted: [] };
    for (let r = 0; r <= reps; r++) {
      for (const [name, k] of [['stock', stock], ['adjusted', adjusted]] as const) {
        use(k);
        const ms = time(c, a, b);
        if (r > 0) times[name].push(ms); // the first run of each warms up
      }
    }
    use(adjusted);
    const s = median(times.stock);
    const d = median(times.adjusted);
    console.log(`| ${c.name} | ${s.toFixed(2)} | ${d.toFixed(2)} | ${(s / d).toFixed(1)}× |`);
    tf.dispose([a, b]);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
