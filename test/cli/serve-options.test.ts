/**
 * The engine and store options `ralm serve` exposes reach the running service: CPU threads,
 * centroid storage, page size and the LMDB map size; a bad value is one coded start-up line.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../helpers/serve.js';
import { ralmWith } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function get(url: URL, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http.get(new URL(path, url), (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

describe('serve options', () => {
  it('threads, storage, page size and map size are applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ralm-serve-opts-'));
    dirs.push(dir);
    const s = await serve(['--data-dir', join(dir, 'data'), '--cpu-threads', '1', '--storage', 'f16', '--max-page-bytes', String(1 << 20), '--lmdb-map-size', String(1 << 28)]);
    try {
      let ready = await get(s.url, '/readyz');
      for (let i = 0; i < 100 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await get(s.url, '/readyz');
      }
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      assert.match(String(ready.body.adapter), /^cpu \(wasm simd(\+fma)?, 1 thread\)$/);
      assert.equal(ready.body.storage, 'f16');
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('ranking is offloaded to the worker threads by default, and not with --cpu-offload false', async () => {
    for (const [args, adapter] of [[[], /^cpu \(wasm simd(\+fma)?, 2 threads, offloaded\)$/], [['--cpu-offload', 'false'], /^cpu \(wasm simd(\+fma)?, 2 threads\)$/]] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'ralm-serve-opts-'));
      dirs.push(dir);
      const s = await serve(['--data-dir', join(dir, 'data'), '--demo', 'false', '--cpu-threads', '2', ...args]);
      try {
        const ready = await get(s.url, '/readyz');
        assert.match(String(ready.body.adapter), adapter);
      } finally {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
  });

  it('a bad value is one coded line naming the setting', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RALM_')));
    for (const [args, message] of [
      [['--cpu-threads', '0'], /cpu-threads: expected an integer in \[1, 256\], got "?0"?/],
      [['--storage', 'int4'], /storage: expected one of f32, f16|storage: expected .*f32.*f16/],
      [['--lmdb-map-size', '12'], /lmdb-map-size: expected an integer in/],
      [['--cpu-offload', 'maybe'], /cpu-offload: expected one of true, false, got "maybe"/],
    ] as const) {
      const r = await ralmWith({ timeoutMs: 60_000, env }, 'serve', '--port', '0', '--backend', 'cpu', ...args);
      assert.equal(r.code, 1, r.stderr);
      const last = r.stderr.trim().split('\n').at(-1) as string;
      assert.ok(last.startsWith('ralm: RALM_ERR_VALIDATION: '), last);
      assert.match(last, message);
    }
  });
});
