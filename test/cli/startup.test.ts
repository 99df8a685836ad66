/**
 * Start-up failures of `ralm serve` and `ralm users import` are one coded line on stderr and exit
 * code 1, never a stack trace, and the process exits: an open API on a non-loopback host, a bad
 * token setting, an unusable data directory, a port in use, a missing input file.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ralmWith } from '../helpers/cli.js';

/** The last line of stderr is the coded failure; no line is a stack frame. */
function failedWith(r: { code: number; stderr: string }, code: string, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.ok(!lines.some((l) => /^\s+at /.test(l)), `a stack trace:\n${r.stderr}`);
  const last = lines[lines.length - 1];
  assert.ok(last.startsWith(`ralm: ${code}: `), last);
  assert.match(last, message);
}

describe('start-up failures', () => {
  let dir: string;
  // Nothing of the caller's own service settings.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RALM_') || k === 'RALM_DATASETS'));
  const run = (...args: string[]) => ralmWith({ timeoutMs: 60_000, cwd: dir, env }, ...args);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ralm-startup-'));
    await writeFile(join(dir, 'a-file'), 'x');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('an open API on a host other than loopback is refused unless --insecure', async () => {
    failedWith(await run('serve', '--host', '0.0.0.0', '--port', '0'), 'RALM_ERR_INSECURE', /refusing to serve 0\.0\.0\.0 with no API token.*--insecure/);
  });

  it('a bad token setting names it', async () => {
    failedWith(await ralmWith({ timeoutMs: 60_000, cwd: dir, env: { ...env, RALM_API_TOKENS: 'reader:abc' } }, 'serve'), 'RALM_ERR_VALIDATION', /RALM_API_TOKENS: api-tokens: unknown scope "reader"/);
    failedWith(await run('serve', '--api-tokens-file', 'missing.txt'), 'RALM_ERR_VALIDATION', /api-tokens-file: cannot read .*missing\.txt.*ENOENT/);
  });

  it('a data directory that cannot hold the store', async () => {
    failedWith(await run('serve', '--port', '0', '--backend', 'cpu', '--data-dir', 'a-file/store'), 'RALM_ERR_DATA_DIR', /data directory .*a-file\/store: cannot open the store: not a directory \(ENOTDIR\)/);
  });

  it('a port in use, after which the process still exits', async () => {
    const taken: Server = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
    try {
      const r = await run('serve', '--port', String(port), '--backend', 'cpu', '--demo', 'false', '--data-dir', join(dir, 'store'));
      failedWith(r, 'RALM_ERR_LISTEN', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\(EADDRINUSE\\)`));
    } finally {
      taken.close();
    }
  });

  it('users import of a missing file', async () => {
    failedWith(await run('users', 'import', 'nope.msgpack', '--data-dir', join(dir, 'store')), 'RALM_ERR_IO', /nope\.msgpack: cannot open: no such file or directory \(ENOENT\)/);
  });
});
