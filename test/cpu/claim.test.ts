/**
 * Work claiming (cpu/workers/claim.ts): chunks of a job's positions are handed out once each,
 * in increasing order, segment by segment, and a job reads done only when every position is.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { claimChunk, claimState, failClaim, newClaim, runClaimed } from '../../src/cpu/workers/claim.js';

describe('work claiming', () => {
  it('two claimers interleaved take every position of every segment exactly once', () => {
    const segments = [{ page: 0, from: 0, count: 70 }, { page: 2, from: 70, count: 5 }, { page: 1, from: 75, count: 48 }];
    const total = 123;
    const claim = newClaim();
    const seen = new Uint8Array(total);
    const pageOf = new Int32Array(total).fill(-1);
    const mark = (page: number, from: number, count: number): void => {
      for (let i = from; i < from + count; i++) {
        seen[i]++;
        pageOf[i] = page;
      }
    };
    const takenA: number[] = [];
    const takenB: number[] = [];
    let turn = 0;
    assert.deepEqual(claimState(claim, total), { waitOn: 0 });
    // Claimer B runs inside A's second chunk: a second thread's claims between A's.
    runClaimed(claim, 16, total, segments, (page, from, count) => {
      mark(page, from, count);
      if (turn++ === 1) runClaimed(claim, 16, total, segments, mark, takenB);
    }, takenA);
    assert.deepEqual([...seen], new Array<number>(total).fill(1));
    for (const s of segments) for (let i = s.from; i < s.from + s.count; i++) assert.equal(pageOf[i], s.page);
    // Each claimer's chunks are in increasing order and 16 long but for the last.
    for (const taken of [takenA, takenB]) {
      for (let t = 2; t < taken.length; t += 2) assert.ok(taken[t] > taken[t - 2]);
      for (let t = 0; t < taken.length; t += 2) assert.equal(taken[t + 1] - taken[t], Math.min(16, total - taken[t]));
    }
    assert.ok(takenA.length > 0 && takenB.length > 0);
    assert.deepEqual(claimState(claim, total), { done: true });
    // A late claimer finds nothing left.
    let late = 0;
    runClaimed(claim, 16, total, segments, () => late++);
    assert.equal(late, 0);
  });

  it('a failed claimer marks the job failed', () => {
    const claim = newClaim();
    assert.throws(() => runClaimed(claim, 8, 20, [{ page: 0, from: 0, count: 20 }], () => {
      throw new Error('kernel');
    }));
    assert.deepEqual(claimState(claim, 20), { waitOn: 0 });
    failClaim(claim);
    assert.deepEqual(claimState(claim, 20), { failed: true });
  });

  it('chunks carry about the same work whatever the batch, and never fewer than the minimum', () => {
    assert.equal(claimChunk(1, 20, 128, 1 << 20, 128), 409);
    assert.equal(claimChunk(4, 20, 128, 1 << 20, 128), 128);
    assert.equal(claimChunk(16, 20, 128, 1 << 20, 128), 128);
    assert.equal(claimChunk(1, 5, 64, 1 << 20, 128), 3276);
  });
});
