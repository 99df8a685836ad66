/**
 * Each kernel described as data: its WGSL file and entry point, the override constants it is
 * compiled with, the pipeline cache key, its uniform layout, its bindings by name and how much
 * work one workgroup covers. Shapes go in uniforms, so one compiled pipeline serves every batch
 * size. Also the one shader loader, which appends what every kernel shares (common.wgsl).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shadersDir } from '../util/paths.js';
import { GPU_LIMITS } from './limits.js';
import { uniformLayout, type UniformLayout, type UniformValues } from './uniforms.js';

/** A kernel: `B` names its bindings, `U` its uniform fields. */
export interface ProgramInfo<B extends string = string, U extends string = string> {
  readonly name: string;
  readonly shaderFile: string;
  readonly entryPoint: string;
  /** Values of the shader's `override` declarations. */
  readonly constants: Readonly<Record<string, number>>;
  readonly uniforms: UniformLayout<U>;
  /**
   * Binding name (the WGSL variable) → its @binding in group 0, for the bindings this entry point
   * uses: its 'auto' layout leaves out the others, so binding one of them is an error.
   */
  readonly bindings: Readonly<Record<B, number>>;
  /** Work units one workgroup covers: invocations for most kernels, whole tiles for top-K. */
  readonly unitsPerWorkgroup: number;
  readonly cacheKey: string;
}

/** The uniform values a program takes, field by field. */
export type UniformsOf<P> = P extends ProgramInfo<string, infer U> ? UniformValues<U> : never;

function program<B extends string, U extends string>(p: Omit<ProgramInfo<B, U>, 'cacheKey'>): ProgramInfo<B, U> {
  const constants = Object.entries(p.constants).map(([k, v]) => `${k}=${v}`).join(',');
  return { ...p, cacheKey: `${p.shaderFile}#${p.entryPoint}[${constants}]` };
}

const wg = GPU_LIMITS.workgroupSize;

export type ScoreProgram = ReturnType<typeof scoreProgram>;

/**
 * The scorer: `per-item` (score.wgsl) runs one invocation per (candidate, request), the right
 * shape for a CPU-like (software) adapter; `cooperative` (score-coop.wgsl) one workgroup per
 * (candidate, request), lanes over a row's columns: coalesced loads and no spilled private
 * arrays on a hardware GPU. Same uniforms, bindings and work list.
 */
export type GpuScorer = 'per-item' | 'cooperative';

/** `int8`: centroids as int8 codes with a scale per row (item storage `int8`), unpacked to f32 in the shader. */
export function scoreProgram(f16: boolean, scorer: GpuScorer = 'per-item', int8 = false) {
  const coop = scorer === 'cooperative';
  const storage = { F16_CENTROIDS: f16 && !int8 ? 1 : 0, I8_CENTROIDS: int8 ? 1 : 0 };
  return program({
    name: `score-${coop ? 'coop-' : ''}${int8 ? 'i8' : f16 ? 'f16' : 'f32'}`,
    shaderFile: coop ? 'score-coop.wgsl' : 'score.wgsl',
    entryPoint: 'main',
    constants: coop ? storage : { WORKGROUP_SIZE: wg.score, ...storage },
    uniforms: uniformLayout([
      { name: 'work_start', type: 'u32' },
      { name: 'work_count', type: 'u32' },
      { name: 'k', type: 'u32' },
      { name: 'row_vec4', type: 'u32' },
      { name: 'alpha', type: 'f32' },
      { name: 'beta', type: 'f32' },
      { name: 'zero_norm', type: 'f32' },
      { name: 'i8_scales', type: 'u32' },
    ]),
    bindings: { params: 0, centroids: 1, globals: 2, item_meta: 3, users: 4, user_norms: 5, work: 6, results: 7 },
    unitsPerWorkgroup: coop ? 1 : wg.score,
  });
}

/** The audience kernel's score for a row it skips (dead or excluded); never a real score. */
export const SKIPPED_SCORE = -3e38;

export const audienceProgram = program({
  name: 'audience',
  shaderFile: 'audience.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: wg.audience, SKIPPED: SKIPPED_SCORE },
  uniforms: uniformLayout([
    { name: 'count', type: 'u32' },
    { name: 'set_count', type: 'u32' },
    { name: 'row_vec4', type: 'u32' },
    { name: 'pool_mode', type: 'u32' },
    { name: 'row_base', type: 'u32' },
    { name: 'pos_base', type: 'u32' },
    { name: 'list_base', type: 'u32' },
    { name: 'positions', type: 'u32' },
    { name: 'page_first_row', type: 'u32' },
    { name: 'alpha', type: 'f32' },
    { name: 'beta', type: 'f32' },
    { name: 'zero_norm', type: 'f32' },
  ]),
  bindings: { params: 0, rows: 1, norms: 2, list: 3, sets: 4, dmat: 5, gram: 6, skip: 7, results: 8 },
  unitsPerWorkgroup: wg.audience,
});

export const globalAttentionProgram = program({
  name: 'global-attention',
  shaderFile: 'global-attention.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: wg.globalAttention },
  uniforms: uniformLayout([
    { name: 'item_count', type: 'u32' },
    { name: 'k', type: 'u32' },
    { name: 'h', type: 'u32' },
    { name: 's', type: 'u32' },
  ]),
  bindings: { params: 0, centroids: 1, counts: 2, w_g_mat: 3, w_g_vec: 4, out_globals: 5, out_norms: 6 },
  unitsPerWorkgroup: wg.globalAttention,
});

export const transformProgram = program({
  name: 'transform',
  shaderFile: 'transform.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: wg.transform },
  uniforms: uniformLayout([
    { name: 'count', type: 'u32' },
    { name: 'm', type: 'u32' },
    { name: 'h', type: 'u32' },
    { name: '_pad', type: 'u32' },
  ]),
  bindings: { params: 0, x: 1, weight: 2, bias: 3, prelu: 4, out: 5 },
  unitsPerWorkgroup: wg.transform,
});

const kmeansUniforms = uniformLayout([
  { name: 'total', type: 'u32' },
  { name: 'item_count', type: 'u32' },
  { name: 'k', type: 'u32' },
  { name: 'row_vec4', type: 'u32' },
]);

export const kmeansAssignProgram = program({
  name: 'kmeans-assign',
  shaderFile: 'kmeans.wgsl',
  entryPoint: 'assign_points',
  constants: { WORKGROUP_SIZE: wg.kmeans },
  uniforms: kmeansUniforms,
  bindings: { params: 0, points: 1, point_item: 2, items: 3, centroids: 4, assignments: 5, changed: 6 },
  unitsPerWorkgroup: wg.kmeans,
});

export const kmeansUpdateProgram = program({
  name: 'kmeans-update',
  shaderFile: 'kmeans.wgsl',
  entryPoint: 'update_centroids',
  constants: { WORKGROUP_SIZE: wg.kmeans },
  uniforms: kmeansUniforms,
  bindings: { params: 0, points: 1, items: 3, centroids: 4, assignments: 5 },
  unitsPerWorkgroup: wg.kmeans,
});

const topKUniforms = uniformLayout([
  { name: 'tile_count', type: 'u32' },
  { name: 'desc_offset', type: 'u32' },
  { name: 'first_pass', type: 'u32' },
  { name: '_pad', type: 'u32' },
]);
const topKConstants = { TILE: GPU_LIMITS.topKTile, WORKGROUP_SIZE: wg.topK };

/** One workgroup per tile. */
export const topKSelectProgram = program({
  name: 'top-k-select',
  shaderFile: 'top-k.wgsl',
  entryPoint: 'select_tile',
  constants: topKConstants,
  uniforms: topKUniforms,
  bindings: { params: 0, tiles: 1, results: 2, src: 3, dst: 4 },
  unitsPerWorkgroup: 1,
});

/** One workgroup per list. */
export const topKGatherProgram = program({
  name: 'top-k-gather',
  shaderFile: 'top-k.wgsl',
  entryPoint: 'gather',
  constants: topKConstants,
  uniforms: topKUniforms,
  bindings: { params: 0, tiles: 1, results: 2, src: 3, rows: 5 },
  unitsPerWorkgroup: 1,
});

/** Every program the backend compiles before it is used. */
export function backendPrograms(f16: boolean, scorer: GpuScorer = 'per-item', int8 = false): ProgramInfo[] {
  return [
    scoreProgram(f16, scorer, int8), globalAttentionProgram, transformProgram, topKSelectProgram, topKGatherProgram, kmeansAssignProgram, kmeansUpdateProgram,
    audienceProgram,
  ];
}

/** Workgroup grid for `units` of work, folded into 2-D when x would exceed the per-dimension limit. */
export function dispatchSize(units: number, unitsPerWorkgroup: number, maxPerDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil(units / unitsPerWorkgroup));
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/**
 * The bounds WGSL cannot take as `override`s, as WGSL constants: an override may size a workgroup
 * array but not a function-scope one, and these size per-invocation arrays.
 */
export function shaderBounds(): string {
  return [
    '// Generated from GPU_LIMITS (src/gpu/limits.ts): WGSL sizes a function-scope array only with a constant.',
    `const MAX_K: u32 = ${GPU_LIMITS.maxK}u;`,
    `const MAX_ROW_VEC4: u32 = ${GPU_LIMITS.maxH / 4}u;`,
    `const COOP_LANES: u32 = ${GPU_LIMITS.coopLanes}u;`,
    '',
  ].join('\n');
}

/** A kernel's WGSL as compiled, and which file each line came from (for compile errors). */
export interface AssembledShader {
  readonly code: string;
  readonly parts: ReadonlyArray<{ readonly name: string; readonly firstLine: number; readonly lineCount: number }>;
}

const COMMON_FILE = 'common.wgsl';

function readShader(file: string): string {
  const text = readFileSync(join(shadersDir, file), 'utf8');
  return text.endsWith('\n') ? text : `${text}\n`;
}

const assembled = new Map<string, AssembledShader>();

/**
 * The source of `file` as compiled: the file itself, then common.wgsl, then the generated bounds.
 * WGSL has no include, and declaration order does not matter at module scope, so appending keeps
 * the kernel's own line numbers (and any directives) where they are in its file.
 */
export function assembleShader(file: string): AssembledShader {
  let s = assembled.get(file);
  if (s === undefined) {
    const pieces = [
      { name: file, text: readShader(file) },
      { name: COMMON_FILE, text: readShader(COMMON_FILE) },
      { name: 'bounds (src/gpu/limits.ts)', text: shaderBounds() },
    ];
    let line = 1;
    const parts = pieces.map((p) => {
      const lineCount = p.text.split('\n').length - 1;
      const part = { name: p.name, firstLine: line, lineCount };
      line += lineCount;
      return part;
    });
    s = { code: pieces.map((p) => p.text).join(''), parts };
    assembled.set(file, s);
  }
  return s;
}

/** "file:line" for a line of an assembled shader. */
export function shaderLocation(shader: AssembledShader, line: number): string {
  const part = shader.parts.find((p) => line >= p.firstLine && line < p.firstLine + p.lineCount);
  return part ? `${part.name}:${line - part.firstLine + 1}` : `line ${line}`;
}
