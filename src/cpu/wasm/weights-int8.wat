;; The int8 path's attention weights, part of the scorer module (spliced into score-kernel.wat at
;; build time): $weights_i8, used by score-int8.wat and score-batch-int8.wat, and init_i8, which
;; writes its constants.

  ;; The attention weights of a candidate for nb requests (1 alone), exp(tanh(x)) of the logits x:
  ;; request b's logits as codes at iq + 8·kPad·b, its q scale at rs + 8b, the rows' scales at sc;
  ;; its cnt weights to w + 4·kPad·b (lanes from cnt to the next multiple of 4: 0). The vectors of
  ;; all requests, four rows each, two at a time: a batch fills the lanes a request alone leaves
  ;; empty (k = 20: 5 vectors a request, 3 pairs alone, 2.5 in a batch).
  ;; exp(tanh(x)): tanh as a rational function of x (odd degree 13 over even degree 6, the
  ;; coefficients of Eigen's float tanh, x clamped to ±7.905 where tanh rounds to ±1), then e^t on
  ;; [-1, 1] as (e^(t/2))² with a degree-7 Taylor polynomial. Relative error of a weight below 1e-6
  ;; (checked against Math.exp(Math.tanh(x)) on a grid of 4 million points; $attn_weight4x2 is
  ;; within 4e-7), about two thirds of $attn_weight4x2's operations: one division, no range
  ;; reduction, no second exponential. The weights of int8 rows carry quantization errors a
  ;; thousand times larger; the f32 paths keep $attn_weight4(x2). The two chains are interleaved so
  ;; the processor overlaps their latencies. The clamp takes f32x4.pmin/pmax (one instruction each
  ;; on x64, where min/max take eight for their NaN and ±0 rules): the logits are finite, and for
  ;; finite x both give the same value.
  (func $weights_i8 (param $cnt i32) (param $nb i32) (param $iq i32) (param $sc i32) (param $rs i32) (param $w i32) (param $kPad i32) (param $cst i32)
    (local $nv i32) (local $b i32) (local $v i32) (local $more i32) (local $wa i32) (local $wb i32) (local $valid0 i32) (local $valid1 i32)
    (local $x0 v128) (local $x1 v128)
    (local $s0 v128) (local $p0 v128) (local $d0 v128) (local $h0 v128)
    (local $s1 v128) (local $p1 v128) (local $d1 v128) (local $h1 v128)
    (local $k0 v128) (local $k1 v128) (local $k2 v128) (local $k3 v128) (local $k4 v128) (local $k5 v128) (local $k6 v128) (local $k7 v128) (local $k8 v128) (local $k9 v128) (local $k10 v128) (local $k11 v128) (local $k12 v128) (local $k13 v128) (local $k14 v128) (local $k15 v128) (local $k16 v128) (local $k17 v128) (local $k18 v128) (local $k19 v128) (local $lanes v128)
    (local.set $nv (i32.shr_u (i32.add (local.get $cnt) (i32.const 3)) (i32.const 2)))
    (if (i32.eqz (local.get $nv)) (then (return)))
    (local.set $k0 (v128.load offset=0 (local.get $cst)))
    (local.set $k1 (v128.load offset=16 (local.get $cst)))
    (local.set $k2 (v128.load offset=32 (local.get $cst)))
    (local.set $k3 (v128.load offset=48 (local.get $cst)))
    (local.set $k4 (v128.load offset=64 (local.get $cst)))
    (local.set $k5 (v128.load offset=80 (local.get $cst)))
    (local.set $k6 (v128.load offset=96 (local.get $cst)))
    (local.set $k7 (v128.load offset=112 (local.get $cst)))
    (local.set $k8 (v128.load offset=128 (local.get $cst)))
    (local.set $k9 (v128.load offset=144 (local.get $cst)))
    (local.set $k10 (v128.load offset=160 (local.get $cst)))
    (local.set $k11 (v128.load offset=176 (local.get $cst)))
    (local.set $k12 (v128.load offset=192 (local.get $cst)))
    (local.set $k13 (v128.load offset=208 (local.get $cst)))
    (local.set $k14 (v128.load offset=224 (local.get $cst)))
    (local.set $k15 (v128.load offset=240 (local.get $cst)))
    (local.set $k16 (v128.load offset=256 (local.get $cst)))
    (local.set $k17 (v128.load offset=272 (local.get $cst)))
    (local.set $k18 (v128.load offset=288 (local.get $cst)))
    (local.set $k19 (v128.load offset=304 (local.get $cst)))
    (local.set $lanes (v128.load offset=320 (local.get $cst)))
    (block $done (loop $pairs
      (br_if $done (i32.ge_u (local.get $b) (local.get $nb)))
      ;; vector v of request b, then the next one (of this request or the next), if any
      (local.set $x0 (f32x4.mul (f32x4.mul
        (f32x4.convert_i32x4_s (v128.load (i32.add (local.get $iq) (i32.shl (i32.add (i32.mul (local.get $b) (i32.shl (local.get $kPad) (i32.const 1))) (i32.shl (local.get $v) (i32.const 2))) (i32.const 2)))))
        (v128.load (i32.add (local.get $sc) (i32.shl (local.get $v) (i32.const 4)))))
        (f32x4.splat (f32.load (i32.add (local.get $rs) (i32.shl (local.get $b) (i32.const 3)))))))
      (local.set $valid0 (i32.sub (local.get $cnt) (i32.shl (local.get $v) (i32.const 2))))
      (local.set $wa (i32.add (local.get $w) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $kPad)) (i32.shl (local.get $v) (i32.const 2))) (i32.const 2))))
      (local.set $v (i32.add (local.get $v) (i32.const 1)))
      (if (i32.ge_u (local.get $v) (local.get $nv)) (then (local.set $v (i32.const 0)) (local.set $b (i32.add (local.get $b) (i32.const 1)))))
      ;; past the last vector the second is the first again, all lanes masked, stored first to
      ;; the first's place (no branch: the two chains stay in one block, interleaved)
      (local.set $more (i32.lt_u (local.get $b) (local.get $nb)))
      (local.set $x1 (f32x4.mul (f32x4.mul
        (f32x4.convert_i32x4_s (v128.load (i32.add (local.get $iq) (i32.shl (i32.add (i32.mul (local.get $b) (i32.shl (local.get $kPad) (i32.const 1))) (i32.shl (local.get $v) (i32.const 2))) (i32.const 2)))))
        (v128.load (i32.add (local.get $sc) (i32.shl (local.get $v) (i32.const 4)))))
        (f32x4.splat (f32.load (i32.add (local.get $rs) (i32.shl (local.get $b) (i32.const 3)))))))
      (local.set $valid1 (select (i32.sub (local.get $cnt) (i32.shl (local.get $v) (i32.const 2))) (i32.const 0) (local.get $more)))
      (local.set $wb (select (i32.add (local.get $w) (i32.shl (i32.add (i32.mul (local.get $b) (local.get $kPad)) (i32.shl (local.get $v) (i32.const 2))) (i32.const 2))) (local.get $wa) (local.get $more)))
      (local.set $v (i32.add (local.get $v) (i32.const 1)))
      (if (i32.ge_u (local.get $v) (local.get $nv)) (then (local.set $v (i32.const 0)) (local.set $b (i32.add (local.get $b) (i32.const 1)))))
      (local.set $x0 (f32x4.pmax (local.get $k0) (f32x4.pmin (local.get $k1) (local.get $x0))))
      (local.set $x1 (f32x4.pmax (local.get $k0) (f32x4.pmin (local.get $k1) (local.get $x1))))
      (local.set $s0 (f32x4.mul (local.get $x0) (local.get $x0)))
      (local.set $s1 (f32x4.mul (local.get $x1) (local.get $x1)))
      (local.set $p0 (local.get $k2))
      (local.set $p1 (local.get $k2))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k3)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k3)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k4)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k4)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k5)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k5)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k6)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k6)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k7)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k7)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $s0)) (local.get $k8)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $s1)) (local.get $k8)))
      (local.set $d0 (local.get $k9))
      (local.set $d1 (local.get $k9))
      (local.set $d0 (f32x4.add (f32x4.mul (local.get $d0) (local.get $s0)) (local.get $k10)))
      (local.set $d1 (f32x4.add (f32x4.mul (local.get $d1) (local.get $s1)) (local.get $k10)))
      (local.set $d0 (f32x4.add (f32x4.mul (local.get $d0) (local.get $s0)) (local.get $k11)))
      (local.set $d1 (f32x4.add (f32x4.mul (local.get $d1) (local.get $s1)) (local.get $k11)))
      (local.set $d0 (f32x4.add (f32x4.mul (local.get $d0) (local.get $s0)) (local.get $k12)))
      (local.set $d1 (f32x4.add (f32x4.mul (local.get $d1) (local.get $s1)) (local.get $k12)))
      (local.set $h0 (f32x4.mul (f32x4.div (f32x4.mul (local.get $p0) (local.get $x0)) (local.get $d0)) (local.get $k13)))
      (local.set $h1 (f32x4.mul (f32x4.div (f32x4.mul (local.get $p1) (local.get $x1)) (local.get $d1)) (local.get $k13)))
      (local.set $p0 (local.get $k14))
      (local.set $p1 (local.get $k14))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k15)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k15)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k16)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k16)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k17)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k17)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k18)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k18)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k13)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k13)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k19)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k19)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $h0)) (local.get $k19)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $h1)) (local.get $k19)))
      (v128.store (local.get $wb) (v128.and (f32x4.mul (local.get $p1) (local.get $p1)) (i32x4.lt_s (local.get $lanes) (i32x4.splat (local.get $valid1)))))
      (v128.store (local.get $wa) (v128.and (f32x4.mul (local.get $p0) (local.get $p0)) (i32x4.lt_s (local.get $lanes) (i32x4.splat (local.get $valid0)))))
      (br $pairs))))

  ;; Writes $weights_i8's constants at cst (the host calls it once per thread's scratch): loaded
  ;; from memory they cost one instruction a use, where V8 rebuilds a splatted constant from an
  ;; immediate in three.
  (func (export "init_i8") (param $cst i32)
    (v128.store offset=0 (local.get $cst) (f32x4.splat (f32.const -7.90531110763549805)))
    (v128.store offset=16 (local.get $cst) (f32x4.splat (f32.const 7.90531110763549805)))
    (v128.store offset=32 (local.get $cst) (f32x4.splat (f32.const -2.76076847742355e-16)))
    (v128.store offset=48 (local.get $cst) (f32x4.splat (f32.const 2.00018790482477e-13)))
    (v128.store offset=64 (local.get $cst) (f32x4.splat (f32.const -8.60467152213735e-11)))
    (v128.store offset=80 (local.get $cst) (f32x4.splat (f32.const 5.12229709037114e-08)))
    (v128.store offset=96 (local.get $cst) (f32x4.splat (f32.const 1.48572235717979e-05)))
    (v128.store offset=112 (local.get $cst) (f32x4.splat (f32.const 6.37261928875436e-04)))
    (v128.store offset=128 (local.get $cst) (f32x4.splat (f32.const 4.89352455891786e-03)))
    (v128.store offset=144 (local.get $cst) (f32x4.splat (f32.const 1.19825839466702e-06)))
    (v128.store offset=160 (local.get $cst) (f32x4.splat (f32.const 1.18534705686654e-04)))
    (v128.store offset=176 (local.get $cst) (f32x4.splat (f32.const 2.26843463243900e-03)))
    (v128.store offset=192 (local.get $cst) (f32x4.splat (f32.const 4.89352518554385e-03)))
    (v128.store offset=208 (local.get $cst) (f32x4.splat (f32.const 0.5)))
    (v128.store offset=224 (local.get $cst) (f32x4.splat (f32.const 1.98412698e-4)))
    (v128.store offset=240 (local.get $cst) (f32x4.splat (f32.const 1.38888889e-3)))
    (v128.store offset=256 (local.get $cst) (f32x4.splat (f32.const 8.33333333e-3)))
    (v128.store offset=272 (local.get $cst) (f32x4.splat (f32.const 4.16666667e-2)))
    (v128.store offset=288 (local.get $cst) (f32x4.splat (f32.const 0.166666667)))
    (v128.store offset=304 (local.get $cst) (f32x4.splat (f32.const 1)))
    (v128.store offset=320 (local.get $cst) (v128.const i32x4 0 1 2 3)))
