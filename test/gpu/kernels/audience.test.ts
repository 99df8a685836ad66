import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UserTable } from '../../../src/core/user-table.js';
import { prepareSeedSet } from '../../../src/core/seed-set.js';
import type { ScanSet } from '../../../src/core/scan.js';
import { keptHits, planScan, scanFits, selectOnHost } from '../../../src/gpu/kernels/audience.js';
import { GPU_LIMITS } from '../../../src/gpu/limits.js';
import { SKIPPED_SCORE } from '../../../src/gpu/programs.js';
import { ZERO_NORM } from '../../../src/model/reference.js';
import { Rng } from '../../../src/util/rng.js';
import { smallModel } from '../../helpers/fixtures.js';

const model = smallModel({ seed: 3 });
const { h } = model.manifest;

function world(): { table: UserTable; sets: ScanSet[] } {
  const rng = new Rng(8);
  const table = new UserTable({ h, maxCentroids: model.manifest.k, rowsPerPage: 40 });
  const ids = Array.from({ length: 100 }, (_, i) => `u${i}`);
  table.upsert(ids, rng.normals(100 * h));
  table.remove(['u5', 'u70']);
  const set = (count: number): ReturnType<typeof prepareSeedSet> => prepareSeedSet(model, rng.normals(count * h), count, rng.normals(h));
  const skip = new Uint32Array(4);
  skip[1] = 0b1001; // rows 32 and 35
  return { table, sets: [{ set: set(3), topN: 10, threshold: -Infinity }, { set: set(1), topN: 600, threshold: 0.2, skip }] };
}

describe('audience scan planner', () => {
  it('dense scan: one dispatch per page (the last partial), skip masks = dead | excluded, D and G back to back', () => {
    const { table, sets } = world();
    const snapshot = table.acquire();
    const plan = planScan({ table, snapshot, sets, alpha: 0.3, beta: 0.7 });
    assert.equal(plan.positions, 100);
    assert.equal(plan.pages, 3);
    assert.deepEqual(plan.dispatches.map((d) => [d.page, d.count]), [[0, 40], [1, 40], [2, 20]]);
    assert.deepEqual(plan.dispatches[2].params, {
      count: 20, set_count: 2, row_vec4: table.stride / 4, pool_mode: 0, row_base: 0, pos_base: 80, list_base: 0,
      positions: 100, page_first_row: 80, alpha: 0.3, beta: 0.7, zero_norm: ZERO_NORM,
    });
    const words = 4;
    assert.deepEqual(Array.from(plan.sets), [3, 0, 0, sets[0].set.kPad, 0, 0, 0, 0, 1, sets[0].set.rows, sets[0].set.gram.length, sets[1].set.kPad, words, 0, 0, 0]);
    assert.deepEqual(Array.from(plan.skip.subarray(0, words)), Array.from(snapshot.dead));
    assert.equal(plan.skip[words + 1], snapshot.dead[1] | 0b1001);
    assert.deepEqual(Array.from(plan.d.subarray(sets[0].set.d.length)), Array.from(sets[1].set.d));
    assert.deepEqual(Array.from(plan.gram.subarray(sets[0].set.gram.length)), Array.from(sets[1].set.gram));
    assert.equal(plan.gpuSelect, GPU_LIMITS.maxTopK >= 600);
    snapshot.release();
  });

  it('pool scan: (page-local row, position) pairs grouped by page; pages without pool rows get no dispatch', () => {
    const { table, sets } = world();
    const snapshot = table.acquire();
    const pool = Uint32Array.from([85, 3, 90, 7, 41]);
    const plan = planScan({ table, snapshot, pool, sets: [sets[0]], alpha: 0.3, beta: 0.7 });
    assert.equal(plan.positions, 5);
    assert.deepEqual(plan.dispatches.map((d) => [d.page, d.count, d.params.list_base, d.params.pool_mode, d.params.positions]), [[0, 2, 0, 1, 5], [1, 1, 2, 1, 5], [2, 2, 3, 1, 5]]);
    assert.deepEqual(Array.from(plan.list), [3, 1, 7, 3, 1, 4, 5, 0, 10, 2]);
    assert.equal(plan.gpuSelect, true);
    snapshot.release();
  });

  it('fits a scan only when its scores fit one binding and one buffer', () => {
    const limits = { maxStorageBufferBindingSize: 1600, maxBufferSize: 3200 };
    assert.equal(scanFits(50, 2, limits), true);
    assert.equal(scanFits(51, 2, limits), false);
    assert.equal(scanFits(101, 2, { maxStorageBufferBindingSize: 6400, maxBufferSize: 3200 }), false);
  });

  it('drops skipped rows, and scores under the threshold after a GPU selection', () => {
    const sets = world().sets;
    const results = new Float32Array(2 * 3 * 4);
    [[0.5, SKIPPED_SCORE, 0.9], [0.1, 0.3, SKIPPED_SCORE]].forEach((row, s) => row.forEach((score, i) => (results[(s * 3 + i) * 4] = score)));
    const host = selectOnHost(results, sets, 3);
    assert.deepEqual(Array.from(host[0].index), [2, 0]);
    assert.deepEqual(Array.from(host[1].index), [1]);
    const gpu = [{ index: Uint32Array.from([2, 1]), score: Float32Array.from([0.9, SKIPPED_SCORE]), cosGlobal: new Float32Array(2), cosLocal: new Float32Array(2) },
      { index: Uint32Array.from([1, 0]), score: Float32Array.from([0.3, 0.1]), cosGlobal: new Float32Array(2), cosLocal: new Float32Array(2) }];
    const hits = keptHits(gpu, sets);
    assert.deepEqual(Array.from(hits[0].position), [2]);
    assert.deepEqual(Array.from(hits[1].position), [1]);
  });
});
