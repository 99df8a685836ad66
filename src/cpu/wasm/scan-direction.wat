;; The two-pass audience scan's first pass (src/core/two-pass.ts), part of the scorer module
;; (spliced into score-kernel.wat at build time). The first pass scores every user against a
;; one-direction seed set D = [0; v; 0; 0], G = [|v|²]: one centroid v, no global vector. For such
;; a set the general scan (scan_users, scan_users_i8) spends four dot products per user, three of
;; them with zero rows, and a quadratic form that is |v|²; these kernels take the one dot product
;; and give the same (score, cos_g, cos_l) = (beta·cos_l, 0, cos_l), cos_l = v·e / (|e| |v|) by the
;; zero-norm rule, with |v| = ln passed in. Two users share each load of v.
  ;; n users at rows (rowBytes apart, norms at norms), v: rowBytes f32; out: n × 12 bytes.
  (func (export "scan_direction")
    (param $n i32) (param $rows i32) (param $rowBytes i32) (param $norms i32) (param $vp i32)
    (param $ln f64) (param $beta f64) (param $zn f64) (param $out i32)
    (local $u i32) (local $u0 i32) (local $u1 i32) (local $j i32) (local $x v128) (local $a0 v128) (local $a1 v128)
    (local.set $u (i32.const 0))
    (block $done (loop $users
      (br_if $done (i32.ge_u (local.get $u) (local.get $n)))
      (local.set $u0 (i32.add (local.get $rows) (i32.mul (local.get $u) (local.get $rowBytes))))
      (local.set $u1 (local.get $u0))
      (if (i32.lt_u (i32.add (local.get $u) (i32.const 1)) (local.get $n))
        (then (local.set $u1 (i32.add (local.get $u0) (local.get $rowBytes)))))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $j (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (local.set $x (v128.load (i32.add (local.get $vp) (local.get $j))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $u0) (local.get $j))) (local.get $x))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $u1) (local.get $j))) (local.get $x))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vl)))
      (call $finish_direction (call $hsum (local.get $a0))
        (f64.promote_f32 (f32.load (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
        (i32.add (local.get $out) (i32.mul (local.get $u) (i32.const 12))) (local.get $ln) (local.get $beta) (local.get $zn))
      (if (i32.ne (local.get $u1) (local.get $u0))
        (then
          (call $finish_direction (call $hsum (local.get $a1))
            (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
            (i32.add (local.get $out) (i32.mul (i32.add (local.get $u) (i32.const 1)) (i32.const 12))) (local.get $ln) (local.get $beta) (local.get $zn))))
      (local.set $u (i32.add (local.get $u) (i32.const 2)))
      (br $users))))

  ;; The same over int8 storage: n users' codes (rb bytes apart, scales at sc, norms at norms)
  ;; against v as rb 16-bit codes at v16 with scale vs; the dot as scan_users_i8 forms it
  ;; (exact 32-bit code sum × v's scale × the user's scale, in float32).
  (func (export "scan_direction_i8")
    (param $n i32) (param $codes i32) (param $rb i32) (param $sc i32) (param $norms i32) (param $v16 i32) (param $vs f32)
    (param $ln f64) (param $beta f64) (param $zn f64) (param $out i32)
    (local $u i32) (local $u0 i32) (local $u1 i32) (local $j i32) (local $p i32)
    (local $x v128) (local $dl v128) (local $dh v128) (local $a0 v128) (local $a1 v128) (local $s0 f32) (local $s1 f32)
    (local.set $u (i32.const 0))
    (block $done (loop $users
      (br_if $done (i32.ge_u (local.get $u) (local.get $n)))
      (local.set $u0 (i32.add (local.get $codes) (i32.mul (local.get $u) (local.get $rb))))
      (local.set $s0 (f32.load (i32.add (local.get $sc) (i32.shl (local.get $u) (i32.const 2)))))
      (local.set $u1 (local.get $u0))
      (local.set $s1 (local.get $s0))
      (if (i32.lt_u (i32.add (local.get $u) (i32.const 1)) (local.get $n))
        (then
          (local.set $u1 (i32.add (local.get $u0) (local.get $rb)))
          (local.set $s1 (f32.load offset=4 (i32.add (local.get $sc) (i32.shl (local.get $u) (i32.const 2)))))))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $p (local.get $v16))
      (local.set $j (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $dl (v128.load (local.get $p)))
        (local.set $dh (v128.load offset=16 (local.get $p)))
        (local.set $x (v128.load (i32.add (local.get $u0) (local.get $j))))
        (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $dl))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $dh)))))
        (local.set $x (v128.load (i32.add (local.get $u1) (local.get $j))))
        (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (local.get $dl))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (local.get $dh)))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vl)))
      (call $finish_direction (f64.promote_f32 (f32.mul (f32.mul (call $isum1 (local.get $a0)) (local.get $vs)) (local.get $s0)))
        (f64.promote_f32 (f32.load (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
        (i32.add (local.get $out) (i32.mul (local.get $u) (i32.const 12))) (local.get $ln) (local.get $beta) (local.get $zn))
      (if (i32.ne (local.get $u1) (local.get $u0))
        (then
          (call $finish_direction (f64.promote_f32 (f32.mul (f32.mul (call $isum1 (local.get $a1)) (local.get $vs)) (local.get $s1)))
            (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $norms) (i32.shl (local.get $u) (i32.const 2)))))
            (i32.add (local.get $out) (i32.mul (i32.add (local.get $u) (i32.const 1)) (i32.const 12))) (local.get $ln) (local.get $beta) (local.get $zn))))
      (local.set $u (i32.add (local.get $u) (i32.const 2)))
      (br $users))))

  ;; The four lanes of a 32-bit sum added (exactly) and converted to float32.
  (func $isum1 (param $a v128) (result f32)
    (f32.convert_i32_s (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $a)) (i32x4.extract_lane 1 (local.get $a)))
      (i32.add (i32x4.extract_lane 2 (local.get $a)) (i32x4.extract_lane 3 (local.get $a))))))

  ;; (score, cos_g, cos_l) = (beta·cos_l, 0, cos_l) from one user's dot with v, as $finish_user
  ;; gives them for a one-direction set: 0 where |e| or |v| is below the zero norm.
  (func $finish_direction (param $dot f64) (param $norm f64) (param $out i32) (param $ln f64) (param $beta f64) (param $zn f64)
    (local $cl f64)
    (local.set $cl (f64.const 0))
    (if (i32.and (f64.ge (local.get $norm) (local.get $zn)) (f64.ge (local.get $ln) (local.get $zn)))
      (then (local.set $cl (f64.div (local.get $dot) (f64.mul (local.get $norm) (local.get $ln))))))
    (f32.store (local.get $out) (f32.demote_f64 (f64.mul (local.get $beta) (local.get $cl))))
    (f32.store offset=4 (local.get $out) (f32.const 0))
    (f32.store offset=8 (local.get $out) (f32.demote_f64 (local.get $cl))))
