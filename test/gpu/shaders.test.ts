/**
 * Every kernel compiles on the adapter with the constants its description sets, and its named
 * bindings are exactly what the pipeline's 'auto' layout expects.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { webgpuSkipReason } from '../helpers/fixtures.js';
import { openGpu, withValidationScope, type GpuContext } from '../../src/gpu/device.js';
import { assembleShader, backendPrograms } from '../../src/gpu/programs.js';
import { bindEntries, GpuRuntime, Usage } from '../../src/gpu/runtime.js';

const skip = await webgpuSkipReason();
const programs = [...new Map([...backendPrograms(false), ...backendPrograms(true)].map((p) => [p.cacheKey, p])).values()];

describe('WGSL shaders on the adapter', { skip }, () => {
  let ctx: GpuContext;
  let runtime: GpuRuntime;
  before(async () => {
    ctx = (await openGpu()) as GpuContext;
    runtime = new GpuRuntime(ctx);
  });
  after(() => {
    assert.deepEqual(ctx.uncapturedErrors, []);
    runtime.destroy();
  });

  for (const file of [...new Set(programs.map((p) => p.shaderFile))]) {
    it(`${file} (with common.wgsl and the bounds) compiles without errors or warnings`, async () => {
      const module = ctx.device.createShaderModule({ code: assembleShader(file).code });
      const info = await module.getCompilationInfo();
      assert.deepEqual(info.messages.map((m) => `${m.type} ${m.lineNum}: ${m.message}`), []);
    });
  }

  for (const p of programs) {
    it(`${p.name}: the pipeline builds and binds exactly its named bindings`, async () => {
      const pipeline = await withValidationScope(ctx.device, () => runtime.compile(p));
      const buffers = Object.fromEntries(Object.keys(p.bindings).map((name) => [
        name, runtime.createBuffer(`${p.name} ${name}`, 256, name === 'params' ? Usage.UNIFORM : Usage.STORAGE),
      ]));
      const layout = pipeline.getBindGroupLayout(0);
      await withValidationScope(ctx.device, () => ctx.device.createBindGroup({ layout, entries: bindEntries(p, buffers) }));
      // The check has teeth: one binding too many is a validation error.
      const extra = [...bindEntries(p, buffers), { binding: 15, resource: { buffer: buffers.params } }];
      await assert.rejects(withValidationScope(ctx.device, () => ctx.device.createBindGroup({ layout, entries: extra })), /validation/i);
      for (const b of Object.values(buffers)) runtime.release(b);
    });
  }
});
