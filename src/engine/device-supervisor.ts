/**
 * Which backend runs the engine's work, and what happens when the GPU goes away. The CPU backend
 * is always there; a GPU backend is attached when a device was opened. If the device is lost
 * (driver reset, destroyed), work continues on the CPU from the authoritative host tables while
 * the supervisor tries to get a device back, with a doubling delay. A GPU error that is not a
 * device loss propagates: a wrong answer is worse than an error.
 */
import type { Backend } from '../core/backend.js';
import type { CpuBackend } from '../cpu/cpu-backend.js';
import { openGpu, type GpuContext } from '../gpu/device.js';
import type { GpuBackend } from '../gpu/gpu-backend.js';
import type { EngineEvent, EngineStats } from './types.js';

/** The longest wait between two attempts to get a device back. */
const MAX_RECOVERY_DELAY_MS = 30_000;
/** How long a failed GPU call waits for `device.lost` before deciding the device is alive. */
const LOST_PROBE_MS = 100;

export interface SupervisorOptions {
  adapter?: string;
  recoverDevice: boolean;
  recoveryDelayMs: number;
  onEvent?: (event: EngineEvent) => void;
  /** Builds a GPU backend on an open device, the host tables already mirrored into it. */
  attach: (ctx: GpuContext) => Promise<GpuBackend>;
  /** Runs `fn` when no table update is in progress (recovery re-mirrors the tables). */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Counters the supervisor keeps up to date. */
  stats: Pick<EngineStats, 'cpuFallbacks' | 'deviceLosses' | 'deviceRecoveries'>;
}

export class DeviceSupervisor {
  private gpuBackend: GpuBackend | undefined;
  private ctx: GpuContext | undefined;
  private recoveryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly cpu: CpuBackend, private readonly o: SupervisorOptions) {}

  /** The GPU backend while a device is attached. */
  get gpu(): GpuBackend | undefined {
    return this.gpuBackend;
  }

  /** The backend serving requests now. */
  get backend(): Backend {
    return this.gpuBackend ?? this.cpu;
  }

  get context(): GpuContext | undefined {
    return this.ctx;
  }

  /** Attaches an open device; on failure the context is destroyed and the error propagates. */
  async adopt(ctx: GpuContext): Promise<void> {
    let backend: GpuBackend;
    try {
      backend = await this.o.attach(ctx);
    } catch (err) {
      ctx.destroy();
      throw err;
    }
    this.gpuBackend = backend;
    this.ctx = ctx;
    void ctx.lost.then((info) => this.onDeviceLost(ctx, info));
  }

  private onDeviceLost(ctx: GpuContext, info: GPUDeviceLostInfo): void {
    if (this.ctx !== ctx || this.closed) return;
    this.gpuBackend = undefined;
    this.ctx = undefined;
    this.o.stats.deviceLosses++;
    this.o.onEvent?.({ type: 'device-lost', reason: String(info.reason), message: info.message });
    if (this.o.recoverDevice) this.scheduleRecovery(this.o.recoveryDelayMs);
  }

  private scheduleRecovery(delay: number): void {
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = undefined;
      void this.o.exclusive(async () => {
        if (this.closed || this.gpuBackend) return;
        try {
          const ctx = await openGpu({ adapter: this.o.adapter });
          if (!ctx) throw new Error('no adapter');
          await this.adopt(ctx);
          this.o.stats.deviceRecoveries++;
          this.o.onEvent?.({ type: 'device-recovered', adapter: ctx.adapterName });
        } catch (err) {
          const next = Math.min(delay * 2, MAX_RECOVERY_DELAY_MS);
          this.o.onEvent?.({ type: 'device-recovery-failed', error: (err as Error).message, retryInMs: next });
          if (!this.closed) this.scheduleRecovery(next);
        }
      });
    }, delay);
    this.recoveryTimer.unref();
  }

  /**
   * Runs `fn` on the current backend; if that is the GPU and the device turns out to be lost,
   * runs it again on the CPU. Any other GPU error propagates.
   */
  async run<T>(operation: string, fn: (b: Backend) => Promise<T>): Promise<{ value: T; backend: Backend }> {
    const b = this.backend;
    try {
      return { value: await fn(b), backend: b };
    } catch (err) {
      if (b === this.cpu) throw err;
      const ctx = b === this.gpuBackend ? this.ctx : undefined;
      const lost = ctx === undefined || (await Promise.race([ctx.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), LOST_PROBE_MS))]));
      if (!lost) throw err;
      this.o.stats.cpuFallbacks++;
      this.o.onEvent?.({ type: 'cpu-fallback', operation, error: (err as Error).message });
      return { value: await fn(this.cpu), backend: this.cpu };
    }
  }

  /** Destroys the device as a driver reset would; for tests and drills. */
  simulateLoss(): void {
    this.ctx?.destroy();
  }

  /** Stops trying to get a device back (the first step of closing). */
  stopRecovery(): void {
    this.closed = true;
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
  }

  /** Releases the device and the CPU threads. */
  release(): void {
    this.stopRecovery();
    const gpu = this.gpuBackend;
    this.gpuBackend = undefined;
    this.ctx = undefined;
    gpu?.destroy();
    this.cpu.destroy();
  }
}
