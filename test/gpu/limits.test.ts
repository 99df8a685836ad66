import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkModelFits, GPU_LIMITS } from '../../src/gpu/limits.js';

describe('GPU limits', () => {
  it('keep the top-K passes finite and the tile one workgroup of 4-element lanes', () => {
    const { topKTile, maxTopK, workgroupSize } = GPU_LIMITS;
    assert.equal(topKTile & (topKTile - 1), 0, 'the bitonic network needs a power-of-two tile');
    assert.ok(maxTopK <= topKTile / 2, 'every select pass must at least halve a long list');
    assert.equal(workgroupSize.topK * 4, topKTile);
    assert.equal(GPU_LIMITS.maxH % 4, 0);
  });

  it('refuse a model past the compiled bounds, naming the bound', () => {
    assert.doesNotThrow(() => checkModelFits({ h: GPU_LIMITS.maxH, k: GPU_LIMITS.maxK }));
    assert.throws(() => checkModelFits({ h: GPU_LIMITS.maxH + 1, k: 4 }), (e: Error & { code?: string }) => e.code === 'RALM_ERR_BACKEND_UNAVAILABLE' && /h <= 256/.test(e.message));
    assert.throws(() => checkModelFits({ h: 8, k: 200 }), /k <= 128, the model has k = 200/);
  });
});
