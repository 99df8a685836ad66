/**
 * int8 storage with a per-row scale. A row x of width h is stored as codes c_i = round(x_i / s)
 * in [-127, 127] with s = max|x_i| / 127 (float32), and stands for the values fround(c_i · s):
 * every backend scores those values (the table keeps them in float32 beside the codes, for the
 * scalar kernel and the GPU mirror), while the WebAssembly kernel takes integer dot products of
 * the codes with the request's vectors quantized to 16 bits (see quantizeRequest).
 *
 * The symmetric range [-127, 127] (no -128) keeps every product of two codes and every pair sum
 * of `i32x4.dot_i16x8_s` far from overflow.
 */

/** Bytes of one int8 row: h rounded up to 16, so the kernel reads whole 16-byte vectors. */
export function int8RowBytes(h: number): number {
  return Math.ceil(h / 16) * 16;
}

/** Rows and columns of an item's Gram matrix: k rounded up to 4 (the kernel's vector width). */
export function gramSide(k: number): number {
  return Math.ceil(k / 4) * 4;
}

/**
 * Quantizes `h` values of `src` from `from` into int8 codes at `codes[at..]` and returns the row's
 * scale; `values[vat..]`, when given, receives the values the codes stand for.
 */
export function quantizeRow(src: ArrayLike<number>, from: number, h: number, codes: Int8Array, at: number, values?: Float32Array, vat = 0): number {
  let max = 0;
  for (let i = 0; i < h; i++) max = Math.max(max, Math.abs(src[from + i]));
  const s = Math.fround(max / 127);
  for (let i = 0; i < h; i++) {
    const c = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(src[from + i] / s)));
    codes[at + i] = c;
    if (values) values[vat + i] = Math.fround(c * s);
  }
  return s;
}

/** Rounds `rows` rows of width h in place to the values their int8 codes stand for. */
export function roundRowsInt8(x: Float32Array, rows: number, h: number): void {
  const codes = new Int8Array(h);
  for (let r = 0; r < rows; r++) quantizeRow(x, r * h, h, codes, 0, x, r * h);
}

/** Floats of one item's Gram matrix as the int8 scorer stores it: n(n + 1)/2 blocks of 4 × 4, n = side / 4 (writeGramBlocks). */
export function gramBlockFloats(side: number): number {
  const n = side / 4;
  return 8 * n * (n + 1);
}

/**
 * Writes the Gram matrix of `count` rows (as writeGram) in the order the int8 scorer reads it
 * (`$finish_i8` in cpu/wasm/score-int8.wat): G is symmetric, so only its 4 × 4 blocks (a, b) with
 * b ≥ a, block row a by block row, b ascending; block (a, b) as four vectors, vector i holding
 * G[4b + i][4a .. 4a + 4). `gramBlockFloats(side)` floats from `out[at]`; `scratch` holds side².
 */
export function writeGramBlocks(rows: Float32Array, from: number, rowStride: number, h: number, count: number, side: number, out: Float32Array, at: number,
  scratch: Float32Array = new Float32Array(side * side)): void {
  writeGram(rows, from, rowStride, h, count, side, scratch, 0);
  let o = at;
  for (let a = 0; a < side; a += 4) {
    for (let b = a; b < side; b += 4) {
      for (let i = 0; i < 4; i++) for (let l = 0; l < 4; l++) out[o++] = scratch[(b + i) * side + a + l];
    }
  }
}

/**
 * Writes the Gram matrix G_jl = C_j · C_l of `count` rows (width h, `rowStride` apart, from
 * `from`) into `out[at..]` as side × side float32 (f64 sums), zero outside count × count.
 */
export function writeGram(rows: Float32Array, from: number, rowStride: number, h: number, count: number, side: number, out: Float32Array, at: number): void {
  out.fill(0, at, at + side * side);
  for (let j = 0; j < count; j++) {
    for (let l = j; l < count; l++) {
      let d = 0;
      const a = from + j * rowStride;
      const b = from + l * rowStride;
      for (let i = 0; i < h; i++) d += rows[a + i] * rows[b + i];
      out[at + j * side + l] = d;
      out[at + l * side + j] = d;
    }
  }
}

/**
 * The largest 16-bit code a request vector gets against int8 rows of `rowBytes` codes: the
 * kernel's 32-bit sums of rowBytes products |code| ≤ 127 · |q| must not overflow.
 */
export function requestCodeLimit(rowBytes: number): number {
  return Math.min(32767, Math.floor((2 ** 31 - 1) / (127 * rowBytes)));
}

/**
 * Quantizes a request vector (its first `h` values) to 16-bit codes at `out[0..rowBytes)` (zero
 * past h) and returns the scale (value = code · scale).
 */
export function quantizeRequest(v: Float32Array, h: number, out: Int16Array, limit: number): number {
  let max = 0;
  for (let i = 0; i < h; i++) max = Math.max(max, Math.abs(v[i]));
  out.fill(0);
  if (max === 0 || !Number.isFinite(max)) return 0;
  const s = max / limit;
  for (let i = 0; i < h; i++) out[i] = Math.round(v[i] / s);
  return Math.fround(s);
}
