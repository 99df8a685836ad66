import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadModel, saveModel, userTowerTensorShapes, MANIFEST_FILE, VOCAB_FILE, WEIGHTS_FILE, type ModelWeights, type RalmModel, type UserFieldSchema, type UserTower, type UserTowerWeights } from '../../src/model/model.js';
import { randomModel } from '../../src/model/random.js';
import { encodeUserFeatures, userTowerForward } from '../../src/model/user-tower.js';
import { serializeSafetensors } from '../../src/model/safetensors.js';
import { defaultModelDir } from '../../src/util/paths.js';

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
    assert.equal(m.manifest.h, 64);
    assert.equal(m.manifest.k, 20);
    // Trained on the synthetic world by `ralm train`: the manifest says so, with its metrics and data.
    assert.equal(m.manifest.provenance.kind, 'trained');
    assert.equal(m.manifest.provenance.dataset, 'synthetic');
    assert.ok((m.manifest.provenance.metrics?.stage2ValidationAuc ?? 0) > (m.manifest.provenance.metrics?.stage2InitialValidationAuc ?? 1));
    assert.equal((m.manifest.provenance.training as { data: { clicks: number } }).data.clicks, 61_218);
    assert.equal(m.manifest.userTower?.merge, 'attention');
    assert.deepEqual(m.manifest.userFields.map((f) => f.name), ['interests', 'region', 'age', 'tags']);
  });
});

describe('model directory with a user tower', () => {
  const fields: UserFieldSchema[] = [
    { name: 'region', kind: 'categorical', vocabulary: 4 },
    { name: 'age', kind: 'continuous', range: [0, 100] },
    { name: 'tags', kind: 'multi-categorical', vocabulary: 6 },
  ];
  const towerModel = (merge: 'attention' | 'concat' = 'attention'): RalmModel =>
    randomModel({ h: 8, m: 6, k: 3, attentionSize: 4, seed: 5, tower: { fields, merge, attentionSize: 3, hidden: [7, 6] } });

  async function writeTower(dir: string, model = towerModel()): Promise<void> {
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = model.manifest;
    await saveModel(dir, manifest, model.weights, model.tower);
  }

  /** Every tower tensor of a model, by name, as the format lays them out. */
  function towerTensors(model: RalmModel): Record<string, { shape: number[]; data: Float32Array }> {
    const w = model.tower?.weights as UserTowerWeights;
    const data: Record<string, Float32Array | undefined> = {
      'tower.field.region.embedding': w.embeddings.get('region'), 'tower.field.tags.embedding': w.embeddings.get('tags'),
      'tower.continuous.weight': w.continuousWeight, 'tower.continuous.bias': w.continuousBias,
      'tower.merge.w1': w.mergeW1, 'tower.merge.w2': w.mergeW2,
      'tower.mlp.0.weight': w.mlp[0].weight, 'tower.mlp.0.bias': w.mlp[0].bias, 'tower.mlp.1.weight': w.mlp[1].weight, 'tower.mlp.1.bias': w.mlp[1].bias,
    };
    return Object.fromEntries(userTowerTensorShapes(model.manifest).map(({ name, shape }) => [name, { shape, data: data[name] as Float32Array }]));
  }

  const baseTensors = (model: RalmModel): Record<string, { shape: number[]; data: Float32Array }> => {
    const { h, m, attentionSize: s } = model.manifest;
    const w = model.weights;
    return {
      'transform.weight': { shape: [h, m], data: w.transformWeight }, 'transform.bias': { shape: [h], data: w.transformBias },
      'transform.prelu': { shape: [h], data: w.transformPrelu }, 'local.weight': { shape: [h, h], data: w.localWeight },
      'global.weight': { shape: [s, h], data: w.globalWeight }, 'global.vector': { shape: [s], data: w.globalVector },
    };
  };

  it('lays out the tensors the format names, with the shapes it gives', () => {
    const shapes = (model: RalmModel): string[] => userTowerTensorShapes(model.manifest).map((t) => `${t.name} [${t.shape.join(', ')}]`);
    assert.deepEqual(shapes(towerModel()), [
      'tower.field.region.embedding [5, 6]', 'tower.field.tags.embedding [7, 6]',
      'tower.continuous.weight [6, 2]', 'tower.continuous.bias [6]',
      'tower.merge.w1 [3, 6]', 'tower.merge.w2 [3]',
      'tower.mlp.0.weight [7, 6]', 'tower.mlp.0.bias [7]', 'tower.mlp.1.weight [6, 7]', 'tower.mlp.1.bias [6]',
    ]);
    // Concatenation: the first layer reads n·m = 3·6 values and there is no merge layer.
    assert.deepEqual(shapes(towerModel('concat')).filter((s) => /merge|mlp\.0\.weight/.test(s)), ['tower.mlp.0.weight [7, 18]']);
    assert.deepEqual(userTowerTensorShapes(randomModel({ h: 8, m: 6 }).manifest), []);
  });

  for (const merge of ['attention', 'concat'] as const) {
    it(`[${merge}] round-trips through save and load: manifest, tensors, vocabularies and x_u`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      const model = towerModel(merge);
      await writeTower(dir, model);
      const loaded = await loadModel(dir);
      assert.deepEqual(loaded.manifest.userTower, model.manifest.userTower);
      assert.deepEqual(loaded.manifest.userFields, model.manifest.userFields);
      assert.equal(loaded.tower?.spec, loaded.manifest.userTower);
      assert.deepEqual(loaded.tower?.vocab, model.tower?.vocab);
      for (const [name, t] of Object.entries(towerTensors(model))) assert.deepEqual(Array.from(towerTensors(loaded)[name].data), Array.from(t.data), name);
      const raw = { region: 'region-3', age: 41, tags: ['tags-0', 'tags-5'] };
      assert.deepEqual(Array.from(userTowerForward(loaded, encodeUserFeatures(loaded, raw))), Array.from(userTowerForward(model, encodeUserFeatures(model, raw))));
      const vocab = JSON.parse(await readFile(join(dir, VOCAB_FILE), 'utf8'));
      assert.deepEqual(vocab, { fields: { region: ['region-0', 'region-1', 'region-2', 'region-3'], tags: ['tags-0', 'tags-1', 'tags-2', 'tags-3', 'tags-4', 'tags-5'] } });
      await rm(dir, { recursive: true });
    });
  }

  it('a model saved without a tower over one with it leaves no vocab.json behind, and loads without a tower', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeTower(dir);
    await writeRandom(dir);
    await assert.rejects(readFile(join(dir, VOCAB_FILE)), /ENOENT/);
    assert.equal((await loadModel(dir)).tower, undefined);
    await rm(dir, { recursive: true });
  });

  it('rejects a vocab.json that does not match the manifest checksum', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeTower(dir);
    await writeFile(join(dir, VOCAB_FILE), JSON.stringify({ fields: { region: ['a', 'b', 'c', 'd'], tags: ['1', '2', '3', '4', '5', '6'] } }));
    await assert.rejects(loadModel(dir), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && /^vocab\.json: has sha256 [0-9a-f]{64}, the manifest's userTower\.vocabSha256 is/.test(err.message));
    await rm(dir, { recursive: true });
  });

  it('rejects a missing vocab.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeTower(dir);
    await rm(join(dir, VOCAB_FILE));
    await assert.rejects(loadModel(dir), /the manifest has a userTower but vocab\.json cannot be read/);
    await rm(dir, { recursive: true });
  });

  /** Rewrites vocab.json with `fields` and fixes the manifest's checksum, to test vocabulary validation. */
  async function replaceVocab(dir: string, fieldsJson: unknown): Promise<void> {
    const bytes = Buffer.from(JSON.stringify({ fields: fieldsJson }));
    await writeFile(join(dir, VOCAB_FILE), bytes);
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
    manifest.userTower.vocabSha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  }

  const badVocab: Array<[string, unknown, RegExp]> = [
    ['a vocabulary of the wrong length', { region: ['a', 'b', 'c'], tags: ['1', '2', '3', '4', '5', '6'] }, /^vocab\.json: fields\.region has 3 values, the manifest's vocabulary for it is 4/],
    ['a missing field', { region: ['a', 'b', 'c', 'd'] }, /^vocab\.json: fields\.tags: expected an array of 6 strings/],
    ['a field that is not embedded', { region: ['a', 'b', 'c', 'd'], tags: ['1', '2', '3', '4', '5', '6'], age: [] }, /^vocab\.json: fields\.age is not a categorical or multi-categorical field of the manifest \(those are: region, tags\)/],
    ['a value that is not a string', { region: ['a', 'b', 3, 'd'], tags: ['1', '2', '3', '4', '5', '6'] }, /^vocab\.json: fields\.region\[2\]: expected a string, got 3/],
    ['a value with two ids', { region: ['a', 'b', 'a', 'd'], tags: ['1', '2', '3', '4', '5', '6'] }, /^vocab\.json: fields\.region: value "a" has two ids, 0 and 2/],
  ];
  for (const [name, fieldsJson, message] of badVocab) {
    it(`rejects ${name}, naming the field`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      await writeTower(dir);
      await replaceVocab(dir, fieldsJson);
      await assert.rejects(loadModel(dir), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && message.test(err.message));
      await rm(dir, { recursive: true });
    });
  }

  const badTensors: Array<[string, (t: Record<string, { shape: number[]; data: Float32Array } | undefined>) => void, RegExp]> = [
    ['a wrong embedding shape', (t) => (t['tower.field.tags.embedding'] = { shape: [6, 6], data: new Float32Array(36) }), /tensor "tower\.field\.tags\.embedding": shape \[6, 6\] does not match the manifest, expected \[7, 6\]/],
    ['a wrong first-layer shape', (t) => (t['tower.mlp.0.weight'] = { shape: [7, 18], data: new Float32Array(126) }), /tensor "tower\.mlp\.0\.weight": shape \[7, 18\] does not match the manifest, expected \[7, 6\]/],
    ['a missing merge vector', (t) => delete t['tower.merge.w2'], /tensor "tower\.merge\.w2" is missing/],
    ['a NaN in the continuous projection', (t) => ((t['tower.continuous.bias'] as { data: Float32Array }).data[2] = NaN), /tensor "tower\.continuous\.bias": value at flat index 2 is NaN/],
    ['a layer the manifest does not have', (t) => (t['tower.mlp.2.bias'] = { shape: [6], data: new Float32Array(6) }), /tensor "tower\.mlp\.2\.bias" is not part of format version 1 with this manifest's userFields and userTower/],
  ];
  for (const [name, mutate, message] of badTensors) {
    it(`rejects ${name}, naming the tensor`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      const model = towerModel();
      await writeTower(dir, model);
      const t: Record<string, { shape: number[]; data: Float32Array } | undefined> = { ...baseTensors(model), ...towerTensors(model) };
      for (const k of Object.keys(t)) t[k] = { shape: (t[k] as { shape: number[] }).shape, data: (t[k] as { data: Float32Array }).data.slice() };
      mutate(t);
      await replaceTensors(dir, Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as Record<string, { shape: number[]; data: Float32Array }>);
      await assert.rejects(loadModel(dir), (err: Error & { code?: string }) => err.code === 'RALM_ERR_MODEL_FORMAT' && message.test(err.message));
      await rm(dir, { recursive: true });
    });
  }

  it('rejects tower tensors when the manifest has no userTower', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    await writeRandom(dir);
    await replaceTensors(dir, { ...goodTensors(), 'tower.mlp.0.bias': { shape: [6], data: new Float32Array(6) } });
    await assert.rejects(loadModel(dir), /tensor "tower\.mlp\.0\.bias" belongs to a user tower, but the manifest has no userTower/);
    await rm(dir, { recursive: true });
  });

  it('rejects tower manifest fields with the field named', async () => {
    type Manifest = { userTower: Record<string, unknown>; userFields: Array<Record<string, unknown>> };
    const cases: Array<[(mf: Manifest) => void, RegExp]> = [
      [(mf) => (mf.userTower.merge = 'sum'), /manifest\.userTower\.merge: expected "attention" or "concat", got "sum"/],
      [(mf) => delete mf.userTower.attentionSize, /manifest\.userTower\.attentionSize: expected an integer in \[1, 4096\], got undefined/],
      [(mf) => (mf.userTower.hidden = [7, 5]), /manifest\.userTower\.hidden\[1\]: expected m = 6 \(the last layer's output is x_u\), got 5/],
      [(mf) => (mf.userTower.hidden = [0, 6]), /manifest\.userTower\.hidden\[0\]: expected an integer in \[1, 65536\], got 0/],
      [(mf) => (mf.userTower.hidden = []), /manifest\.userTower\.hidden: expected a non-empty array/],
      [(mf) => delete mf.userFields[2].vocabulary, /manifest\.userFields\[2\]\.vocabulary: expected the vocabulary size \(field "tags" is multi-categorical and the model has a user tower\)/],
      [(mf) => delete mf.userFields[1].range, /manifest\.userFields\[1\]\.range: expected \[min, max\] \(field "age" is continuous/],
      [(mf) => (mf.userFields[1].range = [5, 1]), /manifest\.userFields\[1\]\.range: expected \[min, max\], finite numbers with min <= max, got \[5,1\]/],
      [(mf) => (mf.userFields[0].vocabulary = -1), /manifest\.userFields\[0\]\.vocabulary: expected an integer in \[0, 2147483646\], got -1/],
      [(mf) => (mf.userFields[2].name = 'region'), /manifest\.userFields\[2\]\.name: expected a name no other field has, got "region"/],
      [(mf) => (mf.userFields = []), /manifest\.userFields: expected at least one field for the user tower/],
    ];
    for (const [mutate, message] of cases) {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
      await writeTower(dir);
      const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
      mutate(manifest);
      await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
      await assert.rejects(loadModel(dir), message);
      await rm(dir, { recursive: true });
    }
  });

  it('saveModel checks the tower before writing anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-model-'));
    const model = towerModel();
    const { format: _f, formatVersion: _v, weightsSha256: _s, ...manifest } = model.manifest;
    const tower = model.tower as UserTower;
    await assert.rejects(saveModel(dir, manifest, model.weights), /saveModel: the manifest has a userTower but no tower/);
    const shortVocab = { ...tower, vocab: new Map([['region', ['a', 'b']], ['tags', tower.vocab.get('tags') as string[]]]) };
    await assert.rejects(saveModel(dir, manifest, model.weights, shortVocab), /vocab\.json: fields\.region has 2 values, the manifest's vocabulary for it is 4/);
    const noLayer = { ...tower, weights: { ...tower.weights, mlp: tower.weights.mlp.slice(0, 1) } };
    await assert.rejects(saveModel(dir, manifest, model.weights, noLayer), /saveModel: the user tower has no data for tensor "tower\.mlp\.1\.weight"/);
    const nan = { ...tower, weights: { ...tower.weights, mergeW2: Float32Array.of(1, NaN, 1) } };
    await assert.rejects(saveModel(dir, manifest, model.weights, nan), /tensor "tower\.merge\.w2": value at flat index 1 is NaN/);
    await assert.rejects(readFile(join(dir, WEIGHTS_FILE)), /ENOENT/);
    await rm(dir, { recursive: true });
  });
});
