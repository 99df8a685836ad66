import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadModel, randomModel, saveModel, MANIFEST_FILE, WEIGHTS_FILE, type ModelWeights } from '../../src/model/model.js';
import { serializeSafetensors } from '../../src/model/safetensors.js';
import { defaultModelDir } from '../../src/paths.js';

async function writeRandom(dir: string, weights?: Partial<ModelWeights>): Promise<void> {
  const m = randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 3 });
  const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = m.manifest;
  await saveModel(dir, manifest, { ...m.weights, ...weights });
}

/** Rewrites the weights file with `tensors` and fixes the manifest checksum, to test tensor validation. */
async function replaceTensors(dir: string, tensors: Record<string, { shape: number[]; data: Float32Array }>): Promise<void> {
  const bytes = serializeSafetensors(tensors);
  await writeFile(join(dir, WEIGHTS_FILE), bytes);
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
  manifest.weightsSha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
}

function goodTensors(): Record<string, { shape: number[]; data: Float32Array }> {
  return {
    'transform.weight': { shape: [8, 6], data: new Float32Array(48) },
    'transform.bias': { shape: [8], data: new Float32Array(8) },
    'transform.prelu': { shape: [1], data: Float32Array.of(0.1) },
    'local.weight': { shape: [8, 8], data: new Float32Array(64) },
    'global.weight': { shape: [4, 8], data: new Float32Array(32) },
    'global.vector': { shape: [4], data: new Float32Array(4) },
  };
}

describe('model directory', () => {
  it('round-trips through save and load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    const m = randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 3 });
    await writeRandom(dir);
    const loaded = await loadModel(dir);
    assert.equal(loaded.manifest.h, 8);
    assert.deepEqual(Array.from(loaded.weights.localWeight), Array.from(m.weights.localWeight));
    assert.deepEqual(Array.from(loaded.weights.globalVector), Array.from(m.weights.globalVector));
    await rm(dir, { recursive: true });
  });

  it('expands a single PReLU slope to every channel', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeRandom(dir);
    await replaceTensors(dir, goodTensors());
    const loaded = await loadModel(dir);
    assert.deepEqual(Array.from(loaded.weights.transformPrelu), new Array(8).fill(Math.fround(0.1)));
    await rm(dir, { recursive: true });
  });

  const bad: Array<[string, (t: ReturnType<typeof goodTensors>) => void, RegExp]> = [
    ['a missing tensor', (t) => delete (t as Record<string, unknown>)['local.weight'], /tensor "local.weight" is missing/],
    ['a wrong shape', (t) => (t['global.weight'] = { shape: [8, 4], data: new Float32Array(32) }), /tensor "global.weight": shape \[8, 4\] does not match the manifest, expected \[4, 8\]/],
    ['a NaN', (t) => (t['transform.bias'].data[5] = NaN), /tensor "transform.bias": value at flat index 5 is NaN/],
    ['an infinity', (t) => (t['local.weight'].data[9] = -Infinity), /tensor "local.weight": value at flat index 9 is -Infinity/],
    ['an unknown extra tensor', (t) => ((t as Record<string, unknown>)['local.wieght'] = { shape: [1], data: new Float32Array(1) }), /tensor "local.wieght" is not part of format version 1/],
  ];
  for (const [name, mutate, message] of bad) {
    it(`rejects ${name}, naming the tensor`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      await writeRandom(dir);
      const t = goodTensors();
      mutate(t);
      await replaceTensors(dir, t);
      await assert.rejects(loadModel(dir), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && message.test(err.message));
      await rm(dir, { recursive: true });
    });
  }

  it('rejects a weights file that does not match the manifest checksum', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeRandom(dir);
    const bytes = await readFile(join(dir, WEIGHTS_FILE));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(dir, WEIGHTS_FILE), bytes);
    await assert.rejects(loadModel(dir), /has sha256 .* the manifest expects/);
    await rm(dir, { recursive: true });
  });

  it('rejects manifest fields with the field named', async () => {
    for (const [field, value, message] of [
      ['h', 0, /manifest\.h: expected an integer in \[1, 4096\], got 0/],
      ['alpha', 'x', /manifest\.alpha: expected a finite number/],
      ['activation', 'relu', /manifest\.activation: expected "prelu"/],
      ['formatVersion', 2, /manifest\.formatVersion: expected 1, got 2/],
    ] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      await writeRandom(dir);
      const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
      manifest[field] = value;
      await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
      await assert.rejects(loadModel(dir), message);
      await rm(dir, { recursive: true });
    }
  });

  it('a missing directory is a clear error', async () => {
    await assert.rejects(loadModel(join(tmpdir(), 'no-such-ralm-model')), /cannot read model directory/);
  });

  it('the shipped default model loads and says what it is', async () => {
    const m = await loadModel(defaultModelDir);
    assert.equal(m.manifest.h, 128);
    assert.equal(m.manifest.k, 20);
    assert.ok(['seeded-random', 'trained'].includes(m.manifest.provenance.kind));
  });
});
