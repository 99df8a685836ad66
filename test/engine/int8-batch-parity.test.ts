/**
 * int8 storage, requests sharing a candidate list: every batch size and every item row count
 * against the reference, and on the CPU bit for bit as each request scores alone. The CPU kernel
 * computes the attention weights of a candidate for all requests of a batch in one pass, two
 * vectors of four rows at a time, so a vector pair can hold the last rows of one request and the
 * first of the next; k = 22 (kPad 24: up to six vectors a request, the last one partly empty) and
 * odd batch sizes put every such split in play.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { targetsUnderTest, smallModel, randomItems, assertClose } from '../helpers/fixtures.js';
import { referenceGlobal, referenceScore } from '../../src/model/reference.js';
import { RalmEngine, type ItemCentroids } from '../../src/engine/engine.js';
import { Rng } from '../../src/util/rng.js';
import { roundRowsInt8 } from '../../src/core/quantize.js';
import type { RalmModel } from '../../src/model/model.js';

const targets = await targetsUnderTest();

/** Reference scores of user e against items whose rows are rounded to their int8 values. */
function expectedInt8(model: RalmModel, e: ArrayLike<number>, items: readonly ItemCentroids[]): number[] {
  const h = model.manifest.h;
  return items.map((it) => {
    const rows = Float32Array.from(it.centroids);
    const n = rows.length / h;
    roundRowsInt8(rows, n, h);
    const c = Array.from(rows);
    return referenceScore(model, e, c, n, referenceGlobal(model, c, n)).score;
  });
}

for (const target of targets) {
  describe(`int8 batches on ${target.label}`, () => {
    // h = 40: int8 rows of 48 codes, float rows of 40 (the f32 dot of g·e ends on a half turn).
    const model = smallModel({ k: 22, h: 40, m: 24, seed: 71 });
    const items = randomItems(model, 66, 72);
    const ids = items.map((i) => i.id);
    const users = Array.from({ length: 17 }, (_, b) => new Rng(80 + b).normals(model.manifest.h));
    let engine: RalmEngine;
    before(async () => {
      engine = await RalmEngine.create(model, { recoverDevice: false, ...target.options, storage: 'int8', slotsPerPage: 32 });
      await engine.upsertItems(items);
    });
    after(async () => {
      assert.deepEqual(engine.gpuErrors, [], 'WebGPU raised errors no scope caught');
      await engine.close();
    });

    it('items of 1..22 rows, batches of 1, 2, 5, 8, 16 and 17: each request like the reference and as alone', async () => {
      const alone = [];
      for (const u of users) alone.push((await engine.score([{ user: { embedding: u }, items: ids }]))[0]);
      const want = users.map((u) => expectedInt8(model, u, items));
      for (const B of [1, 2, 5, 8, 16, 17]) {
        const batch = await engine.score(users.slice(0, B).map((u) => ({ user: { embedding: u }, items: ids })));
        for (let b = 0; b < B; b++) {
          // Tolerance as for single int8 requests: the request's q and e as 16-bit codes.
          assertClose(batch[b].scores, want[b], `score, batch of ${B}, request ${b}`, 1e-4, 1e-3);
          if (target.options.backend === 'cpu') {
            assert.deepEqual(batch[b].scores, alone[b].scores, `batch of ${B}, request ${b}: scores differ from the request alone`);
            assert.deepEqual(batch[b].cosLocal, alone[b].cosLocal, `batch of ${B}, request ${b}: cosLocal differs from the request alone`);
            assert.deepEqual(batch[b].cosGlobal, alone[b].cosGlobal, `batch of ${B}, request ${b}: cosGlobal differs from the request alone`);
          }
        }
      }
    });
  });
}
