/**
 * `node dist/bench/dot-rate.js`: the rate at which this runtime executes WebAssembly's integer dot
 * products, one thread, operands in registers: `i32x4.dot_i16x8_s` with an `i32x4.add` (8
 * multiply-adds, what the int8 kernels use) against relaxed SIMD's
 * `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 multiply-adds, second operand 7 bits). Four
 * independent accumulators per loop turn; each function is run once to let V8 tier up before the
 * timed runs. Prints the medians of five runs.
 */
import wabtInit from 'wabt';
import { setFlagsFromString } from 'node:v8';

// Node 20 compiles relaxed SIMD only behind this flag (src/cpu/wasm-kernel.ts sets it the same way).
setFlagsFromString('--experimental-wasm-relaxed-simd');

const loop = (step: (acc: string, x: string, y: string) => string): string => `
  (param $n i32) (result i32) (local $i i32) (local $x v128) (local $y v128)
  (local $a v128) (local $b v128) (local $c v128) (local $d v128)
  (local.set $x (v128.load (i32.const 0))) (local.set $y (v128.load (i32.const 16)))
  (loop $l
    (local.set $a ${step('(local.get $a)', '(local.get $x)', '(local.get $y)')})
    (local.set $b ${step('(local.get $b)', '(local.get $y)', '(local.get $x)')})
    (local.set $c ${step('(local.get $c)', '(local.get $x)', '(local.get $x)')})
    (local.set $d ${step('(local.get $d)', '(local.get $y)', '(local.get $y)')})
    (local.set $i (i32.add (local.get $i) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
  (i32x4.extract_lane 0 (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (i32x4.add (local.get $c) (local.get $d))))`;

const source = `(module (memory 1)
  (func (export "dot_i16x8") ${loop((acc, x, y) => `(i32x4.add ${acc} (i32x4.dot_i16x8_s ${x} ${y}))`)})
  (func (export "relaxed_dot_i8x16_i7x16_add") ${loop((acc, x, y) => `(i32x4.relaxed_dot_i8x16_i7x16_add_s ${x} ${y} ${acc})`)}))`;

const wabt = await wabtInit();
const features = { simd: true, relaxed_simd: true };
const mod = wabt.parseWat('dot-rate.wat', source, features);
(mod as unknown as { validate(f: typeof features): void }).validate(features);
const exports = new WebAssembly.Instance(new WebAssembly.Module(mod.toBinary({}).buffer)).exports as Record<string, (n: number) => number>;
mod.destroy();

const TURNS = 25_000_000;
const macsPerOp = { dot_i16x8: 8, relaxed_dot_i8x16_i7x16_add: 16 } as const;
for (const [name, macs] of Object.entries(macsPerOp)) {
  exports[name](TURNS);
  const ms: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    exports[name](TURNS);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const opsPerSec = (4 * TURNS) / (ms[2] / 1000);
  console.log(`${name.padEnd(28)} ${(opsPerSec / 1e9).toFixed(2)} G instructions/s  ${((opsPerSec * macs) / 1e9).toFixed(1)} G multiply-adds/s  (median of 5, ${ms[2].toFixed(0)} ms)`);
}
