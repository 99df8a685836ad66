/**
 * Every tunable and bound of the WebGPU kernels, in one place. The WGSL files do not repeat these
 * numbers: programs.ts sets the shaders' `override` constants from here, and generates the few
 * bounds WGSL cannot take as overrides (see `shaderBounds` in programs.ts).
 */
import type { ModelManifest } from '../model/model.js';
import { RalmError } from '../util/errors.js';

const topKTile = 1024;

export const GPU_LIMITS = Object.freeze({
  /**
   * Largest embedding width h: the scorer and k-means keep one row of h floats per invocation in
   * a private array (h / 4 vec4s), so h is compiled in.
   */
  maxH: 256,
  /** Largest centroid count k: global attention and the audience scan keep k weights per invocation. */
  maxK: 128,
  /** Candidates one top-K workgroup sorts in workgroup memory (a power of two for the bitonic network). */
  topKTile,
  /**
   * Largest K selected on the GPU; a larger request reads back every score and selects on the host.
   * Each select pass keeps at most K of every tile, so with K ≤ tile / 2 every pass at least halves
   * the survivors and the passes end.
   */
  maxTopK: topKTile / 2,
  /**
   * Invocations of the cooperative scorer's workgroup (score-coop.wgsl), which owns one work item:
   * one lane per vec4 column of a row (h = 128 is 32 vec4s). A multiple of 4, at least 12.
   */
  coopLanes: 32,
  /** Invocations per workgroup, per kernel; the top-K workgroup is topKTile / 4 (4 elements a lane). */
  workgroupSize: Object.freeze({ score: 64, audience: 64, globalAttention: 64, transform: 64, kmeans: 64, topK: topKTile / 4 }),
});

/** Throws RALM_ERR_BACKEND_UNAVAILABLE when a model's h or k is past the compiled bounds. */
export function checkModelFits(manifest: Pick<ModelManifest, 'h' | 'k'>): void {
  const { h, k } = manifest;
  if (h > GPU_LIMITS.maxH) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `the WebGPU kernels support h <= ${GPU_LIMITS.maxH}, the model has h = ${h}`);
  if (k > GPU_LIMITS.maxK) throw new RalmError('RALM_ERR_BACKEND_UNAVAILABLE', `the WebGPU kernels support k <= ${GPU_LIMITS.maxK}, the model has k = ${k}`);
}
