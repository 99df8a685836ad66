/**
 * Paged host storage, shared by the item table and the user table. A table's rows live in pages
 * of a fixed number of rows, so that no GPU binding exceeds the device's binding limit and a
 * table is not limited to one 4 GiB WebAssembly address space. Each page is one memory holding
 * the table's regions one after the other (for example centroids, globals, metadata), then,
 * 64-byte aligned, scratch space for the CPU kernel's threads.
 *
 * With `shared` pages, each page is a shared WebAssembly.Memory, so the CPU kernel reads it in
 * place from the main thread and from worker threads. Pages are never grown, so views into them
 * stay valid for the table's lifetime.
 */
import { RalmError } from '../util/errors.js';

/** The largest WebAssembly memory (4 GiB less one 64 KiB page). */
export const WASM_MEMORY_LIMIT = 2 ** 32 - 2 ** 16;

/** Byte offsets of a page's regions, its scratch start and its size. */
export interface PagedLayout<R extends string> {
  readonly offsets: Readonly<Record<R, number>>;
  readonly scratchOffset: number;
  readonly totalBytes: number;
}

/** One page's memory: the WebAssembly memory when shared, and its buffer. */
export interface PageMemory {
  readonly memory?: WebAssembly.Memory;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

export interface PageSpaceOptions<R extends string> {
  /** What a page is and what its rows are called, for error messages: "a user page", "rows". */
  readonly what: string;
  readonly unit: string;
  /** The option that sets rows per page, for error messages. */
  readonly field: string;
  readonly rowsPerPage: number;
  /** Bytes each region takes in one page, in layout order. */
  readonly regions: Readonly<Record<R, number>>;
  /** Scratch bytes after the regions; pages are shared WebAssembly memories when this is given. */
  readonly scratchBytes?: number;
  /** Shared memories even without scratch (the scan workers read user pages in place). */
  readonly shared?: boolean;
}

/** The pages of one table and how its rows map onto them. */
export class PageSpace<R extends string, P> {
  readonly rowsPerPage: number;
  readonly layout: PagedLayout<R>;
  readonly shared: boolean;
  readonly pages: P[] = [];

  /** `view` builds the table's typed views over a new page. */
  constructor(o: PageSpaceOptions<R>, private readonly view: (page: PageMemory, layout: PagedLayout<R>) => P) {
    if (!Number.isSafeInteger(o.rowsPerPage) || o.rowsPerPage < 1) {
      throw new RalmError('RALM_ERR_VALIDATION', `${o.field}: expected a positive integer, got ${o.rowsPerPage}`, { field: o.field });
    }
    this.rowsPerPage = o.rowsPerPage;
    this.shared = o.shared === true || o.scratchBytes !== undefined;
    const offsets: Record<string, number> = {};
    let at = 0;
    for (const [name, bytes] of Object.entries(o.regions) as Array<[string, number]>) {
      offsets[name] = at;
      at += bytes;
    }
    const scratchOffset = Math.ceil(at / 64) * 64;
    const totalBytes = this.shared ? scratchOffset + (o.scratchBytes ?? 0) : scratchOffset;
    if (this.shared && totalBytes > WASM_MEMORY_LIMIT) {
      throw new RalmError('RALM_ERR_VALIDATION', `${o.what} of ${o.rowsPerPage} ${o.unit} needs ${totalBytes} bytes, above the 4 GiB WebAssembly memory limit; use fewer ${o.unit} per page`);
    }
    this.layout = { offsets: offsets as Record<R, number>, scratchOffset, totalBytes };
  }

  /** Rows the allocated pages hold. */
  get capacity(): number {
    return this.pages.length * this.rowsPerPage;
  }

  /** Host bytes the pages take. */
  get bytes(): number {
    return this.pages.length * this.layout.totalBytes;
  }

  /** Allocates one more page and returns its index. */
  addPage(): number {
    let page: PageMemory;
    if (this.shared) {
      const n = Math.ceil(this.layout.totalBytes / 65536);
      const memory = new WebAssembly.Memory({ initial: n, maximum: n, shared: true });
      page = { memory, buffer: memory.buffer };
    } else {
      page = { buffer: new ArrayBuffer(this.layout.totalBytes) };
    }
    this.pages.push(this.view(page, this.layout));
    return this.pages.length - 1;
  }

  /** The page holding `row`. */
  pageOf(row: number): P {
    return this.pages[Math.floor(row / this.rowsPerPage)];
  }
}
