/**
 * What the CPU worker pool and its threads say to each other. One worker script serves both jobs:
 * scoring chunks of a ranking request over the item table's pages (claimed through shared
 * counters, claim.ts) and scanning user pages for audience expansion
 * (asynchronous: progress and results come back as messages). Page memories are shared, so only
 * the per-call data travels.
 */
import type { PageLayout } from '../../core/item-table.js';
import type { ScanHits } from '../../core/scan.js';
import type { UserPageLayout } from '../../core/user-table.js';
import type { KernelArgs, KernelUser } from '../wasm-kernel.js';

/** A run of one item page's local slots inside a scoring job's slot list. */
export interface Segment {
  page: number;
  /** Range in the job's slot list. */
  from: number;
  count: number;
}

/** A prepared seed set as a scan thread needs it (see core/seed-set.ts). */
export interface ScanSetMessage {
  d: Float32Array;
  gram: Float32Array;
  rows: number;
  count: number;
  kPad: number;
  skip: Uint32Array | null;
  topN: number;
  threshold: number;
}

export type WorkerMessage =
  | {
      type: 'item-page'; index: number; module: WebAssembly.Module; memory: WebAssembly.Memory; layout: PageLayout; stride: number; k: number;
      /** The page's scratch region this worker scores in (0 is the requesting thread's). */
      scratch: number;
    }
  | {
      type: 'score'; job: SharedArrayBuffer; capacity: number; segments: Segment[];
      /** The job's claim words (claim.ts): positions [0, total) in chunks of `chunk`, shared with the other threads on the job. */
      claim: Int32Array; chunk: number; total: number;
      /** One user: the single-request kernel; several: the batched one (outputs per slot, per user). */
      users: KernelUser[]; args: KernelArgs;
    }
  | { type: 'user-page'; key: string; module: WebAssembly.Module; memory: WebAssembly.Memory; layout: UserPageLayout; thread: number; stride: number; maxCentroids: number }
  | {
      type: 'scan'; id: number; tableId: number; pages: number; rowsPerPage: number; stride: number; positions: number;
      pool: Uint32Array | null; dead: Uint32Array; control: Int32Array; sets: ScanSetMessage[];
      alpha: number; beta: number; zeroNorm: number;
    };

export type ScanMessage = Extract<WorkerMessage, { type: 'scan' }>;
export type ScoreMessage = Extract<WorkerMessage, { type: 'score' }>;

export type WorkerReply =
  | { type: 'progress'; id: number; positions: number }
  | { type: 'done'; id: number; hits: ScanHits[] }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };

/** The scan's control words shared with the threads: [next block, cancel flag]. */
export const CONTROL_NEXT = 0;
export const CONTROL_CANCEL = 1;
