/** The engine's fourth user form: raw features through the model's user tower, then T. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomModel } from '../../src/model/random.js';
import { referenceUserTower } from '../../src/model/reference.js';
import { openEngine, randomItems, assertClose } from '../helpers/fixtures.js';

describe('engine: users as raw features', () => {
  const model = randomModel({
    h: 16, m: 12, k: 5, attentionSize: 8, seed: 7,
    tower: { fields: [{ name: 'city', kind: 'categorical', vocabulary: 4 }, { name: 'age', kind: 'continuous', range: [10, 70] }], merge: 'concat', hidden: [20, 12] },
  });

  it('rank() and score() with {features} equal {universal: x_u}', async () => {
    const engine = await openEngine(model, 'cpu');
    try {
      await engine.upsertItems(randomItems(model, 30, 3));
      const features = { city: 'city-2', age: 33 };
      const x = Float32Array.from(referenceUserTower(model, features));
      const [a, b] = await engine.rank([{ user: { features }, k: 8 }, { user: { universal: x }, k: 8 }]);
      assert.deepEqual(a.items.map((i) => i.id), b.items.map((i) => i.id));
      assertClose(a.items.map((i) => i.score), b.items.map((i) => i.score), 'scores');
      const [s, t] = await engine.score([{ user: { features }, items: ['item1', 'item7'] }, { user: { universal: x }, items: ['item1', 'item7'] }]);
      assertClose(s.scores, t.scores, 'scores');
    } finally {
      await engine.close();
    }
  });

  it('errors name the request and field; a model without a tower says it has none', async () => {
    const engine = await openEngine(model, 'cpu');
    const plain = await openEngine(randomModel({ h: 16, m: 12, k: 5, attentionSize: 8 }), 'cpu');
    try {
      await assert.rejects(engine.rank([{ user: { features: { city: 'city-1' } }, k: 1 }, { user: { features: { town: 'x' } }, k: 1 }]), /^RalmError: requests\[1\]\.user\.features\.town: model .* has no user field "town" \(its fields: city, age\)/);
      await assert.rejects(engine.rank([{ user: { features: {}, universal: new Float32Array(12) }, k: 1 }]), /requests\[0\]\.user: give exactly one of "embedding" \(width 16\), "universal" \(width 12\) or "features"/);
      await assert.rejects(plain.score([{ user: { features: { city: 'x' } }, items: [] }]), /requests\[0\]\.user\.features: model .* has no user tower/);
    } finally {
      await engine.close();
      await plain.close();
    }
  });
});
