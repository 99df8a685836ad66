/**
 * A worker thread's share of a ranking request: claims chunks of the job's item-page slots
 * (claim.ts) and scores them with the WebAssembly kernel on the shared page memories, writing the
 * outputs into the job's shared buffer, until no chunk is left.
 */
import { bindPageKernel, type PageKernel } from '../wasm-kernel.js';
import type { ScoreMessage, WorkerMessage } from './messages.js';
import { failClaim, runClaimed } from './claim.js';

/** Item pages in order of their index; a page is always sent before a job that uses it. */
const pages: PageKernel[] = [];

export function addItemPage(msg: Extract<WorkerMessage, { type: 'item-page' }>): void {
  pages[msg.index] = bindPageKernel(msg.module, msg.memory, msg.layout, msg.stride, msg.k, msg.scratch);
}

export function runScore(msg: ScoreMessage): void {
  const { job, args, claim } = msg;
  const slots = new Uint32Array(job, 0, msg.capacity);
  const out = new Float32Array(job, msg.capacity * 4, msg.capacity * 3);
  const users = msg.users;
  const B = users.length;
  const u = users[0];
  const single = (i: number, s: number, g: number, l: number): void => {
    out[i * 3] = s;
    out[i * 3 + 1] = g;
    out[i * 3 + 2] = l;
  };
  const batched = (b: number, i: number, s: number, g: number, l: number): void => {
    const o = (i * B + b) * 3;
    out[o] = s;
    out[o + 1] = g;
    out[o + 2] = l;
  };
  try {
    runClaimed(claim, msg.chunk, msg.total, msg.segments, (page, from, count) => {
      if (B === 1) pages[page].run(args, u.q, u.e, u.eNorm, slots, from, count, single);
      else pages[page].runBatch(args, users, slots, from, count, batched);
    });
  } catch {
    failClaim(claim);
  }
}
