/**
 * docs/your-own-data.md works as printed: its `sh` blocks run in order, in an empty folder, with
 * `ralm` this checkout's command line. The block that starts `ralm serve` runs in the background
 * until the walk ends (its port replaced by a free one everywhere); every other block must exit 0.
 * Then the outputs the page describes are checked: the dataset's counts, an evaluation report, a
 * trained model, a filled store, and recommendations from the running service.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../src/util/paths.js';

const run = promisify(execFile);
const DOC = join(packageRoot, 'docs', 'your-own-data.md');
const PORT_IN_DOC = '8080';

/** The page's `sh` blocks, in order (fences at the start of a line only). */
function shBlocks(md: string): string[] {
  const out: string[] = [];
  let current: string[] | null = null;
  for (const line of md.split('\n')) {
    if (current === null && line === '```sh') current = [];
    else if (current !== null && line === '```') {
      out.push(current.join('\n'));
      current = null;
    } else if (current !== null) current.push(line);
  }
  return out;
}

async function freePort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return String(port);
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;
// Any HTTP error fails the block (with the reply when curl can show it); curl prints a reply
// without a final newline, and the wrapper adds one so that replies are lines.
const failFlag = hasCurl && spawnSync('curl', ['--help', 'all']).stdout.toString().includes('--fail-with-body') ? '--fail-with-body' : '--fail';
const prelude = `set -euo pipefail\nralm() { ${JSON.stringify(process.execPath)} ${JSON.stringify(join(packageRoot, 'bin', 'ralm.js'))} "$@"; }\ncurl() { command curl ${failFlag} "$@"; echo; }\n`;

test('the walkthrough runs as printed: files, schema, inspect, evaluate, train, fill the store, serve', { timeout: 240_000 }, async (t) => {
  if (!hasCurl) {
    t.skip('curl is not installed: the page\'s service steps use it');
    return;
  }
  const port = await freePort();
  const blocks = shBlocks(readFileSync(DOC, 'utf8')).map((b) => b.replaceAll(PORT_IN_DOC, port));
  assert.ok(blocks.length >= 8, `expected the page's steps, found ${blocks.length} sh blocks`);
  const dir = await mkdtemp(join(tmpdir(), 'ralm-walk-'));
  let server: ChildProcess | null = null;
  const outputs: string[] = [];
  try {
    for (const block of blocks) {
      if (block.startsWith('ralm serve')) {
        server = spawn('bash', ['-c', `${prelude}${block}`], { cwd: dir, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
        let log = '';
        server.stderr?.on('data', (c) => (log += String(c)));
        const deadline = Date.now() + 60_000;
        while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
          assert.ok(Date.now() < deadline && server.exitCode === null, `the service did not start:\n${log}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        continue;
      }
      const r = await run('bash', ['-c', `${prelude}${block}`], { cwd: dir, maxBuffer: 64 << 20 }).catch((err: { stdout: string; stderr: string }) => {
        assert.fail(`block failed:\n${block}\n--- stderr:\n${err.stderr}`);
      });
      outputs.push(r.stdout);
    }
    const all = outputs.join('\n');
    assert.match(all, /^shop: 400 users, 150 items, 12354 rows \(12354 clicks\)/m, 'data inspect, as the page shows it');
    assert.match(all, /recent {9}multi .*; item ids$/m);
    assert.match(all, /per-user split at .*: 9727 train rows, 2627 test rows/);
    const evaluation = JSON.parse(await readFile(join(dir, 'shop', 'eval.json'), 'utf8')) as { dataset: string; split: { kind: string }; runs: unknown[] };
    assert.deepEqual([evaluation.dataset, evaluation.split.kind], ['shop', 'per-user']);
    assert.ok(evaluation.runs.length >= 7, 'every method ran');
    assert.ok(existsSync(join(dir, 'shop', 'eval.md')));
    assert.match(all, /^averaged seeds /m, 'eval audience printed its table');
    assert.match(all, /^trained shop-attention-h32-m32-k1-seed1-[0-9a-f]{8} on shop \(12354 training rows\)/m);
    assert.match(all, /^stored 400 users/m);
    assert.match(all, /^imported 12354 events into .*: 12354 accepted, 0 duplicates/m);
    assert.match(all, /"itemsClustered":147/, 'the re-clustering run published every clicked item');
    const replies = all.split('\n').filter((l) => l.startsWith('{"items":[{')).map((l) => JSON.parse(l) as { items: Array<{ id: string }>; modelVersion: string });
    assert.equal(replies.length, 2, 'two recommendations: by id and by features');
    assert.deepEqual(replies.map((x) => x.items.length), [5, 3]);
    // The default name ends with a digest of the trained weights: distinct weights, distinct names.
    for (const r of replies) assert.match(r.modelVersion, /^shop-attention-h32-m32-k1-seed1-[0-9a-f]{8}$/);
    assert.match(all, /^imported 2 events into http:\/\/localhost:\d+ .*: 2 accepted/m);
    const score = JSON.parse(all.trim().split('\n').at(-1) as string) as { items: string[]; scores: number[] };
    assert.deepEqual(score.items, ['i-new', 'i123'], 'the new item is servable after its first clicks');
    assert.ok(score.scores.every(Number.isFinite));
  } finally {
    if (server?.pid !== undefined && server.exitCode === null) {
      process.kill(-server.pid, 'SIGTERM');
      await new Promise((r) => server?.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  }
});
