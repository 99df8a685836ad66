import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { cutAtShare, lowerBound } from '../../src/data/split.js';
import { clickSvd, toCsr } from '../../src/train/click-factors.js';
import { clickFactorInit, historyColumn } from '../../src/train/history.js';
import { syntheticLog } from '../../src/data/synthetic.js';

const ds = generateSynthetic({ users: 200, items: 60, topics: 4, days: 6, clicksPerUser: 15, seed: 5 }).dataset;
const trainEnd = lowerBound(ds.clicks.ts, cutAtShare(ds, 0.7));

describe('click history field', () => {
  it('holds each user\'s latest distinct clicked items before the cut, newest first, at most max', () => {
    const h = historyColumn(ds, trainEnd, 5);
    assert.equal(h.name, 'history');
    assert.equal(h.vocab, ds.items, 'its values are the dataset\'s item ids');
    for (let u = 0; u < ds.users.size; u++) {
      const want: number[] = [];
      for (let j = trainEnd - 1; j >= 0 && want.length < 5; j--) {
        if (ds.clicks.user[j] === u && ds.clicks.label[j] && !want.includes(ds.clicks.item[j])) want.push(ds.clicks.item[j]);
      }
      assert.deepEqual(Array.from(h.ids.subarray(h.offsets[u], h.offsets[u + 1])), want, `user ${u}`);
    }
    assert.throws(() => historyColumn(ds, trainEnd, 0), /history: expected a positive number/);
  });
});

describe('click factors', () => {
  it('a user\'s U Σ row is the sum of the V rows of the items they clicked (the fold-in)', () => {
    const log = syntheticLog({ users: 300, items: 50, topics: 4, seed: 2 });
    const a = toCsr(log.userIds.length, log.itemIds.length, log.user, log.item);
    const r = 8;
    const svd = clickSvd(a, { rank: r, seed: 1, powerIterations: 4 });
    for (let t = 1; t < r; t++) assert.ok(svd.sigma[t] <= svd.sigma[t - 1] + 1e-9, 'singular values descend');
    let worst = 1;
    for (let u = 0; u < a.rows; u++) {
      const fold = new Float64Array(r);
      for (let p = a.ptr[u]; p < a.ptr[u + 1]; p++) for (let t = 0; t < r; t++) fold[t] += svd.items[a.idx[p] * r + t];
      let dot = 0;
      let n1 = 0;
      let n2 = 0;
      for (let t = 0; t < r; t++) {
        dot += fold[t] * svd.users[u * r + t];
        n1 += fold[t] ** 2;
        n2 += svd.users[u * r + t] ** 2;
      }
      if (n1 > 0 && n2 > 0) worst = Math.min(worst, dot / Math.sqrt(n1 * n2));
    }
    assert.ok(worst > 0.9, `cosine of fold-in and U Σ row, worst user: ${worst}`);
  });

  it('scales item rows so a pooled history has unit root-mean-square length', () => {
    const u: number[] = [];
    const i: number[] = [];
    for (let j = 0; j < trainEnd; j++) if (ds.clicks.label[j]) { u.push(ds.clicks.user[j]); i.push(ds.clicks.item[j]); }
    const m = 6;
    const v = clickFactorInit(ds.users.size, ds.items.size, { user: u, item: i }, m, 1);
    assert.equal(v.length, ds.items.size * m);
    const a = toCsr(ds.users.size, ds.items.size, u, i);
    let ss = 0;
    let n = 0;
    for (let r = 0; r < a.rows; r++) {
      const len = a.ptr[r + 1] - a.ptr[r];
      if (len === 0) continue;
      const pooled = new Float64Array(m);
      for (let p = a.ptr[r]; p < a.ptr[r + 1]; p++) for (let t = 0; t < m; t++) pooled[t] += v[a.idx[p] * m + t] / len;
      ss += pooled.reduce((s, x) => s + x * x, 0);
      n++;
    }
    assert.ok(Math.abs(Math.sqrt(ss / n) - 1) < 1e-4);
  });
});
