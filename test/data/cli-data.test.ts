import { describe, it } from 'node:test';
import { ralm } from '../helpers/cli.js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
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

  it('reports usage errors with exit code 2 and data errors with 1', async () => {
    assert.equal((await ralm('gen', '--users', 'many')).code, 2);
    assert.equal((await ralm('data', 'inspect', '--dataset', 'movielens')).code, 2);
    const bad = await ralm('gen', '--new-item-rate', '1.5');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /RALM_ERR_VALIDATION: newItemRate/);
  });
});
