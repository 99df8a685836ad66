/**
 * A worker thread's share of a ranking request: scores its segments of item-page slots with the
 * WebAssembly kernel on the shared page memories, writes the outputs into the job's shared
 * buffer, then flips the done counter the requesting thread waits on.
 */
import { bindPageKernel, type PageKernel } from '../wasm-kernel.js';
import type { ScoreMessage, WorkerMessage } from './messages.js';

/** Item pages in order of their index; a page is always sent before a job that uses it. */
const pages: PageKernel[] = [];

export function addItemPage(msg: Extract<WorkerMessage, { type: 'item-page' }>): void {
  pages[msg.index] = bindPageKernel(msg.module, msg.memory, msg.layout, msg.stride, msg.k, msg.scratch);
}

export function runScore(msg: ScoreMessage): void {
  const { job, done, seq, args } = msg;
  const slots = new Uint32Array(job, 0, msg.capacity);
  const out = new Float32Array(job, msg.capacity * 4, msg.capacity * 3);
  try {
    const users = msg.users;
    const B = users.length;
    for (const seg of msg.segments) {
      if (B === 1) {
        const u = users[0];
        pages[seg.page].run(args, u.q, u.e, u.eNorm, slots, seg.from, seg.count, (i, s, g, l) => {
          out[i * 3] = s;
          out[i * 3 + 1] = g;
          out[i * 3 + 2] = l;
        });
      } else {
        pages[seg.page].runBatch(args, users, slots, seg.from, seg.count, (b, i, s, g, l) => {
          const o = (i * B + b) * 3;
          out[o] = s;
          out[o + 1] = g;
          out[o + 2] = l;
        });
      }
    }
    Atomics.store(done, 0, seq);
  } catch {
    Atomics.store(done, 0, -seq);
  }
  Atomics.notify(done, 0);
}
