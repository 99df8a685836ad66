/**
 * The WGSL kernels driven directly (not through the engine), each inside a validation error
 * scope, against the CPU backend.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { webgpuSkipReason, smallModel, assertClose } from '../helpers/fixtures.js';
import { openGpu, withValidationScope, type GpuContext } from '../../src/gpu/device.js';
import { GpuBackend } from '../../src/gpu/gpu-backend.js';
import { CpuBackend } from '../../src/cpu/cpu-backend.js';
import { ItemTable } from '../../src/core/item-table.js';
import { Rng } from '../../src/util/rng.js';
import { randomModel } from '../../src/model/random.js';

const skip = await webgpuSkipReason();

describe('WGSL kernels', { skip }, () => {
  const model = smallModel({ seed: 81 });
  const { h, m, k } = model.manifest;
  let ctx: GpuContext;
  let gpu: GpuBackend;
  const cpu = new CpuBackend(model);
  before(async () => {
    ctx = (await openGpu()) as GpuContext;
    gpu = await GpuBackend.create(ctx, model, { storage: 'f32' });
  });
  after(() => {
    assert.deepEqual(ctx.uncapturedErrors, []);
    gpu.destroy();
  });

  it('transform.wgsl: a batch whose size is not a multiple of the workgroup', async () => {
    const x = new Rng(1).normals(m * 101);
    const got = await withValidationScope(ctx.device, () => gpu.transform(x, 101));
    assertClose(got, await cpu.transform(x, 101), 'transform', 1e-5, 1e-4);
  });

  it('global-attention.wgsl: items with 1..k centroids; rows past the count are ignored', async () => {
    const items = 67;
    const rng = new Rng(2);
    const c = rng.normals(items * k * h);
    const counts = Uint32Array.from({ length: items }, (_, i) => 1 + (i % k));
    const got = await withValidationScope(ctx.device, () => gpu.globalAttention(c, counts));
    const want = await cpu.globalAttention(c, counts);
    assertClose(got.globals, want.globals, 'globals', 1e-5, 1e-4);
    assertClose(got.norms, want.norms, 'norms', 1e-5, 1e-4);
    // Garbage in unused rows must not matter.
    const c2 = c.slice();
    for (let i = 0; i < items; i++) for (let j = counts[i]; j < k; j++) c2.fill(1e9, (i * k + j) * h, (i * k + j + 1) * h);
    const got2 = await withValidationScope(ctx.device, () => gpu.globalAttention(c2, counts));
    assertClose(got2.globals, want.globals, 'globals with garbage padding', 1e-5, 1e-4);
  });

  it('score.wgsl + top-k.wgsl: several requests across pages in one submission', async () => {
    const table = new ItemTable({ h, k, storage: 'f32', slotsPerPage: 50 });
    const rng = new Rng(3);
    const n = 420;
    const { slots } = table.allocate(n);
    const c = rng.normals(k * h);
    slots.forEach((s, i) => {
      const cnt = 1 + (i % k);
      const row = rng.normals(cnt * h);
      table.writeSlot(s, row, cnt, c.subarray(0, h), Math.hypot(...c.subarray(0, h)));
    });
    table.publish(slots.map((s) => `i${s}`), slots);
    gpu.syncSlots(table, slots);
    const req = (topK: number, count: number) => {
      const e = rng.normals(table.stride);
      e.fill(0, h);
      const q = new Float32Array(table.stride);
      for (let o = 0; o < h; o++) for (let i = 0; i < h; i++) q[o] += model.weights.localWeight[o * h + i] * e[i];
      return { slots: Uint32Array.from({ length: count }, (_, i) => slots[(i * 7) % n]), q, e, eNorm: Math.hypot(...e), topK };
    };
    const reqs = [req(5, 420), req(1, 1), req(300, 400), req(0, 0).topK === 0 ? req(7, 33) : req(7, 33)];
    const got = await withValidationScope(ctx.device, () => gpu.run(reqs, table));
    const want = await cpu.run(reqs, table);
    got.forEach((g, i) => {
      assert.deepEqual(Array.from(g.index), Array.from(want[i].index), `request ${i} order`);
      assertClose(g.score, want[i].score, `request ${i} score`, 2e-5, 1e-4);
      assertClose(g.cosLocal, want[i].cosLocal, `request ${i} cosLocal`, 2e-5, 1e-4);
    });
  });

  it('rejects models past the compiled bounds with a clear error', async () => {
    const ctx2 = (await openGpu()) as GpuContext;
    await assert.rejects(GpuBackend.create(ctx2, randomModel({ h: 8, m: 8, k: 200, attentionSize: 4 }), { storage: 'f32' }), /k <= 128/);
    ctx2.destroy();
  });
});
