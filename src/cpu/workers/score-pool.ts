/**
 * A second thread for the CPU scorer. Page memories are shared (SharedArrayBuffer-backed wasm
 * memories), so the worker reads the same item table in place; only the request's q, e and slot
 * list travel. The requesting thread scores its half meanwhile and then blocks on an Atomics
 * counter for the worker's half (with a timeout: a dead worker degrades to one thread, it never
 * hangs a request).
 */
import { Worker } from 'node:worker_threads';
import type { PageLayout } from '../../core/item-table.js';
import type { KernelArgs } from '../wasm-kernel.js';

export interface Segment {
  page: number;
  /** Range in the job's slot list. */
  from: number;
  count: number;
}

export type WorkerMessage =
  | { type: 'page'; index: number; module: WebAssembly.Module; memory: WebAssembly.Memory; layout: PageLayout; stride: number; k: number }
  | {
      type: 'job'; seq: number; done: Int32Array; job: SharedArrayBuffer; capacity: number; segments: Segment[];
      q: Float32Array; e: Float32Array; eNorm: number; args: KernelArgs;
    };

const WAIT_TIMEOUT_MS = 10_000;

export class CpuWorkerPool {
  private readonly worker: Worker;
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private pagesSent = 0;
  private job = new SharedArrayBuffer(0);
  private capacity = 0;
  /** Set when the worker failed; the backend then scores on one thread. */
  broken: string | null = null;

  constructor() {
    this.worker = new Worker(new URL('./score-worker.js', import.meta.url));
    // The pool must never keep a finished process alive.
    this.worker.unref();
    this.worker.on('error', (err) => (this.broken = `worker failed: ${err.message}`));
    this.worker.on('exit', (code) => (this.broken ??= `worker exited with code ${code}`));
  }

  /** Sends pages the worker has not seen yet (in order, before any job that can use them). */
  syncPages(module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], layout: PageLayout, stride: number, k: number): void {
    for (; this.pagesSent < memories.length; this.pagesSent++) {
      const msg: WorkerMessage = { type: 'page', index: this.pagesSent, module, memory: memories[this.pagesSent], layout, stride, k };
      this.worker.postMessage(msg);
    }
  }

  /** The shared slot list of the next job, at least `n` long. */
  slotsFor(n: number): Uint32Array {
    if (this.capacity < n) {
      this.capacity = Math.max(n, this.capacity * 2, 4096);
      this.job = new SharedArrayBuffer(this.capacity * 16);
    }
    return new Uint32Array(this.job, 0, n);
  }

  /** Starts a job over the slots written through slotsFor(); call finish() to wait for it. */
  start(segments: Segment[], q: Float32Array, e: Float32Array, eNorm: number, args: KernelArgs): number {
    const seq = ++this.seq;
    const msg: WorkerMessage = { type: 'job', seq, done: this.done, job: this.job, capacity: this.capacity, segments, q, e, eNorm, args };
    this.worker.postMessage(msg);
    return seq;
  }

  /** Blocks until job `seq` is done; returns its outputs (3 floats per slot), or null if the worker failed. */
  finish(seq: number, n: number): Float32Array | null {
    const deadline = Date.now() + WAIT_TIMEOUT_MS;
    for (;;) {
      const v = Atomics.load(this.done, 0);
      if (v === seq) return new Float32Array(this.job, this.capacity * 4, n * 3);
      if (v === -seq) {
        this.broken = 'worker reported a kernel failure';
        return null;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.broken) {
        this.broken ??= `worker did not answer within ${WAIT_TIMEOUT_MS} ms`;
        return null;
      }
      Atomics.wait(this.done, 0, v, left);
    }
  }

  destroy(): void {
    void this.worker.terminate();
  }
}
