/**
 * A worker thread's share of a ranking request: scores its segments of item-page slots with the
 * WebAssembly kernel on the shared page memories, writes the outputs into the job's shared
 * buffer, then flips the done counter the requesting thread waits on.
 */
import { bindPageKernel, type PageKernel } from '../wasm-kernel.js';
import type { ScoreMessage, WorkerMessage } from './messages.js';

/** Item pages in order of their index; a page is always sent before a job that uses it. */
const pages: PageKernel[] = [];

/** Worker threads use the page's second scratch region (the requesting thread owns the first). */
const WORKER_SCRATCH = 1;

export function addItemPage(msg: Extract<WorkerMessage, { type: 'item-page' }>): void {
  pages[msg.index] = bindPageKernel(msg.module, msg.memory, msg.layout, msg.stride, msg.k, WORKER_SCRATCH);
}

export function runScore(msg: ScoreMessage): void {
  const { job, done, seq, args } = msg;
  const slots = new Uint32Array(job, 0, msg.capacity);
  const out = new Float32Array(job, msg.capacity * 4, msg.capacity * 3);
  try {
    for (const seg of msg.segments) {
      pages[seg.page].run(args, msg.q, msg.e, msg.eNorm, slots, seg.from, seg.count, (i, s, g, l) => {
        out[i * 3] = s;
        out[i * 3 + 1] = g;
        out[i * 3 + 2] = l;
      });
    }
    Atomics.store(done, 0, seq);
  } catch {
    Atomics.store(done, 0, -seq);
  }
  Atomics.notify(done, 0);
}
