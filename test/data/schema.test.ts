import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSchemaFile, parseSchema, schemaToJson } from '../../src/data/schema.js';
import { RalmError } from '../../src/util/errors.js';
import { tempFiles } from './helpers.js';

const valid = {
  name: 'shop',
  clicks: { path: 'clicks.csv.gz', columns: { user: 'uid', item: 'iid', timestamp: 'when', label: 'clicked' }, timestamp: 'iso' },
  userFeatures: { path: 'users.tsv', key: 'uid', fields: { age: { type: 'continuous' }, tags: { type: 'multi', separator: ';', maxValues: 5 }, region: { type: 'single', column: 'geo' } } },
};

/** Asserts that parsing fails with RALM_ERR_VALIDATION and a message matching `re`. */
function rejects(doc: unknown, re: RegExp): void {
  assert.throws(() => parseSchema(doc), (e: RalmError) => e.code === 'RALM_ERR_VALIDATION' && re.test(e.message), `expected ${re}`);
}

describe('schema file', () => {
  it('parses a valid schema and fills the defaults', () => {
    const s = parseSchema(valid);
    assert.equal(s.name, 'shop');
    assert.equal(s.clicks.positiveLabel, 1);
    assert.equal(s.clicks.format, undefined);
    assert.deepEqual(s.userFeatures?.fields.map((f) => [f.name, f.type, f.column]), [['age', 'continuous', 'age'], ['tags', 'multi', 'tags'], ['region', 'single', 'geo']]);
    assert.equal(s.userFeatures?.fields[1].separator, ';');
    assert.equal(s.userFeatures?.fields[1].maxValues, 5);
    assert.equal(s.itemFeatures, null);
    assert.deepEqual(parseSchema(schemaToJson(s)), s, 'schemaToJson round-trips');
  });

  it('names the field and what was expected', () => {
    rejects({ ...valid, clicks: { ...valid.clicks, path: 3 } }, /^schema\.clicks\.path: expected a non-empty string \(the click log file, relative to the schema file\), got 3$/);
    rejects({ ...valid, clicks: { ...valid.clicks, timestamp: 'us' } }, /^schema\.clicks\.timestamp: expected one of "ms", "s", "iso", got "us"$/);
    rejects({ ...valid, clicks: { ...valid.clicks, columns: { user: 'u', item: 'i' } } }, /schema\.clicks\.columns\.timestamp: expected a non-empty string \(the time column\), got nothing/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: { age: { type: 'number' } } } }, /schema\.userFeatures\.fields\.age\.type: expected one of "single", "multi", "continuous", got "number"/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: { age: { typ: 'continuous' } } } }, /schema\.userFeatures\.fields\.age: unknown key "typ"; expected one of type, column, separator, maxValues/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: { r: { type: 'single', separator: ',' } } } }, /fields\.r: "separator" and "maxValues" apply to multi-valued fields only/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: { t: { type: 'multi', maxValues: 0 } } } }, /fields\.t\.maxValues: expected a positive integer, got 0/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: {} } }, /schema\.userFeatures\.fields: expected at least one field/);
    rejects({ ...valid, userFeatures: { ...valid.userFeatures, fields: { uid: { type: 'single' } } } }, /fields\.uid: column "uid" is the table's key/);
    rejects({ ...valid, clicks: { ...valid.clicks, columns: { user: 'u', item: 'i', timestamp: 't' }, positiveLabel: 4 } }, /schema\.clicks\.columns\.label: expected a label column when positiveLabel is given/);
    rejects({ ...valid, version: 2 }, /schema\.version: expected 1, got 2/);
    rejects({ ...valid, extra: true }, /^schema: unknown key "extra"/);
    rejects([], /^schema: expected an object, got \[\]$/);
  });

  it('reports unreadable files and bad JSON with the path', async () => {
    const t = await tempFiles({ 'bad.json': '{"clicks": ', 'ok.json': JSON.stringify(valid) });
    try {
      await assert.rejects(loadSchemaFile(t.path('bad.json')), /bad\.json: not valid JSON/);
      await assert.rejects(loadSchemaFile(t.path('missing.json')), /missing\.json: cannot read the schema file/);
      const { schema, baseDir } = await loadSchemaFile(t.path('ok.json'));
      assert.equal(schema.clicks.timestamp, 'iso');
      assert.equal(baseDir, t.dir);
    } finally {
      await t.done();
    }
  });
});
