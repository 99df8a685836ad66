/**
 * Host side of the WebAssembly SIMD scorer (`wasm/score-kernel.wat`). Each item-table page lives
 * in its own shared WebAssembly.Memory, so the kernel reads centroids in place — no copy per
 * request — from the main thread and from the worker pool, and tables are not limited to one
 * 4 GiB wasm address space. Each thread owns one scratch region per page.
 */
import { readFileSync, existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import type { HostPage, PageLayout } from '../core/item-table.js';
import { SCAN_THREADS } from '../core/user-table.js';
import { gramSide, int8RowBytes, quantizeRequest, requestCodeLimit } from '../core/quantize.js';

/** Candidates handed to the kernel per call; sizes each thread's scratch region. */
export const KERNEL_CHUNK = 4096;
/** Scratch regions per page: the requesting thread and up to SCAN_THREADS scoring workers (cpu/workers/pool.ts). */
export const KERNEL_THREADS = 1 + SCAN_THREADS;
/** Requests one batched kernel call scores together (larger batches are cut into groups of this size). */
export const KERNEL_BATCH = 16;

/**
 * `simd`: WebAssembly SIMD (f32x4 multiplies and adds). `fma`: the same kernel with its
 * multiply-adds fused (relaxed SIMD's f32x4.relaxed_madd, assembled from the same source).
 */
export type KernelVariant = 'simd' | 'fma';

const wasmPaths: Record<KernelVariant, string> = {
  simd: fileURLToPath(new URL('./wasm/score-kernel.wasm', import.meta.url)),
  fma: fileURLToPath(new URL('./wasm/score-kernel-fma.wasm', import.meta.url)),
};

const compiled: Partial<Record<KernelVariant, WebAssembly.Module | null>> = {};

/**
 * The compiled kernel, or null when it is unavailable (not built, or no wasm SIMD — for `fma`, no
 * relaxed SIMD — in this runtime). Node 20's V8 compiles relaxed SIMD only behind
 * --experimental-wasm-relaxed-simd, which is switched on here before the first `fma` compile
 * (V8 reads wasm feature flags when it compiles a module; https://nodejs.org/api/v8.html#v8setflagsfromstringflags);
 * runtimes that ship relaxed SIMD compile it as is.
 */
export function kernelModule(variant: KernelVariant = 'simd'): WebAssembly.Module | null {
  let mod = compiled[variant];
  if (mod === undefined) {
    mod = null;
    if (existsSync(wasmPaths[variant])) {
      const bytes = readFileSync(wasmPaths[variant]);
      mod = compile(bytes);
      if (!mod && variant === 'fma') {
        setFlagsFromString('--experimental-wasm-relaxed-simd');
        mod = compile(bytes);
      }
    }
    compiled[variant] = mod;
  }
  return mod;
}

/**
 * Bytes of one thread's scratch: q, e, the weight area, slots and outputs for one chunk, then the
 * batch's q and e rows (KERNEL_BATCH each) and their norms (f64), then the int8 area.
 */
export function threadScratchBytes(stride: number, k: number): number {
  return Math.ceil((2 * stride * 4 + weightAreaBytes(k) + KERNEL_CHUNK * 16 + 2 * KERNEL_BATCH * stride * 4 + KERNEL_BATCH * 8 + int8AreaBytes(stride, k)) / 64) * 64;
}

/**
 * The int8 area: per batch request q and e as 16-bit codes (one int8 row's width each), then per
 * request their two f32 scales, then per request its integer dots (kPad logits, kPad e-dots, i32),
 * then per request its kPad f32 weights, then the kernel's constants (init_i8). A single request
 * uses request 0's places.
 */
/** Bytes of the int8 kernel's constants (init_i8 in wasm/weights-int8.wat: 21 vectors). */
const INT8_CONSTANT_BYTES = 21 * 16;

function int8AreaBytes(stride: number, k: number): number {
  const kPad = gramSide(k);
  return KERNEL_BATCH * (4 * int8RowBytes(stride) + 8 + 12 * kPad) + INT8_CONSTANT_BYTES;
}

/**
 * The weight area, sized for the batched path: per row four splatted weights (64 bytes) for k
 * rounded up to 4 rows, then four logits per row (16 bytes) for k + 1 rows. The single-request
 * path uses its first part (16-byte splats, then packed logits).
 */
function weightAreaBytes(k: number): number {
  return Math.ceil(k / 4) * 4 * 64 + (k + 1) * 16;
}

export function scratchBytes(stride: number, k: number): number {
  return KERNEL_THREADS * threadScratchBytes(stride, k);
}

type ScoreFn = (
  n: number, k: number, rowBytes: number, cent: number, glob: number, meta: number,
  q: number, e: number, acc: number, slots: number, out: number,
  alpha: number, beta: number, enorm: number, zn: number,
) => void;

type ScoreInt8Fn = (
  n: number, k: number, rowBytes: number, glob: number, meta: number,
  codes: number, scales: number, gram: number, rb: number, kPad: number,
  q16: number, e16: number, rs: number, e: number, w: number, cst: number, iq: number, slots: number, out: number,
  alpha: number, beta: number, enorm: number, zn: number,
) => void;

type ScoreBatchInt8Fn = (
  n: number, k: number, rowBytes: number, glob: number, meta: number,
  codes: number, scales: number, gram: number, rb: number, kPad: number,
  nb: number, rq: number, rs: number, es: number, norms: number, iq: number, w: number, cst: number, slots: number, out: number,
  alpha: number, beta: number, zn: number,
) => void;

type ScoreBatchFn = (
  n: number, k: number, rowBytes: number, cent: number, glob: number, meta: number,
  nb: number, qs: number, es: number, norms: number, acc: number, slots: number, out: number,
  alpha: number, beta: number, zn: number,
) => void;

/** One request's vectors as the kernel takes them (zero-padded to the stride). */
export interface KernelUser {
  readonly q: Float32Array;
  readonly e: Float32Array;
  readonly eNorm: number;
}

export interface KernelArgs {
  k: number;
  stride: number;
  alpha: number;
  beta: number;
  zeroNorm: number;
}

function compile(bytes: Buffer): WebAssembly.Module | null {
  try {
    return new WebAssembly.Module(bytes);
  } catch {
    return null;
  }
}

/** One thread's handle on one page. */
export interface PageKernel {
  /** Scores local slots `slots[from..from+count)`, reporting each result with its index into `slots`. */
  run(args: KernelArgs, q: Float32Array, e: Float32Array, eNorm: number, slots: Uint32Array, from: number, count: number,
    emit: (index: number, score: number, cosGlobal: number, cosLocal: number) => void): void;
  /**
   * Scores local slots `slots[from..from+count)` for every user of a batch, reading each
   * candidate's rows once per group of KERNEL_BATCH users; `emit` gets the user's index too.
   */
  runBatch(args: KernelArgs, users: readonly KernelUser[], slots: Uint32Array, from: number, count: number,
    emit: (user: number, index: number, score: number, cosGlobal: number, cosLocal: number) => void): void;
}

export function bindPageKernel(mod: WebAssembly.Module, memory: WebAssembly.Memory, layout: PageLayout, stride: number, k: number, thread: number): PageKernel {
  const instance = new WebAssembly.Instance(mod, { env: { memory } });
  const score = instance.exports.score as ScoreFn;
  const scoreBatch = instance.exports.score_batch as ScoreBatchFn;
  const scoreInt8 = instance.exports.score_i8 as ScoreInt8Fn;
  const scoreBatchInt8 = instance.exports.score_batch_i8 as ScoreBatchInt8Fn;
  const buf = memory.buffer;
  const qOff = layout.scratchOffset + thread * threadScratchBytes(stride, k);
  const eOff = qOff + stride * 4;
  const accOff = eOff + stride * 4;
  const slotsOff = accOff + weightAreaBytes(k);
  const outOff = slotsOff + KERNEL_CHUNK * 4;
  const qsOff = outOff + KERNEL_CHUNK * 12;
  const esOff = qsOff + KERNEL_BATCH * stride * 4;
  const normsOff = esOff + KERNEL_BATCH * stride * 4;
  const qsv = new Float32Array(buf, qsOff, KERNEL_BATCH * stride);
  const esv = new Float32Array(buf, esOff, KERNEL_BATCH * stride);
  const nv = new Float64Array(buf, normsOff, KERNEL_BATCH);
  const qv = new Float32Array(buf, qOff, stride);
  const ev = new Float32Array(buf, eOff, stride);
  const sv = new Uint32Array(buf, slotsOff, KERNEL_CHUNK);
  const ov = new Float32Array(buf, outOff, KERNEL_CHUNK * 3);
  const i8 = layout.int8;
  const rb = int8RowBytes(stride);
  // The int8 area (int8AreaBytes): the batch's codes at rqOff (pairs of requests interleaved as
  // score_batch_i8 reads them; a single request's q, then e), request b's scales at rsOff + 8b,
  // its dots at iqOff + b·8·kPad; then its weights at w8Off + b·4·kPad; then the constants.
  const kPad = gramSide(k);
  const rqOff = normsOff + KERNEL_BATCH * 8;
  const rsOff = rqOff + KERNEL_BATCH * 4 * rb;
  const iqOff = rsOff + KERNEL_BATCH * 8;
  const w8Off = iqOff + KERNEL_BATCH * 8 * kPad;
  const cstOff = w8Off + KERNEL_BATCH * 4 * kPad;
  if (i8) (instance.exports.init_i8 as (cst: number) => void)(cstOff);
  const q16Off = rqOff;
  const e16Off = rqOff + rb * 2;
  const rcodes = new Int16Array(buf, rqOff, KERNEL_BATCH * 2 * rb);
  const rscales = new Float32Array(buf, rsOff, KERNEL_BATCH * 2);
  const q16 = rcodes.subarray(0, rb);
  const e16 = rcodes.subarray(rb, 2 * rb);
  const codeLimit = requestCodeLimit(rb);
  const qTmp = new Int16Array(rb);
  const eTmp = new Int16Array(rb);
  // What the int8 area holds now: one request's codes (its q and e, and their scales) or a batch
  // group's (its users array and first index), so that the chunks of one job (workers/claim.ts)
  // quantize once. Keyed by identity: a prepared request's vectors never change after preparation
  // (the engine makes new ones per call; a worker gets new ones per message).
  let heldOne: { q: Float32Array; e: Float32Array } | null = null;
  let heldGroup: { users: readonly KernelUser[]; u0: number } | null = null;
  /**
   * A group of `nb` requests (the first is `u0`) over the candidates, in chunks that fit the
   * output area: each chunk's slots are copied in, `kernel(n)` scores its n candidates, and its
   * (candidate × nb + request) triples are emitted. The f32 and int8 batched paths share it.
   */
  const batchChunks = (nb: number, u0: number, slots: Uint32Array, from: number, count: number,
    emit: (user: number, index: number, score: number, cosGlobal: number, cosLocal: number) => void, kernel: (n: number) => void): void => {
    const per = Math.floor(KERNEL_CHUNK / nb);
    for (let start = 0; start < count; start += per) {
      const n = Math.min(per, count - start);
      sv.set(slots.subarray(from + start, from + start + n));
      kernel(n);
      for (let i = 0; i < n; i++) {
        for (let b = 0; b < nb; b++) {
          const o = (i * nb + b) * 3;
          emit(u0 + b, from + start + i, ov[o], ov[o + 1], ov[o + 2]);
        }
      }
    }
  };
  const runInt8 = (args: KernelArgs, q: Float32Array, e: Float32Array, eNorm: number, slots: Uint32Array, from: number, count: number,
    emit: (index: number, score: number, cosGlobal: number, cosLocal: number) => void): void => {
    if (!i8) throw new Error('int8 scoring on a page without int8 storage');
    if (!heldOne || heldOne.q !== q || heldOne.e !== e) {
      heldOne = { q, e };
      heldGroup = null;
      rscales[0] = quantizeRequest(q, stride, q16, codeLimit);
      rscales[1] = quantizeRequest(e, stride, e16, codeLimit);
      ev.set(e.subarray(0, stride));
    }
    for (let start = 0; start < count; start += KERNEL_CHUNK) {
      const n = Math.min(KERNEL_CHUNK, count - start);
      sv.set(slots.subarray(from + start, from + start + n));
      scoreInt8(n, args.k, stride * 4, layout.globalsOffset, layout.metaOffset, i8.codesOffset, i8.scalesOffset, i8.gramOffset, i8.rowBytes, i8.kPad,
        q16Off, e16Off, rsOff, eOff, w8Off, cstOff, iqOff, slotsOff, outOff, args.alpha, args.beta, eNorm, args.zeroNorm);
      for (let i = 0; i < n; i++) emit(from + start + i, ov[i * 3], ov[i * 3 + 1], ov[i * 3 + 2]);
    }
  };
  /**
   * int8 storage, requests sharing the candidates: each request's q and e quantized as for a single
   * request, the candidates' codes read once per group of KERNEL_BATCH requests.
   */
  const runBatchInt8 = (args: KernelArgs, users: readonly KernelUser[], slots: Uint32Array, from: number, count: number,
    emit: (user: number, index: number, score: number, cosGlobal: number, cosLocal: number) => void): void => {
    if (!i8) throw new Error('int8 scoring on a page without int8 storage');
    for (let u0 = 0; u0 < users.length; u0 += KERNEL_BATCH) {
      const nb = Math.min(KERNEL_BATCH, users.length - u0);
      const held = heldGroup !== null && heldGroup.users === users && heldGroup.u0 === u0;
      heldGroup = { users, u0 };
      heldOne = null;
      for (let b = 0; b < nb && !held; b++) {
        const u = users[u0 + b];
        rscales[2 * b] = quantizeRequest(u.q, stride, qTmp, codeLimit);
        rscales[2 * b + 1] = quantizeRequest(u.e, stride, eTmp, codeLimit);
        // Pair (2p, 2p + 1) interleaved by 8 codes: q of 2p, e of 2p, q of 2p + 1, e of 2p + 1.
        const pair = (b >> 1) * 4 * rb + (b & 1) * 16;
        const last = (b & 1) === 0 && b === nb - 1;
        for (let c = 0; c < rb; c += 8) {
          const at = pair + c * 4;
          for (let i = 0; i < 8; i++) {
            rcodes[at + i] = qTmp[c + i];
            rcodes[at + 8 + i] = eTmp[c + i];
            // An odd last request is paired with itself.
            if (last) {
              rcodes[at + 16 + i] = qTmp[c + i];
              rcodes[at + 24 + i] = eTmp[c + i];
            }
          }
        }
        esv.set(u.e.subarray(0, stride), b * stride);
        nv[b] = u.eNorm;
      }
      batchChunks(nb, u0, slots, from, count, emit, (n) => scoreBatchInt8(n, args.k, stride * 4, layout.globalsOffset, layout.metaOffset, i8.codesOffset, i8.scalesOffset,
        i8.gramOffset, i8.rowBytes, i8.kPad, nb, rqOff, rsOff, esOff, normsOff, iqOff, w8Off, cstOff, slotsOff, outOff, args.alpha, args.beta, args.zeroNorm));
    }
  };
  return {
    run(args, q, e, eNorm, slots, from, count, emit) {
      if (i8) {
        runInt8(args, q, e, eNorm, slots, from, count, emit);
        return;
      }
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
    runBatch(args, users, slots, from, count, emit) {
      if (i8) {
        runBatchInt8(args, users, slots, from, count, emit);
        return;
      }
      const rowBytes = stride * 4;
      for (let u0 = 0; u0 < users.length; u0 += KERNEL_BATCH) {
        const nb = Math.min(KERNEL_BATCH, users.length - u0);
        for (let b = 0; b < nb; b++) {
          const u = users[u0 + b];
          qsv.set(u.q.subarray(0, stride), b * stride);
          esv.set(u.e.subarray(0, stride), b * stride);
          nv[b] = u.eNorm;
        }
        batchChunks(nb, u0, slots, from, count, emit, (n) => scoreBatch(n, args.k, rowBytes, layout.centroidsOffset, layout.globalsOffset, layout.metaOffset,
          nb, qsOff, esOff, normsOff, accOff, slotsOff, outOff, args.alpha, args.beta, args.zeroNorm));
      }
    },
  };
}

const mainKernels = new WeakMap<HostPage, PageKernel>();

/** The main thread's kernel for a page (thread 0's scratch). */
export function mainPageKernel(page: HostPage, layout: PageLayout, stride: number, k: number, variant: KernelVariant): PageKernel {
  let pk = mainKernels.get(page);
  if (!pk) {
    const mod = kernelModule(variant);
    if (!mod || !page.memory) throw new Error('the WebAssembly kernel is not available for this page');
    pk = bindPageKernel(mod, page.memory, layout, stride, k, 0);
    mainKernels.set(page, pk);
  }
  return pk;
}
