import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateFresh, freshPopularity, freshSlots, type RealTimeLog } from '../../src/eval/fresh-eval.js';

const H = 3_600_000;
/** Clicks (user, item, hour) of a tiny news log: the cut at hour 10, a window of 2 hours. */
function log(rows: Array<[number, number, number]>, cut: number): RealTimeLog {
  rows.sort((a, b) => a[2] - b[2]);
  return {
    user: Uint32Array.from(rows, (r) => r[0]), item: Uint32Array.from(rows, (r) => r[1]), ts: Float64Array.from(rows, (r) => r[2] * H),
    userCut: new Float64Array(6).fill(cut * H), kind: 'global', cut: cut * H,
  };
}

describe('fresh-candidates protocol', () => {
  const rows: Array<[number, number, number]> = [
    [0, 0, 1], [1, 0, 2], [2, 0, 3], // item 0: old (first clicked at hour 1)
    [0, 1, 8.5], [1, 1, 9], [2, 1, 9.5], // item 1: fresh at 10, 3 seeds
    [3, 2, 8.2], [4, 2, 9.1], // item 2: fresh at 10, 2 seeds
    [0, 3, 9.2], [3, 3, 9.3], [4, 3, 9.4], [1, 3, 9.6], // item 3: fresh at 10, 4 seeds
    [3, 1, 10.5], [4, 3, 10.6], [5, 1, 11], [1, 3, 11.5], // requests: user 3 clicks 1; user 4 re-clicks 3; user 5 unknown
    [0, 2, 12.5], // after the first window: the second request time
  ];
  const known = Uint8Array.from([1, 1, 1, 1, 1, 0]);

  it('offers the items first clicked in the window with enough seeds, their real-time seeds, to known users who click one', () => {
    const slots = freshSlots(log(rows.slice(), 10), 6, 4, known, { windowMs: 2 * H, stepMs: 2 * H, minSeeds: 3, maxSeeds: 10, maxRequests: 100, aucNegatives: 10, ks: [1], seed: 1 });
    assert.equal(slots.length, 1);
    const [s] = slots;
    assert.equal(s.time, 10 * H);
    assert.deepEqual(Array.from(s.items), [1, 3], 'item 0 is old, item 2 has 2 seeds');
    assert.deepEqual(s.seeds.map((x) => Array.from(x)), [[0, 1, 2], [0, 3, 4, 1]]);
    assert.deepEqual(Array.from(s.clickers), [3, 4]);
    // User 3 clicks item 1 (position 0); user 4 re-clicks item 3 (a seed already: not a positive); user 1 re-clicks 3; user 5 is unknown.
    assert.deepEqual(s.requests.map((r) => [r.user, Array.from(r.positives), Array.from(r.before)]), [[3, [0], [1]]]);
  });

  it('scores methods per request: popularity ranks by clicks before the request', async () => {
    const extra: Array<[number, number, number]> = [[2, 3, 10.2]];
    const slots = freshSlots(log([...rows, ...extra], 10), 6, 4, known, { windowMs: 2 * H, stepMs: 2 * H, minSeeds: 3, maxSeeds: 10, maxRequests: 100, aucNegatives: 10, ks: [1], seed: 1 });
    // User 2 clicks item 3 (4 clickers, the more popular): popularity ranks it first. User 3 clicks item 1 after having item 3: only item 1 is listed.
    const m = await evaluateFresh(slots, freshPopularity, { aucNegatives: 10, ks: [1], seed: 1 });
    assert.equal(m.requests, 2);
    assert.equal(m['prec@1'], 1);
  });
});
