/**
 * The kernel descriptions checked against the WGSL text, without a GPU: the assembled source,
 * the named bindings, the uniform structs and the override constants.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shadersDir } from '../../src/util/paths.js';
import { GPU_LIMITS } from '../../src/gpu/limits.js';
import { assembleShader, backendPrograms, shaderBounds, shaderLocation, type ProgramInfo } from '../../src/gpu/programs.js';
import { bindEntries } from '../../src/gpu/runtime.js';

const programs = [...new Map([false, true].flatMap((f16) => [...backendPrograms(f16), ...backendPrograms(f16, 'cooperative')]).map((p) => [p.cacheKey, p])).values()];
const kernelFiles = readdirSync(shadersDir).filter((f) => f.endsWith('.wgsl') && f !== 'common.wgsl').sort();
const common = readFileSync(join(shadersDir, 'common.wgsl'), 'utf8');
const fileText = (f: string): string => readFileSync(join(shadersDir, f), 'utf8');

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

function functionNames(code: string): string[] {
  return Array.from(code.matchAll(/^\s*fn\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/gm), (m) => m[1]);
}

describe('shader assembly', () => {
  it('every kernel file is compiled by the backend', () => {
    assert.deepEqual([...new Set(programs.map((p) => p.shaderFile))].sort(), kernelFiles);
  });

  for (const file of kernelFiles) {
    it(`${file}: common.wgsl and the bounds appear exactly once, no function is defined twice`, () => {
      const { code } = assembleShader(file);
      assert.equal(count(code, common), 1);
      assert.equal(count(code, shaderBounds()), 1);
      const names = functionNames(code);
      assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'duplicate functions');
      assert.ok(code.startsWith(fileText(file)), 'the kernel comes first, so its line numbers are its file\'s');
    });

    it(`${file}: keeps its prose header and repeats no bound`, () => {
      const text = fileText(file);
      const headerLines = text.split('\n').findIndex((l) => !l.startsWith('//'));
      assert.ok(headerLines >= 5, `${file} starts with a prose header`);
      assert.match(text, /Memory layout/);
      for (const bound of ['MAX_K', 'MAX_ROW_VEC4', 'COOP_LANES', 'TILE', 'WORKGROUP_SIZE']) {
        assert.doesNotMatch(text, new RegExp(`\\bconst\\s+${bound}\\b`), `${file} declares ${bound} itself`);
        assert.doesNotMatch(text, new RegExp(`override\\s+${bound}\\s*:[^;=]*=`), `${file} gives ${bound} a default`);
      }
      for (const fn of functionNames(common)) assert.ok(!functionNames(text).includes(fn), `${file} redefines ${fn}`);
    });
  }

  it('generates the bounds WGSL cannot take as overrides from GPU_LIMITS', () => {
    assert.equal(shaderBounds(), [
      '// Generated from GPU_LIMITS (src/gpu/limits.ts): WGSL sizes a function-scope array only with a constant.',
      'const MAX_K: u32 = 128u;',
      'const MAX_ROW_VEC4: u32 = 64u;',
      'const COOP_LANES: u32 = 32u;',
      '',
    ].join('\n'));
    assert.equal(GPU_LIMITS.maxH / 4, 64);
  });

  it('maps a line of the assembled source back to its file', () => {
    const shader = assembleShader('score.wgsl');
    const scoreLines = fileText('score.wgsl').split('\n').length - 1;
    assert.equal(shaderLocation(shader, 1), 'score.wgsl:1');
    assert.equal(shaderLocation(shader, scoreLines), `score.wgsl:${scoreLines}`);
    assert.equal(shaderLocation(shader, scoreLines + 1), 'common.wgsl:1');
    assert.equal(shaderLocation(shader, shader.code.split('\n').length - 1), 'bounds (src/gpu/limits.ts):4');
  });
});

/** `@group(0) @binding(N) var<...> name` declarations of a WGSL file. */
function declaredBindings(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var(?:<[^>]*>)?\s+([A-Za-z_][A-Za-z0-9_]*)/g)) out.set(m[2], Number(m[1]));
  return out;
}

/** Fields of `struct Params` as (name, type). */
function paramsStruct(text: string): Array<[string, string]> {
  const body = /struct Params \{([^}]*)\}/.exec(text)?.[1] ?? '';
  return Array.from(body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^,\n]+),/g), (m) => [m[1], m[2].trim()]);
}

/** `override NAME: type` declarations without a default. */
function requiredOverrides(text: string): string[] {
  return Array.from(text.matchAll(/^override\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*[a-z0-9<>]+\s*;/gm), (m) => m[1]).sort();
}

describe('kernel descriptions match their WGSL', () => {
  for (const p of programs) {
    const text = fileText(p.shaderFile);
    it(`${p.name}: named bindings are the file's declarations`, () => {
      const declared = declaredBindings(text);
      for (const [name, index] of Object.entries(p.bindings)) assert.equal(declared.get(name), index, `${p.name}: ${name}`);
      assert.ok(text.includes(`fn ${p.entryPoint}(`), `entry point ${p.entryPoint}`);
    });

    it(`${p.name}: the uniform layout is struct Params`, () => {
      assert.deepEqual(p.uniforms.fields.map((f) => [f.name, f.type]), paramsStruct(text));
      assert.equal(p.bindings.params, 0);
    });

    it(`${p.name}: sets exactly the overrides the file leaves open`, () => {
      assert.deepEqual(Object.keys(p.constants).sort(), requiredOverrides(text));
    });
  }

  it('binding by name refuses a missing or an extra name', () => {
    const p = programs.find((x) => x.name === 'top-k-gather') as ProgramInfo;
    const all = { params: 'u', tiles: 't', results: 'r', src: 's', rows: 'o' };
    assert.deepEqual(bindEntries(p, all).map((e) => [e.binding, e.resource.buffer]), [[0, 'u'], [1, 't'], [2, 'r'], [3, 's'], [5, 'o']]);
    const { rows: _rows, ...missing } = all;
    assert.throws(() => bindEntries(p, missing), /top-k-gather: bindings missing rows/);
    assert.throws(() => bindEntries(p, { ...all, dst: 'd' }), /not in the program: dst/);
  });
});
