/**
 * The CPU worker pool: the one set of threads the CPU backend uses, for two jobs.
 *
 * Scoring. A large ranking request is split in two: the first worker takes the second half
 * while the requesting thread scores the first, then blocks on an Atomics counter for the
 * worker's half — with a timeout, and only when that worker is not busy with a scan, so a request
 * never waits behind a scan and a dead worker degrades scoring to one thread instead of hanging.
 *
 * Scans. An audience scan runs on every worker: blocks of SCAN_BLOCK positions are handed out
 * through a shared counter (threads that finish early take more), each keeps its own best-N per
 * set, sorted there, and the sorted runs are merged here in time slices. The calling thread only
 * hands out the job and merges, so a long scan never blocks the event loop. Cancellation is a
 * shared flag checked between blocks. Scans run one at a time (the threads' scratch regions are shared by every scan).
 *
 * Page memories are shared (SharedArrayBuffer-backed WebAssembly memories), so workers read the
 * item and user tables in place; each page is sent to a worker once.
 */
import { Worker } from 'node:worker_threads';
import type { PageLayout } from '../../core/item-table.js';
import { cancelled, scanPositions, type ScanHits, type ScanJob } from '../../core/scan.js';
import { mergeRanked } from '../../core/top-k.js';
import { ZERO_NORM } from '../../model/reference.js';
import { RalmError } from '../../util/errors.js';
import { CPU_DEFAULTS } from '../defaults.js';
import { kernelModule, type KernelArgs } from '../wasm-kernel.js';
import { CONTROL_CANCEL, type ScanSetMessage, type Segment, type WorkerMessage, type WorkerReply } from './messages.js';


interface PoolWorker {
  readonly worker: Worker;
  readonly thread: number;
  /** Item pages sent, in order. */
  itemPagesSent: number;
  /** User pages sent, by `${tableId}:${page}`. */
  readonly userPagesSent: Set<string>;
  failed: string | null;
}

export class CpuWorkerPool {
  private readonly workers: PoolWorker[];
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private job = new SharedArrayBuffer(0);
  private capacity = 0;
  private scanTail: Promise<unknown> = Promise.resolve();
  private scanning = false;
  private scanSeq = 0;
  /** Set when scoring's worker failed a hand-off; scoring then stays on the requesting thread. */
  private scoreBroken: string | null = null;

  /** `threads` worker threads (at least 1). */
  constructor(threads: number) {
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, thread) => {
      const worker = new Worker(new URL('./worker.js', import.meta.url));
      // The pool must never keep a finished process alive.
      worker.unref();
      const w: PoolWorker = { worker, thread, itemPagesSent: 0, userPagesSent: new Set(), failed: null };
      worker.on('error', (err) => (w.failed = `CPU worker failed: ${err.message}`));
      worker.on('exit', (code) => (w.failed ??= `CPU worker exited with code ${code}`));
      return w;
    });
  }

  get threads(): number {
    return this.workers.length;
  }

  // ------------------------------------------------------------------ scoring hand-off

  /** True when the first worker can take half of a request now. */
  get canScore(): boolean {
    return !this.scanning && this.scoreBroken === null && this.workers[0].failed === null;
  }

  /** Sends item pages the scoring worker has not seen yet (in order, before any job that can use them). */
  syncItemPages(module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], layout: PageLayout, stride: number, k: number): void {
    const w = this.workers[0];
    for (; w.itemPagesSent < memories.length; w.itemPagesSent++) {
      const msg: WorkerMessage = { type: 'item-page', index: w.itemPagesSent, module, memory: memories[w.itemPagesSent], layout, stride, k };
      w.worker.postMessage(msg);
    }
  }

  /** The shared slot list of the next scoring job, at least `n` long. */
  slotsFor(n: number): Uint32Array {
    if (this.capacity < n) {
      this.capacity = Math.max(n, this.capacity * 2, 4096);
      this.job = new SharedArrayBuffer(this.capacity * 16);
    }
    return new Uint32Array(this.job, 0, n);
  }

  /** Starts a scoring job over the slots written through slotsFor(); call finishScore() to wait for it. */
  startScore(segments: Segment[], q: Float32Array, e: Float32Array, eNorm: number, args: KernelArgs): number {
    const seq = ++this.seq;
    const msg: WorkerMessage = { type: 'score', seq, done: this.done, job: this.job, capacity: this.capacity, segments, q, e, eNorm, args };
    this.workers[0].worker.postMessage(msg);
    return seq;
  }

  /** Blocks until scoring job `seq` is done; returns its outputs (3 floats per slot), or null if the worker failed. */
  finishScore(seq: number, n: number): Float32Array | null {
    const deadline = Date.now() + CPU_DEFAULTS.scoreWaitMs;
    for (;;) {
      const v = Atomics.load(this.done, 0);
      if (v === seq) return new Float32Array(this.job, this.capacity * 4, n * 3);
      if (v === -seq) {
        this.scoreBroken = 'worker reported a kernel failure';
        return null;
      }
      const left = deadline - Date.now();
      const failed = this.workers[0].failed;
      if (left <= 0 || failed) {
        this.scoreBroken = failed ?? `worker did not answer within ${CPU_DEFAULTS.scoreWaitMs} ms`;
        return null;
      }
      Atomics.wait(this.done, 0, v, left);
    }
  }

  // ------------------------------------------------------------------ scans

  /** Runs an audience scan on every worker; scans are serialised. */
  scan(job: ScanJob): Promise<ScanHits[]> {
    const run = this.scanTail.then(() => this.scanNow(job));
    this.scanTail = run.catch(() => undefined);
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
    if (P === 0) return job.sets.map(() => ({ position: new Uint32Array(0), score: new Float32Array(0), cosGlobal: new Float32Array(0), cosLocal: new Float32Array(0) }));
    const id = ++this.scanSeq;
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
    const onAbort = (): void => void Atomics.store(control, CONTROL_CANCEL, 1);
    job.signal?.addEventListener('abort', onAbort, { once: true });
    let done = 0;
    this.scanning = true;
    let parts: Array<ScanHits[] | null>;
    try {
      parts = await Promise.all(this.workers.map((w) => new Promise<ScanHits[] | null>((resolve, reject) => {
        for (let p = 0; p < pages; p++) {
          const key = `${table.tableId}:${p}`;
          if (w.userPagesSent.has(key)) continue;
          const msg: WorkerMessage = {
            type: 'user-page', key, module: mod, memory: table.pages[p].memory, layout: table.layout, thread: w.thread, stride: table.stride, maxCentroids: table.maxCentroids,
          };
          w.worker.postMessage(msg);
          w.userPagesSent.add(key);
        }
        const onMessage = (m: WorkerReply): void => {
          if (m.id !== id) return;
          if (m.type === 'progress') {
            done += m.positions * job.sets.length;
            job.onProgress?.(Math.min(done, total), total);
            return;
          }
          cleanup();
          if (m.type === 'done') resolve(m.hits);
          else if (m.type === 'cancelled') resolve(null);
          else reject(new Error(`CPU worker: ${m.message}`));
        };
        const onExit = (): void => {
          cleanup();
          reject(new Error(w.failed ?? 'CPU worker exited'));
        };
        const cleanup = (): void => {
          w.worker.off('message', onMessage);
          w.worker.off('exit', onExit);
        };
        w.worker.on('message', onMessage);
        w.worker.on('exit', onExit);
        const msg: WorkerMessage = {
          type: 'scan', id, tableId: table.tableId, pages, rowsPerPage: table.rowsPerPage, stride: table.stride, positions: P,
          pool, dead: snapshot.dead, control, sets, alpha: job.alpha, beta: job.beta, zeroNorm: ZERO_NORM,
        };
        w.worker.postMessage(msg);
      })));
      if (parts.some((p) => p === null) || job.signal?.aborted) throw cancelled();
    } catch (err) {
      // Whatever failed, stop the other threads' work on this scan.
      Atomics.store(control, CONTROL_CANCEL, 1);
      throw err;
    } finally {
      this.scanning = false;
      job.signal?.removeEventListener('abort', onAbort);
    }
    // Each thread's hits are sorted (in the thread); merging them here is linear and time-sliced,
    // so even a million kept users hold the event loop for one slice at a time.
    const merged: ScanHits[] = [];
    for (const [si, s] of job.sets.entries()) merged.push(await mergeRanked(parts.map((p) => (p as ScanHits[])[si]), s.topN));
    return merged;
  }

  destroy(): void {
    for (const w of this.workers) void w.worker.terminate();
  }
}
