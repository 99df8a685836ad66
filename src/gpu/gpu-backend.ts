/**
 * The WebGPU backend: the Backend contract (core/backend.ts) delegated to one kernel family per
 * job (kernels/), all on one runtime that serialises their work, so one batch is on the queue at
 * a time. The item table is mirrored into device memory as the engine publishes slots.
 */
import type { Backend, KMeansJob, KMeansRun, PreparedRequest, ScoredRows } from '../core/backend.js';
import type { CentroidStorage, ItemTable } from '../core/item-table.js';
import type { ScanHits, ScanJob } from '../core/scan.js';
import type { RalmModel } from '../model/model.js';
import type { GpuContext } from './device.js';
import { ItemMirror } from './item-mirror.js';
import { AttentionKernels } from './kernels/attention.js';
import { AudienceKernel } from './kernels/audience.js';
import { KMeansKernel } from './kernels/kmeans.js';
import { RankKernel } from './kernels/rank.js';
import { TopKKernel } from './kernels/top-k.js';
import { checkModelFits } from './limits.js';
import { backendPrograms, type GpuScorer } from './programs.js';

/** The scorer for an adapter: cooperative on hardware, per-item on a software rasteriser (which runs it faster), unless chosen. */
export function resolveScorer(choice: GpuScorer | 'auto' | undefined, isSoftware: boolean): GpuScorer {
  if (choice === 'per-item' || choice === 'cooperative') return choice;
  return isSoftware ? 'per-item' : 'cooperative';
}
import { GpuRuntime } from './runtime.js';

export interface GpuBackendOptions {
  /** `int8`: the codes and row scales are uploaded and unpacked to f32 in the scorer (a quarter of the f32 bytes). */
  storage: CentroidStorage;
  /** `auto`: cooperative on a hardware adapter, per-item on a software one. Default `auto`. */
  scorer?: GpuScorer | 'auto';
}

export class GpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly adapterName: string;
  /** The scorer kernel in use. */
  readonly scorer: GpuScorer;
  /** Bytes of device memory this backend holds. */
  readonly memory: { readonly bytes: number };

  /** GPU time of the last ranking call's scorer and top-K pass (timestamp queries), ms; undefined without them. */
  get lastRankKernelMs(): number | undefined {
    return this.runtime.lastPassMs;
  }

  private readonly runtime: GpuRuntime;
  private readonly items: ItemMirror;
  private readonly rank: RankKernel;
  private readonly attention: AttentionKernels;
  private readonly clustering: KMeansKernel;
  private readonly audience: AudienceKernel;

  private constructor(ctx: GpuContext, model: RalmModel, options: GpuBackendOptions) {
    checkModelFits(model.manifest);
    const f16 = options.storage === 'f16';
    const int8 = options.storage === 'int8';
    this.adapterName = ctx.adapterName;
    this.scorer = resolveScorer(options.scorer, ctx.isSoftware);
    this.runtime = new GpuRuntime(ctx);
    this.memory = this.runtime.memory;
    this.items = new ItemMirror(this.runtime, f16, int8);
    const topK = new TopKKernel(this.runtime);
    this.rank = new RankKernel(this.runtime, this.items, topK, f16, model.manifest, this.scorer, int8);
    this.attention = new AttentionKernels(this.runtime, model);
    this.clustering = new KMeansKernel(this.runtime, model.manifest.k);
    this.audience = new AudienceKernel(this.runtime, topK);
  }

  /** Compiles every pipeline (reporting WGSL errors with their file and line) before the backend is used. */
  static async create(ctx: GpuContext, model: RalmModel, options: GpuBackendOptions): Promise<GpuBackend> {
    const backend = new GpuBackend(ctx, model, options);
    await Promise.all(backendPrograms(options.storage === 'f16', backend.scorer, options.storage === 'int8').map((p) => backend.runtime.compile(p)));
    return backend;
  }

  run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]> {
    return this.runtime.exclusive(() => this.rank.run(requests, table));
  }

  syncSlots(table: ItemTable, slots: readonly number[]): void {
    this.items.sync(table, slots);
  }

  globalAttention(centroids: Float32Array, counts: Uint32Array): Promise<{ globals: Float32Array; norms: Float32Array }> {
    return this.runtime.exclusive(() => this.attention.globalAttention(centroids, counts));
  }

  transform(x: Float32Array, count: number): Promise<Float32Array> {
    return this.runtime.exclusive(() => this.attention.transform(x, count));
  }

  kmeans(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]> {
    return this.runtime.exclusive(() => this.clustering.run(jobs, dim, maxIterations, tolerance));
  }

  /** Whether this device can hold the scores of a scan of `positions` users × `sets` seed sets. */
  canScan(positions: number, sets: number): boolean {
    return this.audience.canScan(positions, sets);
  }

  scanUsers(job: ScanJob): Promise<ScanHits[]> {
    return this.audience.scan(job);
  }

  destroy(): void {
    this.runtime.destroy();
  }
}
