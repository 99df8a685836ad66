/**
 * Build step: assembles the WebAssembly kernels (*.wat, kept readable in the source tree) into
 * .wasm binaries next to the compiled JavaScript. Runs as part of `npm run build` (and so of
 * `npm ci`, through `prepare`). The scorer is also assembled with its multiply-adds fused
 * (`score-kernel-fma.wasm`, relaxed SIMD; see fma.ts), used where the runtime enables it.
 */
import wabtInit from 'wabt';
import { fuseMultiplyAdds } from './fma.js';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/src/cpu/wasm
const sourceDir = resolve(here, '..', '..', '..', '..', 'src', 'cpu', 'wasm');

const wabt = await wabtInit();
/** Source files spliced into a module's main file where its line `;; @parts` stands. */
const PARTS: Record<string, string[]> = { 'score-kernel': ['score-batch', 'scan-users', 'score-int8', 'score-batch-int8', 'weights-int8', 'scan-int8', 'scan-direction'] };
const PARTS_MARKER = /^;; @parts$/m;

function moduleSource(name: string): string {
  const main = readFileSync(join(sourceDir, `${name}.wat`), 'utf8');
  const parts = PARTS[name];
  if (!parts) return main;
  if (!PARTS_MARKER.test(main)) throw new Error(`${name}.wat: no ";; @parts" line to splice ${parts.join(', ')} into`);
  return main.replace(PARTS_MARKER, () => parts.map((p) => readFileSync(join(sourceDir, `${p}.wat`), 'utf8')).join('\n'));
}

const builds = [
  { name: 'score-kernel', file: 'score-kernel', fma: false },
  { name: 'score-kernel', file: 'score-kernel-fma', fma: true },
  { name: 'kmeans-kernel', file: 'kmeans-kernel', fma: false },
];
for (const { name, file, fma } of builds) {
  let source = moduleSource(name);
  if (fma) {
    const r = fuseMultiplyAdds(source);
    if (r.fused === 0) throw new Error(`${name}.wat: no multiply-add to fuse`);
    source = r.source;
  }
  const features = { simd: true, threads: true, relaxed_simd: fma };
  const mod = wabt.parseWat(`${name}.wat`, source, features);
  // wabt's typings omit validate()'s features argument; without it shared memory is rejected.
  (mod as unknown as { validate(f: typeof features): void }).validate(features);
  const { buffer } = mod.toBinary({});
  mkdirSync(here, { recursive: true });
  writeFileSync(join(here, `${file}.wasm`), buffer);
  mod.destroy();
}
