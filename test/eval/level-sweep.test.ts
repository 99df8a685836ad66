/**
 * `ralm eval --level-sweep [--level-policies …]`: one row per level-offset policy, the same weights
 * and clusters; the "off" row serves what `--item-levels off` serves, and a chosen subset runs
 * only the policies named. `--fresh-item-levels off` serves the fresh-candidates protocol's
 * requests without offsets (itemLevels: false): its fresh rows equal the "off" policy's, every
 * other protocol is unchanged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evalRecommend } from '../../src/eval/recommend-eval.js';
import { LEVEL_SWEEP } from '../../src/eval/defaults.js';

describe('ralm eval: a level-policy sweep', () => {
  const base = {
    data: { kind: 'synthetic' as const, synthetic: { seed: 1, users: 200, items: 60 } },
    methods: ['RALM (untrained)' as const], maxUsers: 60, minTrainClicks: 5, seedCounts: [1], newItemsMax: 10, freshWindowMs: 168 * 3_600_000, seeds: [1],
    stage1: { m: 8, hidden: [16, 8], epochs: 1 }, stage2: { h: 8, k: 3, popularityPrior: 0.1 }, validation: true,
  };

  it('runs only the policies named, and "off" equals the row served without offsets', async () => {
    const named = ['off', 'fading out at 10, look-alike only'];
    assert.ok(named.every((n) => n in LEVEL_SWEEP));
    const r = await evalRecommend({ ...base, levelSweep: true, levelPolicies: named });
    assert.deepEqual(r.runs.map((x) => x.method), ['RALM (untrained)', ...named.map((n) => `RALM (untrained) (levels: ${n})`)]);
    assert.deepEqual(r.fresh.runs.map((x) => x.method), r.runs.map((x) => x.method));
    const off = await evalRecommend({ ...base, itemLevels: false });
    const strip = (m: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'msPerUser'));
    assert.deepEqual(strip(r.runs[1].metrics), strip(off.runs[0].metrics));
    assert.deepEqual(r.fresh.runs[1].metrics, off.fresh.runs[0].metrics);
    const newItem = (res: typeof r, method: string): number | undefined => res.newItems[0].auc[method]?.mean;
    assert.equal(newItem(r, 'RALM (untrained) (levels: off)'), newItem(off, 'RALM (untrained)'));
  });

  it('fresh requests without offsets: the fresh rows of publishing none, the other protocols as served', async () => {
    const served = await evalRecommend(base);
    const feed = await evalRecommend({ ...base, freshItemLevels: false });
    const off = await evalRecommend({ ...base, itemLevels: false });
    const strip = (m: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'msPerUser'));
    assert.deepEqual(feed.fresh.runs[0].metrics, off.fresh.runs[0].metrics);
    assert.notDeepEqual(feed.fresh.runs[0].metrics, served.fresh.runs[0].metrics, 'the offsets change this fresh protocol: the switch is not a no-op');
    assert.deepEqual(strip(feed.runs[0].metrics), strip(served.runs[0].metrics));
    assert.equal(feed.newItems[0].auc['RALM (untrained)']?.mean, served.newItems[0].auc['RALM (untrained)']?.mean);
    assert.equal(feed.settings.freshItemLevels, false);
    assert.equal(served.settings.freshItemLevels, true);
  });
});
