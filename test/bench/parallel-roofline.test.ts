import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ParallelRooflineProbe, PARALLEL_ROOFLINE_MAX_BYTES, splitShares } from '../../bench/parallel-roofline.js';

describe('the all-threads memory-read roofline', () => {
  it('splits the bytes into contiguous shares, one a thread, across 1 GiB pieces', () => {
    const gib = 2 ** 30;
    const shares = splitShares(3 * gib, 2);
    assert.equal(shares.length, 2);
    assert.deepEqual(shares[0], [{ chunk: 0, start: 0, end: gib }, { chunk: 1, start: 0, end: gib / 2 }]);
    assert.deepEqual(shares[1], [{ chunk: 1, start: gib / 2, end: gib }, { chunk: 2, start: 0, end: gib }]);
    const one = splitShares(10 * 1024, 3);
    const total = one.flat().reduce((a, s) => a + s.end - s.start, 0);
    assert.equal(total, 10 * 1024, 'every byte in exactly one share');
    for (const s of one.flat()) assert.equal(s.start % 1024, 0);
  });

  it('reads every byte once a run, on every thread, and times each run', async () => {
    const bytes = 8 * 2 ** 20;
    for (const threads of [1, 2, 3]) {
      const probe = new ParallelRooflineProbe(threads);
      try {
        const t = await probe.time(bytes, { minRuns: 5, minMs: 0 });
        assert.ok(t.medianMs > 0 && Number.isFinite(t.medianMs));
        const { bytes: scanned, found } = probe.scanned;
        assert.equal(found, false);
        // The warm-up's two runs and the timed runs, each reading every byte once.
        assert.equal(scanned, (t.runs + 2) * bytes, `${threads} threads`);
        // A second size replaces the workers and the buffers.
        const t2 = await probe.time(bytes / 2, { minRuns: 3, minMs: 0 });
        assert.equal(probe.scanned.bytes, (t2.runs + 2) * (bytes / 2));
      } finally {
        await probe.release();
      }
    }
  });

  it('measures nothing above its size limit rather than holding a second copy of huge tables', async () => {
    const probe = new ParallelRooflineProbe(2);
    assert.equal(await probe.timeUpTo(PARALLEL_ROOFLINE_MAX_BYTES + 1), null);
    await probe.release();
  });
});
