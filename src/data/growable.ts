/**
 * Append-only typed-array columns that double when full. Readers do not know row counts in
 * advance (gzipped hourly files, bad rows), and a JS number[] of three million timestamps costs
 * several times the memory of the Float64Array it becomes.
 */
type TypedArray = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;
type TypedArrayCtor<T extends TypedArray> = { new (n: number): T };

export class Growable<T extends TypedArray> {
  private data: T;
  private readonly ctor: TypedArrayCtor<T>;
  length = 0;

  constructor(ctor: TypedArrayCtor<T>, initial = 1024) {
    this.ctor = ctor;
    this.data = new ctor(Math.max(1, initial));
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new this.ctor(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }

  get(i: number): number {
    return this.data[i];
  }

  /** A right-sized copy (the builder can be dropped afterwards). */
  finish(): T {
    return this.data.slice(0, this.length) as T;
  }
}
