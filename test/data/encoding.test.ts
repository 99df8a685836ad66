/** Text encodings of the generic format: UTF-8 by default with a warning on bytes that do not decode, Latin-1 and Windows-1252 on request. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INVALID_UTF8 } from '../../src/data/delimited.js';
import { readDataset } from '../../src/data/generic.js';
import { describeColumn } from '../../src/data/features.js';

const schema = (encoding?: string): string => JSON.stringify({
  ...(encoding ? { encoding } : {}),
  clicks: { path: 'clicks.csv', columns: { user: 'user', item: 'item', timestamp: 'ts' }, timestamp: 'ms' },
  userFeatures: { path: 'users.csv', key: 'user', fields: { city: { type: 'single' } } },
});

describe('text encodings', () => {
  it('warns about invalid UTF-8 with the first lines, reads Latin-1 and Windows-1252 when the schema says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-encoding-'));
    try {
      await writeFile(join(dir, 'clicks.csv'), 'user,item,ts\nzoé,a,1\nzoé,b,2\n');
      // Latin-1 bytes: é = 0xE9, è = 0xE8 (not valid UTF-8 on their own); € in Windows-1252 is 0x80.
      await writeFile(join(dir, 'users.csv'), Buffer.concat([Buffer.from('user,city\nzo'), Buffer.from([0xe9]), Buffer.from(',S'), Buffer.from([0xe8]), Buffer.from('te '), Buffer.from([0x80]), Buffer.from('\n')]));
      await writeFile(join(dir, 'utf8.json'), schema());
      const asUtf8 = await readDataset(join(dir, 'utf8.json'));
      assert.deepEqual(asUtf8.report.warnings, { [INVALID_UTF8]: { count: 1, first: ['users.csv:2'] } });
      assert.deepEqual(asUtf8.users.values(), ['zoé', 'zo\uFFFD'], 'kept, and counted: the read does not fail');
      assert.equal(asUtf8.report.badRows, 0);

      await writeFile(join(dir, 'latin1.json'), JSON.stringify({ ...JSON.parse(schema()), clicks: { ...JSON.parse(schema()).clicks, encoding: 'utf-8' }, encoding: 'latin1' }));
      const latin1 = await readDataset(join(dir, 'latin1.json'));
      assert.deepEqual(latin1.users.values(), ['zoé'], 'the click log stays UTF-8 (its own encoding), the user table is Latin-1');
      const city = latin1.userField('city');
      assert.ok(city.type === 'single');
      assert.deepEqual(city.vocab.values(), ['Sète \u0080'], 'ISO 8859-1: byte 0x80 is U+0080');
      assert.deepEqual(latin1.report.warnings, {});

      await writeFile(join(dir, 'cp1252.json'), JSON.stringify({ ...JSON.parse(schema()), clicks: { ...JSON.parse(schema()).clicks, encoding: 'utf-8' }, encoding: 'windows-1252' }));
      const cp = await readDataset(join(dir, 'cp1252.json'));
      assert.deepEqual((cp.userField('city') as { vocab: { values(): string[] } }).vocab.values(), ['Sète €']);
      assert.equal(describeColumn(cp.userField('city')).rowsWithValue, 1);

      await writeFile(join(dir, 'bad.json'), schema('ascii'));
      await assert.rejects(readDataset(join(dir, 'bad.json')), /bad\.json\.encoding: expected one of "utf-8", "latin1", "windows-1252", got "ascii"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
