/**
 * The memory-read roofline read by several threads at once: the bytes split into equal shares,
 * the calling thread scanning one and worker threads the others, all started together and timed
 * until the last finishes. `RooflineProbe` (stats.ts) is one thread's read; a kernel running on
 * two threads can beat that, so "faster than any f32 implementation could be" needs this one.
 *
 * Workers are told to start through an Atomics generation counter rather than a message, so a run
 * costs no event-loop round trip: a slower probe would flatter the kernels measured against it.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { measure, type Timing } from './stats.js';

/** Control words: the run generation (−1: leave the loop for a new setup), threads done, bytes scanned (KiB), a byte found. */
const GEN = 0;
const DONE = 1;
const SCANNED_KIB = 2;
const FOUND = 3;

/** A shared buffer cannot be larger than this in one piece everywhere; bigger reads use several. */
const CHUNK = 2 ** 30;

/** The probe holds its own copy of the bytes, so `timeUpTo` measures up to this size only. */
export const PARALLEL_ROOFLINE_MAX_BYTES = 2 * 2 ** 30;

interface Share { chunk: number; start: number; end: number }

/** Worker body (CommonJS, evaluated): wait for a generation, scan the share, report, repeat. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
parentPort.on('message', ({ chunks, share }) => {
  const views = share.map((s) => Buffer.from(chunks[s.chunk], s.start, s.end - s.start));
  const kib = share.reduce((a, s) => a + (s.end - s.start), 0) / 1024;
  // Read before answering, so a run the caller starts as soon as it hears back is never missed.
  let seen = Atomics.load(control, ${GEN});
  parentPort.postMessage('ready');
  for (;;) {
    Atomics.wait(control, ${GEN}, seen);
    const gen = Atomics.load(control, ${GEN});
    if (gen < 0) { parentPort.close(); return; }
    seen = gen;
    for (const v of views) if (v.indexOf(1) !== -1) Atomics.store(control, ${FOUND}, 1);
    Atomics.add(control, ${SCANNED_KIB}, kib);
    Atomics.add(control, ${DONE}, 1);
    Atomics.notify(control, ${DONE});
  }
});
`;

/** Splits `bytes` of chunked storage into `threads` contiguous shares (KiB-aligned). */
export function splitShares(bytes: number, threads: number): Share[][] {
  const per = Math.ceil(bytes / threads / 1024) * 1024;
  const shares: Share[][] = [];
  for (let t = 0; t < threads; t++) {
    const from = Math.min(bytes, t * per);
    const to = Math.min(bytes, from + per);
    const parts: Share[] = [];
    for (let at = from; at < to;) {
      const chunk = Math.floor(at / CHUNK);
      const end = Math.min(to, (chunk + 1) * CHUNK);
      parts.push({ chunk, start: at - chunk * CHUNK, end: end - chunk * CHUNK });
      at = end;
    }
    shares.push(parts);
  }
  return shares;
}

export class ParallelRooflineProbe {
  readonly threads: number;
  private readonly control = new Int32Array(new SharedArrayBuffer(16));
  private workers: Worker[] = [];
  private chunks: SharedArrayBuffer[] = [];
  private bytes = 0;
  private own: Buffer[] = [];

  /** `threads` readers in all, the calling thread included (default: every core). */
  constructor(threads = availableParallelism()) {
    this.threads = Math.max(1, Math.floor(threads));
  }

  /** Bytes scanned by every thread since the last setup, and whether any read a non-zero byte (never, unless corrupted). */
  get scanned(): { bytes: number; found: boolean } {
    return { bytes: Atomics.load(this.control, SCANNED_KIB) * 1024, found: Atomics.load(this.control, FOUND) === 1 };
  }

  async time(bytes: number, o: { minRuns?: number; minMs?: number } = {}): Promise<Timing> {
    await this.setup(bytes);
    return measure(() => this.runOnce(), { warmup: 2, minRuns: o.minRuns ?? 10, minMs: o.minMs ?? 300 });
  }

  /** `time`, or null above PARALLEL_ROOFLINE_MAX_BYTES. */
  async timeUpTo(bytes: number, o: { minRuns?: number; minMs?: number } = {}): Promise<Timing | null> {
    return bytes <= PARALLEL_ROOFLINE_MAX_BYTES ? this.time(bytes, o) : null;
  }

  private runOnce(): void {
    const c = this.control;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    for (const v of this.own) if (v.indexOf(1) !== -1) Atomics.store(c, FOUND, 1);
    Atomics.add(c, SCANNED_KIB, this.own.reduce((a, v) => a + v.length, 0) / 1024);
    const others = this.workers.length;
    const deadline = Date.now() + 60_000;
    for (let done = Atomics.load(c, DONE); done < others; done = Atomics.load(c, DONE)) {
      if (Date.now() > deadline) throw new Error(`parallel roofline: ${others - done} of ${others} worker threads did not finish within 60 s`);
      Atomics.wait(c, DONE, done, 1000);
    }
    if (Atomics.load(c, FOUND) === 1) throw new Error('parallel roofline buffer corrupted');
  }

  private async setup(bytes: number): Promise<void> {
    if (bytes === this.bytes && this.workers.length === this.threads - 1) {
      Atomics.store(this.control, SCANNED_KIB, 0);
      return;
    }
    await this.stopWorkers();
    const size = Math.ceil(bytes / 1024) * 1024;
    this.chunks = [];
    for (let at = 0; at < size; at += CHUNK) {
      const sab = new SharedArrayBuffer(Math.min(CHUNK, size - at));
      new Uint8Array(sab).fill(0); // written, so its pages are real rather than the shared zero page
      this.chunks.push(sab);
    }
    this.bytes = bytes;
    const shares = splitShares(size, this.threads);
    this.own = shares[0].map((s) => Buffer.from(this.chunks[s.chunk], s.start, s.end - s.start));
    Atomics.store(this.control, GEN, 0);
    Atomics.store(this.control, FOUND, 0);
    this.workers = await Promise.all(shares.slice(1).map(async (share) => {
      const w = new Worker(WORKER, { eval: true, workerData: { control: this.control.buffer } });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
        w.postMessage({ chunks: this.chunks, share });
      });
      return w;
    }));
    Atomics.store(this.control, SCANNED_KIB, 0);
  }

  private async stopWorkers(): Promise<void> {
    if (this.workers.length === 0) return;
    Atomics.store(this.control, GEN, -1);
    Atomics.notify(this.control, GEN);
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve()))));
    this.workers = [];
  }

  async release(): Promise<void> {
    await this.stopWorkers();
    this.chunks = [];
    this.own = [];
    this.bytes = 0;
  }
}
