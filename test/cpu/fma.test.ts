/** The fused kernel's source transform: which expressions become relaxed_madd and which stay. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fuseMultiplyAdds } from '../../src/cpu/wasm/fma.js';
import { kernelModule } from '../../src/cpu/wasm-kernel.js';

it('fuses folded multiply-adds in either operand order, nested ones too', () => {
  const src = `(func ;; a comment (f32x4.add
    (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $x) (v128.load (local.get $p)))))
    (local.set $b (f32x4.add (f32x4.mul (local.get $x) (local.get $y)) (f32x4.add (local.get $c) (f32x4.mul (local.get $u) (local.get $v))))))`;
  const r = fuseMultiplyAdds(src);
  assert.equal(r.fused, 3);
  assert.equal(r.source,
    '(func (local.set $a (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $p)) (local.get $a)))'
    + ' (local.set $b (f32x4.relaxed_madd (local.get $x) (local.get $y) (f32x4.relaxed_madd (local.get $u) (local.get $v) (local.get $c)))))');
});

it('leaves other adds, and multiplies not under an add, alone', () => {
  const src = '(f32x4.add (local.get $a) (f32x4.sub (local.get $b) (local.get $c))) (f32x4.mul (local.get $a) (local.get $b)) (f32.add (f32.mul (local.get $x) (local.get $y)) (local.get $z))';
  const r = fuseMultiplyAdds(src);
  assert.equal(r.fused, 0);
  assert.equal(r.source, src.replace(/\) \((f32x4.mul|f32.add) /g, ')\n($1 '));
});

it('rejects unbalanced source', () => {
  assert.throws(() => fuseMultiplyAdds('(f32x4.add (local.get $a)'), /unbalanced/);
  assert.throws(() => fuseMultiplyAdds('(local.get $a))'), /unbalanced/);
});

it('the fused kernel is built and, where relaxed SIMD compiles, exports what the plain one does', () => {
  const plain = kernelModule('simd');
  assert.ok(plain, 'the plain kernel is built');
  const fused = kernelModule('fma');
  if (!fused) return;
  const exportsOf = (m: WebAssembly.Module): unknown => (WebAssembly.Module as unknown as { exports(m: WebAssembly.Module): unknown }).exports(m);
  assert.deepEqual(exportsOf(fused), exportsOf(plain));
});
