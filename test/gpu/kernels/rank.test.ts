import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PreparedRequest } from '../../../src/core/backend.js';
import { planRank, rowsFromResults } from '../../../src/gpu/kernels/rank.js';
import { GPU_LIMITS } from '../../../src/gpu/limits.js';
import { ZERO_NORM } from '../../../src/model/reference.js';

const stride = 8;
function request(slots: number[], topK: number, seed: number): PreparedRequest {
  const q = Float32Array.from({ length: stride }, (_, i) => seed + i / 10);
  const e = Float32Array.from({ length: stride }, (_, i) => -seed - i / 10);
  return { slots: Uint32Array.from(slots), q, e, eNorm: seed, topK };
}
const shape = { stride, slotsPerPage: 10, pageCount: 4, k: 5, alpha: 0.3, beta: 0.7 };

describe('rank planner', () => {
  it('groups the work by page, one dispatch per page with work, in page order', () => {
    const reqs = [request([31, 2, 15, 3], 5, 1), request([12, 33], 2, 2)];
    const plan = planRank(reqs, shape);
    assert.deepEqual(Array.from(plan.offsets), [0, 4, 6]);
    assert.deepEqual(plan.dispatches.map((d) => [d.page, d.count]), [[0, 2], [1, 2], [3, 2]]);
    // (slot within page, request, output position, 0), page 0 first, request order inside a page.
    assert.deepEqual(Array.from(plan.work), [2, 0, 1, 0, 3, 0, 3, 0, 5, 0, 2, 0, 2, 1, 4, 0, 1, 0, 0, 0, 3, 1, 5, 0]);
    assert.deepEqual(plan.dispatches[1].params, { work_start: 2, work_count: 2, k: 5, row_vec4: 2, alpha: 0.3, beta: 0.7, zero_norm: ZERO_NORM, i8_scales: 0 });
    assert.equal(plan.dispatches[2].params.work_start, 4);
    assert.deepEqual(Array.from(plan.users.subarray(stride, 2 * stride)), Array.from(reqs[0].e));
    assert.deepEqual(Array.from(plan.users.subarray(2 * stride, 3 * stride)), Array.from(reqs[1].q));
    assert.deepEqual(Array.from(plan.norms), [1, 2]);
    assert.equal(plan.readAll, false);
  });

  it('puts the requests that share one candidate array side by side per candidate, the same work as with copies', () => {
    const shared = request([31, 2, 15], 3, 1);
    const reqs = [shared, request([12, 33], 2, 2), { ...request([], 4, 3), slots: shared.slots }];
    const plan = planRank(reqs, shape);
    assert.deepEqual(Array.from(plan.offsets), [0, 3, 5, 8]);
    // Page 0: slot 2 for requests 0 and 2; page 1: slot 15 for 0 and 2, then request 1's slot 12;
    // page 3: slot 31 for 0 and 2, then request 1's slot 33.
    assert.deepEqual(Array.from(plan.work), [
      2, 0, 1, 0, 2, 2, 6, 0,
      5, 0, 2, 0, 5, 2, 7, 0, 2, 1, 3, 0,
      1, 0, 0, 0, 1, 2, 5, 0, 3, 1, 4, 0,
    ]);
    assert.deepEqual(plan.dispatches.map((d) => [d.page, d.count, d.params.work_start]), [[0, 2, 0], [1, 3, 2], [3, 3, 5]]);
    // With copies the order differs, not the work: the same entries in each page.
    const copies = planRank(reqs.map((r) => ({ ...r, slots: r.slots.slice() })), shape);
    assert.deepEqual(copies.dispatches, plan.dispatches);
    const entries = (w: Uint32Array, from: number, count: number) => Array.from({ length: count }, (_, i) => Array.from(w.subarray((from + i) * 4, (from + i) * 4 + 4)).join()).sort();
    for (const d of plan.dispatches) assert.deepEqual(entries(plan.work, Number(d.params.work_start), d.count), entries(copies.work, Number(d.params.work_start), d.count));
  });

  it('writes into a reused scratch as into a fresh array, prior words included', () => {
    const reqs = [request([31, 2, 15, 3, 38, 12], 3, 1), request([12, 33, 2], 2, 3)];
    const priors = Float32Array.from({ length: 40 }, (_, i) => i / 8);
    const scratch = { work: new Uint32Array(0), maxWords: 64 };
    const first = planRank(reqs, { ...shape, priors }, scratch);
    assert.equal(first.work.buffer, scratch.work.buffer, 'planned into the scratch');
    assert.deepEqual(Array.from(first.work), Array.from(planRank(reqs, { ...shape, priors }).work));
    assert.ok(first.work.some((w, i) => i % 4 === 3 && w !== 0));
    // The same scratch, now without priors and fewer words: the prior words are zero again.
    const again = planRank(reqs.slice(0, 1), shape, scratch);
    assert.deepEqual(Array.from(again.work), Array.from(planRank(reqs.slice(0, 1), shape).work));
    assert.ok(scratch.work.length >= first.work.length, 'the scratch is kept, not shrunk');
    // A batch past the scratch's bound plans into an array of its own; the scratch stays as it was.
    const kept = scratch.work;
    const big = planRank([...reqs, ...reqs], { ...shape, priors }, scratch);
    assert.notEqual(big.work.buffer, kept.buffer);
    assert.equal(scratch.work, kept);
    assert.deepEqual(Array.from(big.work), Array.from(planRank([...reqs, ...reqs], { ...shape, priors }).work));
  });

  it('reads every score back when all requests want scores or a K is past the GPU select', () => {
    assert.equal(planRank([request([1], 0, 1), request([2], 0, 2)], shape).readAll, true);
    assert.equal(planRank([request([1], 3, 1), request([2], GPU_LIMITS.maxTopK + 1, 2)], shape).readAll, true);
    assert.equal(planRank([request([1], GPU_LIMITS.maxTopK, 1)], shape).readAll, false);
  });

  it('an empty batch still has bindable buffers', () => {
    const plan = planRank([], shape);
    assert.equal(plan.dispatches.length, 0);
    assert.ok(plan.work.length >= 4 && plan.norms.length >= 1);
  });

  it('turns read-back scores into each request\'s rows (all scores, or the host top-K)', () => {
    const reqs = [request([1, 2, 3], 0, 1), request([4, 5], 1, 2)];
    const results = Float32Array.from([0.1, 1, 2, 0, 0.3, 3, 4, 0, 0.2, 5, 6, 0, -0.5, 7, 8, 0, 0.5, 9, 10, 0]);
    const [all, top] = rowsFromResults(results, reqs, Uint32Array.from([0, 3, 5]));
    assert.deepEqual(Array.from(all.index), [0, 1, 2]);
    assert.deepEqual(Array.from(all.cosGlobal), [1, 3, 5]);
    assert.deepEqual(Array.from(top.index), [1]);
    assert.deepEqual(Array.from(top.cosLocal), [10]);
  });
});
