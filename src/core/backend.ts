/**
 * What a compute backend implements. The engine is the only caller: it validates input,
 * resolves ids, pins a table snapshot and picks the backend; a backend only does arithmetic.
 */
import type { ItemTable } from './item-table.js';
import type { ScanHits, ScanJob } from './scan.js';

export type BackendKind = 'cpu' | 'webgpu';

/** One request, ready for a backend. Vectors are zero-padded to the table stride. */
export interface PreparedRequest {
  /** Table slots of the candidates, in the caller's order. */
  readonly slots: Uint32Array;
  /** q = W_l e. */
  readonly q: Float32Array;
  readonly e: Float32Array;
  readonly eNorm: number;
  /** Top-K size; 0 asks for every score in input order instead. */
  readonly topK: number;
  /** false: the items' level offsets are left out of the added term (ItemTable.priorsFor); default true. */
  readonly levels?: boolean;
}

/** Per-candidate outputs. For a top-K request, `index` is the position in the request's candidate list. */
export interface ScoredRows {
  readonly index: Uint32Array;
  readonly score: Float32Array;
  readonly cosGlobal: Float32Array;
  readonly cosLocal: Float32Array;
}

/** One item's k-means problem: n points (rows of width dim) and its start (count rows of width dim). */
export interface KMeansJob {
  readonly points: Float32Array;
  readonly n: number;
  readonly init: Float32Array;
  readonly count: number;
}

export interface KMeansRun {
  readonly centroids: Float32Array;
  readonly assignments: Uint32Array;
  readonly iterations: number;
  readonly converged: boolean;
}

export interface Backend {
  readonly kind: BackendKind;
  /** Human-readable device name ("cpu (2 threads)", "llvmpipe (LLVM 15, 256 bits)", "NVIDIA H200"). */
  readonly adapterName: string;
  /** Ranks or scores a batch of requests. The table snapshot is pinned by the caller. */
  run(requests: readonly PreparedRequest[], table: ItemTable): Promise<ScoredRows[]>;
  /** Global self-attention for `counts.length` items; centroids are [items, k, h] compact rows. Returns [items, h] and norms. */
  globalAttention(centroids: Float32Array, counts: Uint32Array): Promise<{ globals: Float32Array; norms: Float32Array }>;
  /** The shared transform PReLU(W_t x + b_t) for `count` vectors of width m → [count, h]. */
  transform(x: Float32Array, count: number): Promise<Float32Array>;
  /** Lloyd iterations for a batch of items, each from its given start (see src/clustering/kmeans.ts for the rules). */
  kmeans(jobs: readonly KMeansJob[], dim: number, maxIterations: number, tolerance: number): Promise<KMeansRun[]>;
  /** Audience expansion: scores a user-table snapshot (or a pool) against prepared seed sets. */
  scanUsers(job: ScanJob): Promise<ScanHits[]>;
  /** Mirrors freshly written slots (and new pages) into device memory. A no-op on the CPU. */
  syncSlots(table: ItemTable, slots: readonly number[]): void;
  /** Releases device resources. */
  destroy(): void;
}

