import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RalmEngine } from '../../src/engine/engine.js';
import { UserTable, type UserStorage } from '../../src/core/user-table.js';
import { prepareSeedSet } from '../../src/core/seed-set.js';
import type { ScanHits, ScanSet } from '../../src/core/scan.js';
import { TopSelector, mergeRanked } from '../../src/core/top-k.js';
import { TimeSlicer } from '../../src/util/time-slice.js';
import { referenceGlobal, referenceScore } from '../../src/model/reference.js';
import type { RalmModel } from '../../src/model/model.js';
import { Rng } from '../../src/util/rng.js';
import { close, smallModel, targetsUnderTest } from '../helpers/fixtures.js';

interface World {
  model: RalmModel;
  table: UserTable;
  ids: string[];
  sets: Array<{ centroids: Float32Array; count: number; global: Float32Array }>;
}

/** Users in a multi-page table (some updated, so dead rows exist; one with a zero embedding) and two seed sets. */
function world(n = 2500, storage: UserStorage = 'f32'): World {
  const model = smallModel({ seed: 21 });
  const { h } = model.manifest;
  const rng = new Rng(4);
  const table = new UserTable({ h, maxCentroids: model.manifest.k, rowsPerPage: 700, storage });
  const ids = Array.from({ length: n }, (_, i) => `u${i}`);
  const e = rng.normals(n * h, 0.5);
  e.fill(0, 7 * h, 8 * h); // u7: zero embedding, every cosine 0
  table.upsert(ids, e);
  // Re-embed 100 users: their old rows become dead and must never be returned.
  table.upsert(ids.slice(100, 200), rng.normals(100 * h, 0.5));
  const sets = [4, 1].map((count) => {
    const centroids = rng.normals(count * h, 0.6);
    return { centroids, count, global: Float32Array.from(referenceGlobal(model, centroids, count)) };
  });
  return { model, table, ids, sets };
}

/** Reference top-N: every live user (or the pool) scored with the ml-matrix oracle. */
function expected(w: World, s: number, ids: readonly string[], topN: number, threshold = -Infinity, skip = new Set<string>()): Array<{ id: string; score: number }> {
  const set = w.sets[s];
  return ids
    .filter((id) => !skip.has(id))
    .map((id) => ({ id, score: referenceScore(w.model, w.table.embedding(id) as Float32Array, set.centroids, set.count, set.global).score }))
    .filter((r) => r.score >= threshold)
    .sort((a, b) => b.score - a.score)
    .slice(0, topN);
}

/** The scan's ids match the reference's, allowing order swaps between near-equal scores. */
function assertSameTop(got: Array<{ id: string; score: number }>, want: Array<{ id: string; score: number }>, what: string, abs = 2e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(close(got[i].score, want[i].score, abs, 1e-4), `${what}[${i}]: score ${got[i].score}, expected ${want[i].score}`);
    if (got[i].id !== want[i].id) {
      const ref = want.find((r) => r.id === got[i].id);
      assert.ok(ref && close(ref.score, got[i].score, abs, 1e-4), `${what}[${i}]: ${got[i].id} is not among the expected users`);
    }
  }
}

function hitsToUsers(h: ScanHits, idOf: (p: number) => string): Array<{ id: string; score: number }> {
  return Array.from(h.position, (p, i) => ({ id: idOf(p), score: h.score[i] }));
}

describe('TopSelector', () => {
  it('keeps the best N by score, then lower position, at or above the threshold', () => {
    const rng = new Rng(9);
    const scores = Array.from({ length: 5000 }, () => Math.round(rng.normal() * 20) / 20); // many ties
    for (const [n, t] of [[1, -Infinity], [37, -Infinity], [6000, -Infinity], [100, 0.5], [0, -Infinity]] as const) {
      const sel = new TopSelector(n, t);
      scores.forEach((s, p) => sel.offer(s, p, s / 2, s / 3));
      const want = scores.map((s, p) => ({ s, p })).filter((x) => x.s >= t).sort((a, b) => b.s - a.s || a.p - b.p).slice(0, n);
      const got = sel.result();
      assert.deepEqual(Array.from(got.position), want.map((x) => x.p), `n=${n} t=${t}`);
      assert.deepEqual(Array.from(got.cosGlobal), want.map((x) => Math.fround(x.s / 2)));
    }
  });

  it('merging partial results equals selecting over everything', async () => {
    const rng = new Rng(10);
    const scores = Array.from({ length: 3000 }, () => rng.normal());
    const parts = [0, 1, 2].map((k) => {
      const sel = new TopSelector(50, -Infinity);
      scores.forEach((s, p) => p % 3 === k && sel.offer(s, p, 0, 0));
      return sel.result();
    });
    const all = new TopSelector(50, -Infinity);
    scores.forEach((s, p) => all.offer(s, p, 0, 0));
    assert.deepEqual(Array.from((await mergeRanked(parts, 50)).position), Array.from(all.result().position));
  });

  it('orders large sets (the radix path) exactly as the rule says: negatives, zeros of both signs, infinities, ties', () => {
    const rng = new Rng(11);
    const special = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38];
    const scores = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? special[i % special.length] : Math.round(rng.normal() * 50) / 50));
    const sel = new TopSelector(15_000);
    const positions = scores.map((_, i) => (i * 7919) % 100_003); // distinct, out of order, some above 65,535
    scores.forEach((x, i) => sel.offer(x, positions[i]));
    const want = scores.map((x, i) => ({ s: Math.fround(x) + 0, p: positions[i] })).sort((a, b) => b.s - a.s || a.p - b.p).slice(0, 15_000);
    const got = sel.result();
    assert.deepEqual(Array.from(got.position), want.map((x) => x.p));
    assert.deepEqual(Array.from(got.score), want.map((x) => x.s));
  });

  it('merges large sorted runs in time slices, letting other callbacks run in between', async () => {
    const rng = new Rng(12);
    const parts = [0, 1].map((k) => {
      const sel = new TopSelector(200_000);
      for (let p = k; p < 400_000; p += 2) sel.offer(rng.normal(), p, 0, 0);
      return sel.result();
    });
    let ranBetween = false;
    setImmediate(() => (ranBetween = true));
    const merged = await mergeRanked(parts, 300_000, new TimeSlicer(0));
    assert.ok(ranBetween, 'no callback ran during the merge');
    assert.equal(merged.position.length, 300_000);
    for (let i = 1; i < merged.score.length; i++) {
      assert.ok(merged.score[i - 1] > merged.score[i] || (merged.score[i - 1] === merged.score[i] && merged.position[i - 1] < merged.position[i]), `out of order at ${i}`);
    }
  });
});

for (const target of await targetsUnderTest()) {
  describe(`user scan on ${target.label}`, () => {
    const w = world();
    const { alpha, beta } = w.model.manifest;
    const prepared = w.sets.map((s) => prepareSeedSet(w.model, s.centroids, s.count, s.global));

    it('scores every live user against several seed sets in one scan, as the reference does', async () => {
      const engine = await RalmEngine.create(w.model, { recoverDevice: false, ...target.options });
      try {
        const snapshot = w.table.acquire();
        const skip = new Uint32Array(Math.ceil(snapshot.rowCount / 32));
        const excluded = ['u1', 'u2', 'u150', 'u2499'];
        for (const id of excluded) {
          const r = w.table.rowOf(id) as number;
          skip[r >>> 5] |= 1 << (r & 31);
        }
        const progress: number[] = [];
        const sets: ScanSet[] = [
          { set: prepared[0], skip, topN: 25, threshold: -Infinity },
          { set: prepared[1], topN: 700, threshold: -Infinity }, // above the GPU's top-K limit: host selection
        ];
        const { hits, backend } = await engine.scanUsers({ table: w.table, snapshot, sets, alpha, beta, onProgress: (d) => progress.push(d) });
        snapshot.release();
        assert.equal(backend, target.options.backend);
        assertSameTop(hitsToUsers(hits[0], snapshot.idOf), expected(w, 0, w.ids, 25, -Infinity, new Set(excluded)), 'set 0');
        assertSameTop(hitsToUsers(hits[1], snapshot.idOf), expected(w, 1, w.ids, 700), 'set 1');
        assert.ok(progress.length > 0 && progress.every((d, i) => i === 0 || d >= progress[i - 1]), 'progress grows');
        assert.equal(progress.at(-1), snapshot.rowCount * 2);
        // Dead rows (the 100 re-embedded users' old rows) are never returned: ids are unique.
        assert.equal(new Set(hitsToUsers(hits[1], snapshot.idOf).map((u) => u.id)).size, 700);
      } finally {
        await engine.close();
      }
    });

    it('scores an explicit pool (positions are pool indices) with a threshold', async () => {
      const engine = await RalmEngine.create(w.model, { recoverDevice: false, ...target.options });
      try {
        const poolIds = ['u7', ...w.ids.filter((_, i) => i % 3 === 0).reverse()];
        const snapshot = w.table.acquire();
        const pool = Uint32Array.from(poolIds, (id) => w.table.rowOf(id) as number);
        const want = expected(w, 0, poolIds, 40, 0.05);
        const { hits } = await engine.scanUsers({ table: w.table, snapshot, pool, sets: [{ set: prepared[0], topN: 40, threshold: 0.05 }], alpha, beta });
        snapshot.release();
        assertSameTop(hitsToUsers(hits[0], (p) => poolIds[p]), want, 'pool');
        assert.ok(hits[0].score.every((s) => s >= 0.05));
        // The zero-embedding user scores exactly 0 (never NaN).
        const { hits: z } = await engine.scanUsers({ table: w.table, snapshot: w.table.acquire(), pool: Uint32Array.of(w.table.rowOf('u7') as number), sets: [{ set: prepared[0], topN: 1, threshold: -Infinity }], alpha, beta });
        assert.deepEqual([z[0].score[0], z[0].cosGlobal[0], z[0].cosLocal[0]], [0, 0, 0]);
      } finally {
        await engine.close();
      }
    });

    it('int8 storage: dense and pool scans score the values the codes stand for like the reference', async () => {
      const w8 = world(2500, 'int8');
      const p8 = w8.sets.map((s) => prepareSeedSet(w8.model, s.centroids, s.count, s.global));
      const engine = await RalmEngine.create(w8.model, { recoverDevice: false, ...target.options });
      try {
        // The stored values are the codes' (embedding() returns them), near the originals.
        assert.ok(close((w8.table.embedding('u3') as Float32Array)[0], (w.table.embedding('u3') as Float32Array)[0], 0.02, 0));
        const snapshot = w8.table.acquire();
        const { hits } = await engine.scanUsers({ table: w8.table, snapshot, sets: [{ set: p8[0], topN: 60, threshold: -Infinity }, { set: p8[1], topN: 30, threshold: -Infinity }], alpha, beta });
        // Tolerance: the seed set's rows are quantized to 16-bit codes on the CPU kernel (a relative
        // step of 2^-15 of each row's largest entry); the rest is float32 rounding.
        assertSameTop(hitsToUsers(hits[0], snapshot.idOf), expected(w8, 0, w8.ids, 60), 'int8 set 0', 1e-4);
        assertSameTop(hitsToUsers(hits[1], snapshot.idOf), expected(w8, 1, w8.ids, 30), 'int8 set 1', 1e-4);
        const poolIds = ['u7', ...w8.ids.filter((_, i) => i % 5 === 0).reverse()];
        const pool = Uint32Array.from(poolIds, (id) => w8.table.rowOf(id) as number);
        const { hits: ph } = await engine.scanUsers({ table: w8.table, snapshot, pool, sets: [{ set: p8[0], topN: 40, threshold: -Infinity }], alpha, beta });
        snapshot.release();
        assertSameTop(hitsToUsers(ph[0], (p) => poolIds[p]), expected(w8, 0, poolIds, 40), 'int8 pool', 1e-4);
      } finally {
        await engine.close();
      }
    });

    it('stops with RALM_ERR_CANCELLED when aborted', async () => {
      const engine = await RalmEngine.create(w.model, { recoverDevice: false, ...target.options });
      try {
        const abort = new AbortController();
        abort.abort();
        const snapshot = w.table.acquire();
        await assert.rejects(
          engine.scanUsers({ table: w.table, snapshot, sets: [{ set: prepared[0], topN: 5, threshold: -Infinity }], alpha, beta, signal: abort.signal }),
          (err: Error & { code?: string }) => err.code === 'RALM_ERR_CANCELLED',
        );
        snapshot.release();
        // The engine still scans afterwards.
        const s2 = w.table.acquire();
        const { hits } = await engine.scanUsers({ table: w.table, snapshot: s2, sets: [{ set: prepared[0], topN: 5, threshold: -Infinity }], alpha, beta });
        s2.release();
        assert.equal(hits[0].position.length, 5);
      } finally {
        await engine.close();
      }
    });
  });
}

describe('user table', () => {
  it('a re-embedded user gets a fresh row; retired rows are reused only when no scan is running', () => {
    const table = new UserTable({ h: 3, maxCentroids: 2, rowsPerPage: 4 });
    table.upsert(['a', 'b'], Float32Array.of(1, 0, 0, 0, 1, 0));
    const snap = table.acquire();
    table.upsert(['a'], Float32Array.of(0, 0, 2));
    assert.equal(table.rowOf('a'), 2, 'a fresh row while a scan runs');
    assert.equal(snap.idOf(0), 'a', 'the scan still maps its rows');
    assert.equal((snap.dead[0] & 1), 0, 'the scan saw row 0 live');
    snap.release();
    table.upsert(['c'], Float32Array.of(0, 3, 0));
    assert.equal(table.rowOf('c'), 0, 'the retired row is reused once no scan runs');
    assert.deepEqual(Array.from(table.embedding('a') as Float32Array), [0, 0, 2]);
    assert.equal(table.pages[0].norms[2], 2);
    assert.equal(table.size, 3);
    assert.equal(table.remove(['b', 'zz']), 1);
    assert.equal(table.has('b'), false);
  });
});
