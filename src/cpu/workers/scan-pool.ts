/**
 * The CPU user scan on worker threads, with the WebAssembly SIMD kernel (`scan_users` in
 * src/cpu/wasm/score-kernel.wat) reading the user table's shared page memories in place. The
 * calling thread only hands out the job and merges results, so a long scan never blocks the
 * event loop: the service keeps answering while an audience is computed.
 *
 * Work is handed out in blocks of SCAN_BLOCK positions through a shared counter (threads that
 * finish early take more), each thread keeps its own best-N per set, and the partial results are
 * merged at the end. Cancellation is a shared flag checked between blocks.
 */
import { Worker } from 'node:worker_threads';
import { kernelModule } from '../wasm-kernel.js';
import { ZERO_NORM } from '../../model/reference.js';
import { RalmError } from '../../util/errors.js';
import { cancelled, scanPositions, SCAN_BLOCK, type ScanHits, type ScanJob } from '../../core/scan.js';
import { mergeRanked } from '../../core/top-k.js';
import { SCAN_THREADS, type UserPageLayout } from '../../core/user-table.js';

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

export type ScanWorkerMessage =
  | { type: 'page'; key: string; module: WebAssembly.Module; memory: WebAssembly.Memory; layout: UserPageLayout; thread: number; stride: number; maxCentroids: number }
  | {
      type: 'scan'; id: number; tableId: number; pages: number; rowsPerPage: number; stride: number; positions: number;
      pool: Uint32Array | null; dead: Uint32Array; control: Int32Array; sets: ScanSetMessage[];
      alpha: number; beta: number; zeroNorm: number;
    };

export type ScanWorkerReply =
  | { type: 'progress'; id: number; positions: number }
  | { type: 'done'; id: number; hits: ScanHits[] }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };

interface ScanWorker {
  worker: Worker;
  thread: number;
  sent: Set<string>;
  failed: string | null;
}

/** The control words shared with the workers: [next block, cancel flag]. */
const NEXT = 0;
const CANCEL = 1;

export class ScanPool {
  private readonly workers: ScanWorker[];
  private tail: Promise<unknown> = Promise.resolve();
  private seq = 0;

  constructor(threads: number) {
    const n = Math.max(1, Math.min(SCAN_THREADS, threads));
    this.workers = Array.from({ length: n }, (_, thread) => {
      const worker = new Worker(new URL('./scan-worker.js', import.meta.url));
      worker.unref();
      const w: ScanWorker = { worker, thread, sent: new Set(), failed: null };
      worker.on('error', (err) => (w.failed = `scan worker failed: ${err.message}`));
      worker.on('exit', (code) => (w.failed ??= `scan worker exited with code ${code}`));
      return w;
    });
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Whether the WebAssembly kernel can run in this runtime. */
  static available(): boolean {
    return kernelModule() !== null;
  }

  /** Runs scans one at a time (the threads' scratch regions are shared by every scan). */
  scan(job: ScanJob): Promise<ScanHits[]> {
    const run = this.tail.then(() => this.scanNow(job));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async scanNow(job: ScanJob): Promise<ScanHits[]> {
    const mod = kernelModule();
    if (!mod) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', 'the WebAssembly kernel is not available in this runtime');
    const broken = this.workers.find((w) => w.failed);
    if (broken) throw new Error(broken.failed as string);
    if (job.signal?.aborted) throw cancelled();
    const { table, snapshot } = job;
    const P = scanPositions(job);
    const total = P * job.sets.length;
    if (P === 0) return job.sets.map(() => mergeRanked([], 0));
    const id = ++this.seq;
    const control = new Int32Array(new SharedArrayBuffer(8));
    let pool: Uint32Array | null = null;
    if (job.pool) {
      pool = new Uint32Array(new SharedArrayBuffer(job.pool.byteLength));
      pool.set(job.pool);
    }
    const pages = Math.ceil(snapshot.rowCount / table.rowsPerPage);
    const sets: ScanSetMessage[] = job.sets.map((s) => ({
      d: s.set.d, gram: s.set.gram, rows: s.set.rows, count: s.set.count, kPad: s.set.kPad,
      skip: s.skip ?? null, topN: s.topN, threshold: s.threshold,
    }));
    const onAbort = (): void => void Atomics.store(control, CANCEL, 1);
    job.signal?.addEventListener('abort', onAbort, { once: true });
    let done = 0;
    try {
      const parts = await Promise.all(this.workers.map((w) => new Promise<ScanHits[] | null>((resolve, reject) => {
        for (let p = 0; p < pages; p++) {
          const key = `${table.tableId}:${p}`;
          if (w.sent.has(key)) continue;
          const msg: ScanWorkerMessage = {
            type: 'page', key, module: mod, memory: table.pages[p].memory, layout: table.layout, thread: w.thread, stride: table.stride, maxCentroids: table.maxCentroids,
          };
          w.worker.postMessage(msg);
          w.sent.add(key);
        }
        const onMessage = (m: ScanWorkerReply): void => {
          if (m.id !== id) return;
          if (m.type === 'progress') {
            done += m.positions * job.sets.length;
            job.onProgress?.(Math.min(done, total), total);
            return;
          }
          cleanup();
          if (m.type === 'done') resolve(m.hits);
          else if (m.type === 'cancelled') resolve(null);
          else reject(new Error(`scan worker: ${m.message}`));
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(w.failed ?? 'scan worker exited'));
        };
        const cleanup = (): void => {
          w.worker.off('message', onMessage);
          w.worker.off('exit', onExit);
        };
        w.worker.on('message', onMessage);
        w.worker.on('exit', onExit);
        const msg: ScanWorkerMessage = {
          type: 'scan', id, tableId: table.tableId, pages, rowsPerPage: table.rowsPerPage, stride: table.stride, positions: P,
          pool, dead: snapshot.dead, control, sets, alpha: job.alpha, beta: job.beta, zeroNorm: ZERO_NORM,
        };
        w.worker.postMessage(msg);
      })));
      if (parts.some((p) => p === null) || job.signal?.aborted) throw cancelled();
      return job.sets.map((s, si) => mergeRanked(parts.map((p) => (p as ScanHits[])[si]), s.topN));
    } catch (err) {
      // Whatever failed, stop the other threads' work on this scan.
      Atomics.store(control, CANCEL, 1);
      throw err;
    } finally {
      job.signal?.removeEventListener('abort', onAbort);
    }
  }

  destroy(): void {
    for (const w of this.workers) void w.worker.terminate();
  }
}

export { SCAN_BLOCK, NEXT as CONTROL_NEXT, CANCEL as CONTROL_CANCEL };
