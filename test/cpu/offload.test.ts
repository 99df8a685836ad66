/**
 * Offloaded CPU ranking (the service's setting): the scoring workers take the whole request while
 * the caller awaits them. Results are the inline path's bit for bit (one page or many, one request
 * or a batch, concurrent calls mixed with inline ones), the event loop turns while a batch is
 * scored, and a dead worker degrades to inline scoring instead of failing requests.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RalmEngine, type RankRequest } from '../../src/engine/engine.js';
import { Rng } from '../../src/util/rng.js';
import { smallModel, randomItems } from '../helpers/fixtures.js';
import { randomModel } from '../../src/model/random.js';
import { loopTurnsDuring } from '../helpers/loop-turns.js';
import { rowsFromBatch } from '../../src/cpu/cpu-backend.js';
import { rowsFromScores } from '../../src/core/top-k.js';

const model = smallModel({ seed: 41 });
const items = randomItems(model, 4000, 42);

function open(offload: boolean, slotsPerPage?: number): Promise<RalmEngine> {
  return RalmEngine.create(model, { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 4, cpuOffload: offload, recoverDevice: false, ...(slotsPerPage ? { slotsPerPage } : {}) });
}

/** What a ranking answers, without the timing and the adapter's name. */
const answers = (rs: Array<{ items: unknown; candidates: number }>) => rs.map((r) => ({ items: r.items, candidates: r.candidates }));

function requests(seed: number): RankRequest[] {
  const rng = new Rng(seed);
  const h = model.manifest.h;
  const shared = items.filter((_, i) => i % 3 !== 0).map((it) => it.id).reverse();
  return [
    // A batch sharing one candidate list (the batched kernel), every item, and lists of their own.
    ...Array.from({ length: 7 }, () => ({ user: { embedding: rng.normals(h) }, candidates: shared, k: 20 })),
    { user: { embedding: rng.normals(h) }, k: 50 },
    { user: { embedding: rng.normals(h) }, candidates: items.slice(100, 900).map((it) => it.id), k: 10 },
    { user: { embedding: rng.normals(h) }, candidates: items.slice(0, 30).map((it) => it.id), k: 5 },
  ];
}

describe('offloaded CPU ranking', () => {
  for (const slotsPerPage of [undefined, 97]) {
    describe(slotsPerPage ? `a table of ${slotsPerPage}-slot pages` : 'a one-page table', () => {
      let inline: RalmEngine;
      let offloaded: RalmEngine;
      before(async () => {
        [inline, offloaded] = await Promise.all([open(false, slotsPerPage), open(true, slotsPerPage)]);
        await inline.upsertItems(items);
        await offloaded.upsertItems(items);
        assert.match(offloaded.adapterName, /offloaded/);
        assert.doesNotMatch(inline.adapterName, /offloaded/);
      });
      after(async () => {
        await inline.close();
        await offloaded.close();
      });

      it('ranks and scores bit for bit like the inline path', async () => {
        const reqs = requests(7);
        assert.deepEqual(answers(await offloaded.rank(reqs)), answers(await inline.rank(reqs)));
        const ids = items.map((it) => it.id);
        const users = reqs.slice(0, 3).map((r) => ({ user: r.user, items: ids }));
        const [a, b] = [await offloaded.score(users), await inline.score(users)];
        for (let i = 0; i < users.length; i++) {
          assert.deepEqual(a[i].scores, b[i].scores);
          assert.deepEqual(a[i].cosLocal, b[i].cosLocal);
          assert.deepEqual(a[i].cosGlobal, b[i].cosGlobal);
        }
      });

      it('concurrent calls, large and small, each get their own answer', async () => {
        const batches = Array.from({ length: 12 }, (_, i) => requests(100 + i).slice(i % 4, (i % 4) + 1 + (i % 7)));
        const alone = [];
        for (const b of batches) alone.push(answers(await inline.rank(b)));
        assert.deepEqual((await Promise.all(batches.map((b) => offloaded.rank(b)))).map(answers), alone);
      });
    });
  }

  it('the event loop turns while a large batch is scored on the workers', async () => {
    const big = randomModel({ h: 128, m: 16, k: 20, attentionSize: 16, seed: 5 });
    const engine = await RalmEngine.create(big, { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 4, cpuOffload: true, recoverDevice: false });
    try {
      await engine.upsertItems(randomItems(big, 20_000, 6));
      const rng = new Rng(8);
      const batch = Array.from({ length: 16 }, () => ({ user: { embedding: rng.normals(128) }, k: 10 }));
      await engine.rank(batch.slice(0, 1));
      const { value: out, turns } = await loopTurnsDuring(() => engine.rank(batch));
      assert.equal(out.length, 16);
      // 16 × 20,000 candidates × 20 rows of 128: tens of ms of work that the loop did not wait for.
      assert.ok(turns >= 2, `the loop turned ${turns} times while the batch was scored`);
    } finally {
      await engine.close();
    }
  });

  it('a dead scoring worker: requests are scored inline, correctly', async () => {
    const [inline, offloaded] = await Promise.all([open(false), open(true)]);
    try {
      await inline.upsertItems(items);
      await offloaded.upsertItems(items);
      const reqs = requests(9);
      assert.deepEqual(answers(await offloaded.rank(reqs)), answers(await inline.rank(reqs)));
      const pool = (offloaded as unknown as { devices: { cpu: { pool: { workers: Array<{ worker: { terminate(): Promise<number> } }> } } } }).devices.cpu.pool;
      await pool.workers[1].worker.terminate();
      assert.deepEqual(answers(await offloaded.rank(reqs)), answers(await inline.rank(reqs)));
    } finally {
      await inline.close();
      await offloaded.close();
    }
  });

  it('rows picked straight from a batch\'s page-ordered outputs equal the rows of the filled arrays (ties by candidate position, NaN never kept)', () => {
    const n = 9;
    const B = 3;
    const order = Uint32Array.of(4, 0, 8, 2, 6, 1, 7, 3, 5);
    const rng = new Rng(5);
    const out = new Float32Array(n * B * 3).map(() => Math.round(rng.normal() * 2) / 2); // coarse values: many ties
    out[(2 * B + 1) * 3] = NaN;
    for (let b = 0; b < B; b++) {
      const filled = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) filled[c][order[i]] = out[(i * B + b) * 3 + c];
      for (const topK of [0, 1, 4, n]) {
        assert.deepEqual(rowsFromBatch(out, order, B, b, n, topK), rowsFromScores(filled[0], filled[1], filled[2], topK), `request ${b}, top-${topK}`);
      }
    }
  });
});
