/**
 * The user table for audience expansion: every known user's look-alike embedding e_u (width h,
 * zero-padded to the row stride) and its norm, in pages of shared WebAssembly memory so the CPU
 * kernel's worker threads scan it in place and the GPU backend mirrors it page by page.
 *
 * Consistency. A user whose embedding changes gets a fresh row and the old row is retired; a
 * retired row is reused only while no scan is running. A scan therefore reads every row it
 * considers live wholly old or wholly new, and the row → id mapping it reports through stays
 * valid until it ends.
 */
import { paddedStride } from './item-table.js';
import { RalmError } from '../util/errors.js';
import { PageSpace, type PageMemory, type PagedLayout } from './paged-table.js';
import { int8RowBytes, quantizeRow } from './quantize.js';

/** `int8`: each row also as int8 codes with a scale (core/quantize.ts), which the CPU scan reads. */
export type UserStorage = 'f32' | 'int8';

/** Default rows per page: 262,144 rows (128 MiB at h = 128), under every device's binding limit. */
export const DEFAULT_ROWS_PER_PAGE = 1 << 18;
/** Threads whose kernel scratch each page reserves. */
export const SCAN_THREADS = 4;

export interface UserPage {
  readonly memory: WebAssembly.Memory;
  /** rowsPerPage · stride floats. */
  readonly rows: Float32Array;
  /** rowsPerPage norms |e_u|. */
  readonly norms: Float32Array;
  /** int8 storage: rowsPerPage · rowBytes codes and rowsPerPage scales. */
  readonly codes?: Int8Array;
  readonly scales?: Float32Array;
  /** Bumped by every write into the page (the GPU mirror re-uploads what changed). */
  version: number;
  /** Rows written since the mirror last took them: [lo, hi), empty when lo >= hi. */
  dirtyLo: number;
  dirtyHi: number;
}

export interface UserPageLayout {
  readonly rowsOffset: number;
  readonly normsOffset: number;
  /** Per-thread kernel scratch starts here (SCAN_THREADS regions of scratchBytes each). */
  readonly scratchOffset: number;
  readonly scratchBytes: number;
  readonly totalBytes: number;
  /** int8 storage: the codes (rowBytes per row) and the row scales. */
  readonly int8?: { readonly codesOffset: number; readonly scalesOffset: number; readonly rowBytes: number };
}

export interface UserTableOptions {
  h: number;
  /** Rows per page (default DEFAULT_ROWS_PER_PAGE). */
  rowsPerPage?: number;
  /** Largest k a seed set may have (sizes the kernel scratch). */
  maxCentroids: number;
  /**
   * `int8`: rows are stored as int8 codes with a per-row scale, the float32 rows hold the values
   * the codes stand for, and the CPU scan takes integer dot products. Default `f32`.
   */
  storage?: UserStorage;
}

/** What a scan pins: the rows live when it started, and their ids until it ends. */
export interface UserSnapshot {
  /** Rows in use (live or retired) when the scan started; scans cover [0, rowCount). */
  readonly rowCount: number;
  /** 1 bit per row, set for a row that is not live (retired or never used). */
  readonly dead: Uint32Array;
  idOf(row: number): string;
  release(): void;
}

/** Users the kernel takes per call (sizes each thread's output scratch). */
export const SCAN_CHUNK = 2048;
/** Users of an explicit pool gathered into scratch per call. */
export const GATHER_CHUNK = 256;

/** Byte offsets inside one thread's scratch region (relative to its start). */
export interface ScratchLayout {
  d: number;
  gram: number;
  dots: number;
  w: number;
  out: number;
  gatherRows: number;
  gatherNorms: number;
  /** int8 storage: D as 16-bit codes (rowBytes8 each), their scales, gathered codes and scales. */
  d16: number;
  dScales: number;
  gatherCodes: number;
  gatherScales: number;
  bytes: number;
}

/** One thread's scratch for seed sets of up to `k` centroids, rows of `stride` floats. */
export function scratchLayout(stride: number, k: number): ScratchLayout {
  const rowsD = Math.ceil((2 * k + 1) / 4) * 4;
  const kPad = Math.ceil(k / 4) * 4;
  const at = (bytes: number): number => Math.ceil(bytes / 64) * 64;
  const d = 0;
  const gram = at(d + rowsD * stride * 4);
  const dots = at(gram + kPad * kPad * 4);
  const w = at(dots + 2 * rowsD * 4);
  const out = at(w + kPad * 4);
  const gatherRows = at(out + SCAN_CHUNK * 12);
  const gatherNorms = at(gatherRows + GATHER_CHUNK * stride * 4);
  const rb = int8RowBytes(stride);
  const d16 = at(gatherNorms + GATHER_CHUNK * 4);
  const dScales = at(d16 + rowsD * rb * 2);
  const gatherCodes = at(dScales + rowsD * 4);
  const gatherScales = at(gatherCodes + GATHER_CHUNK * rb);
  const bytes = at(gatherScales + GATHER_CHUNK * 4);
  return { d, gram, dots, w, out, gatherRows, gatherNorms, d16, dScales, gatherCodes, gatherScales, bytes };
}

type UserRegion = 'rows' | 'norms' | 'scales' | 'codes';

let tableCounter = 0;

export class UserTable {
  /** Distinguishes tables in worker caches (a model reload builds a new one). */
  readonly tableId = ++tableCounter;
  readonly h: number;
  readonly stride: number;
  readonly rowsPerPage: number;
  readonly maxCentroids: number;
  readonly storage: UserStorage;
  readonly layout: UserPageLayout;
  readonly pages: UserPage[];
  private readonly space: PageSpace<UserRegion, UserPage>;
  private readonly idToRow = new Map<string, number>();
  private readonly rowToId: Array<string | undefined> = [];
  private dead = new Uint32Array(0);
  private used = 0;
  private free: number[] = [];
  private retired: number[] = [];
  private scans = 0;

  constructor(options: UserTableOptions) {
    this.h = options.h;
    this.stride = paddedStride(options.h);
    this.rowsPerPage = options.rowsPerPage ?? DEFAULT_ROWS_PER_PAGE;
    this.maxCentroids = options.maxCentroids;
    this.storage = options.storage ?? 'f32';
    if (this.storage !== 'f32' && this.storage !== 'int8') {
      throw new RalmError('RALM_ERR_VALIDATION', `storage: expected "f32" or "int8", got ${JSON.stringify(this.storage)}`, { field: 'storage' });
    }
    const rpp = this.rowsPerPage;
    const rb = int8RowBytes(options.h);
    const scratchBytes = Number.isSafeInteger(rpp) ? scratchLayout(this.stride, this.maxCentroids).bytes : 0;
    const int8 = this.storage === 'int8' ? { scales: rpp * 4, codes: rpp * rb } : {};
    this.space = new PageSpace<UserRegion, UserPage>({
      what: 'a user page', unit: 'rows', field: 'rowsPerPage', rowsPerPage: rpp,
      regions: { rows: rpp * this.stride * 4, norms: rpp * 4, ...int8 } as Record<UserRegion, number>,
      scratchBytes: SCAN_THREADS * scratchBytes,
    }, (page, layout) => this.pageViews(page, layout));
    const { offsets, scratchOffset, totalBytes } = this.space.layout;
    this.layout = {
      rowsOffset: offsets.rows, normsOffset: offsets.norms, scratchOffset, scratchBytes, totalBytes,
      ...(this.storage === 'int8' ? { int8: { codesOffset: offsets.codes, scalesOffset: offsets.scales, rowBytes: rb } } : {}),
    };
    this.pages = this.space.pages;
  }

  private pageViews(page: PageMemory, layout: PagedLayout<UserRegion>): UserPage {
    return {
      memory: page.memory as WebAssembly.Memory,
      rows: new Float32Array(page.buffer, layout.offsets.rows, this.rowsPerPage * this.stride),
      norms: new Float32Array(page.buffer, layout.offsets.norms, this.rowsPerPage),
      ...(this.storage === 'int8' ? {
        codes: new Int8Array(page.buffer, layout.offsets.codes, this.rowsPerPage * int8RowBytes(this.h)),
        scales: new Float32Array(page.buffer, layout.offsets.scales, this.rowsPerPage),
      } : {}),
      version: 0,
      dirtyLo: 0,
      dirtyHi: 0,
    };
  }

  /** Live users. */
  get size(): number {
    return this.idToRow.size;
  }

  /** Rows in use, live or retired. */
  get rowCount(): number {
    return this.used;
  }

  /** Host bytes held by the pages. */
  get bytes(): number {
    return this.space.bytes;
  }

  has(id: string): boolean {
    return this.idToRow.has(id);
  }

  rowOf(id: string): number | undefined {
    return this.idToRow.get(id);
  }

  /** The id a row held last (retired rows keep theirs until reused). */
  idOfRow(row: number): string | undefined {
    return this.rowToId[row];
  }

  /** A copy of a live user's embedding, or undefined. */
  embedding(id: string): Float32Array | undefined {
    const r = this.idToRow.get(id);
    if (r === undefined) return undefined;
    const page = this.pages[Math.floor(r / this.rowsPerPage)];
    const at = (r % this.rowsPerPage) * this.stride;
    return page.rows.slice(at, at + this.h);
  }

  private takeRow(): number {
    if (this.scans === 0 && this.retired.length > 0) {
      this.free.push(...this.retired);
      this.retired = [];
    }
    const r = this.free.pop();
    if (r !== undefined) return r;
    const row = this.used++;
    if (row >= this.space.capacity) this.space.addPage();
    if (this.dead.length * 32 < this.used) {
      const grown = new Uint32Array(Math.max(1024, this.dead.length * 2));
      grown.set(this.dead);
      this.dead = grown;
    }
    return row;
  }

  /**
   * Inserts or replaces users' embeddings: `embeddings` holds `ids.length` rows of width h.
   * Values must be finite (the caller validates input; stored data is trusted).
   */
  upsert(ids: readonly string[], embeddings: Float32Array): void {
    const { h, stride } = this;
    if (embeddings.length !== ids.length * h) {
      throw new RalmError('RALM_ERR_DIMENSION', `user embeddings: expected ${ids.length} rows of ${h} values, got ${embeddings.length} values`);
    }
    for (let i = 0; i < ids.length; i++) {
      const row = this.takeRow();
      const page = this.pages[Math.floor(row / this.rowsPerPage)];
      const local = row % this.rowsPerPage;
      const dst = local * stride;
      if (page.codes && page.scales) page.scales[local] = quantizeRow(embeddings, i * h, h, page.codes, local * int8RowBytes(h), page.rows, dst);
      else page.rows.set(embeddings.subarray(i * h, (i + 1) * h), dst);
      let ss = 0;
      for (let c = 0; c < h; c++) ss += page.rows[dst + c] * page.rows[dst + c];
      page.rows.fill(0, dst + h, dst + stride);
      page.norms[local] = Math.sqrt(ss);
      page.version++;
      if (page.dirtyLo >= page.dirtyHi) {
        page.dirtyLo = local;
        page.dirtyHi = local + 1;
      } else {
        page.dirtyLo = Math.min(page.dirtyLo, local);
        page.dirtyHi = Math.max(page.dirtyHi, local + 1);
      }
      const old = this.idToRow.get(ids[i]);
      if (old !== undefined) this.retire(old);
      this.idToRow.set(ids[i], row);
      this.rowToId[row] = ids[i];
      this.dead[row >>> 5] &= ~(1 << (row & 31));
    }
  }

  /** Removes users (unknown ids are ignored); returns how many were removed. */
  remove(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      const r = this.idToRow.get(id);
      if (r === undefined) continue;
      this.idToRow.delete(id);
      this.retire(r);
      n++;
    }
    return n;
  }

  private retire(row: number): void {
    this.dead[row >>> 5] |= 1 << (row & 31);
    this.retired.push(row);
  }

  /** Pins the rows live now for a scan; retired rows are not reused until release(). */
  acquire(): UserSnapshot {
    this.scans++;
    const rowCount = this.used;
    const dead = this.dead.slice(0, Math.ceil(rowCount / 32));
    // Rows never written past the end of the last word.
    for (let r = rowCount; r < dead.length * 32; r++) dead[r >>> 5] |= 1 << (r & 31);
    let released = false;
    return {
      rowCount,
      dead,
      idOf: (row) => this.rowToId[row] as string,
      release: () => {
        if (released) return;
        released = true;
        this.scans--;
      },
    };
  }

  /** Every live id (insertion order of their current rows is not guaranteed). */
  ids(): IterableIterator<string> {
    return this.idToRow.keys();
  }
}
