/**
 * Every benchmark's defaults, in the one module that `ralm bench … --help` loads: it imports
 * nothing that measures (no engine, TensorFlow.js, WebGPU, store or Fastify), so the commands
 * list their options without loading the machinery that runs them. The benchmarks take their
 * defaults from here; the types come from their own modules, as types only.
 */
import type { CentroidStorage } from '../src/core/item-table.js';
import type { UserStorage } from '../src/core/user-table.js';
import { TWO_PASS_DEFAULTS } from '../src/core/two-pass.js';
import { defaultConfig } from '../src/server/config.js';
import type { AudienceBenchOptions } from './audience.js';
import type { HttpBenchOptions } from './http.js';
import type { KernelBenchOptions } from './kernel.js';
import type { SeedsBenchOptions } from './seeds.js';

/** runKernelBench's defaults (its backends default to every one present: defaultBackends()). */
export const KERNEL_BENCH_DEFAULTS: Readonly<Required<Pick<KernelBenchOptions, 'plan' | 'topK' | 'minMs' | 'maxMs' | 'maxItemGiB'>>> = {
  plan: 'default', topK: 10, minMs: 1000, maxMs: 20_000, maxItemGiB: 4,
};

/** The axes of a custom grid that a grid option leaves out (`ralm bench kernel --sizes …`). */
export const CUSTOM_GRID_DEFAULTS: Readonly<Exclude<KernelBenchOptions['plan'], string | undefined>> = {
  sizes: [1000, 10_000, 100_000], ks: [20], hs: [128], batches: [1], storages: ['f32'],
};

/** A kernel row whose spread (p90 − p10) / median exceeds this ran on a busy machine. */
export const NOISY_SPREAD = 0.3;

/** The peers `ralm bench kernel` can run beside the engine (bench/peers/). */
export const PEER_NAMES = ['onnxruntime-cpu', 'onnxruntime-cpu-int8', 'tfjs-wasm', 'typescript-loop'] as const;

/** File names of the kernel plots: <prefix>-latency.svg, <prefix>-roofline.svg. */
export const DEFAULT_PLOT_PREFIX = 'kernel';

/** How far a median may move between two runs of the same benchmark and still count as unchanged. */
export const DEFAULT_TOLERANCE = 0.1;

const service = defaultConfig();

/** runHttpBench's defaults; those of the served app itself are the service's (server/config.ts). */
export const HTTP_BENCH_DEFAULTS: Readonly<Required<Omit<HttpBenchOptions, 'log'>>> = {
  backend: 'cpu', sizes: [1000, 10_000], durationSec: 5, connections: 16, rateFractions: [0.5, 0.8], encodings: ['json', 'msgpack'], batching: ['on', 'off'], overloadFactor: 4, overloadRate: 0, jobsUsers: 0, cpuOffload: service.cpuOffload, cpuWorkerNice: service.cpuWorkerNice, admissionLagMs: service.admissionLagMs, storage: service.storage, admission: 'on',
};

/** runSeedsBench's defaults: the paper's 5-minute re-clustering window and serving threshold of 100 seeds. */
export const SEEDS_BENCH_DEFAULTS: Readonly<Required<Pick<SeedsBenchOptions, 'backend' | 'windowMs' | 'ingestBatch' | 'maxClusterPoints' | 'minSeeds'>>> = {
  backend: 'cpu', windowMs: 300_000, ingestBatch: 5000, maxClusterPoints: 2048, minSeeds: 100,
};

/** runAudienceBench's defaults (targets without a WebGPU adapter drop webgpu). */
export const AUDIENCE_BENCH_DEFAULTS: Readonly<Required<Omit<AudienceBenchOptions, 'log'>>> = {
  users: 1_000_000, h: 128, ks: [5, 20], seeds: 2000, topN: 1000, sets: [1], targets: ['wasm', 'scalar', 'webgpu'], storages: ['f32', 'int8'], scans: ['exact', 'two-pass'], factor: TWO_PASS_DEFAULTS.factor, minMs: 3000,
};

/** runTwoPassBench's defaults; the candidate floor is the audience scan's own. */
export const TWO_PASS_BENCH_DEFAULTS = { rank: 64, items: 100, ks: [5, 20], ns: [10, 100, 1000], factors: [4, 8, 16, 32], minCandidates: TWO_PASS_DEFAULTS.minCandidates, storage: 'int8' as UserStorage, seed: 1 };

/** runClusterBench's defaults. */
export const CLUSTER_BENCH_DEFAULTS = { events: 300_000, batch: 2000, inflight: 4, replicas: 3, rounds: 40, seconds: 5, connections: 16 } as const;

/** runQuantBench's defaults. */
export const QUANT_BENCH_DEFAULTS = { storages: ['f16', 'int8'] as CentroidStorage[], minSeeds: 3, audienceItems: 50 };
