/**
 * The item table: for every servable item, up to k centroids (width h, in the transformed
 * space), how many are valid, the precomputed global vector and its norm. The host copy here
 * is authoritative (the CPU backend scores from it; the GPU backend mirrors it into persistent
 * buffers and re-uploads it after a device loss).
 *
 * Layout. Storage is split into pages of `slotsPerPage` slots so that no GPU binding exceeds
 * the device's maxStorageBufferBindingSize. A slot holds k rows of `stride` floats (h rounded up
 * to a multiple of 8, zero-padded, so the f16 path can pack 8 values per 16 bytes); rows past
 * the item's count are zero and never read.
 *
 * Consistency. An update never writes into a slot a request might be reading: upsert writes a
 * fresh slot, then publishes the id → slot mapping in one synchronous step; the old slot is
 * retired and only reused once every snapshot that could reference it has been released.
 * A request therefore sees either the whole old item or the whole new one.
 */
import { RalmError } from '../util/errors.js';
import { PageSpace, type PageMemory, type PagedLayout } from './paged-table.js';
import { gramBlockFloats, gramSide, int8RowBytes, quantizeRow, writeGramBlocks } from './quantize.js';
import { ESTABLISHED_CLICKERS, ItemTerms, type TypicalLevel } from './item-terms.js';
import type { HostPage, Int8Layout, PageLayout } from './item-layout.js';

export type { HostPage, Int8Layout, PageLayout } from './item-layout.js';

/** `int8`: rows of int8 codes with a per-row scale (core/quantize.ts), for the CPU kernel. */
export type CentroidStorage = 'f32' | 'f16' | 'int8';

export interface ItemTableOptions {
  h: number;
  k: number;
  storage: CentroidStorage;
  /** Slots per page; the engine derives it from the device's binding limit. */
  slotsPerPage: number;
  /**
   * Scratch bytes to reserve after each page's data; when given, pages are allocated inside
   * WebAssembly memories (for the CPU kernel to read in place). Plain arrays otherwise.
   */
  wasmScratchBytes?: number;
  /** λ of the popularity prior λ · ln(1 + clickers) added to every score (model/prior.ts). Default 0. */
  popularityPrior?: number;
  /** Clickers from which an item counts as established, for the typical level (core/item-terms.ts). */
  establishedClickers?: number;
}

/** A pinned view of the mapping: slots resolved under it stay valid until release(). */
export interface Snapshot {
  readonly epoch: number;
  release(): void;
}

type ItemRegion = 'centroids' | 'globals' | 'meta' | 'scales' | 'gram' | 'codes';

export function paddedStride(h: number): number {
  return Math.ceil(h / 8) * 8;
}

export class ItemTable {
  readonly h: number;
  readonly k: number;
  readonly stride: number;
  readonly storage: CentroidStorage;
  readonly slotsPerPage: number;
  readonly pages: HostPage[];
  readonly layout: PageLayout;
  private readonly space: PageSpace<ItemRegion, HostPage>;

  /** λ of the popularity prior; 0 scores exactly as the paper's blend. */
  readonly popularityPrior: number;
  /** Per-slot flags kept on the host only (bit 0: cold). */
  private flags = new Uint8Array(0);
  /** Per slot, the additive term prior + level offset (core/item-terms.ts), written with the slot. */
  private readonly terms: ItemTerms;
  private readonly idToSlot = new Map<string, number>();
  private readonly slotToId: Array<string | undefined> = [];
  private readonly freeSlots: number[] = [];
  private retired: Array<{ slot: number; epoch: number }> = [];
  private readonly active = new Map<number, number>();
  private epochCounter = 0;
  private allCache: { epoch: number; slots: Uint32Array; ids: string[] } | undefined;
  private stamps = new Uint32Array(0);
  private stampGen = 0;

  constructor(options: ItemTableOptions) {
    this.h = options.h;
    this.k = options.k;
    this.stride = paddedStride(options.h);
    this.storage = options.storage;
    this.slotsPerPage = options.slotsPerPage;
    this.popularityPrior = options.popularityPrior ?? 0;
    this.terms = new ItemTerms(this.popularityPrior, options.establishedClickers ?? ESTABLISHED_CLICKERS);
    const spp = options.slotsPerPage;
    const kPad = gramSide(this.k);
    const rowBytes = int8RowBytes(this.h);
    const int8 = this.storage === 'int8';
    // The int8 regions, after the float32 ones (every region size is a multiple of 8 bytes).
    const extra = int8 ? { scales: spp * kPad * 4, gram: spp * gramBlockFloats(kPad) * 4, codes: spp * this.k * rowBytes } : {};
    this.space = new PageSpace<ItemRegion, HostPage>({
      what: 'a page', unit: 'slots', field: 'slotsPerPage', rowsPerPage: spp,
      regions: { centroids: spp * this.k * this.stride * 4, globals: spp * this.stride * 4, meta: spp * 8, ...extra } as Record<ItemRegion, number>,
      scratchBytes: options.wasmScratchBytes,
    }, (page, layout) => this.pageViews(page, layout));
    const { offsets, scratchOffset, totalBytes } = this.space.layout;
    this.layout = {
      centroidsOffset: offsets.centroids, globalsOffset: offsets.globals, metaOffset: offsets.meta, scratchOffset, totalBytes,
      ...(int8 ? { int8: { codesOffset: offsets.codes, scalesOffset: offsets.scales, gramOffset: offsets.gram, rowBytes, kPad } } : {}),
    };
    this.pages = this.space.pages;
  }

  private pageViews(page: PageMemory, layout: PagedLayout<ItemRegion>): HostPage {
    const spp = this.slotsPerPage;
    const { buffer } = page;
    return {
      memory: page.memory,
      centroids: new Float32Array(buffer, layout.offsets.centroids, spp * this.k * this.stride),
      globals: new Float32Array(buffer, layout.offsets.globals, spp * this.stride),
      meta: new Uint32Array(buffer, layout.offsets.meta, spp * 2),
      metaF32: new Float32Array(buffer, layout.offsets.meta, spp * 2),
      ...(this.storage === 'int8' ? {
        codes: new Int8Array(buffer, layout.offsets.codes, spp * this.k * int8RowBytes(this.h)),
        scales: new Float32Array(buffer, layout.offsets.scales, spp * gramSide(this.k)),
        gram: new Float32Array(buffer, layout.offsets.gram, spp * gramBlockFloats(gramSide(this.k))),
      } : {}),
    };
  }

  get size(): number {
    return this.idToSlot.size;
  }

  get epoch(): number {
    return this.epochCounter;
  }

  get capacity(): number {
    return this.space.capacity;
  }

  has(id: string): boolean {
    return this.idToSlot.has(id);
  }

  slotOf(id: string): number | undefined {
    return this.idToSlot.get(id);
  }

  /** The id of the item in `slot`, live or retired while a snapshot pins it; undefined once free. */
  idOf(slot: number): string | undefined {
    return this.slotToId[slot];
  }

  ids(): IterableIterator<string> {
    return this.idToSlot.keys();
  }

  /** Pins the current mapping until release(). */
  acquire(): Snapshot {
    const epoch = this.epochCounter;
    this.active.set(epoch, (this.active.get(epoch) ?? 0) + 1);
    let released = false;
    return {
      epoch,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.active.get(epoch) ?? 1) - 1;
        if (n === 0) this.active.delete(epoch);
        else this.active.set(epoch, n);
        this.reclaim();
      },
    };
  }

  /** Resolves ids to slots under the current mapping; unknown ids are an error that names them. */
  resolve(ids: readonly string[], field = 'candidates'): Uint32Array {
    const out = new Uint32Array(ids.length);
    const unknown: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const s = this.idToSlot.get(ids[i]);
      if (s === undefined) unknown.push(ids[i]);
      else out[i] = s;
    }
    if (unknown.length > 0) throw this.unknownItems(unknown, field);
    return out;
  }

  private unknownItems(unknown: readonly string[], field: string): RalmError {
    const shown = `${unknown.slice(0, 10).map((u) => JSON.stringify(u)).join(', ')}${unknown.length > 10 ? ', …' : ''}`;
    return new RalmError('RALM_ERR_UNKNOWN_ITEM', `${field}: ${unknown.length} unknown item id${unknown.length > 1 ? 's' : ''}: ${shown}`, { field, unknown: unknown.slice(0, 100) });
  }

  /** Every live item, in slot order (deterministic for a given history). Cached per epoch: do not mutate. */
  allSlots(): { slots: Uint32Array; ids: string[] } {
    if (this.allCache?.epoch !== this.epochCounter) {
      const slots = Uint32Array.from(this.idToSlot.values()).sort();
      this.allCache = { epoch: this.epochCounter, slots, ids: Array.from(slots, (s) => this.slotToId[s] as string) };
    }
    return this.allCache;
  }

  /**
   * Resolves candidate ids (or takes every item), drops repeats (first occurrence wins) and
   * excluded ids, in one pass over the list and without per-candidate allocation: a stamp per slot
   * marks what was seen. Unknown candidates are an error; unknown exclusions are ignored.
   */
  candidates(ids: readonly string[] | undefined, exclude: readonly string[] | undefined, field = 'candidates'): { slots: Uint32Array; ids: readonly string[] } {
    if (ids === undefined && (exclude === undefined || exclude.length === 0)) return this.allSlots();
    if (this.stamps.length < this.capacity) this.stamps = new Uint32Array(this.capacity);
    if (++this.stampGen === 0xffffffff) {
      this.stamps.fill(0);
      this.stampGen = 1;
    }
    const gen = this.stampGen;
    const stamps = this.stamps;
    for (const x of exclude ?? []) {
      const s = this.idToSlot.get(x);
      if (s !== undefined) stamps[s] = gen;
    }
    const all = ids === undefined ? this.allSlots() : undefined;
    const names = ids ?? (all as { ids: readonly string[] }).ids;
    const out = new Uint32Array(names.length);
    // Positions in `names` of the kept candidates: made only once a repeat or an exclusion is met.
    let keptAt: Uint32Array | undefined;
    let keep = 0;
    let unknown: string[] | undefined;
    for (let i = 0; i < names.length; i++) {
      const s = all ? all.slots[i] : this.idToSlot.get(names[i]);
      if (s === undefined) {
        (unknown ??= []).push(names[i]);
        continue;
      }
      if (stamps[s] === gen) {
        if (keptAt === undefined) keptAt = Uint32Array.from({ length: names.length }, (_, j) => j);
        continue;
      }
      stamps[s] = gen;
      if (keptAt !== undefined) keptAt[keep] = i;
      out[keep++] = s;
    }
    if (unknown !== undefined) throw this.unknownItems(unknown, field);
    if (keptAt === undefined) return { slots: out, ids: names };
    return { slots: out.slice(0, keep), ids: Array.from(keptAt.subarray(0, keep), (i) => names[i]) };
  }

  /** Reserves `n` slots that no snapshot can see yet. Adds pages as needed; returns the new page indices too. */
  allocate(n: number): { slots: number[]; newPages: number[] } {
    const newPages: number[] = [];
    this.reclaim();
    while (this.freeSlots.length < n) {
      const p = this.space.addPage();
      const spp = this.slotsPerPage;
      // Push in reverse so pop() hands out low slots first.
      for (let s = (p + 1) * spp - 1; s >= p * spp; s--) this.freeSlots.push(s);
      newPages.push(p);
    }
    if (this.flags.length < this.capacity) {
      const f = new Uint8Array(this.capacity);
      f.set(this.flags);
      this.flags = f;
      this.terms.grow(this.capacity);
    }
    const slots: number[] = [];
    for (let i = 0; i < n; i++) slots.push(this.freeSlots.pop() as number);
    return { slots, newPages };
  }

  /** Gives back reserved slots that were never published (an update that failed half way). */
  unreserve(slots: readonly number[]): void {
    for (const s of slots) this.freeSlots.push(s);
  }

  /**
   * Writes one item's data into a reserved slot. `centroids` holds `count` rows of width h;
   * in f16 mode the values are rounded to half precision by the engine, so every backend scores
   * the same numbers the GPU stores; in int8 mode each row is quantized here and the float32 copy
   * holds the values its codes stand for. `clickers` is the item's clicker count (0 when unknown:
   * prior 0); `level` its own level and `offset` its level offset (engine/item-levels.ts; NaN and 0
   * when unknown).
   */
  writeSlot(slot: number, centroids: Float32Array, count: number, global: Float32Array, globalNorm: number, cold = false, clickers = 0, level = NaN, offset = 0): void {
    this.flags[slot] = cold ? 1 : 0;
    this.terms.write(slot, clickers, level, offset);
    const { h, k, stride } = this;
    const page = this.pages[Math.floor(slot / this.slotsPerPage)];
    const local = slot % this.slotsPerPage;
    const base = local * k * stride;
    page.centroids.fill(0, base, base + k * stride);
    for (let j = 0; j < count; j++) {
      for (let i = 0; i < h; i++) page.centroids[base + j * stride + i] = centroids[j * h + i];
    }
    if (page.codes && page.scales && page.gram) this.writeInt8(page, local, count);
    page.globals.fill(0, local * stride, (local + 1) * stride);
    page.globals.set(global.subarray(0, h), local * stride);
    page.meta[local * 2] = count;
    page.metaF32[local * 2 + 1] = globalNorm;
  }

  /** Quantizes a written slot's rows to int8 (codes, scales), rounds its float32 rows to their values, and stores its Gram matrix. */
  private writeInt8(page: HostPage, local: number, count: number): void {
    const { h, k, stride } = this;
    const { rowBytes, kPad } = this.layout.int8 as Int8Layout;
    const codes = page.codes as Int8Array;
    const scales = page.scales as Float32Array;
    const base = local * k * stride;
    codes.fill(0, local * k * rowBytes, (local + 1) * k * rowBytes);
    scales.fill(0, local * kPad, (local + 1) * kPad);
    for (let j = 0; j < count; j++) {
      const row = base + j * stride;
      scales[local * kPad + j] = quantizeRow(page.centroids, row, h, codes, (local * k + j) * rowBytes, page.centroids, row);
    }
    writeGramBlocks(page.centroids, base, stride, h, count, kPad, page.gram as Float32Array, local * gramBlockFloats(kPad));
  }

  /** Makes the written slots visible under their ids, atomically, and retires the slots they replace. */
  publish(ids: readonly string[], slots: readonly number[]): void {
    const retiring: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const old = this.idToSlot.get(ids[i]);
      if (old !== undefined) {
        retiring.push(old);
        this.terms.hidden(old);
      }
      this.terms.shown(slots[i]);
      this.idToSlot.set(ids[i], slots[i]);
      this.slotToId[slots[i]] = ids[i];
    }
    this.advance(retiring);
  }

  /** Removes items; returns the ids that were not present. */
  remove(ids: readonly string[]): string[] {
    const missing: string[] = [];
    const retiring: number[] = [];
    for (const id of ids) {
      const s = this.idToSlot.get(id);
      if (s === undefined) {
        missing.push(id);
        continue;
      }
      this.idToSlot.delete(id);
      this.terms.hidden(s);
      retiring.push(s);
    }
    this.advance(retiring);
    return missing;
  }

  private advance(retiring: number[]): void {
    this.epochCounter++;
    for (const slot of retiring) this.retired.push({ slot, epoch: this.epochCounter });
    this.reclaim();
  }

  /** A slot retired when epoch E began can be referenced only by snapshots with epoch < E. */
  private reclaim(): void {
    if (this.retired.length === 0) return;
    let oldest = Infinity;
    for (const e of this.active.keys()) oldest = Math.min(oldest, e);
    const keep: Array<{ slot: number; epoch: number }> = [];
    for (const r of this.retired) {
      if (oldest < r.epoch) {
        keep.push(r);
        continue;
      }
      this.slotToId[r.slot] = undefined;
      this.freeSlots.push(r.slot);
    }
    this.retired = keep;
  }

  /** True when the item in `slot` was published as cold (below the cold-start seed threshold). */
  isCold(slot: number): boolean {
    return (this.flags[slot] & 1) === 1;
  }

  /** The clicker count the item in `slot` was published with (0 when unknown). */
  clickersOf(slot: number): number {
    return this.terms.clickersOf(slot);
  }

  /** The level offset the item in `slot` was published with (0 when none) and its level (NaN when unknown). */
  levelOf(slot: number): { offset: number; level: number } {
    return { offset: this.terms.offsetOf(slot), level: this.terms.levelOf(slot) };
  }

  /** The established items' mean level and prior (core/item-terms.ts); undefined while there is none. */
  get typicalLevel(): TypicalLevel | undefined { return this.terms.typical; }

  /** Per slot, prior + level offset (float32); null when both are 0 everywhere, so callers skip the pass. */
  get priors(): Float32Array | null { return this.terms.values; }

  /** The term a request adds: `priors`, or (levels false: a fresh-only list, docs/http-api.md) the prior alone. */
  priorsFor(levels: boolean): Float32Array | null { return levels ? this.terms.values : this.terms.withoutLevels; }

  /** Number of retired slots still pinned by live snapshots (for tests and metrics). */
  get pendingReclaim(): number {
    return this.retired.length;
  }
}
