// The slice of the WebAssembly JS API this project uses. Node provides the global at run time;
// @types/node 20 does not declare it, and pulling in the DOM lib would bring browser globals.
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** A SharedArrayBuffer when the memory was created with `shared: true`. */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Grows by `pages` of 64 KiB; detaches views of a non-shared buffer. */
    grow(pages: number): number;
  }
  class Module {
    constructor(bytes: ArrayBuffer | ArrayBufferView);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
