/**
 * Worker side of the CPU thread pool: scores its share of a request with the WebAssembly kernel
 * on the shared page memories, then flips a done counter the requesting thread waits on.
 * Messages arrive in order on one port, so a page is always known before a job that uses it.
 */
import { parentPort } from 'node:worker_threads';
import type { WorkerMessage } from './score-pool.js';
import { bindPageKernel, type PageKernel } from '../wasm-kernel.js';

if (!parentPort) throw new Error('score-worker must run as a worker thread');
const port = parentPort;
const pages: PageKernel[] = [];

port.on('message', (msg: WorkerMessage) => {
  if (msg.type === 'page') {
    pages[msg.index] = bindPageKernel(msg.module, msg.memory, msg.layout, msg.stride, msg.k, 1);
    return;
  }
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
});
