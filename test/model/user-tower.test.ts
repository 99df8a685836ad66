/** The stage-1 user tower's forward pass against the ml-matrix oracle, and feature encoding's errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RalmModel, type UserFieldSchema } from '../../src/model/model.js';
import { randomModel, type RandomTowerOptions } from '../../src/model/random.js';
import { encodeUserFeatures, embedUserFeatures, userTowerForward, userTowerForwardBatch, MAX_UNKNOWN_REPORTED } from '../../src/model/user-tower.js';
import { referenceUserTower } from '../../src/model/reference.js';
import { RalmError } from '../../src/util/errors.js';
import { assertClose } from '../helpers/fixtures.js';

const FIELDS: UserFieldSchema[] = [
  { name: 'region', kind: 'categorical', vocabulary: 5 },
  { name: 'age', kind: 'continuous', range: [18, 80] },
  { name: 'tags', kind: 'multi-categorical', vocabulary: 7 },
  { name: 'constant', kind: 'continuous', range: [3, 3] },
  { name: 'device', kind: 'categorical', vocabulary: 3 },
];
// Numbers in requests are looked up as strings: "7" must be found by 7.
const VOCAB = { device: ['ios', 'android', '7'] };

function towerModel(tower: Partial<RandomTowerOptions> = {}, seed = 11): RalmModel {
  return randomModel({ h: 10, m: 6, k: 3, attentionSize: 4, seed, tower: { fields: FIELDS, vocab: VOCAB, attentionSize: 5, hidden: [9, 6], ...tower } });
}

const forward = (model: RalmModel, raw: Record<string, unknown>): Float32Array => userTowerForward(model, encodeUserFeatures(model, raw));

/** Users that exercise every rule: missing and unknown values, duplicates, clamping, min = max. */
const USERS: Array<[string, Record<string, unknown>]> = [
  ['every field given', { region: 'region-2', age: 30, tags: ['tags-1', 'tags-4', 'tags-6'], constant: 3, device: 'android' }],
  ['no field given', {}],
  ['nulls are missing', { region: null, age: null, tags: null, device: null }],
  ['unknown values', { region: 'atlantis', tags: ['tags-0', 'nope', 'tags-3'], device: 'palm' }],
  ['duplicates in a multi-valued field', { tags: ['tags-2', 'tags-2', 'tags-5', 'tags-2'] }],
  ['a multi-valued field with no known value', { tags: ['x', 'y'], region: 'region-0' }],
  ['an empty multi-valued field', { tags: [], age: 80 }],
  ['values outside the range are clamped', { age: 200, constant: -50 }],
  ['below the range', { age: -3, device: 7 }],
];

describe('user tower forward pass', () => {
  for (const merge of ['attention', 'concat'] as const) {
    for (const [name, raw] of USERS) {
      it(`[${merge}] ${name}: matches the ml-matrix oracle`, () => {
        const model = towerModel({ merge });
        assertClose(forward(model, raw), referenceUserTower(model, raw), name, 1e-5, 1e-4);
      });
    }

    it(`[${merge}] only embedded fields (no continuous row), one MLP layer`, () => {
      const model = towerModel({ merge, fields: FIELDS.filter((f) => f.kind !== 'continuous'), hidden: [6] });
      for (const [name, raw] of USERS) {
        const only = Object.fromEntries(Object.entries(raw).filter(([k]) => !['age', 'constant'].includes(k)));
        assertClose(forward(model, only), referenceUserTower(model, only), name, 1e-5, 1e-4);
      }
    });

    it(`[${merge}] only continuous fields (n = 1), three MLP layers`, () => {
      const model = towerModel({ merge, fields: FIELDS.filter((f) => f.kind === 'continuous'), hidden: [8, 7, 6] });
      for (const raw of [{}, { age: 40 }, { age: 40, constant: 3 }, { constant: 9 }]) {
        assertClose(forward(model, raw), referenceUserTower(model, raw), JSON.stringify(raw), 1e-5, 1e-4);
      }
    });
  }

  it('the rules hold exactly: duplicates count once, unknown values are ignored or missing, min = max scales to 0 but is not missing', () => {
    const model = towerModel();
    const same = (a: Record<string, unknown>, b: Record<string, unknown>): void => assert.deepEqual(Array.from(forward(model, a)), Array.from(forward(model, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    same({ tags: ['tags-1', 'tags-1', 'tags-3'] }, { tags: ['tags-1', 'tags-3'] });
    same({ tags: ['tags-1', 'unknown'] }, { tags: ['tags-1'] });
    same({ tags: ['unknown'] }, {});
    same({ tags: [] }, {});
    same({ region: 'unknown' }, {});
    same({ region: null }, {});
    same({ constant: 3 }, { constant: 1e9 });
    same({ age: 80 }, { age: 1000 });
    same({ age: 18 }, { age: -1000 });
    same({ device: 7 }, { device: '7' });
    const differ = (a: Record<string, unknown>, b: Record<string, unknown>): void => assert.notDeepEqual(Array.from(forward(model, a)), Array.from(forward(model, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    differ({ constant: 3 }, {});
    differ({ age: 18 }, {});
    differ({ tags: ['tags-1', 'tags-3'] }, { tags: ['tags-1'] });
    differ({ region: 'region-1' }, { region: 'region-2' });
  });

  it('attention logits far beyond exp overflow still give a finite x_u equal to the oracle', () => {
    const model = towerModel();
    const w2 = model.tower?.weights.mergeW2 as Float32Array;
    for (let i = 0; i < w2.length; i++) w2[i] = (i % 2 === 0 ? 1 : -1) * 5e3;
    for (const [name, raw] of USERS) {
      const x = forward(model, raw);
      assert.ok(x.every(Number.isFinite), name);
      assertClose(x, referenceUserTower(model, raw), name, 1e-5, 1e-4);
    }
  });

  it('the batch version equals one user at a time', () => {
    const model = towerModel({ merge: 'concat' });
    const encoded = USERS.map(([, raw]) => encodeUserFeatures(model, raw));
    const batch = userTowerForwardBatch(model, encoded);
    const m = model.manifest.m;
    encoded.forEach((e, u) => assert.deepEqual(Array.from(batch.subarray(u * m, (u + 1) * m)), Array.from(userTowerForward(model, e))));
  });
});

describe('user feature encoding', () => {
  const model = towerModel();

  it('reports unknown categorical values per field, distinct and capped', () => {
    const many = Array.from({ length: MAX_UNKNOWN_REPORTED + 5 }, (_, i) => `t${i}`);
    const { unknownValues } = embedUserFeatures(model, { region: 'atlantis', tags: ['tags-1', 'x', 'x', ...many], device: 'ios' });
    assert.deepEqual(Object.keys(unknownValues).sort(), ['region', 'tags']);
    assert.deepEqual(unknownValues.region, ['atlantis']);
    assert.equal(unknownValues.tags.length, MAX_UNKNOWN_REPORTED);
    assert.deepEqual(unknownValues.tags.slice(0, 2), ['x', 't0']);
    assert.deepEqual(embedUserFeatures(model, { region: 'region-1' }).unknownValues, {});
  });

  const bad: Array<[string, unknown, string, RegExp]> = [
    ['not an object', ['region-1'], 'RALM_ERR_VALIDATION', /^user\.features: expected an object/],
    ['an unknown field, listing the known ones', { regoin: 'x' }, 'RALM_ERR_VALIDATION', /^user\.features\.regoin: model .* has no user field "regoin" \(its fields: region, age, tags, constant, device\)/],
    ['a categorical object', { region: { id: 1 } }, 'RALM_ERR_VALIDATION', /^user\.features\.region: expected a string \(or a number\), got \{"id":1\}/],
    ['a categorical boolean', { device: true }, 'RALM_ERR_VALIDATION', /^user\.features\.device: expected a string/],
    ['a categorical NaN', { device: NaN }, 'RALM_ERR_VALIDATION', /^user\.features\.device: expected a string \(or a number\), got NaN/],
    ['a multi-valued string', { tags: 'tags-1' }, 'RALM_ERR_VALIDATION', /^user\.features\.tags: expected an array of strings, got "tags-1"/],
    ['a multi-valued element', { tags: ['tags-1', ['tags-2']] }, 'RALM_ERR_VALIDATION', /^user\.features\.tags\[1\]: expected a string/],
    ['a continuous string', { age: '30' }, 'RALM_ERR_VALIDATION', /^user\.features\.age: expected a number, got "30"/],
    ['a continuous NaN', { age: NaN }, 'RALM_ERR_NON_FINITE', /^user\.features\.age: expected a finite number, got NaN/],
    ['a continuous infinity', { constant: -Infinity }, 'RALM_ERR_NON_FINITE', /^user\.features\.constant: expected a finite number, got -Infinity/],
  ];
  for (const [name, raw, code, message] of bad) {
    it(`rejects ${name}, naming the field`, () => {
      assert.throws(() => encodeUserFeatures(model, raw), (err: unknown) => err instanceof RalmError && err.code === code && message.test(err.message) && typeof err.details?.field === 'string');
    });
  }

  it('the field prefix is the caller\'s', () => {
    assert.throws(() => encodeUserFeatures(model, { nope: 1 }, 'features'), (err: Error) => err.message.startsWith('features.nope: model '));
  });

  it('a model without a user tower refuses features, saying so', () => {
    const plain = randomModel({ h: 10, m: 6, k: 3, attentionSize: 4 });
    assert.throws(() => encodeUserFeatures(plain, { region: 'x' }), (err: unknown) => err instanceof RalmError && err.code === 'RALM_ERR_VALIDATION' && /^user\.features: model random-.* has no user tower/.test(err.message));
  });
});
