/**
 * The documentation stays true to the code: every relative link in README.md and docs/ resolves
 * (files, and #anchors to headings), every environment variable and error code the code uses is
 * documented and every documented one exists, the configuration and error tables match their
 * sources, and the README stays a front door (≤ 300 lines).
 *
 * The code is found by walking the source trees, so files may move without this test changing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../src/util/paths.js';
import { SERVICE_OPTIONS } from '../src/server/config.js';
import { STATUS } from '../src/server/errors.js';

/** Every file under `dir` (relative to the package root), skipping the given subtrees. */
function walk(dir: string, skip: readonly string[] = []): string[] {
  const root = join(packageRoot, dir);
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.includes(relative(packageRoot, p))) continue;
      if (statSync(p).isDirectory()) visit(p);
      else out.push(p);
    }
  };
  visit(root);
  return out;
}

const docFiles = [join(packageRoot, 'README.md'), ...walk('docs').filter((f) => f.endsWith('.md'))];
const docs = new Map(docFiles.map((f) => [f, readFileSync(f, 'utf8')]));
const allDocs = [...docs.values()].join('\n');

/** Markdown without fenced code blocks (their lines blanked, so line numbers hold) and inline code. */
function prose(md: string): string {
  let inFence = false;
  return md.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      inFence = !inFence;
      return '';
    }
    return inFence ? '' : line.replace(/`[^`]*`/g, '');
  }).join('\n');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let inFence = false;
  for (const line of md.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const m = !inFence && /^#{1,6}\s+(.*?)\s*#*$/.exec(line);
    if (!m) continue;
    const base = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

test('every relative link in README.md and docs/ resolves, anchors included', () => {
  assert.ok(docFiles.length > 1, 'docs/ has no markdown files');
  const broken: string[] = [];
  let checked = 0;
  for (const [file, md] of docs) {
    const lines = prose(md).split('\n');
    lines.forEach((line, i) => {
      for (const m of line.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1];
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        checked++;
        const where = `${relative(packageRoot, file)}:${i + 1}: ${target}`;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
        if (!existsSync(resolved)) {
          broken.push(`${where} (no such file)`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!resolved.endsWith('.md')) {
          broken.push(`${where} (an anchor into a file that is not markdown)`);
          continue;
        }
        const targetMd = docs.get(resolved) ?? readFileSync(resolved, 'utf8');
        if (!anchors(targetMd).has(anchor)) broken.push(`${where} (no heading with anchor #${anchor})`);
      }
    });
  }
  assert.ok(checked > 20, `only ${checked} relative links found; the link scan is likely broken`);
  assert.deepEqual(broken, [], 'broken links');
});

/** RALM_* names in a text: environment variables and error codes (a bare `RALM_ERR_*` mention is neither). */
function ralmNames(text: string): { env: Set<string>; codes: Set<string> } {
  const env = new Set<string>();
  const codes = new Set<string>();
  for (const m of text.matchAll(/\bRALM_[A-Z0-9_]+/g)) {
    const name = m[0].replace(/_+$/, '');
    if (name === 'RALM_ERR') continue;
    (name.startsWith('RALM_ERR_') ? codes : env).add(name);
  }
  return { env, codes };
}

const selfPath = join('test', 'docs.test.ts');
/** The code that reads settings or raises errors: sources, benchmarks, tests, scripts. */
const codeFiles = ['src', 'bench', 'test', 'bin', '.ci']
  .flatMap((d) => walk(d, [join('bench', 'results')]))
  .filter((f) => relative(packageRoot, f) !== selfPath && !/\.(safetensors|wasm|svg|png)$/.test(f));
const srcNames = ralmNames(walk('src').map((f) => readFileSync(f, 'utf8')).join('\n'));
const codeNames = ralmNames(codeFiles.map((f) => readFileSync(f, 'utf8')).join('\n'));
const docNames = ralmNames(allDocs);
const missing = (from: Set<string>, to: Set<string>): string[] => [...from].filter((n) => !to.has(n)).sort();

test('every RALM_* environment variable in the code is documented, and every documented one exists', () => {
  assert.ok(srcNames.env.size >= 20, `only ${srcNames.env.size} variables found in src/; the scan is likely broken`);
  assert.deepEqual(missing(codeNames.env, docNames.env), [], 'variables the code reads but the docs do not name');
  assert.deepEqual(missing(docNames.env, codeNames.env), [], 'variables the docs name but no code reads');
});

test('every RALM_ERR_* code in src/ is documented, and every documented one exists in src/', () => {
  assert.ok(srcNames.codes.size >= 20, `only ${srcNames.codes.size} error codes found in src/; the scan is likely broken`);
  assert.deepEqual(missing(srcNames.codes, docNames.codes), [], 'codes the code raises but the docs do not name');
  assert.deepEqual(missing(docNames.codes, srcNames.codes), [], 'codes the docs name but src/ does not have');
});

test('docs/http-api.md gives every error code with its HTTP status', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'http-api.md'), 'utf8');
  const wrong = Object.entries(STATUS).filter(([code, status]) => !md.includes(`| \`${code}\` | ${status} |`));
  assert.deepEqual(wrong.map(([code, status]) => `${code} → ${status}`), [], 'codes missing from the error table, or with another status');
});

test('docs/configuration.md gives every service setting with its variable, flag and default', () => {
  const rows = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8').split('\n').filter((l) => l.startsWith('|'));
  const wrong: string[] = [];
  for (const spec of Object.values(SERVICE_OPTIONS)) {
    const row = rows.find((l) => l.includes(`| \`${spec.env}\` |`));
    if (!row) {
      wrong.push(`${spec.env}: no row`);
      continue;
    }
    if (!row.includes(`\`--${spec.flag}\``)) wrong.push(`${spec.env}: flag --${spec.flag} missing from its row`);
    const shown = 'defaultText' in spec ? null : spec.default;
    if (shown && !row.includes(`\`${shown}\``)) wrong.push(`${spec.env}: default \`${shown}\` missing from its row`);
  }
  assert.deepEqual(wrong, []);
});

test('README.md stays a front door: at most 300 lines, and the docs name no machine paths', () => {
  const lines = (docs.get(join(packageRoot, 'README.md')) ?? '').split('\n').length;
  assert.ok(lines <= 300, `README.md has ${lines} lines`);
  const paths = [...docs].filter(([, md]) => /(^|[\s(`'"])\/(work|home|root|Users)\//m.test(md)).map(([f]) => relative(packageRoot, f));
  assert.deepEqual(paths, [], 'documents naming a machine path');
});
