/**
 * CPU worker threads below the event loop's priority (engine option cpuWorkerNice; Linux, where
 * a thread can be reniced alone): each worker thread's nice value is raised by the option, the
 * calling thread and the rest of the process keep theirs, and results do not change. Elsewhere
 * the option is accepted and nothing is reniced.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { RalmEngine } from '../../src/engine/engine.js';
import { lowerThreadPriority, threadNice } from '../../src/util/thread-priority.js';
import { smallModel, randomItems } from '../helpers/fixtures.js';
import { Rng } from '../../src/util/rng.js';

const linux = process.platform === 'linux';
const skip = linux ? false : 'threads are reniced alone only on Linux (elsewhere setpriority acts on the whole process, so the option does nothing)';

/** Nice value of every thread of this process, by thread id (proc(5): field 19 of task/TID/stat). */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which sits in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

describe('lowerThreadPriority', { skip }, () => {
  it('renices the calling worker thread alone, by the steps asked, capped at 19', async () => {
    const before = niceByThread();
    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.module).then((m) => {
        const first = m.lowerThreadPriority(3);
        const capped = m.lowerThreadPriority(40);
        parentPort.postMessage({ first, capped, now: m.threadNice() });
      });`;
    const worker = new Worker(script, { eval: true, workerData: { module: new URL('../../src/util/thread-priority.js', import.meta.url).href } });
    const seen = await new Promise<{ first: number; capped: number; now: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    const base = threadNice() ?? 0;
    assert.deepEqual(seen, { first: base + 3, capped: 19, now: 19 });
    assert.equal(threadNice(), base, 'the calling thread keeps its priority');
    for (const [tid, nice] of niceByThread()) if (before.has(tid)) assert.equal(nice, before.get(tid), `thread ${tid} was reniced`);
  });

  it('does nothing when asked for no steps', () => {
    assert.equal(lowerThreadPriority(0), null);
    assert.equal(lowerThreadPriority(-2), null);
  });
});

describe('engine option cpuWorkerNice', () => {
  const model = smallModel({ seed: 7 });
  const items = randomItems(model, 600, 8);

  it('runs the CPU worker threads that many steps below the event loop, with the same results', { skip }, async () => {
    const before = niceByThread();
    const base = threadNice() ?? 0;
    const plain = await RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 2, cpuOffload: true, recoverDevice: false });
    const niced = await RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 2, cpuOffload: true, recoverDevice: false, cpuWorkerNice: 4 });
    try {
      await plain.upsertItems(items);
      await niced.upsertItems(items);
      const rng = new Rng(9);
      const reqs = Array.from({ length: 3 }, () => ({ user: { embedding: rng.normals(model.manifest.h) }, k: 10 }));
      const strip = (rs: Array<{ items: unknown }>) => rs.map((r) => r.items);
      assert.deepEqual(strip(await niced.rank(reqs)), strip(await plain.rank(reqs)));
      // Two engines' worker threads (2 each) and whatever else started meanwhile (at the base). A
      // worker renices itself once its modules have loaded, before it reads its first message; one
      // the requests did not need may still be loading them, so the check waits for it (5 s at most).
      const newNices = (): number[] => [...niceByThread()].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice).sort((a, b) => a - b);
      let added = newNices();
      for (const until = Date.now() + 5000; added.filter((n) => n === base + 4).length < 2 && Date.now() < until; added = newNices()) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(added.filter((n) => n === base + 4).length, 2, `new threads' nice values: ${added.join(', ')}`);
      assert.equal(threadNice(), base, 'the event loop keeps its priority');
    } finally {
      await plain.close();
      await niced.close();
    }
  });

  it('is an integer from 0 to 19', async () => {
    for (const bad of [-1, 20, 2.5, Number.NaN]) {
      await assert.rejects(RalmEngine.create(model, { backend: 'cpu', cpuWorkerNice: bad }), (err: Error & { code?: string }) => err.code === 'RALM_ERR_VALIDATION' && /cpuWorkerNice/.test(err.message), String(bad));
    }
  });
});
