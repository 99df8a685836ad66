/**
 * The house's rules, from the import graph of src/: contracts and backends import no features,
 * data imports no evaluation, only the CLI's bench command imports bench/, no two folders import
 * each other, and no source file outgrows one sitting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

const src = join(packageRoot, 'src');
const FEATURES = ['engine', 'seeds', 'audience', 'server', 'train', 'eval', 'cli', 'clustering'];
/** Folders each folder must not import. */
const FORBIDDEN: Record<string, string[]> = {
  util: ['model', 'core', 'cpu', 'gpu', 'store', 'data', ...FEATURES],
  model: ['core', 'cpu', 'gpu', 'store', 'data', ...FEATURES],
  core: ['cpu', 'gpu', 'store', 'data', ...FEATURES],
  cpu: ['gpu', 'store', 'data', ...FEATURES],
  gpu: ['cpu', 'store', 'data', ...FEATURES],
  store: ['core', 'cpu', 'gpu', 'data', ...FEATURES],
  data: ['core', 'cpu', 'gpu', 'store', ...FEATURES],
  clustering: ['gpu', 'store', 'data', 'engine', 'seeds', 'audience', 'server', 'train', 'eval', 'cli'],
};
/** Files allowed past 400 lines, and why. */
const LONG_FILES: Record<string, string> = {
  'store/lmdb-store.ts': 'one transaction discipline over every sub-database; split, its invariants would be spread over files',
};
const MAX_LINES = 400;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Edge { file: string; spec: string; from: string; to: string | null; target: string }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of tsFiles(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'";]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2];
      const target = resolve(dirname(file), spec);
      const rel = relative(src, file);
      const from = rel.includes('/') ? rel.split('/')[0] : '.';
      const inSrc = !relative(src, target).startsWith('..');
      const trel = relative(src, target);
      out.push({ file: rel, spec, from, to: inSrc ? (trel.includes('/') ? trel.split('/')[0] : '.') : null, target });
    }
  }
  return out;
}

describe('the house rules (src/ import graph)', () => {
  const all = edges();

  it('contracts, backends, model, store and data import no feature', () => {
    const broken = all.filter((e) => e.to !== null && (FORBIDDEN[e.from] ?? []).includes(e.to)).map((e) => `${e.file} imports ${e.to}/ (${e.spec})`);
    assert.deepEqual(broken, []);
  });

  it('only the CLI bench command imports bench/', () => {
    const broken = all.filter((e) => e.to === null && relative(packageRoot, e.target).startsWith('bench') && e.file !== 'cli/commands/bench.ts').map((e) => `${e.file} (${e.spec})`);
    assert.deepEqual(broken, []);
  });

  it('no two folders import each other', () => {
    const pairs = new Set(all.filter((e) => e.to !== null && e.to !== e.from).map((e) => `${e.from}>${e.to}`));
    const cycles = [...pairs].filter((p) => {
      const [a, b] = p.split('>');
      return a < b && pairs.has(`${b}>${a}`);
    });
    assert.deepEqual(cycles, []);
  });

  it(`no source file is over ${MAX_LINES} lines unless it says why here`, () => {
    const long = tsFiles(src)
      .map((f) => ({ f: relative(src, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((x) => x.lines > MAX_LINES && !(x.f in LONG_FILES))
      .map((x) => `${x.f}: ${x.lines} lines`);
    assert.deepEqual(long, []);
  });
});
