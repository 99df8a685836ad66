/**
 * Build step: assembles the WebAssembly kernels (*.wat, kept readable in the source tree) into
 * .wasm binaries next to the compiled JavaScript. Runs as part of `npm run build` (and so of
 * `npm ci`, through `prepare`).
 */
import wabtInit from 'wabt';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/src/cpu/wasm
const sourceDir = resolve(here, '..', '..', '..', '..', 'src', 'cpu', 'wasm');

const wabt = await wabtInit();
for (const name of ['score-kernel', 'kmeans-kernel']) {
  const source = readFileSync(join(sourceDir, `${name}.wat`), 'utf8');
  const features = { simd: true, threads: true };
  const mod = wabt.parseWat(`${name}.wat`, source, features);
  // wabt's typings omit validate()'s features argument; without it shared memory is rejected.
  (mod as unknown as { validate(f: typeof features): void }).validate(features);
  const { buffer } = mod.toBinary({});
  mkdirSync(here, { recursive: true });
  writeFileSync(join(here, `${name}.wasm`), buffer);
  mod.destroy();
}
