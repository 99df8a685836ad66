/**
 * A command's module loads no heavy machinery until the command runs: `ralm <command> --help`,
 * usage errors and the command list (which loads every command's module for its summary) must not
 * pay for TensorFlow.js, a store's client library or the HTTP server. Each module is imported in
 * a fresh process with a module-resolution hook that reports every package it resolves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/util/paths.js';

const run = promisify(execFile);

/** Packages only a command's run may load. */
const HEAVY = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'lmdb', 'ioredis', 'fastify', 'onnxruntime-node', 'autocannon'];

test('every command module loads without TensorFlow.js, LMDB, ioredis or Fastify', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ralm-lazy-'));
  try {
    const hooks = join(dir, 'hooks.mjs');
    await writeFile(hooks, [
      'export async function resolve(specifier, context, next) {',
      '  const r = await next(specifier, context);',
      "  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);",
      "  if (m && context.parentURL && !context.parentURL.includes('/node_modules/')) process.stderr.write(`LOADS ${m[1]} <- ${context.parentURL}\\n`);",
      '  return r;',
      '}',
    ].join('\n'));
    const register = join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const commandsDir = join(packageRoot, 'dist', 'src', 'cli', 'commands');
    const modules = (await readdir(commandsDir)).filter((f) => f.endsWith('.js'));
    assert.ok(modules.length >= 12, modules.join(', '));
    const found: string[] = [];
    for (const f of modules) {
      const { stderr } = await run(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(commandsDir, f)).href)})`]);
      for (const line of stderr.split('\n')) {
        const m = /^LOADS (\S+) <- (\S+)/.exec(line);
        if (m && HEAVY.includes(m[1])) found.push(`${f}: ${m[1]} from ${m[2].replace(/^.*\/dist\//, '')}`);
      }
    }
    assert.deepEqual([...new Set(found)], []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
