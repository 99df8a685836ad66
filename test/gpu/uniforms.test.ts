import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { packUniforms, uniformLayout } from '../../src/gpu/uniforms.js';
import { dispatchSize, scoreProgram, topKSelectProgram } from '../../src/gpu/programs.js';
import { resolveScorer } from '../../src/gpu/gpu-backend.js';
import { RalmEngine } from '../../src/engine/engine.js';
import { smallModel } from '../helpers/fixtures.js';

describe('uniform packer', () => {
  it('follows WGSL alignment: vec4 aligns to 16, vec2 to 8, size rounds to 16', () => {
    const l = uniformLayout([
      { name: 'a', type: 'u32' },
      { name: 'b', type: 'vec4<f32>' },
      { name: 'c', type: 'f32' },
      { name: 'd', type: 'vec2<u32>' },
      { name: 'e', type: 'vec3<f32>' },
      { name: 'f', type: 'f32' },
    ]);
    assert.deepEqual(l.fields.map((f) => f.offset), [0, 16, 32, 40, 48, 60]);
    assert.equal(l.size, 64);
    assert.equal(uniformLayout([{ name: 'x', type: 'u32' }]).size, 16);
  });

  it('writes little-endian values at their offsets', () => {
    const l = uniformLayout([{ name: 'n', type: 'u32' }, { name: 'x', type: 'f32' }, { name: 'i', type: 'i32' }, { name: 'v', type: 'vec4<u32>' }]);
    const v = new DataView(packUniforms(l, { n: 7, x: 0.5, i: -3, v: [1, 2, 3, 4] }));
    assert.equal(v.getUint32(0, true), 7);
    assert.equal(v.getFloat32(4, true), 0.5);
    assert.equal(v.getInt32(8, true), -3);
    assert.equal(v.getUint32(28, true), 4);
  });

  it('refuses missing fields, wrong arity and out-of-range u32', () => {
    const l = uniformLayout([{ name: 'n', type: 'u32' }, { name: 'v', type: 'vec2<f32>' }]);
    assert.throws(() => packUniforms(l, { v: [1, 2] }), /"n" has no value/);
    assert.throws(() => packUniforms(l, { n: 1, v: [1] }), /needs 2 values, got 1/);
    assert.throws(() => packUniforms(l, { n: -1, v: [1, 2] }), /needs a u32, got -1/);
  });

  it('kernel uniform structs match the WGSL declarations', () => {
    assert.equal(scoreProgram(false).uniforms.size, 32);
    assert.equal(topKSelectProgram.uniforms.size, 16);
    assert.notEqual(scoreProgram(true).cacheKey, scoreProgram(false).cacheKey);
    // int8 storage: its own pipeline, the codes unpacked in the shader, the scales' offset a uniform.
    const i8 = scoreProgram(false, 'cooperative', true);
    assert.deepEqual(i8.constants, { F16_CENTROIDS: 0, I8_CENTROIDS: 1 });
    assert.notEqual(i8.cacheKey, scoreProgram(false, 'cooperative').cacheKey);
    assert.ok(i8.uniforms.fields.some((f) => f.name === 'i8_scales'));
  });
});

describe('dispatch size', () => {
  it('rounds up and folds into 2-D past the per-dimension limit', () => {
    assert.deepEqual(dispatchSize(0, 64, 65535), [1, 1]);
    assert.deepEqual(dispatchSize(65, 64, 65535), [2, 1]);
    assert.deepEqual(dispatchSize(64 * 65535, 64, 65535), [65535, 1]);
    const [x, y] = dispatchSize(64 * 65536, 64, 65535);
    assert.ok(x <= 65535 && y === 2 && x * y >= 65536);
    const [x2, y2] = dispatchSize(10_000_000, 1, 100);
    assert.ok(x2 <= 100 && y2 <= 100 * 1000 && x2 * y2 >= 10_000_000);
  });
});

describe('scorer choice', () => {
  it('auto picks the cooperative scorer on hardware and the per-item one on a software adapter; a choice is kept', () => {
    assert.equal(resolveScorer('auto', false), 'cooperative');
    assert.equal(resolveScorer(undefined, true), 'per-item');
    assert.equal(resolveScorer('cooperative', true), 'cooperative');
    assert.equal(resolveScorer('per-item', false), 'per-item');
  });

  it('the cooperative program is its own pipeline: one workgroup per work item, same uniforms and bindings', () => {
    const coop = scoreProgram(false, 'cooperative');
    const plain = scoreProgram(false);
    assert.equal(coop.shaderFile, 'score-coop.wgsl');
    assert.equal(coop.unitsPerWorkgroup, 1);
    assert.notEqual(coop.cacheKey, plain.cacheKey);
    assert.deepEqual(coop.bindings, plain.bindings);
    assert.equal(coop.uniforms.size, plain.uniforms.size);
  });

  it('an unknown gpuScorer is a validation error naming the field', async () => {
    await assert.rejects(RalmEngine.create(smallModel(), { backend: 'cpu', gpuScorer: 'fast' as never }), /gpuScorer: expected "auto", "cooperative" or "per-item", got "fast"/);
  });
});
