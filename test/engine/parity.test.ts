/**
 * One numeric suite, run on every backend present (CPU always; WebGPU when an adapter exists,
 * and always in CI through lavapipe), against the straightforward reference implementation.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { targetsUnderTest, smallModel, randomItems, assertClose, close, type Target } from '../helpers/fixtures.js';
import { referenceGlobal, referenceScore, referenceTransform } from '../../src/model/reference.js';
import { type RalmModel } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { RalmEngine, type EngineOptions, type ItemCentroids } from '../../src/engine/engine.js';
import { RalmError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { floatToHalfBits, halfBitsToFloat } from '../../src/util/half.js';
import { roundRowsInt8 } from '../../src/core/quantize.js';

const targets = await targetsUnderTest();

function open(model: RalmModel, target: Target, extra: EngineOptions = {}): Promise<RalmEngine> {
  return RalmEngine.create(model, { recoverDevice: false, ...target.options, ...extra });
}

/** Reference scores for user e against items, computing each global vector with the reference too. */
function expected(model: RalmModel, e: ArrayLike<number>, items: readonly ItemCentroids[], round: boolean | 'int8' = false): { score: number; cosGlobal: number; cosLocal: number }[] {
  const h = model.manifest.h;
  return items.map((it) => {
    let c = Array.from(it.centroids, (v) => (round === true ? halfBitsToFloat(floatToHalfBits(v)) : Math.fround(v)));
    const n = c.length / h;
    if (round === 'int8') {
      const rows = Float32Array.from(c);
      roundRowsInt8(rows, n, h);
      c = Array.from(rows);
    }
    return referenceScore(model, e, c, n, referenceGlobal(model, c, n));
  });
}

function assertNoGpuErrors(engine: RalmEngine): void {
  assert.deepEqual(engine.gpuErrors, [], 'WebGPU raised errors no scope caught');
}

for (const target of targets) {
  const backend = target.options.backend;
  describe(`engine on ${target.label}`, () => {
    const model = smallModel();
    const items = randomItems(model, 3001, 11);
    let engine: RalmEngine;
    before(async () => {
      engine = await open(model, target);
      assert.equal(engine.backendKind, backend);
      if (target.options.gpuScorer) {
        // The engine does not expose its backend; the scorer it resolved is checked through it.
        const gpu = (engine as unknown as { devices: { gpu?: { scorer: string } } }).devices.gpu;
        assert.equal(gpu?.scorer, target.options.gpuScorer);
      }
      await engine.upsertItems(items);
    });
    after(async () => {
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('scores every item like the reference (items with 1..k centroids)', async () => {
      const e = new Rng(5).normals(model.manifest.h);
      const [res] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      const want = expected(model, e, items);
      assertClose(res.scores, want.map((w) => w.score), 'score', 2e-5, 1e-4);
      assertClose(res.cosGlobal, want.map((w) => w.cosGlobal), 'cosGlobal', 2e-5, 1e-4);
      assertClose(res.cosLocal, want.map((w) => w.cosLocal), 'cosLocal', 2e-5, 1e-4);
      assert.equal(res.backend, backend);
    });

    it('accepts a universal embedding and applies the shared transform', async () => {
      const x = new Rng(6).normals(model.manifest.m);
      const e = referenceTransform(model, x);
      const ids = items.slice(0, 40).map((i) => i.id);
      const [byX] = await engine.score([{ user: { universal: x }, items: ids }]);
      const want = expected(model, e, items.slice(0, 40));
      assertClose(byX.scores, want.map((w) => w.score), 'score', 2e-5, 1e-4);
    });

    for (const n of [1, 63, 64, 65, 1000, 1025, 3001]) {
      it(`ranks ${n} candidates (top-10) in the reference order`, async () => {
        const e = new Rng(100 + n).normals(model.manifest.h);
        const cand = items.slice(0, n);
        const [res] = await engine.rank([{ user: { embedding: e }, candidates: cand.map((c) => c.id), k: 10 }]);
        const want = expected(model, e, cand)
          .map((w, i) => ({ ...w, i }))
          .sort((a, b) => b.score - a.score || a.i - b.i)
          .slice(0, 10);
        assert.equal(res.items.length, Math.min(10, n));
        res.items.forEach((got, t) => {
          assert.ok(close(got.score, want[t].score, 2e-5), `rank ${t}: score ${got.score} vs ${want[t].score}`);
          // Near-ties (closer than float32 noise) may legitimately swap.
          if (got.id !== cand[want[t].i].id) assert.ok(Math.abs(want[t].score - (want[t + 1]?.score ?? -9)) < 1e-5 || Math.abs(want[t].score - (want[t - 1]?.score ?? 9)) < 1e-5, `rank ${t}: ${got.id} vs ${cand[want[t].i].id}`);
        });
        assert.equal(res.candidates, n);
      });
    }

    it('top-K over several select passes (K = 512, N = 3001) matches a full sort', async () => {
      const e = new Rng(77).normals(model.manifest.h);
      const [all] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      const order = Array.from(all.scores.keys()).sort((a, b) => all.scores[b] - all.scores[a] || a - b);
      const [res] = await engine.rank([{ user: { embedding: e }, candidates: items.map((i) => i.id), k: 512 }]);
      assert.deepEqual(res.items.map((r) => r.id), order.slice(0, 512).map((i) => items[i].id));
    });

    it('K above the GPU select limit (600) still ranks correctly', async () => {
      const e = new Rng(78).normals(model.manifest.h);
      const ids = items.slice(0, 1500).map((i) => i.id);
      const [all] = await engine.score([{ user: { embedding: e }, items: ids }]);
      const order = Array.from(all.scores.keys()).sort((a, b) => all.scores[b] - all.scores[a] || a - b);
      const [res] = await engine.rank([{ user: { embedding: e }, candidates: ids, k: 600 }]);
      assert.deepEqual(res.items.map((r) => r.id), order.slice(0, 600).map((i) => ids[i]));
    });

    it('K larger than the candidate count returns every candidate', async () => {
      const [res] = await engine.rank([{ user: { embedding: new Rng(9).normals(model.manifest.h) }, candidates: ['item1', 'item2', 'item3'], k: 50 }]);
      assert.equal(res.items.length, 3);
    });

    it('a batch of requests with different candidate counts equals the requests run alone', async () => {
      const rng = new Rng(12);
      const reqs = [1, 100, 1500, 2].map((n, i) => ({ user: { embedding: rng.normals(model.manifest.h) }, candidates: items.slice(i * 7, i * 7 + n).map((c) => c.id), k: 5 }));
      const batched = await engine.rank(reqs);
      for (let i = 0; i < reqs.length; i++) {
        const [alone] = await engine.rank([reqs[i]]);
        assert.deepEqual(batched[i].items, alone.items);
      }
    });

    // Requests sharing a candidate list are scored together (the CPU's batched kernel: groups of
    // four, a remainder of one to three, groups of 16 per call), each like the reference and
    // exactly as when it runs alone.
    for (const B of [3, 6, 21]) {
      it(`a batch of ${B} requests sharing every item as candidates scores each like the reference`, async () => {
        const h = model.manifest.h;
        const rng = new Rng(300 + B);
        const users = Array.from({ length: B }, (_, b) => (b === 1 ? new Float32Array(h) : b === 2 ? rng.normals(h, 1e6) : rng.normals(h)));
        const ids = items.map((i) => i.id);
        const res = await engine.score(users.map((e) => ({ user: { embedding: e }, items: ids })));
        users.forEach((e, b) => {
          const want = expected(model, e, items);
          assertClose(res[b].scores, want.map((w) => w.score), `user ${b}: score`, 2e-5, 1e-4);
          assertClose(res[b].cosGlobal, want.map((w) => w.cosGlobal), `user ${b}: cosGlobal`, 2e-5, 1e-4);
          assertClose(res[b].cosLocal, want.map((w) => w.cosLocal), `user ${b}: cosLocal`, 2e-5, 1e-4);
        });
        // A request's result does not depend on the batch it came in: bit for bit.
        const ranked = await engine.rank(users.map((e) => ({ user: { embedding: e }, k: 10 })));
        for (let b = 0; b < B; b++) {
          const [alone] = await engine.rank([{ user: { embedding: users[b] }, k: 10 }]);
          assert.deepEqual(ranked[b].items, alone.items, `user ${b}`);
        }
      });
    }

    it('ties are broken by candidate position; duplicates rank once and score per position', async () => {
      const h = model.manifest.h;
      const same = new Rng(13).normals(2 * h, 0.5);
      await engine.upsertItems(['tie-a', 'tie-b', 'tie-c'].map((id) => ({ id, centroids: same })));
      const e = new Rng(14).normals(h);
      const [r] = await engine.rank([{ user: { embedding: e }, candidates: ['tie-c', 'tie-a', 'tie-c', 'tie-b'], k: 3 }]);
      assert.deepEqual(r.items.map((x) => x.id), ['tie-c', 'tie-a', 'tie-b']);
      assert.equal(r.items[0].score, r.items[2].score);
      const [s] = await engine.score([{ user: { embedding: e }, items: ['tie-c', 'tie-a', 'tie-c'] }]);
      assert.equal(s.scores.length, 3);
      assert.equal(s.scores[0], s.scores[2]);
    });

    it('exclusions are never returned', async () => {
      const ids = items.slice(0, 200).map((i) => i.id);
      const e = new Rng(15).normals(model.manifest.h);
      const [full] = await engine.rank([{ user: { embedding: e }, candidates: ids, k: 5 }]);
      const [ex] = await engine.rank([{ user: { embedding: e }, candidates: ids, k: 5, exclude: [full.items[0].id] }]);
      assert.ok(!ex.items.some((x) => x.id === full.items[0].id));
      assert.equal(ex.items[0].id, full.items[1].id);
    });

    it('zero vectors give cosine 0, never NaN', async () => {
      const h = model.manifest.h;
      await engine.upsertItems([{ id: 'zero-item', centroids: new Float32Array(h) }, { id: 'half-zero', centroids: Float32Array.from({ length: 2 * h }, (_, i) => (i < h ? 0 : 1)) }]);
      const [zeroUser] = await engine.score([{ user: { embedding: new Float32Array(h) }, items: ['item0', 'zero-item'] }]);
      assert.deepEqual(Array.from(zeroUser.scores), [0, 0]);
      const [zeroItem] = await engine.score([{ user: { embedding: new Rng(16).normals(h) }, items: ['zero-item', 'half-zero'] }]);
      assert.equal(zeroItem.scores[0], 0);
      assert.ok(Number.isFinite(zeroItem.scores[1]));
    });

    it('huge user vectors (local logits far past tanh saturation) stay finite and correct', async () => {
      const e = new Rng(17).normals(model.manifest.h, 1e6);
      const sub = items.slice(0, 50);
      const [r] = await engine.score([{ user: { embedding: e }, items: sub.map((i) => i.id) }]);
      assertClose(r.scores, expected(model, e, sub).map((w) => w.score), 'score', 2e-5, 1e-4);
    });

    it('unknown item ids are an error that names them', async () => {
      await assert.rejects(engine.rank([{ user: { embedding: new Float32Array(model.manifest.h) }, candidates: ['item1', 'nope-1', 'nope-2'], k: 2 }]), (err: RalmError) => {
        assert.equal(err.code, 'RALM_ERR_UNKNOWN_ITEM');
        assert.match(err.message, /"nope-1", "nope-2"/);
        return true;
      });
    });

    it('bad user input is an error naming the field', async () => {
      const h = model.manifest.h;
      await assert.rejects(engine.rank([{ user: { embedding: new Float32Array(h + 1) }, k: 1 }]), /requests\[0\]\.user\.embedding: expected 16 values, got 17/);
      const bad = new Float32Array(h);
      bad[3] = NaN;
      await assert.rejects(engine.rank([{ user: { embedding: bad }, k: 1 }]), (err: RalmError) => err.code === 'RALM_ERR_NON_FINITE' && /embedding\[3\]/.test(err.message));
      await assert.rejects(engine.rank([{ user: { embedding: new Float32Array(h) }, k: 0 }]), /requests\[0\]\.k: expected an integer >= 1/);
      await assert.rejects(engine.rank([{ user: {}, k: 1 }]), /exactly one of "embedding" \(width 16\), "universal" \(width 12\) or "features"/);
      await assert.rejects(engine.upsertItems([{ id: 'x', centroids: new Float32Array(h * 6) }]), /items\[0\]\.centroids: expected 1 to 5 rows of 16 values/);
      await assert.rejects(engine.upsertItems([{ id: '', centroids: new Float32Array(h) }]), /items\[0\]\.id/);
    });

    it('transform matches the reference for a batch', async () => {
      const { m, h } = model.manifest;
      const x = new Rng(18).normals(m * 37);
      const out = await engine.transform(x, 37);
      const want: number[] = [];
      for (let v = 0; v < 37; v++) want.push(...referenceTransform(model, x.subarray(v * m, (v + 1) * m)));
      assertClose(out, want, 'transform', 1e-5, 1e-4);
      assert.equal(out.length, 37 * h);
    });
  });

  describe(`engine on ${target.label}: layout and lifecycle`, () => {
    it('a large request over many pages (parallel CPU path) scores like the reference', async () => {
      const model = smallModel({ seed: 24 });
      const engine = await open(model, target, { slotsPerPage: 97 });
      const items = randomItems(model, 1500, 25);
      await engine.upsertItems(items);
      const e = new Rng(26).normals(model.manifest.h);
      const order = items.filter((_, i) => i % 3 !== 1).reverse();
      const [r] = await engine.score([{ user: { embedding: e }, items: order.map((i) => i.id) }]);
      assertClose(r.scores, expected(model, e, order).map((w) => w.score), 'score', 2e-5, 1e-4);
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('items brought with their global vector skip global attention and score with it', async () => {
      const model = smallModel({ seed: 27 });
      const engine = await open(model, target);
      const [it] = randomItems(model, 1, 28);
      const g = new Rng(29).normals(model.manifest.h);
      await engine.upsertItems([{ ...it, global: g }]);
      const e = new Rng(30).normals(model.manifest.h);
      const c = Array.from(it.centroids, Math.fround);
      const want = referenceScore(model, e, c, c.length / model.manifest.h, g);
      const [r] = await engine.score([{ user: { embedding: e }, items: [it.id] }]);
      assertClose(r.scores, [want.score], 'score', 2e-5, 1e-4);
      await assert.rejects(engine.upsertItems([{ ...it, global: new Float32Array(3) }]), /items\[0\]\.global: expected 16 values, got 3/);
      await engine.close();
    });

    it('opposite centroids that cancel (local vector near zero) give a finite local cosine', async () => {
      const model = smallModel({ seed: 32 });
      const engine = await open(model, target);
      const h = model.manifest.h;
      const c = new Rng(33).normals(h);
      const both = new Float32Array(2 * h);
      both.set(c, 0);
      both.set(c.map((v) => -v), h);
      await engine.upsertItems([{ id: 'cancel', centroids: both }]);
      const e = new Rng(34).normals(h);
      const [r] = await engine.score([{ user: { embedding: e }, items: ['cancel'] }]);
      const want = referenceScore(model, e, Array.from(both), 2, referenceGlobal(model, Array.from(both), 2));
      assert.ok(Number.isFinite(r.cosLocal[0]));
      assertClose(r.cosLocal, [want.cosLocal], 'cosLocal', 1e-4, 1e-3);
      await engine.close();
    });

    it('an item table spanning several pages scores like the reference', async () => {
      const model = smallModel({ seed: 21 });
      const engine = await open(model, target, { slotsPerPage: 7 });
      const items = randomItems(model, 60, 22);
      await engine.upsertItems(items);
      assert.ok(engine.table.pages.length >= 9);
      const e = new Rng(23).normals(model.manifest.h);
      const order = [...items].reverse();
      const [r] = await engine.score([{ user: { embedding: e }, items: order.map((i) => i.id) }]);
      assertClose(r.scores, expected(model, e, order).map((w) => w.score), 'score', 2e-5, 1e-4);
      const [top] = await engine.rank([{ user: { embedding: e }, k: 60 }]);
      assert.equal(top.items.length, 60);
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('h not a multiple of 8 (row padding must not change results) and paper-size models', async () => {
      for (const opts of [{ h: 13, m: 9, k: 3, attentionSize: 5 }, { h: 128, m: 128, k: 20, attentionSize: 64 }]) {
        const model = randomModel({ ...opts, seed: 31 });
        const engine = await open(model, target);
        const items = randomItems(model, 97, 32);
        await engine.upsertItems(items);
        const e = new Rng(33).normals(model.manifest.h);
        const [r] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
        assertClose(r.scores, expected(model, e, items).map((w) => w.score), `score h=${opts.h}`, 2e-5, 1e-4);
        assertNoGpuErrors(engine);
        await engine.close();
      }
    });

    it('global attention with logits that overflow a naive softmax', async () => {
      const base = smallModel({ seed: 41 });
      const model: RalmModel = { ...base, weights: { ...base.weights, globalVector: base.weights.globalVector.map((v) => v * 1e4) } };
      const engine = await open(model, target);
      const items = randomItems(model, 20, 42);
      await engine.upsertItems(items);
      const e = new Rng(43).normals(model.manifest.h);
      const [r] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      assert.ok(r.scores.every(Number.isFinite));
      assertClose(r.cosGlobal, expected(model, e, items).map((w) => w.cosGlobal), 'cosGlobal', 2e-5, 1e-3);
      await engine.close();
    });

    it('f16 centroid storage scores the half-precision values exactly like the reference', async () => {
      const model = smallModel({ seed: 51 });
      const engine = await open(model, target, { storage: 'f16' });
      const items = randomItems(model, 130, 52);
      await engine.upsertItems(items);
      const e = new Rng(53).normals(model.manifest.h);
      const [r] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
      assertClose(r.scores, expected(model, e, items, true).map((w) => w.score), 'score f16', 2e-5, 1e-4);
      // And stays near the float32 scores (the measured effect is reported by `ralm bench kernel`).
      assertClose(r.scores, expected(model, e, items).map((w) => w.score), 'score f16 vs f32', 5e-3, 0);
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('int8 centroid storage scores the values its codes stand for like the reference (16-bit request codes)', async () => {
      const model = smallModel({ seed: 54 });
      const engine = await open(model, target, { storage: 'int8', slotsPerPage: 64 });
      const items = randomItems(model, 130, 55);
      await engine.upsertItems(items);
      for (const seed of [56, 57]) {
        const e = new Rng(seed).normals(model.manifest.h);
        const [r] = await engine.score([{ user: { embedding: e }, items: items.map((i) => i.id) }]);
        // Tolerance: the request's q and e are quantized to 16-bit codes on the CPU kernel (relative
        // step ≤ 2^-15 of their largest entry); the rest is float32 rounding.
        const want = expected(model, e, items, 'int8');
        assertClose(r.scores, want.map((w) => w.score), 'score int8', 1e-4, 1e-3);
        assertClose(r.cosLocal, want.map((w) => w.cosLocal), 'cosLocal int8', 1e-4, 1e-3);
        assertClose(r.cosGlobal, want.map((w) => w.cosGlobal), 'cosGlobal int8', 2e-5, 1e-4);
        // A batch sharing the candidates (the batched integer kernel on the CPU: pairs of requests,
        // an odd one paired with itself, groups of 16) scores each request like the reference
        // and, on the CPU, bit for bit as when it runs alone.
        const ids = items.map((i) => i.id);
        for (const B of [2, 3, 17]) {
          const rng = new Rng(seed * 100 + B);
          const users = Array.from({ length: B }, (_, b) => (b === 0 ? e : b === 1 ? e.map((v) => -v) : rng.normals(model.manifest.h)));
          const batch = await engine.score(users.map((u) => ({ user: { embedding: u }, items: ids })));
          for (let b = 0; b < B; b++) {
            const wantB = b === 0 ? want : expected(model, users[b], items, 'int8');
            assertClose(batch[b].scores, wantB.map((w) => w.score), `score int8, batch of ${B}, request ${b}`, 1e-4, 1e-3);
            assertClose(batch[b].cosLocal, wantB.map((w) => w.cosLocal), `cosLocal int8, batch of ${B}, request ${b}`, 1e-4, 1e-3);
            if (target.options.backend === 'cpu') {
              const [alone] = await engine.score([{ user: { embedding: users[b] }, items: ids }]);
              assert.deepEqual(batch[b].scores, alone.scores, `batch of ${B}, request ${b}: alone and batched differ`);
              assert.deepEqual(batch[b].cosLocal, alone.cosLocal);
            }
          }
        }
        // And stays near the float32 scores (the measured effect on real clusters: `ralm bench quant`).
        assertClose(r.scores, expected(model, e, items).map((w) => w.score), 'score int8 vs f32', 3e-2, 0);
      }
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('int8 storage with several Gram blocks (k = 13) and items of every row count scores like the reference', async () => {
      // kPad 16: the Gram is stored as 10 blocks of 4 × 4, and an item with fewer rows reads only
      // the blocks of its first rows, skipping the rest of each block row.
      const model = smallModel({ k: 13, seed: 58 });
      const engine = await open(model, target, { storage: 'int8', slotsPerPage: 64 });
      const items = randomItems(model, 91, 59);
      await engine.upsertItems(items);
      const ids = items.map((i) => i.id);
      const users = [60, 61, 62].map((seed) => new Rng(seed).normals(model.manifest.h));
      const batch = await engine.score(users.map((u) => ({ user: { embedding: u }, items: ids })));
      for (const [b, u] of users.entries()) {
        const want = expected(model, u, items, 'int8');
        const [alone] = await engine.score([{ user: { embedding: u }, items: ids }]);
        for (const r of [alone, batch[b]]) {
          assertClose(r.scores, want.map((w) => w.score), `score int8 k = 13, request ${b}`, 1e-4, 1e-3);
          assertClose(r.cosLocal, want.map((w) => w.cosLocal), `cosLocal int8 k = 13, request ${b}`, 1e-4, 1e-3);
        }
        if (target.options.backend === 'cpu') assert.deepEqual(batch[b].scores, alone.scores, `k = 13, request ${b}: alone and batched differ`);
      }
      assertNoGpuErrors(engine);
      await engine.close();
    });

    it('an update racing scoring calls: every request sees each item wholly old or wholly new', async () => {
      const model = smallModel({ seed: 61 });
      const engine = await open(model, target, { slotsPerPage: 16 });
      const oldItems = randomItems(model, 40, 62);
      const newItems = randomItems(model, 40, 63);
      await engine.upsertItems(oldItems);
      const e = new Rng(64).normals(model.manifest.h);
      const ids = oldItems.map((i) => i.id);
      const wantOld = expected(model, e, oldItems).map((w) => w.score);
      const wantNew = expected(model, e, newItems).map((w) => w.score);
      let overlapped = 0;
      for (let round = 0; round < 6; round++) {
        const next = round % 2 === 0 ? newItems : oldItems;
        // The update's global attention queues on the device behind the first request; the second
        // request resolves its slots before the update publishes and is still queued on the
        // device when it does: the update must not touch the slots it reads.
        const a = engine.score([{ user: { embedding: e }, items: ids }]);
        const up = engine.upsertItems(next).then(() => (overlapped += engine.table.pendingReclaim > 0 ? 1 : 0));
        await new Promise((r) => setImmediate(r));
        const b = engine.score([{ user: { embedding: e }, items: ids }]);
        await up;
        for (const res of await Promise.all([a, b])) {
          res[0].scores.forEach((s, i) => {
            assert.ok(close(s, wantOld[i], 2e-5) || close(s, wantNew[i], 2e-5), `item ${i}: ${s} is neither ${wantOld[i]} nor ${wantNew[i]}`);
          });
        }
      }
      // The CPU backend scores synchronously, so only an asynchronous device can overlap an update.
      if (backend === 'webgpu') assert.ok(overlapped > 0, 'no request was in flight while an update published');
      // Once nothing pins them, retired slots are reused rather than growing the table.
      assert.equal(engine.table.pendingReclaim, 0);
      assert.ok(engine.table.capacity <= 16 * 6, `capacity ${engine.table.capacity}`);
      await engine.removeItems(['item0']);
      await assert.rejects(engine.score([{ user: { embedding: e }, items: ['item0'] }]), /unknown item id/);
      assertNoGpuErrors(engine);
      await engine.close();
    });
  });
}
