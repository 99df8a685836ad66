/**
 * Each kernel described as data: its WGSL file, entry point, override constants, the pipeline
 * cache key, its uniform layout and how many workgroups a given problem size needs. Shapes go
 * in uniforms, so one compiled pipeline serves every batch size.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shadersDir } from '../util/paths.js';
import { uniformLayout, type UniformLayout } from './uniforms.js';

export interface ProgramInfo {
  readonly name: string;
  readonly shaderFile: string;
  readonly entryPoint: string;
  readonly constants: Readonly<Record<string, number>>;
  readonly uniforms: UniformLayout;
  /** Invocations per workgroup in x (the dispatch helper divides by it). */
  readonly workgroupSize: number;
  readonly cacheKey: string;
}

function program(p: Omit<ProgramInfo, 'cacheKey'>): ProgramInfo {
  const constants = Object.entries(p.constants).map(([k, v]) => `${k}=${v}`).join(',');
  return { ...p, cacheKey: `${p.shaderFile}#${p.entryPoint}[${constants}]` };
}

export const SCORE_WORKGROUP = 64;
export const TOPK_TILE = 1024;
export const TOPK_LANES = 256;
/** Largest K the GPU selects; larger requests read back every score and select on the host. */
export const MAX_GPU_TOP_K = TOPK_TILE / 2;
/** Private-array bounds compiled into the kernels. */
export const MAX_GPU_H = 256;
export const MAX_GPU_K = 128;

export function scoreProgram(f16: boolean): ProgramInfo {
  return program({
    name: f16 ? 'score-f16' : 'score-f32',
    shaderFile: 'score.wgsl',
    entryPoint: 'main',
    constants: { WORKGROUP_SIZE: SCORE_WORKGROUP, F16_CENTROIDS: f16 ? 1 : 0 },
    uniforms: uniformLayout([
      { name: 'work_start', type: 'u32' },
      { name: 'work_count', type: 'u32' },
      { name: 'k', type: 'u32' },
      { name: 'row_vec4', type: 'u32' },
      { name: 'alpha', type: 'f32' },
      { name: 'beta', type: 'f32' },
      { name: 'zero_norm', type: 'f32' },
      { name: '_pad', type: 'u32' },
    ]),
    workgroupSize: SCORE_WORKGROUP,
  });
}

export const AUDIENCE_WORKGROUP = 64;

export const audienceProgram = program({
  name: 'audience',
  shaderFile: 'audience.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: AUDIENCE_WORKGROUP },
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
  workgroupSize: AUDIENCE_WORKGROUP,
});

export const globalAttentionProgram = program({
  name: 'global-attention',
  shaderFile: 'global-attention.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: 64 },
  uniforms: uniformLayout([
    { name: 'item_count', type: 'u32' },
    { name: 'k', type: 'u32' },
    { name: 'h', type: 'u32' },
    { name: 's', type: 'u32' },
  ]),
  workgroupSize: 64,
});

export const transformProgram = program({
  name: 'transform',
  shaderFile: 'transform.wgsl',
  entryPoint: 'main',
  constants: { WORKGROUP_SIZE: 64 },
  uniforms: uniformLayout([
    { name: 'count', type: 'u32' },
    { name: 'm', type: 'u32' },
    { name: 'h', type: 'u32' },
    { name: '_pad', type: 'u32' },
  ]),
  workgroupSize: 64,
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
  constants: { WORKGROUP_SIZE: 64 },
  uniforms: kmeansUniforms,
  workgroupSize: 64,
});

export const kmeansUpdateProgram = program({
  name: 'kmeans-update',
  shaderFile: 'kmeans.wgsl',
  entryPoint: 'update_centroids',
  constants: { WORKGROUP_SIZE: 64 },
  uniforms: kmeansUniforms,
  workgroupSize: 64,
});

const topKUniforms = uniformLayout([
  { name: 'tile_count', type: 'u32' },
  { name: 'desc_offset', type: 'u32' },
  { name: 'first_pass', type: 'u32' },
  { name: '_pad', type: 'u32' },
]);

/** One workgroup per tile: the dispatch helper is given workgroup counts directly (size 1). */
export const topKSelectProgram = program({
  name: 'top-k-select',
  shaderFile: 'top-k.wgsl',
  entryPoint: 'select_tile',
  constants: {},
  uniforms: topKUniforms,
  workgroupSize: 1,
});

export const topKGatherProgram = program({
  name: 'top-k-gather',
  shaderFile: 'top-k.wgsl',
  entryPoint: 'gather',
  constants: {},
  uniforms: topKUniforms,
  workgroupSize: 1,
});

/** Workgroup grid for `invocations`, folded into 2-D when x would exceed the per-dimension limit. */
export function dispatchSize(invocations: number, workgroupSize: number, maxPerDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

const sourceCache = new Map<string, string>();
export function shaderSource(file: string): string {
  let s = sourceCache.get(file);
  if (s === undefined) {
    s = readFileSync(join(shadersDir, file), 'utf8');
    sourceCache.set(file, s);
  }
  return s;
}
