;; Audience expansion's user scan, part of the scorer module (spliced into score-kernel.wat at
;; build time; it uses that file's helpers: $hsum, $sum4, $attn_weight4).
  ;; The user scan (see src/audience/seed-set.ts for the math): each user row e_u (width
  ;; rowBytes/4, norm in a separate array) against one prepared seed set D = [A; C; ĝ] (R rows,
  ;; R a multiple of 4) and its Gram matrix G (kPad × kPad). Two users share each load of four D
  ;; rows: 8 independent f32x4 accumulators, 6 loads per 8 multiply-adds.
  ;;   dots: 2R f32 scratch; w: kPad f32 scratch; out: n × (score, cos_g, cos_l).
  (func (export "scan_users")
    (param $n i32) (param $rows i32) (param $rowBytes i32) (param $norms i32)
    (param $d i32) (param $R i32) (param $c i32) (param $gram i32) (param $kPad i32)
    (param $dots i32) (param $w i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $u i32) (local $u0 i32) (local $u1 i32) (local $r i32) (local $v i32)
    (local $d0 i32) (local $d1 i32) (local $d2 i32) (local $d3 i32) (local $p i32)
    (local $e0 v128) (local $e1 v128) (local $x v128)
    (local $a00 v128) (local $a01 v128) (local $a02 v128) (local $a03 v128)
    (local $a10 v128) (local $a11 v128) (local $a12 v128) (local $a13 v128)
    (local.set $u (i32.const 0))
    (block $done (loop $users
      (br_if $done (i32.ge_u (local.get $u) (local.get $n)))
      (local.set $u0 (i32.add (local.get $rows) (i32.mul (local.get $u) (local.get $rowBytes))))
      ;; an odd last user is paired with itself
      (local.set $u1 (local.get $u0))
      (if (i32.lt_u (i32.add (local.get $u) (i32.const 1)) (local.get $n))
        (then (local.set $u1 (i32.add (local.get $u0) (local.get $rowBytes)))))
      (local.set $r (i32.const 0))
      (block $rd (loop $rl
        (br_if $rd (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $d0 (i32.add (local.get $d) (i32.mul (local.get $r) (local.get $rowBytes))))
        (local.set $d1 (i32.add (local.get $d0) (local.get $rowBytes)))
        (local.set $d2 (i32.add (local.get $d1) (local.get $rowBytes)))
        (local.set $d3 (i32.add (local.get $d2) (local.get $rowBytes)))
        (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
        (local.set $a02 (v128.const i64x2 0 0)) (local.set $a03 (v128.const i64x2 0 0))
        (local.set $a10 (v128.const i64x2 0 0)) (local.set $a11 (v128.const i64x2 0 0))
        (local.set $a12 (v128.const i64x2 0 0)) (local.set $a13 (v128.const i64x2 0 0))
        (local.set $v (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_u (local.get $v) (local.get $rowBytes)))
          (local.set $e0 (v128.load (i32.add (local.get $u0) (local.get $v))))
          (local.set $e1 (v128.load (i32.add (local.get $u1) (local.get $v))))
          (local.set $x (v128.load (i32.add (local.get $d0) (local.get $v))))
          (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $e0) (local.get $x))))
          (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $e1) (local.get $x))))
          (local.set $x (v128.load (i32.add (local.get $d1) (local.get $v))))
          (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $e0) (local.get $x))))
          (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $e1) (local.get $x))))
          (local.set $x (v128.load (i32.add (local.get $d2) (local.get $v))))
          (local.set $a02 (f32x4.add (local.get $a02) (f32x4.mul (local.get $e0) (local.get $x))))
          (local.set $a12 (f32x4.add (local.get $a12) (f32x4.mul (local.get $e1) (local.get $x))))
          (local.set $x (v128.load (i32.add (local.get $d3) (local.get $v))))
          (local.set $a03 (f32x4.add (local.get $a03) (f32x4.mul (local.get $e0) (local.get $x))))
          (local.set $a13 (f32x4.add (local.get $a13) (f32x4.mul (local.get $e1) (local.get $x))))
          (local.set $v (i32.add (local.get $v) (i32.const 16)))
          (br $vl)))
        (local.set $p (i32.add (local.get $dots) (i32.shl (local.get $r) (i32.const 2))))
        (v128.store (local.get $p) (call $sum4 (local.get $a00) (local.get $a01) (local.get $a02) (local.get $a03)))
        (v128.store (i32.add (local.get $p) (i32.shl (local.get $R) (i32.const 2)))
          (call $sum4 (local.get $a10) (local.get $a11) (local.get $a12) (local.get $a13)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rl)))
      (call $finish_user (local.get $dots)
        (f64.promote_f32 (f32.load (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
        (i32.add (local.get $out) (i32.mul (local.get $u) (i32.const 12)))
        (local.get $c) (local.get $gram) (local.get $kPad) (local.get $w) (local.get $alpha) (local.get $beta) (local.get $zn))
      (if (i32.ne (local.get $u1) (local.get $u0))
        (then
          (call $finish_user (i32.add (local.get $dots) (i32.shl (local.get $R) (i32.const 2)))
            (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
            (i32.add (local.get $out) (i32.mul (i32.add (local.get $u) (i32.const 1)) (i32.const 12)))
            (local.get $c) (local.get $gram) (local.get $kPad) (local.get $w) (local.get $alpha) (local.get $beta) (local.get $zn))))
      (local.set $u (i32.add (local.get $u) (i32.const 2)))
      (br $users))))


  ;; One user's score from its dots (d_r = D_r · e_u): the attention weights four centroids at a
  ;; time (exp(tanh(clamp(x, -20, 20))), tanh through e^(-2|x|) so nothing overflows), e·L from
  ;; the C rows and w, |L|² = wᵀ G w (four lanes of G's row at a time), cos_g from the ĝ row.
  (func $finish_user
    (param $dots i32) (param $norm f64) (param $out i32)
    (param $c i32) (param $gram i32) (param $kPad i32) (param $w i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $j i32) (local $a i32) (local $row i32) (local $sw f64) (local $el f64)
    (local $ll f64) (local $t v128) (local $ln f64) (local $cg f64) (local $cl f64)
    (local $wv v128) (local $swv v128) (local $elv v128) (local $llv v128)
    (if (f64.lt (local.get $norm) (local.get $zn))
      (then
        (f32.store (local.get $out) (f32.const 0))
        (f32.store offset=4 (local.get $out) (f32.const 0))
        (f32.store offset=8 (local.get $out) (f32.const 0))
        (return)))
    (local.set $swv (v128.const i64x2 0 0))
    (local.set $elv (v128.const i64x2 0 0))
    (local.set $j (i32.const 0))
    (block $wd (loop $wl
      (br_if $wd (i32.ge_u (local.get $j) (local.get $kPad)))
      ;; lanes at or past c are not centroids: weight 0
      (local.set $wv (call $attn_weight4 (v128.load (i32.add (local.get $dots) (i32.shl (local.get $j) (i32.const 2))))
        (i32.sub (local.get $c) (local.get $j))))
      (v128.store (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))) (local.get $wv))
      (local.set $swv (f32x4.add (local.get $swv) (local.get $wv)))
      (local.set $elv (f32x4.add (local.get $elv) (f32x4.mul (local.get $wv)
        (v128.load (i32.add (local.get $dots) (i32.shl (i32.add (local.get $c) (local.get $j)) (i32.const 2)))))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $wl)))
    (local.set $sw (call $hsum (local.get $swv)))
    (local.set $el (call $hsum (local.get $elv)))
    ;; |L|² = wᵀ (G w): four rows of G w at a time (G is symmetric, so its row b holds column b),
    ;; one horizontal sum at the end.
    (local.set $llv (v128.const i64x2 0 0))
    (local.set $a (i32.const 0))
    (block $ad (loop $al
      (br_if $ad (i32.ge_u (local.get $a) (local.get $kPad)))
      (local.set $t (v128.const i64x2 0 0))
      (local.set $row (i32.add (local.get $gram) (i32.shl (local.get $a) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $c)))
        (local.set $t (f32x4.add (local.get $t) (f32x4.mul
          (v128.load (local.get $row))
          (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $kPad) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $llv (f32x4.add (local.get $llv) (f32x4.mul (local.get $t)
        (v128.load (i32.add (local.get $w) (i32.shl (local.get $a) (i32.const 2)))))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $al)))
    (local.set $ll (call $hsum (local.get $llv)))
    (local.set $ln (f64.sqrt (f64.max (local.get $ll) (f64.const 0))))
    (local.set $cl (f64.const 0))
    (if (f64.ge (f64.div (local.get $ln) (local.get $sw)) (local.get $zn))
      (then (local.set $cl (f64.div (local.get $el) (f64.mul (local.get $norm) (local.get $ln))))))
    (local.set $cg (f64.div
      (f64.promote_f32 (f32.load (i32.add (local.get $dots) (i32.shl (i32.shl (local.get $c) (i32.const 1)) (i32.const 2)))))
      (local.get $norm)))
    (f32.store (local.get $out) (f32.demote_f64 (f64.add (f64.mul (local.get $alpha) (local.get $cg)) (f64.mul (local.get $beta) (local.get $cl)))))
    (f32.store offset=4 (local.get $out) (f32.demote_f64 (local.get $cg)))
    (f32.store offset=8 (local.get $out) (f32.demote_f64 (local.get $cl))))
