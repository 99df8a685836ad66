import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planGlobalAttention, planTransform } from '../../../src/gpu/kernels/attention.js';

describe('attention planners', () => {
  it('global attention: one invocation per item, [items, h] globals and a norm per item', () => {
    const plan = planGlobalAttention(67, { h: 16, k: 5, attentionSize: 8 });
    assert.deepEqual(plan, { params: { item_count: 67, k: 5, h: 16, s: 8 }, invocations: 67, globalsBytes: 67 * 16 * 4, normsBytes: 67 * 4 });
  });

  it('transform: one invocation per output element', () => {
    const plan = planTransform(101, { h: 16, m: 12 });
    assert.deepEqual(plan, { params: { count: 101, m: 12, h: 16, _pad: 0 }, invocations: 101 * 16, inputFloats: 101 * 12, outputBytes: 101 * 16 * 4 });
  });
});
