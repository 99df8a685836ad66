/**
 * The one module that owns the WebGPU device: adapter choice, limits, error scopes,
 * `device.lost`, and destroy() on shutdown. Nothing else calls `create()` or `requestDevice()`.
 */
import { create, globals } from 'webgpu';

export interface GpuOpenOptions {
  /** Substring of the adapter name to pick (Dawn's `adapter=` flag). */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly isSoftware: boolean;
  /** The device was opened with the `timestamp-query` feature (kernel times in GpuRuntime.timedPass). */
  readonly timestamps: boolean;
  readonly limits: {
    readonly maxStorageBufferBindingSize: number;
    readonly maxBufferSize: number;
    readonly maxComputeWorkgroupsPerDimension: number;
    readonly maxStorageBuffersPerShaderStage: number;
  };
  /** Resolves when the device is lost for any reason, including our own destroy(). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  /** Validation and out-of-memory errors no scope caught, most recent last (bounded). */
  readonly uncapturedErrors: string[];
  /** How many such errors this device has raised, all of them (the list above keeps the last 50). */
  readonly uncapturedErrorCount: number;
  destroy(): void;
}

let gpuInstance: GPU | undefined;
let gpuFlags = '';

function gpu(flags: string[]): GPU {
  const key = flags.join(' ');
  if (!gpuInstance || key !== gpuFlags) {
    // The enum-like globals (GPUBufferUsage, GPUMapMode, …) are expected on globalThis.
    Object.assign(globalThis, globals);
    gpuInstance = create(flags);
    gpuFlags = key;
  }
  return gpuInstance;
}

/**
 * The adapter's name as people and the bandwidth table (bench/gpu-peaks.ts) read it: the driver's
 * description, then Dawn's device name in brackets. On Vulkan the description names only the
 * driver ("NVIDIA: 580.159.04 …"); the device name ("nvidia-h200") names the GPU.
 */
export function describeAdapter(info: Pick<GPUAdapterInfo, 'description' | 'device' | 'vendor' | 'architecture'>): string {
  const first = [info.description, info.device, info.vendor, info.architecture].find((s) => s && s.length > 0);
  if (first === undefined) return 'unknown adapter';
  return info.device && info.device !== first ? `${first} [${info.device}]` : first;
}

/** Opens a device on the best adapter, or returns null when this host has none. */
export async function openGpu(options: GpuOpenOptions = {}): Promise<GpuContext | null> {
  const flags = options.adapter ? [`adapter=${options.adapter}`] : [];
  const adapter = await gpu(flags).requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) return null;
  const al = adapter.limits;
  const timestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    label: 'ralm device',
    requiredFeatures: timestamps ? ['timestamp-query'] : [],
    // Ask for what the adapter offers: the spec defaults (128 MiB bindings, 256 MiB buffers) would
    // make the item table page far more often than the hardware needs.
    requiredLimits: {
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
    },
  });
  const uncapturedErrors: string[] = [];
  let uncapturedErrorCount = 0;
  device.addEventListener('uncapturederror', (ev) => {
    uncapturedErrorCount++;
    const msg = (ev as GPUUncapturedErrorEvent).error.message;
    uncapturedErrors.push(msg);
    if (uncapturedErrors.length > 50) uncapturedErrors.shift();
  });
  const info = adapter.info;
  const name = describeAdapter(info);
  const isSoftware = info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(name);
  return {
    device,
    adapterName: name,
    isSoftware,
    timestamps,
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
    },
    lost: device.lost,
    uncapturedErrors,
    get uncapturedErrorCount() {
      return uncapturedErrorCount;
    },
    destroy: () => device.destroy(),
  };
}

/**
 * Runs `fn` inside one error scope per filter (the first outermost) and throws what went wrong:
 * `fn`'s own error first, else what the innermost scope that caught anything caught. A GPU error
 * becomes an exception, never a silently wrong result.
 */
export async function withErrorScopes<T>(device: GPUDevice, filters: readonly GPUErrorFilter[], fn: () => Promise<T> | T): Promise<T> {
  for (const f of filters) device.pushErrorScope(f);
  let result: T | undefined;
  let failure: { error: unknown } | undefined;
  try {
    result = await fn();
  } catch (error) {
    failure = { error };
  }
  const caught: Array<{ filter: GPUErrorFilter; error: GPUError | null }> = [];
  for (let i = filters.length - 1; i >= 0; i--) caught.push({ filter: filters[i], error: await device.popErrorScope() });
  if (failure) throw failure.error;
  const scoped = caught.find((c) => c.error !== null);
  if (scoped?.error) throw new Error(`WebGPU ${scoped.filter} error: ${scoped.error.message}`);
  return result as T;
}

/** Runs `fn` inside a validation error scope and throws if the scope caught anything. */
export function withValidationScope<T>(device: GPUDevice, fn: () => Promise<T> | T): Promise<T> {
  return withErrorScopes(device, ['validation'], fn);
}
