/** The popularity prior's formula and its manifest field: written, read back, absent, refused when bad. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, MANIFEST_FILE } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { popularityPrior } from '../../src/model/prior.js';
import { RalmEngine } from '../../src/engine/engine.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-prior-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function manifestOf(lambda: number | undefined): Parameters<typeof saveModel>[1] {
  const m = randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 3 });
  const { format: _f, formatVersion: _v, weightsSha256: _s, popularityPrior: _p, ...manifest } = m.manifest;
  void _f; void _v; void _s; void _p;
  return lambda === undefined ? manifest : { ...manifest, popularityPrior: lambda };
}

describe('popularity prior', () => {
  it('is λ · ln(1 + c) in float32, 0 for an unknown count', () => {
    assert.equal(popularityPrior(0.1, 0), 0);
    assert.equal(popularityPrior(0.1, 99), Math.fround(0.1 * Math.log(100)));
    assert.equal(popularityPrior(0, 1e6), 0);
    assert.equal(popularityPrior(-0.5, Math.E - 1), Math.fround(-0.5));
  });

  it('round-trips through the manifest; a manifest without it reads as 0 and serves the old scores', async () => {
    const weights = randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 3 }).weights;
    await withDir(async (dir) => {
      await saveModel(dir, manifestOf(0.2), weights);
      const model = await loadModel(dir);
      assert.equal(model.manifest.popularityPrior, 0.2);
      const engine = await RalmEngine.create(model, { backend: 'cpu' });
      assert.equal(engine.table.popularityPrior, 0.2);
      await engine.close();
    });
    await withDir(async (dir) => {
      await saveModel(dir, manifestOf(undefined), weights);
      assert.ok(!('popularityPrior' in JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'))));
      const model = await loadModel(dir);
      assert.equal(model.manifest.popularityPrior, undefined);
      const engine = await RalmEngine.create(model, { backend: 'cpu' });
      assert.equal(engine.table.popularityPrior, 0);
      assert.equal(engine.table.priors, null, 'λ = 0: no prior pass at all');
      await engine.close();
      // The serving override applies to a model without the field too.
      const over = await RalmEngine.create(model, { backend: 'cpu', popularityPrior: 0.05 });
      assert.equal(over.table.popularityPrior, 0.05);
      await over.close();
    });
  });

  it('a manifest with a bad popularityPrior is a coded model-format error naming the field', async () => {
    const weights = randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 3 }).weights;
    for (const bad of ['0.1', null, 11, -20]) {
      await withDir(async (dir) => {
        await saveModel(dir, manifestOf(0.1), weights);
        const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
        manifest.popularityPrior = bad;
        await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
        await assert.rejects(loadModel(dir), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && /^manifest\.popularityPrior: expected a finite number within ±10 \(or absent for 0\)/.test(err.message));
      });
    }
  });
});
