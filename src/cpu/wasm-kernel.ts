/**
 * Host side of the WebAssembly SIMD scorer (`wasm/score-kernel.wat`). Each item-table page lives
 * in its own shared WebAssembly.Memory, so the kernel reads centroids in place — no copy per
 * request — from the main thread and from the worker pool, and tables are not limited to one
 * 4 GiB wasm address space. Each thread owns one scratch region per page.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HostPage, PageLayout } from '../core/item-table.js';

/** Candidates handed to the kernel per call; sizes each thread's scratch region. */
export const KERNEL_CHUNK = 4096;
/** Scratch regions per page: the main thread and one worker. */
export const KERNEL_THREADS = 2;

const wasmPath = fileURLToPath(new URL('./wasm/score-kernel.wasm', import.meta.url));

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null when it is unavailable (not built, or no wasm SIMD in this runtime). */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = existsSync(wasmPath) ? new WebAssembly.Module(readFileSync(wasmPath)) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Bytes of one thread's scratch: q, e, the weight area (k rounded up to 4 splatted weights, then
 * as many packed logits), then slots and outputs for one chunk.
 */
export function threadScratchBytes(stride: number, k: number): number {
  return Math.ceil((2 * stride * 4 + weightAreaBytes(k) + KERNEL_CHUNK * 16) / 64) * 64;
}

function weightAreaBytes(k: number): number {
  return Math.ceil(k / 4) * 4 * 20;
}

export function scratchBytes(stride: number, k: number): number {
  return KERNEL_THREADS * threadScratchBytes(stride, k);
}

type ScoreFn = (
  n: number, k: number, rowBytes: number, cent: number, glob: number, meta: number,
  q: number, e: number, acc: number, slots: number, out: number,
  alpha: number, beta: number, enorm: number, zn: number,
) => void;

export interface KernelArgs {
  k: number;
  stride: number;
  alpha: number;
  beta: number;
  zeroNorm: number;
}

/** One thread's handle on one page. */
export interface PageKernel {
  /** Scores local slots `slots[from..from+count)`, reporting each result with its index into `slots`. */
  run(args: KernelArgs, q: Float32Array, e: Float32Array, eNorm: number, slots: Uint32Array, from: number, count: number,
    emit: (index: number, score: number, cosGlobal: number, cosLocal: number) => void): void;
}

export function bindPageKernel(mod: WebAssembly.Module, memory: WebAssembly.Memory, layout: PageLayout, stride: number, k: number, thread: number): PageKernel {
  const instance = new WebAssembly.Instance(mod, { env: { memory } });
  const score = instance.exports.score as ScoreFn;
  const buf = memory.buffer;
  const qOff = layout.scratchOffset + thread * threadScratchBytes(stride, k);
  const eOff = qOff + stride * 4;
  const accOff = eOff + stride * 4;
  const slotsOff = accOff + weightAreaBytes(k);
  const outOff = slotsOff + KERNEL_CHUNK * 4;
  const qv = new Float32Array(buf, qOff, stride);
  const ev = new Float32Array(buf, eOff, stride);
  const sv = new Uint32Array(buf, slotsOff, KERNEL_CHUNK);
  const ov = new Float32Array(buf, outOff, KERNEL_CHUNK * 3);
  return {
    run(args, q, e, eNorm, slots, from, count, emit) {
      qv.set(q.subarray(0, stride));
      ev.set(e.subarray(0, stride));
      const rowBytes = stride * 4;
      for (let start = 0; start < count; start += KERNEL_CHUNK) {
        const n = Math.min(KERNEL_CHUNK, count - start);
        sv.set(slots.subarray(from + start, from + start + n));
        score(n, args.k, rowBytes, layout.centroidsOffset, layout.globalsOffset, layout.metaOffset,
          qOff, eOff, accOff, slotsOff, outOff, args.alpha, args.beta, eNorm, args.zeroNorm);
        for (let i = 0; i < n; i++) emit(from + start + i, ov[i * 3], ov[i * 3 + 1], ov[i * 3 + 2]);
      }
    },
  };
}

const mainKernels = new WeakMap<HostPage, PageKernel>();

/** The main thread's kernel for a page (thread 0's scratch). */
export function mainPageKernel(page: HostPage, layout: PageLayout, stride: number, k: number): PageKernel {
  let pk = mainKernels.get(page);
  if (!pk) {
    const mod = kernelModule();
    if (!mod || !page.memory) throw new Error('the WebAssembly kernel is not available for this page');
    pk = bindPageKernel(mod, page.memory, layout, stride, k, 0);
    mainKernels.set(page, pk);
  }
  return pk;
}
