import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CandidateBuffer } from '../../src/cpu/workers/scan-task.js';
import { TopSelector } from '../../src/core/top-k.js';
import { Rng } from '../../src/util/rng.js';

describe('CandidateBuffer (the first pass\'s candidate screen)', () => {
  it('keeps the users, in the order, that offering each to the TopSelector keeps: ties, zeros, NaN, positions out of order', () => {
    const rng = new Rng(3);
    for (const [n, cap, tieStep] of [[20_000, 50, 0], [20_000, 700, 0.05], [5_000, 3, 1], [30_000, 1000, 0], [100, 400, 0]] as const) {
      const scores = Array.from({ length: n }, (_, i) => {
        if (i % 997 === 5) return NaN;
        if (i % 101 === 7) return i % 2 ? 0 : -0;
        const x = rng.normal();
        return tieStep > 0 ? Math.round(x / tieStep) * tieStep : x;
      });
      const positions = scores.map((_, i) => (i * 7919) % 100_003);
      const direct = new TopSelector(cap);
      const screened = new TopSelector(cap);
      const buf = new CandidateBuffer(screened, cap);
      scores.forEach((s, i) => {
        direct.offer(s, positions[i], 0, s / 2);
        buf.offer(Math.fround(s), positions[i], Math.fround(s / 2));
      });
      buf.drain();
      const a = direct.result();
      const b = screened.result();
      assert.deepEqual(Array.from(b.position), Array.from(a.position), `n=${n} cap=${cap} ties ${tieStep}`);
      assert.deepEqual(Array.from(b.score), Array.from(a.score));
      assert.deepEqual(Array.from(b.cosLocal), Array.from(a.cosLocal));
    }
  });
});
