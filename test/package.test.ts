/**
 * The package as a consumer gets it: `npm pack` ships what the library, the command line and the
 * shipped model need and nothing else, and a strict TypeScript project that depends on the tarball
 * type-checks against its declarations (the examples of README.md and docs/library.md included)
 * and runs.
 *
 * The tarball is unpacked into the consumer's node_modules/ralm rather than `npm install`ed: an
 * install fetches the dependencies from the registry (network, minutes). Here each dependency is a
 * link to this checkout's installed copy, and only those the lockfile does not mark dev-only are
 * linked, so shipped code that imports a dev-only package fails here as it would for a user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

const run = promisify(execFile);

/** What `npm pack --json` reports (the part used here). */
interface PackReport {
  filename: string;
  files: Array<{ path: string }>;
}

/** Runs a command; on failure the assertion shows its output. */
async function sh(file: string, args: string[], cwd: string, what: string): Promise<string> {
  try {
    const r = await run(file, args, { cwd, maxBuffer: 64 << 20, timeout: 120_000 });
    return r.stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(`${what} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The ```ts blocks of a markdown file. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** Links the lockfile's non-dev top-level packages (and @types/node, which a consumer brings) into `nodeModules`. */
function linkRuntimeDependencies(nodeModules: string): number {
  const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  let linked = 0;
  for (const [key, info] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/')) continue;
    const name = key.slice('node_modules/'.length);
    if (name.includes('/node_modules/')) continue; // nested: comes with its parent's link
    if (info.dev && name !== '@types/node') continue;
    const source = join(packageRoot, key);
    if (!existsSync(source)) continue; // an optional dependency not installed on this platform
    const target = join(nodeModules, name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(source, target, 'dir');
    linked++;
  }
  return linked;
}

const CONSUMER = `import { RalmEngine, RalmError, defaultModelDir, loadConfig, loadModel, type RankResult, type ServiceConfig } from 'ralm';
import { main as cliMain } from 'ralm/cli';

const model = await loadModel(defaultModelDir);
const { h } = model.manifest;
const engine = await RalmEngine.create(model, { backend: 'cpu' });
const out: Record<string, unknown> = { modelVersion: model.manifest.modelVersion };
try {
  const centroids = (i: number): Float32Array => Float32Array.from({ length: 2 * h }, (_, j) => Math.sin(7 * i + j));
  await engine.upsertItems([0, 1, 2].map((i) => ({ id: \`item-\${i}\`, centroids: centroids(i) })));
  const [top]: RankResult[] = await engine.rank([{ user: { embedding: centroids(1).subarray(0, h) }, k: 2 }]);
  out.backend = top.backend;
  out.ranked = top.items.map((item) => item.id);
  try {
    await engine.rank([{ user: { embedding: [1, 2] }, k: 1 }]);
  } catch (err) {
    out.error = err instanceof RalmError ? err.code : String(err);
  }
} finally {
  await engine.close();
}
const config: ServiceConfig = loadConfig({ RALM_PORT: '0' });
out.port = config.port;
out.cli = typeof cliMain;
try {
  await import(['ralm', 'dist', 'src', 'model', 'model.js'].join('/'));
  out.deepImport = 'allowed';
} catch (err) {
  out.deepImport = (err as NodeJS.ErrnoException).code;
}
console.log(JSON.stringify(out));
`;

test('npm pack ships the library, CLI, shaders and weights; a strict TypeScript consumer type-checks and runs against the tarball', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(join(packageRoot, 'dist', 'src', 'index.d.ts')), 'dist/src/index.d.ts is missing: run `npm run build`');
  const tmp = mkdtempSync(join(tmpdir(), 'ralm-package-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  // --ignore-scripts: `prepare` would rebuild dist/ underneath the running test suite.
  let packed: string;
  try {
    packed = (await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: packageRoot, maxBuffer: 64 << 20, timeout: 120_000 })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      t.skip('npm is not on PATH, so the package cannot be packed here');
      return;
    }
    assert.fail(`npm pack failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const [report] = JSON.parse(packed) as PackReport[];
  const files = report.files.map((f) => f.path);

  for (const needed of [
    'package.json', 'README.md', 'bin/ralm.js',
    'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/src/cli/main.d.ts',
    'dist/src/cpu/wasm/score-kernel.wasm', 'dist/src/cpu/wasm/kmeans-kernel.wasm',
    'weights/default/manifest.json', 'weights/default/model.safetensors', 'weights/default/vocab.json',
  ]) assert.ok(files.includes(needed), `the package lacks ${needed}`);
  assert.ok(files.some((f) => /^shaders\/[a-z0-9-]+\.wgsl$/.test(f)), 'the package has no shaders/*.wgsl');
  assert.ok(files.some((f) => f.startsWith('dist/bench/')), 'the package lacks dist/bench/ (the `ralm bench` commands load it)');
  const junk = files.filter((f) => /^(src|test|dist\/test|bench\/results|data|\.ci)\/|\.map$|\.tsbuildinfo$|(^|\/)node_modules\//.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts'));
  assert.deepEqual(junk, [], 'sources, tests, source maps and results stay out of the package');

  // The consumer project: the tarball unpacked as node_modules/ralm, dependencies linked.
  const project = join(tmp, 'consumer');
  const nodeModules = join(project, 'node_modules');
  mkdirSync(nodeModules, { recursive: true });
  await sh('tar', ['-xzf', join(tmp, report.filename), '-C', nodeModules], tmp, 'unpacking the tarball');
  renameSync(join(nodeModules, 'package'), join(nodeModules, 'ralm'));
  assert.ok(linkRuntimeDependencies(nodeModules) > 0, 'no dependency could be linked');

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { ralm: '*' } }));
  // skipLibCheck: TensorFlow.js's own declarations need the DOM lib; the consumer's code is checked strictly.
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023'], types: ['node'], skipLibCheck: true, outDir: 'out', rootDir: '.' },
    include: ['*.ts'],
  }));
  writeFileSync(join(project, 'main.ts'), CONSUMER);
  const examples = ['README.md', join('docs', 'library.md')].flatMap((doc) => {
    const blocks = tsBlocks(readFileSync(join(packageRoot, doc), 'utf8'));
    assert.ok(blocks.length > 0, `${doc} has no \`\`\`ts examples`);
    return blocks.map((code, i) => ({ name: `${doc} example ${i + 1}`, file: `example-${doc.replace(/\W+/g, '-')}-${i + 1}`, code }));
  });
  for (const e of examples) {
    assert.match(e.code, /from 'ralm'/, `${e.name} does not import from the package name`);
    writeFileSync(join(project, `${e.file}.ts`), e.code);
  }

  await sh(process.execPath, [join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project, 'type-checking the consumer and the examples of README.md and docs/library.md');

  const lines = (await sh(process.execPath, [join('out', 'main.js')], project, 'running the consumer')).trim().split('\n');
  const out = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'weights', 'default', 'manifest.json'), 'utf8')) as { modelVersion: string };
  assert.equal(out.modelVersion, manifest.modelVersion, 'the shipped default model loads from the package');
  assert.equal(out.backend, 'cpu');
  assert.equal((out.ranked as string[]).length, 2);
  assert.equal(out.error, 'RALM_ERR_DIMENSION');
  assert.equal(out.port, 0);
  assert.equal(out.cli, 'function');
  assert.equal(out.deepImport, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'only the exports map is public');

  // The examples run too, except training and evaluation (minutes, and datasets not shipped).
  for (const e of examples) {
    if (/trainModel|evalRecommend|evalAudience/.test(e.code)) continue;
    await sh(process.execPath, [join('out', `${e.file}.js`)], project, `running ${e.name}`);
  }

  // The command line from the package finds the model shipped inside it.
  const inspected = JSON.parse(await sh(process.execPath, [join(nodeModules, 'ralm', 'bin', 'ralm.js'), 'model', 'inspect', '--json'], project, 'ralm model inspect')) as { dir: string; manifest: { modelVersion: string } };
  assert.equal(inspected.manifest.modelVersion, manifest.modelVersion);
  assert.equal(inspected.dir, join(nodeModules, 'ralm', 'weights', 'default'));
});
