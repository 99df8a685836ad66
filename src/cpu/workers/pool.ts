/**
 * The CPU worker pool: the one set of threads the CPU backend uses, for two jobs.
 *
 * Scoring, inline. A large ranking request is shared by the requesting thread and the first
 * worker, which claim chunks of it from one counter (claim.ts) until none is left; the requesting
 * thread then blocks on an Atomics counter until the worker's last chunk is done — with a
 * timeout, and only when that worker is not busy with a scan, so a request never waits behind a
 * scan and a dead worker degrades scoring to one thread instead of hanging. On a busy machine a
 * thread that gets no core takes fewer chunks instead of holding back a fixed half.
 *
 * Scoring, offloaded (what a server wants: its event loop stays free to read and answer other
 * requests while a batch is scored). The whole request goes to the scoring workers (up to
 * SCORE_WORKERS of them, as many as its size is worth), which claim chunks of it, and the
 * requesting thread awaits the job's counter with Atomics.waitAsync instead of blocking.
 * Offloaded jobs have their own buffers and counters, so an inline request in between cannot
 * disturb them; each scoring worker has its own scratch region in every page.
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
import { KERNEL_THREADS, kernelModule, type KernelArgs, type KernelUser, type KernelVariant } from '../wasm-kernel.js';
import { CONTROL_CANCEL, type ScanSetMessage, type Segment, type WorkerMessage, type WorkerReply } from './messages.js';
import { CLAIM_DONE, claimState, newClaim } from './claim.js';

/** Workers that score: every page has a scratch region for the requesting thread and one for each of them. */
export const SCORE_WORKERS = KERNEL_THREADS - 1;

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
  private job = new SharedArrayBuffer(0);
  private capacity = 0;
  private scanTail: Promise<unknown> = Promise.resolve();
  private scanning = false;
  private scanSeq = 0;
  /** Set when scoring's worker failed a hand-off; scoring then stays on the requesting thread. */
  private scoreBroken: string | null = null;
  /** Offloaded scoring: its own job buffer (slots, then outputs), one job at a time. */
  private offJob = new SharedArrayBuffer(0);
  private offCapacity = 0;
  private offTail: Promise<unknown> = Promise.resolve();

  /**
   * `threads` worker threads (at least 1), running kernel `variant`, each `nice` steps below the
   * creating thread's CPU priority where a thread can be reniced alone (Linux; util/thread-priority.ts).
   */
  constructor(threads: number, private readonly variant: KernelVariant = 'simd', nice = 0) {
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, thread) => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { nice } });
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

  /** Scoring workers an offloaded job can use now (0: score inline): not while a scan holds them, nor after a failure. */
  get offloadWorkers(): number {
    if (this.scanning || this.scoreBroken !== null) return 0;
    const usable = this.workers.slice(0, SCORE_WORKERS);
    const n = usable.findIndex((w) => w.failed !== null);
    return n < 0 ? usable.length : n;
  }

  /** Sends item pages the scoring workers have not seen yet (in order, before any job that can use them). */
  syncItemPages(module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], layout: PageLayout, stride: number, k: number): void {
    for (const w of this.workers.slice(0, SCORE_WORKERS)) {
      for (; w.itemPagesSent < memories.length; w.itemPagesSent++) {
        const msg: WorkerMessage = { type: 'item-page', index: w.itemPagesSent, module, memory: memories[w.itemPagesSent], layout, stride, k, scratch: 1 + w.thread };
        w.worker.postMessage(msg);
      }
    }
  }

  /** The shared slot list of the next scoring job, at least `n` long, with room for the outputs of `users` requests. */
  slotsFor(n: number, users = 1): Uint32Array {
    const need = n * users;
    if (this.capacity < need) {
      this.capacity = Math.max(need, this.capacity * 2, 4096);
      this.job = new SharedArrayBuffer(this.capacity * 16);
    }
    return new Uint32Array(this.job, 0, n);
  }

  /**
   * Starts a scoring job over the slots written through slotsFor(): the first worker claims chunks
   * of it (claim.ts) beside the requesting thread, which claims from the same `claim` words; then
   * call finishScore().
   */
  startScore(segments: Segment[], users: KernelUser[], args: KernelArgs, claim: Int32Array, chunk: number, total: number): void {
    const msg: WorkerMessage = { type: 'score', job: this.job, capacity: this.capacity, segments, users, args, claim, chunk, total };
    this.workers[0].worker.postMessage(msg);
  }

  /**
   * Blocks until every position of the job is done; returns its outputs (3 floats per position
   * and user), or null if the worker failed or did not finish in time (the caller then scores
   * the worker's chunks itself, and scoring stays on the requesting thread from then on).
   */
  finishScore(claim: Int32Array, total: number, users: number): Float32Array | null {
    const deadline = Date.now() + CPU_DEFAULTS.scoreWaitMs;
    for (;;) {
      const st = claimState(claim, total);
      if ('done' in st) return new Float32Array(this.job, this.capacity * 4, total * users * 3);
      if ('failed' in st) {
        this.scoreBroken = 'worker reported a kernel failure';
        return null;
      }
      const left = deadline - Date.now();
      const failed = this.workers[0].failed;
      if (left <= 0 || failed) {
        this.scoreBroken = failed ?? `worker did not answer within ${CPU_DEFAULTS.scoreWaitMs} ms`;
        return null;
      }
      Atomics.wait(claim, CLAIM_DONE, st.waitOn, left);
    }
  }

  /**
   * Scores `slots` (local slots of item pages, segmented by `segments`: ranges in `slots`) for
   * `users` on `workers` scoring workers, which claim chunks of it (claim.ts), without blocking
   * the calling thread. Resolves to the outputs — 3 floats per (slot position × users.length +
   * user) — valid until the next offloaded job, or to null if a worker failed (the caller then
   * scores inline). Jobs run one at a time.
   */
  scoreOffloaded(slots: Uint32Array, segments: Segment[], workers: number, users: KernelUser[], args: KernelArgs, chunk: number): Promise<Float32Array | null> {
    const run = this.offTail.then(() => this.scoreOffloadedNow(slots, segments, workers, users, args, chunk));
    this.offTail = run.catch(() => undefined);
    return run;
  }

  private async scoreOffloadedNow(slots: Uint32Array, segments: Segment[], workers: number, users: KernelUser[], args: KernelArgs, chunk: number): Promise<Float32Array | null> {
    const n = slots.length;
    const need = n * users.length;
    if (this.offCapacity < need) {
      this.offCapacity = Math.max(need, this.offCapacity * 2, 4096);
      this.offJob = new SharedArrayBuffer(this.offCapacity * 16);
    }
    new Uint32Array(this.offJob, 0, n).set(slots);
    const claim = newClaim();
    const used = this.workers.slice(0, Math.max(1, Math.min(workers, SCORE_WORKERS)));
    const msg: WorkerMessage = { type: 'score', job: this.offJob, capacity: this.offCapacity, segments, users, args, claim, chunk, total: n };
    for (const w of used) w.worker.postMessage(msg);
    // A waitAsync promise does not keep the process alive; a worker with a job does, while it has one.
    for (const w of used) w.worker.ref();
    try {
      return await this.awaitOffloaded(claim, n, used, need);
    } finally {
      for (const w of used) w.worker.unref();
    }
  }

  private async awaitOffloaded(claim: Int32Array, total: number, used: PoolWorker[], need: number): Promise<Float32Array | null> {
    const deadline = Date.now() + CPU_DEFAULTS.scoreWaitMs;
    for (;;) {
      const st = claimState(claim, total);
      if ('done' in st) return new Float32Array(this.offJob, this.offCapacity * 4, need * 3);
      if ('failed' in st) {
        this.scoreBroken = 'worker reported a kernel failure';
        return null;
      }
      const left = deadline - Date.now();
      const failed = used.find((w) => w.failed !== null)?.failed;
      if (left <= 0 || failed) {
        this.scoreBroken = failed ?? `worker did not answer within ${CPU_DEFAULTS.scoreWaitMs} ms`;
        return null;
      }
      const w = Atomics.waitAsync(claim, CLAIM_DONE, st.waitOn, Math.min(left, 1000));
      if (w.async) await w.value;
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
    const mod = kernelModule(this.variant);
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
