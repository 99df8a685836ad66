/**
 * What the per-item additive slot's parity tests share (engine/prior-parity and level-parity):
 * a model with a given popularity prior, the reference's score of an item as stored (f32, f16 or
 * int8 rounding) plus its prior and offset, and engines opened on one target and closed, with no
 * uncaught WebGPU error, when the suite ends.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import type { Target } from './fixtures.js';
import { referenceGlobal, referenceScore } from '../../src/model/reference.js';
import type { RalmModel } from '../../src/model/model.js';
import { RalmEngine, type EngineOptions, type ItemCentroids } from '../../src/engine/engine.js';
import { floatToHalfBits, halfBitsToFloat } from '../../src/util/half.js';
import { roundRowsInt8 } from '../../src/core/quantize.js';

export function withPrior(model: RalmModel, lambda: number | undefined): RalmModel {
  return { ...model, manifest: { ...model.manifest, popularityPrior: lambda } };
}

/** The reference's score of each item for `e`, its centroids rounded as `storage` stores them: blend + λ·prior + offset. */
export function expectedScores(model: RalmModel, lambda: number, e: ArrayLike<number>, items: readonly ItemCentroids[], storage: 'f32' | 'f16' | 'int8' = 'f32'): number[] {
  const h = model.manifest.h;
  return items.map((it) => {
    let c = Array.from(it.centroids, (v) => (storage === 'f16' ? halfBitsToFloat(floatToHalfBits(v)) : Math.fround(v)));
    const n = c.length / h;
    if (storage === 'int8') {
      const rows = Float32Array.from(c);
      roundRowsInt8(rows, n, h);
      c = Array.from(rows);
    }
    return referenceScore(model, e, c, n, referenceGlobal(model, c, n), it.clickers ?? 0, lambda).score + (it.offset ?? 0);
  });
}

/** Call inside a `describe`: opens engines on `target` (asserting its backend) and closes them after the suite. */
export function enginesOn(target: Target): (model: RalmModel, extra?: EngineOptions) => Promise<RalmEngine> {
  const opened: RalmEngine[] = [];
  after(async () => {
    for (const e of opened) {
      assert.deepEqual(e.gpuErrors, [], 'WebGPU raised errors no scope caught');
      await e.close();
    }
  });
  return async (model, extra = {}) => {
    const e = await RalmEngine.create(model, { recoverDevice: false, ...target.options, ...extra });
    opened.push(e);
    assert.equal(e.backendKind, target.options.backend);
    return e;
  };
}
