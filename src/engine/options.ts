/**
 * The engine's options and their one home of defaults. Computed defaults (the CPU kernel and
 * thread count depend on the host) are resolved here too, and every option is checked once.
 */
import { availableParallelism } from 'node:os';
import type { CentroidStorage } from '../core/item-table.js';
import { defaultCpuKernel, type CpuKernel } from '../cpu/cpu-backend.js';
import { kernelModule } from '../cpu/wasm-kernel.js';
import { isPriorWeight, MAX_PRIOR_WEIGHT } from '../model/prior.js';
import { RalmError } from '../util/errors.js';
import { MAX_NICE } from '../util/thread-priority.js';
import type { EngineEvent } from './types.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface EngineOptions {
  /**
   * `auto` uses WebGPU when a hardware adapter exists, else the CPU (a software rasteriser such as
   * lavapipe is correct but slower than the CPU backend); `webgpu` insists on WebGPU, software or
   * not; `cpu` never opens a device. Default `auto`.
   */
  backend?: BackendChoice;
  /**
   * Centroid storage: `f16` halves the device's memory and bandwidth; `int8` (a per-row scale)
   * has the CPU kernel read a quarter of the bytes and score with integer dot products, and WebGPU
   * upload the codes and unpack them to the same values. Default `f32`.
   */
  storage?: CentroidStorage;
  /** Substring of the adapter name to use. */
  adapter?: string;
  /** Slots per table page; default: as many as fit min(device binding limit, maxPageBytes). */
  slotsPerPage?: number;
  /** Upper bound on one page's centroid bytes on the device. Default 256 MiB. */
  maxPageBytes?: number;
  /** CPU scoring kernel: WebAssembly SIMD with fused multiply-adds, or without (the default is the first this runtime runs), or the scalar TypeScript loop. */
  cpuKernel?: CpuKernel;
  /**
   * CPU worker threads (the wasm kernel only): audience scans use up to SCAN_THREADS of them, and
   * so does offloaded ranking; inline, a large ranking request uses one beside the calling
   * thread. Default: one per core.
   */
  cpuThreads?: number;
  /**
   * Rank on the worker threads (up to SCAN_THREADS, as many as a batch's size is worth) while the
   * caller awaits them (needs cpuThreads > 1 and the wasm kernel), instead of scoring half of a
   * request on the calling thread: what a server wants, so
   * that its event loop keeps reading and answering requests while a batch is scored. Off, a
   * single request's latency is lowest (two threads, no hand-off wait). Default false.
   */
  cpuOffload?: boolean;
  /**
   * How many nice steps below the calling thread the CPU worker threads run (0 to 19; Linux only,
   * where a thread can be reniced alone; elsewhere ignored). A server raises it so that its event
   * loop, which reads, refuses and answers requests, gets a core ahead of a batch being scored.
   * It cannot be undone in an unprivileged process. Default 0.
   */
  cpuWorkerNice?: number;
  /**
   * The WebGPU scorer: `cooperative` (a workgroup per candidate and request, for hardware GPUs),
   * `per-item` (an invocation per candidate and request, for software adapters), or `auto` (by
   * the adapter: hardware → cooperative, software → per-item). Default `auto`.
   */
  gpuScorer?: 'auto' | 'cooperative' | 'per-item';
  /**
   * λ of the popularity prior λ · ln(1 + clickers) added to every item's score (model/prior.ts);
   * overrides the model's `popularityPrior`. Default: the model's value (0 when it has none).
   */
  popularityPrior?: number;
  /** Try to reacquire a device after a loss. Default true. */
  recoverDevice?: boolean;
  /** First retry delay after a device loss, doubled per failure up to 30 s. Default 1000 ms. */
  recoveryDelayMs?: number;
  /** Receives operational events (device lost, recovered, fallbacks). */
  onEvent?: (event: EngineEvent) => void;
}

/** Every engine option with a fixed default. */
export const ENGINE_DEFAULTS = {
  backend: 'auto',
  storage: 'f32',
  /** 256 MiB: a page's centroids stay well under every device's binding limit and allocate quickly. */
  maxPageBytes: 256 * 1024 * 1024,
  recoverDevice: true,
  recoveryDelayMs: 1000,
  gpuScorer: 'auto',
  cpuOffload: false,
  cpuWorkerNice: 0,
} as const satisfies Partial<EngineOptions>;

/** The binding size every WebGPU device supports; pages are sized by it when no device is open. */
export const SPEC_DEFAULT_BINDING = 128 * 1024 * 1024;

export type ResolvedEngineOptions = Required<Omit<EngineOptions, 'adapter' | 'slotsPerPage' | 'onEvent' | 'popularityPrior'>> & Pick<EngineOptions, 'adapter' | 'slotsPerPage' | 'onEvent' | 'popularityPrior'>;

/** Options merged over the defaults (the host decides the CPU kernel and threads), validated. */
export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const o: ResolvedEngineOptions = {
    ...ENGINE_DEFAULTS,
    cpuKernel: defaultCpuKernel(),
    cpuThreads: availableParallelism(),
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  if (!Number.isInteger(o.cpuThreads) || o.cpuThreads < 1 || o.cpuThreads > 256) {
    throw new RalmError('RALM_ERR_VALIDATION', `cpuThreads: expected an integer in [1, 256], got ${JSON.stringify(o.cpuThreads)}`);
  }
  if (o.cpuKernel !== 'wasm-fma' && o.cpuKernel !== 'wasm' && o.cpuKernel !== 'scalar') {
    throw new RalmError('RALM_ERR_VALIDATION', `cpuKernel: expected "wasm-fma", "wasm" or "scalar", got ${JSON.stringify(o.cpuKernel)}`);
  }
  if (o.cpuKernel === 'wasm' && !kernelModule('simd')) {
    throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'cpuKernel "wasm" was requested but the WebAssembly kernel is not built or this runtime lacks WebAssembly SIMD');
  }
  if (o.cpuKernel === 'wasm-fma' && !kernelModule('fma')) {
    throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'cpuKernel "wasm-fma" was requested but the fused kernel is not built or this runtime lacks WebAssembly relaxed SIMD');
  }
  if (typeof o.cpuOffload !== 'boolean') {
    throw new RalmError('RALM_ERR_VALIDATION', `cpuOffload: expected true or false, got ${JSON.stringify(o.cpuOffload)}`);
  }
  if (!Number.isInteger(o.cpuWorkerNice) || o.cpuWorkerNice < 0 || o.cpuWorkerNice > MAX_NICE) {
    throw new RalmError('RALM_ERR_VALIDATION', `cpuWorkerNice: expected an integer in [0, ${MAX_NICE}], got ${JSON.stringify(o.cpuWorkerNice)}`);
  }
  if (!['auto', 'webgpu', 'cpu'].includes(o.backend)) {
    throw new RalmError('RALM_ERR_VALIDATION', `backend: expected "auto", "webgpu" or "cpu", got ${JSON.stringify(o.backend)}`);
  }
  if (!['auto', 'cooperative', 'per-item'].includes(o.gpuScorer)) {
    throw new RalmError('RALM_ERR_VALIDATION', `gpuScorer: expected "auto", "cooperative" or "per-item", got ${JSON.stringify(o.gpuScorer)}`);
  }
  if (o.popularityPrior !== undefined && !isPriorWeight(o.popularityPrior)) {
    throw new RalmError('RALM_ERR_VALIDATION', `popularityPrior: expected a finite number within ±${MAX_PRIOR_WEIGHT}, got ${JSON.stringify(o.popularityPrior)}`, { field: 'popularityPrior' });
  }
  if (o.storage !== 'f32' && o.storage !== 'f16' && o.storage !== 'int8') {
    throw new RalmError('RALM_ERR_VALIDATION', `storage: expected "f32", "f16" or "int8", got ${JSON.stringify(o.storage)}`);
  }
  return o;
}
