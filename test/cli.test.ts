import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'ralm.js');

async function ralm(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { cwd: packageRoot });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('ralm command line', () => {
  it('info --json prints one JSON document', async () => {
    const r = await ralm('info', '--json');
    assert.equal(r.code, 0);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.cpu.available, true);
    assert.equal(doc.defaultModel.h, 128);
  });

  it('model init writes a model that model inspect validates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-'));
    const out = join(dir, 'm');
    assert.equal((await ralm('model', 'init', '--out', out, '--h', '16', '--m', '8', '--k', '4', '--json')).code, 0);
    const r = await ralm('model', 'inspect', out, '--json');
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.stdout).manifest.k, 4);
    await rm(dir, { recursive: true });
  });

  it('bench kernel --json runs a small configuration and reports the roofline; plot and compare read it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-cli-bench-'));
    const out = join(dir, 'k.json');
    const r = await ralm('bench', 'kernel', '--backend', 'cpu', '--sizes', '200', '--ks', '4', '--h', '16', '--storage', 'f32,f16', '--min-ms', '50', '--json', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.rows.length, 2);
    assert.ok(doc.rows[0].timing.medianMs > 0 && doc.rows[0].roofline.medianMs > 0);
    assert.ok(doc.f16Effect.top10Overlap > 0.5);
    assert.ok(doc.machine.memoryReadGBps > 0);
    const p = await ralm('bench', 'plot', out, '--out-dir', dir, '--json');
    assert.equal(p.code, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).files.length, 2);
    const c = await ralm('bench', 'compare', out, out);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /2 of 2 medians within ±10%/);
    await rm(dir, { recursive: true });
  });

  it('usage errors exit 2 and name the problem', async () => {
    const r = await ralm('bench', 'kernel', '--sizes', 'ten');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sizes: expected a positive integer, got "ten"/);
    assert.equal((await ralm('frobnicate')).code, 2);
    const m = await ralm('model', 'inspect', '/nonexistent-model');
    assert.equal(m.code, 1);
    assert.match(m.stderr, /RALM_ERR_MODEL_FORMAT: cannot read model directory/);
  });
});
