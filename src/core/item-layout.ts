/** The item table's page layout: where a page's regions are, in bytes and as typed views. */

/** Byte offsets of a page's regions inside its memory. */
export interface PageLayout {
  readonly centroidsOffset: number;
  readonly globalsOffset: number;
  readonly metaOffset: number;
  /** Start of per-call scratch for the WebAssembly kernel (absent when pages are plain arrays). */
  readonly scratchOffset: number;
  readonly totalBytes: number;
  /** int8 storage: where the codes, the row scales and the items' Gram matrices are. */
  readonly int8?: Int8Layout;
}

/** The int8 regions of a page (storage `int8`): per slot k rows of codes, kPad scales, a kPad² Gram. */
export interface Int8Layout {
  readonly codesOffset: number;
  readonly scalesOffset: number;
  readonly gramOffset: number;
  /** Bytes of one row of codes (h rounded up to 16). */
  readonly rowBytes: number;
  /** k rounded up to 4: scales per slot, and the Gram matrix's side. */
  readonly kPad: number;
}

export interface HostPage {
  /** The WebAssembly memory holding this page, when the CPU kernel is WebAssembly. */
  readonly memory?: WebAssembly.Memory;
  /** slotsPerPage · k · stride floats. */
  readonly centroids: Float32Array;
  /** slotsPerPage · stride floats. */
  readonly globals: Float32Array;
  /** Per slot: [count (u32), global norm (f32 bits)]. */
  readonly meta: Uint32Array;
  readonly metaF32: Float32Array;
  /** int8 storage: slotsPerPage · k · rowBytes codes, slotsPerPage · kPad scales, slotsPerPage · gramBlockFloats(kPad) Gram (its blocks on and right of the diagonal). */
  readonly codes?: Int8Array;
  readonly scales?: Float32Array;
  readonly gram?: Float32Array;
}
