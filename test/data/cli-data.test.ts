import { describe, it } from 'node:test';
import { ralm } from '../helpers/cli.js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


describe('ralm gen and ralm data inspect', () => {
  it('gen writes the generic format deterministically; data inspect reads it and splits it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-gen-'));
    try {
      const args = ['gen', '--users', '150', '--items', '80', '--topics', '4', '--days', '5', '--seed', '4', '--json'];
      const a = await ralm(...args, '--out', join(dir, 'a'));
      assert.equal(a.code, 0, a.stderr);
      const doc = JSON.parse(a.stdout);
      assert.equal(doc.summary.users, 150);
      assert.deepEqual((await readdir(join(dir, 'a'))).sort(), ['clicks.csv', 'items.csv', 'schema.json', 'truth.json', 'users.csv']);
      const b = await ralm(...args);
      assert.deepEqual(JSON.parse(b.stdout).summary, doc.summary, 'same seed, same world');

      const r = await ralm('data', 'inspect', join(dir, 'a', 'schema.json'), '--split', '0.8', '--json');
      assert.equal(r.code, 0, r.stderr);
      const ins = JSON.parse(r.stdout);
      assert.equal(ins.clicks, doc.summary.clicks);
      assert.equal(ins.report.badRows, 0);
      assert.equal(ins.split.trainRows + ins.split.testRows, ins.clicks);
      const text = await ralm('data', 'inspect', join(dir, 'a', 'schema.json'), '--split', '0.8');
      assert.match(text.stdout, /test items \d+ \(\d+ new, with \d+ test clicks\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('data inspect, train and eval audience print the read\'s warnings: invalid UTF-8 with its line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-latin1-'));
    try {
      assert.equal((await ralm('gen', '--users', '120', '--items', '40', '--days', '4', '--seed', '3', '--out', dir)).code, 0);
      const users = (await readFile(join(dir, 'users.csv'))).toString('latin1').split('\n');
      const at = users.findIndex((l, i) => i > 0 && l.includes(',v'));
      users[at] = users[at].replace(',v', ',Zürich-v');
      await writeFile(join(dir, 'users.csv'), Buffer.from(users.join('\n'), 'latin1'));
      const warning = new RegExp(`WARNING: invalid UTF-8 \\(bytes replaced by U\\+FFFD; if the file is Latin-1 or Windows-1252, set "encoding" in the schema\\) ×1 \\(users\\.csv:${at + 1}\\)`);
      const inspect = await ralm('data', 'inspect', join(dir, 'schema.json'));
      assert.equal(inspect.code, 0, inspect.stderr);
      assert.match(inspect.stdout, warning);
      const train = await ralm('train', '--dataset', 'schema', join(dir, 'schema.json'), '--out', join(dir, 'model'), '--epochs', '1', '--stage2-epochs', '1', '--m', '8', '--k', '2', '--no-users');
      assert.equal(train.code, 0, train.stderr);
      assert.match(train.stderr, warning);
      const audience = await ralm('eval', 'audience', join(dir, 'schema.json'), '--items', '5', '--min-clickers', '3', '--rank', '4', '--ks', '2', '--ns', '10');
      assert.equal(audience.code, 0, audience.stderr);
      assert.match(audience.stderr, warning);
      const schema = JSON.parse(await readFile(join(dir, 'schema.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'schema.json'), JSON.stringify({ ...schema, encoding: 'latin1' }));
      const fixed = await ralm('data', 'inspect', join(dir, 'schema.json'), '--json');
      assert.deepEqual(JSON.parse(fixed.stdout).report.warnings, {});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports usage errors with exit code 2 and data errors with 1', async () => {
    assert.equal((await ralm('gen', '--users', 'many')).code, 2);
    assert.equal((await ralm('data', 'inspect', '--dataset', 'movielens')).code, 2);
    const bad = await ralm('gen', '--new-item-rate', '1.5');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /RALM_ERR_VALIDATION: newItemRate/);
  });
});
