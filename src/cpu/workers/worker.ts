/**
 * The CPU worker thread: one script for both jobs of the pool (see messages.ts). Messages arrive
 * in order on one port, so a page is always known before a job that uses it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../util/thread-priority.js';
import type { WorkerMessage, WorkerReply } from './messages.js';
import { addUserPage, runScan } from './scan-task.js';
import { addItemPage, runScore } from './score-task.js';

if (!parentPort) throw new Error('the CPU worker must run as a worker thread');
const port = parentPort;
const reply = (m: WorkerReply): void => port.postMessage(m);

// Below the event loop's priority when asked (pool.ts): scoring yields a core to reading requests.
const { nice } = (workerData ?? {}) as { nice?: number };
if (nice !== undefined && nice > 0) lowerThreadPriority(nice);

port.on('message', (msg: WorkerMessage) => {
  switch (msg.type) {
    case 'item-page': addItemPage(msg); return;
    case 'score': runScore(msg); return;
    case 'user-page': addUserPage(msg); return;
    case 'scan':
      try {
        const hits = runScan(msg, reply);
        reply(hits === null ? { type: 'cancelled', id: msg.id } : { type: 'done', id: msg.id, hits });
      } catch (err) {
        reply({ type: 'error', id: msg.id, message: (err as Error).message });
      }
  }
});
