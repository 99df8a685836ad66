import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeatureTableBuilder, minMaxScale, rowValues, toCsr, type MultiColumn } from '../../src/data/features.js';
import { fieldSpec } from '../../src/data/schema.js';

describe('feature columns', () => {
  it('min-max scales to [0, 1], keeps NaN for missing, and maps a constant field to 0', () => {
    const s = minMaxScale([10, NaN, 30, 20]);
    assert.deepEqual([s.min, s.max], [10, 30]);
    assert.deepEqual(Array.from(s.values), [0, NaN, 1, 0.5]);
    const c = minMaxScale([7, 7, NaN]);
    assert.deepEqual(Array.from(c.values), [0, 0, NaN]);
    const e = minMaxScale([NaN]);
    assert.ok(Number.isNaN(e.min) && Number.isNaN(e.values[0]));
  });

  it('builds CSR rows: offsets, values in first-seen order, duplicates and blanks dropped, maxValues respected', () => {
    const b = new FeatureTableBuilder([fieldSpec('tags', 'multi', 3), fieldSpec('region', 'single'), fieldSpec('age', 'continuous')]);
    b.setRow(0, ['a|b|a||c|d', 'north', '20']);
    b.setRow(2, ['', '', '']);
    b.setRow(3, ['c', 'south', '40']);
    const [tags, region, age] = b.finish(5);
    assert.equal(tags.type, 'multi');
    const t = tags as MultiColumn;
    assert.deepEqual(Array.from(t.offsets), [0, 3, 3, 3, 4, 4]);
    assert.deepEqual(Array.from(rowValues(t, 0)).map((i) => t.vocab.value(i)), ['a', 'b', 'c']);
    assert.deepEqual(Array.from(rowValues(t, 3)).map((i) => t.vocab.value(i)), ['c']);
    assert.equal(t.vocab.size, 3, '"d" was past maxValues and never entered the vocabulary');
    assert.ok(region.type === 'single');
    assert.deepEqual(Array.from(region.ids), [0, -1, -1, 1, -1]);
    assert.ok(age.type === 'continuous');
    assert.deepEqual(Array.from(age.values), [0, NaN, NaN, 1, NaN]);
    assert.deepEqual([age.min, age.max], [20, 40]);
  });

  it('toCsr packs ragged lists', () => {
    const c = toCsr(4, [[1, 2], undefined, [], [3]]);
    assert.deepEqual(Array.from(c.offsets), [0, 2, 2, 2, 3]);
    assert.deepEqual(Array.from(c.ids), [1, 2, 3]);
  });

  it('parses continuous cells: blank is missing, junk is rejected', () => {
    assert.ok(Number.isNaN(FeatureTableBuilder.parseNumber(' ') as number));
    assert.equal(FeatureTableBuilder.parseNumber(' 2.5 '), 2.5);
    assert.equal(FeatureTableBuilder.parseNumber('2,5'), null);
    assert.equal(FeatureTableBuilder.parseNumber('Infinity'), null);
  });
});
