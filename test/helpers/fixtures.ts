/** Shared fixtures: random items, backends to run on, tolerant comparison. */
import assert from 'node:assert/strict';
import { type RalmModel } from '../../src/model/model.js';
import { randomModel, type RandomModelOptions } from '../../src/model/random.js';
import { RalmEngine, type EngineOptions, type ItemCentroids } from '../../src/engine/engine.js';
import { probeAdapter, type AdapterReport } from '../../src/engine/probe.js';
import { Rng } from '../../src/util/rng.js';

export const REQUIRE_WEBGPU = process.env.RALM_REQUIRE_WEBGPU === '1';

let adapterProbe: Promise<AdapterReport> | undefined;
/** The adapter report of this host (probed once per process). */
function probeOnce(): Promise<AdapterReport> {
  adapterProbe ??= probeAdapter();
  return adapterProbe;
}

/**
 * The backends every numeric test runs on: CPU always, WebGPU when an adapter exists.
 * With RALM_REQUIRE_WEBGPU=1 (CI), a missing adapter is a failure, not a skip.
 */
export async function backendsUnderTest(): Promise<Array<'cpu' | 'webgpu'>> {
  const { available } = await probeOnce();
  if (!available && REQUIRE_WEBGPU) throw new Error('RALM_REQUIRE_WEBGPU=1 but no WebGPU adapter was found (install mesa-vulkan-drivers and libvulkan1)');
  return available ? ['cpu', 'webgpu'] : ['cpu'];
}

/** Why WebGPU cases are skipped on this host, or undefined when they run. */
export async function webgpuSkipReason(): Promise<string | undefined> {
  const backends = await backendsUnderTest();
  return backends.includes('webgpu') ? undefined : 'no WebGPU adapter on this host (set RALM_REQUIRE_WEBGPU=1 to make this a failure; CI does)';
}

/** One way of running the engine: a backend plus, for the CPU, the kernel and thread count. */
export interface Target {
  label: string;
  options: EngineOptions & { backend: 'cpu' | 'webgpu' };
}

/** Every target the numeric suite runs on: both CPU kernels always, WebGPU when present (required in CI). */
export async function targetsUnderTest(): Promise<Target[]> {
  const targets: Target[] = [
    { label: 'cpu (wasm simd, 2 threads)', options: { backend: 'cpu', cpuKernel: 'wasm', cpuThreads: 2 } },
    { label: 'cpu (wasm simd+fma, 2 threads)', options: { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 2 } },
    // Ranking on up to four scoring workers while the caller awaits them (the service's setting).
    { label: 'cpu (wasm simd+fma, 4 threads, offloaded)', options: { backend: 'cpu', cpuKernel: 'wasm-fma', cpuThreads: 4, cpuOffload: true } },
    { label: 'cpu (scalar)', options: { backend: 'cpu', cpuKernel: 'scalar' } },
  ];
  if ((await backendsUnderTest()).includes('webgpu')) {
    targets.push({ label: 'webgpu', options: { backend: 'webgpu' } });
    // The scorer for hardware GPUs, forced on whatever adapter is present (lavapipe in CI).
    targets.push({ label: 'webgpu (cooperative scorer)', options: { backend: 'webgpu', gpuScorer: 'cooperative' } });
  }
  return targets;
}

export function smallModel(over: RandomModelOptions = {}): RalmModel {
  return randomModel({ h: 16, m: 12, k: 5, attentionSize: 8, seed: 7, ...over });
}

/** Items with 1..k valid centroids (cycling), unit-scale values. */
export function randomItems(model: RalmModel, n: number, seed: number, prefix = 'item'): ItemCentroids[] {
  const { h, k } = model.manifest;
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const count = 1 + (i % k);
    return { id: `${prefix}${i}`, centroids: rng.normals(count * h, 0.5) };
  });
}

export async function openEngine(model: RalmModel, backend: 'cpu' | 'webgpu', options: EngineOptions = {}): Promise<RalmEngine> {
  return RalmEngine.create(model, { backend, recoverDevice: false, ...options });
}

/** |a - b| <= abs + rel·|b|; NaN equals only NaN. */
export function close(a: number, b: number, abs = 1e-5, rel = 1e-4): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= abs + rel * Math.abs(b);
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, abs = 1e-5, rel = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!close(actual[i], expected[i], abs, rel)) {
      assert.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (abs ${abs}, rel ${rel})`);
    }
  }
}
