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

  it('checks item-id fields, dated user tables and history fields', () => {
    const items = { path: 'items.csv', key: 'iid', fields: { genre: { type: 'multi' }, year: { type: 'continuous' } } };
    const full = {
      ...valid, encoding: 'latin1', itemFeatures: items,
      userFeatures: { ...valid.userFeatures, timestamp: { column: 'since', unit: 's' }, fields: { ...valid.userFeatures.fields, fav: { type: 'single', itemIds: true } } },
      history: { recent: { derive: 'recent-items', count: 10 }, genres: { derive: 'top-values', itemField: 'genre' }, activity: { derive: 'activity' } },
    };
    const s = parseSchema(full);
    assert.equal(s.encoding, 'latin1');
    assert.deepEqual(s.userFeatures?.timestamp, { column: 'since', unit: 's' });
    assert.equal(s.userFeatures?.fields.find((f) => f.name === 'fav')?.itemIds, true);
    assert.deepEqual(s.history, [{ name: 'recent', derive: 'recent-items', count: 10 }, { name: 'genres', derive: 'top-values', itemField: 'genre', count: 5 }, { name: 'activity', derive: 'activity' }]);
    assert.deepEqual(parseSchema(schemaToJson(s)), s, 'schemaToJson round-trips');

    rejects({ ...full, history: { age: { derive: 'activity' } } }, /schema\.history\.age: expected a name that is not already a userFeatures field/);
    rejects({ ...full, history: { g: { derive: 'top-values', itemField: 'year' } } }, /schema\.history\.g\.itemField: expected a "single" or "multi" field of itemFeatures \("genre"\), got "year"/);
    rejects({ ...full, history: { g: { derive: 'top-items' } } }, /schema\.history\.g\.derive: expected one of "recent-items", "top-values", "activity", got "top-items"/);
    rejects({ ...full, history: { a: { derive: 'activity', count: 3 } } }, /schema\.history\.a: unknown key "count"; expected one of derive/);
    rejects({ ...full, history: { r: { derive: 'recent-items', count: 0 } } }, /schema\.history\.r\.count: expected a positive integer, got 0/);
    rejects({ ...full, userFeatures: { ...full.userFeatures, fields: { age: { type: 'continuous', itemIds: true } } } }, /fields\.age\.itemIds: expected item ids on a "single" or "multi" field only/);
    rejects({ ...full, userFeatures: { ...full.userFeatures, timestamp: { column: 'uid', unit: 's' } } }, /userFeatures\.timestamp\.column: expected a column that is neither the key nor a field, got "uid"/);
    rejects({ ...full, userFeatures: { ...full.userFeatures, timestamp: { column: 'since' } } }, /userFeatures\.timestamp\.unit: expected one of "ms", "s", "iso", got nothing/);
    rejects({ ...full, itemFeatures: { ...items, timestamp: { column: 'since', unit: 's' } } }, /schema\.itemFeatures: unknown key "timestamp"/);
    rejects({ ...full, itemFeatures: { ...items, fields: { like: { type: 'single', itemIds: true } } } }, /itemFeatures\.fields\.like\.itemIds: expected item ids in user fields only/);
    rejects({ ...full, clicks: { ...full.clicks, encoding: 'utf8' } }, /schema\.clicks\.encoding: expected one of "utf-8", "latin1", "windows-1252", got "utf8"/);
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
