/**
 * The item table's pages mirrored into device buffers, page for page (one page is one binding,
 * so a page never exceeds the binding limit). The host table stays authoritative: slots are
 * uploaded as the engine publishes them, and a fresh mirror after a device loss is filled the
 * same way.
 */
import type { ItemTable } from '../core/item-table.js';
import { int8RowBytes } from '../core/quantize.js';
import { floatToHalfBits } from '../util/half.js';
import { Usage, type GpuRuntime } from './runtime.js';

export interface DevicePage {
  readonly centroids: GPUBuffer;
  readonly globals: GPUBuffer;
  readonly meta: GPUBuffer;
}

/** A run of consecutive slots inside one page: slots first .. first + count − 1 of `page`. */
export interface SlotRun {
  readonly page: number;
  readonly first: number;
  readonly count: number;
}

/** Sorts `slots` and coalesces consecutive slots of one page into runs, one write per run and buffer. */
export function slotRuns(slots: readonly number[], slotsPerPage: number): SlotRun[] {
  const sorted = Array.from(slots).sort((a, b) => a - b);
  const runs: SlotRun[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[j - 1] + 1 && Math.floor(sorted[j] / slotsPerPage) === Math.floor(sorted[i] / slotsPerPage)) j++;
    runs.push({ page: Math.floor(sorted[i] / slotsPerPage), first: sorted[i] % slotsPerPage, count: j - i });
    i = j;
  }
  return runs;
}

/** Packs pairs of floats into half-precision pairs (low half first), as the shader's unpack2x16float reads them. */
export function packHalfPairs(src: Float32Array): Uint32Array {
  const packed = new Uint32Array(src.length / 2);
  for (let t = 0; t < packed.length; t++) packed[t] = floatToHalfBits(src[2 * t]) | (floatToHalfBits(src[2 * t + 1]) << 16);
  return packed;
}

export class ItemMirror {
  readonly pages: DevicePage[] = [];

  /**
   * `int8`: a page's centroid buffer holds the int8 codes of its slotsPerPage · k rows
   * (int8RowBytes(h) each), then one f32 scale per row, in row order (see shaders/score.wgsl).
   */
  constructor(
    private readonly runtime: GpuRuntime,
    private readonly f16: boolean,
    private readonly int8 = false,
  ) {}

  /** vec4 index of the row scales in an int8 page's centroid buffer (the scorer's i8_scales uniform). */
  static int8ScalesAt(table: ItemTable): number {
    return (table.slotsPerPage * table.k * int8RowBytes(table.h)) / 16;
  }

  /** Adds device pages until the mirror has as many as the table. */
  ensurePages(table: ItemTable): void {
    const bytesPerSlotCentroids = this.int8 ? table.k * (int8RowBytes(table.h) + 4) : table.k * table.stride * (this.f16 ? 2 : 4);
    const rt = this.runtime;
    while (this.pages.length < table.pages.length) {
      const p = this.pages.length;
      this.pages.push({
        centroids: rt.createBuffer(`page ${p} centroids`, table.slotsPerPage * bytesPerSlotCentroids, Usage.STORAGE | Usage.COPY_DST),
        globals: rt.createBuffer(`page ${p} globals`, table.slotsPerPage * table.stride * 4, Usage.STORAGE | Usage.COPY_DST),
        meta: rt.createBuffer(`page ${p} meta`, table.slotsPerPage * 8, Usage.STORAGE | Usage.COPY_DST),
      });
    }
  }

  /** Uploads `slots` (centroids, global vector, count and norm) from the host table. */
  sync(table: ItemTable, slots: readonly number[]): void {
    this.ensurePages(table);
    const slotFloats = table.k * table.stride;
    for (const { page, first, count } of slotRuns(slots, table.slotsPerPage)) {
      const host = table.pages[page];
      const dev = this.pages[page];
      const centroids = host.centroids.subarray(first * slotFloats, (first + count) * slotFloats);
      if (this.int8) this.syncInt8(table, page, first, count);
      else if (this.f16) this.runtime.write(dev.centroids, first * slotFloats * 2, packHalfPairs(centroids));
      else this.runtime.write(dev.centroids, first * slotFloats * 4, centroids);
      this.runtime.write(dev.globals, first * table.stride * 4, host.globals.subarray(first * table.stride, (first + count) * table.stride));
      this.runtime.write(dev.meta, first * 8, host.meta.subarray(first * 2, (first + count) * 2));
    }
  }

  /** Uploads slots' int8 codes as they are and their scales in row order (the host keeps kPad per slot). */
  private syncInt8(table: ItemTable, page: number, first: number, count: number): void {
    const host = table.pages[page];
    const q = table.layout.int8;
    if (!host.codes || !host.scales || !q) throw new Error('int8 mirror of a table without int8 storage');
    const { k } = table;
    const rowBytes = q.rowBytes;
    const codes = new Uint32Array(host.codes.buffer, host.codes.byteOffset + first * k * rowBytes, (count * k * rowBytes) / 4);
    this.runtime.write(this.pages[page].centroids, first * k * rowBytes, codes);
    const scales = new Float32Array(count * k);
    for (let s = 0; s < count; s++) scales.set(host.scales.subarray((first + s) * q.kPad, (first + s) * q.kPad + k), s * k);
    this.runtime.write(this.pages[page].centroids, ItemMirror.int8ScalesAt(table) * 16 + first * k * 4, scales);
  }
}
