import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { analysisArgs } from '../../bench/analysis-args.js';

const moduleUrl = new URL('../../bench/analysis-args.js', import.meta.url).href;

/** Runs analysisArgs in a child process (it exits on bad input) and returns its status and stderr. */
function refused(argv: string[]): { status: number | null; stderr: string } {
  const code = `import(${JSON.stringify(moduleUrl)}).then((m) => { m.analysisArgs('probe', '[--seed N]', 'movielens', ${JSON.stringify(argv)}); process.stdout.write('accepted'); })`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: fileURLToPath(new URL('.', import.meta.url)) });
  return { status: r.status, stderr: r.stderr };
}

describe('the analysis scripts\' arguments', () => {
  it('reads the dataset, its directory, the seed, options and flags', () => {
    const a = analysisArgs('probe', '', 'movielens', ['--dataset', 'globo', '--data', 'd', '--seed', '3', '--out', 'f.json', '--validation']);
    assert.equal(a.kind, 'globo');
    assert.equal(a.dataDir, 'd');
    assert.equal(a.seed, 3);
    assert.equal(a.arg('out'), 'f.json');
    assert.equal(a.arg('split', 'global'), 'global');
    assert.equal(a.flag('validation'), true);
    assert.equal(a.flag('trained'), false);
  });

  it('takes the script\'s default dataset and seed 1', () => {
    const a = analysisArgs('probe', '', 'globo', ['--data', 'd']);
    assert.equal(a.kind, 'globo');
    assert.equal(a.seed, 1);
  });

  it('stops with the usage line, naming the argument, instead of running on a bad value', () => {
    for (const [argv, field] of [[['--dataset', 'synthetic', '--data', 'd'], '--dataset'], [['--dataset', 'movielens'], '--data'], [['--data', 'd', '--seed', 'x'], '--seed']] as const) {
      const r = refused([...argv]);
      assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^${field}:`));
      assert.match(r.stderr, /usage: node dist\/bench\/probe\.js --dataset movielens\|globo --data DIR \[--seed N\]/);
    }
  });
});
