;; Ranking over int8 storage (core/quantize.ts), part of the scorer module (spliced into
;; score-kernel.wat at build time; it uses that file's $emit and weights-int8.wat's $weights_i8).
;; Each candidate's rows are int8 codes with a per-row scale; the request's q and e come as 16-bit
;; codes with one scale each. Per candidate, four rows at a time share each load of q and e: the
;; row's 16 codes are widened to two i16x8 and multiplied into 32-bit sums with
;; i32x4.dot_i16x8_s (exact integer dots), which gives the logits C_j·q and the dots C_j·e at
;; once. L is never formed: e·L = Σ w_j (C_j·e) and |L|² = wᵀ G w with the item's Gram matrix G
;; (its blocks on and right of the diagonal, stored beside the codes when the item is written).
;;
;; `score_batch_i8` (score-batch-int8.wat) takes B requests against the same candidates. Single
;; and batched requests leave their dots in scratch (kPad logits, then kPad e-dots, as i32) and go
;; through the same $weights_i8 and $finish_i8, whose every float operation on a request's values
;; is the same whichever lanes and calls it shares with other requests, so a request scores bit for
;; bit the same alone or in any batch (integer sums are exact in any order).
;;
;; V8 (Node 20) neither inlines wasm calls nor keeps SIMD constants across them, so the hot helpers
;; are written out in place: a call cost more than the lane sums it wrapped.
  ;; n candidates; k rows per slot; rowBytes: f32 row bytes (global vectors); glob/meta: page
  ;; regions as for `score`; codes/scales/gram: the int8 regions; rb: bytes per row of codes;
  ;; kPad: scales per slot and the Gram's side; q16/e16: rb 16-bit codes each, their scales (f32
  ;; sq, se) at rs; e:
  ;; e in f32 (for cos_g); w: kPad f32 scratch; cst: init_i8's constants; iq: 2·kPad i32 scratch (the dots); slots, out: as
;; for `score`.
  (func (export "score_i8")
    (param $n i32) (param $k i32) (param $rowBytes i32) (param $glob i32) (param $meta i32)
    (param $codes i32) (param $scales i32) (param $gram i32) (param $rb i32) (param $kPad i32)
    (param $q16 i32) (param $e16 i32) (param $rs i32) (param $e i32) (param $w i32) (param $cst i32) (param $iq i32)
    (param $slots i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $enorm f64) (param $zn f64)
    (local $c i32) (local $slot i32) (local $cnt i32) (local $mo i32)
    (local.set $c (i32.const 0))
    (block $done (loop $cands
      (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
      (local.set $slot (i32.load (i32.add (local.get $slots) (i32.shl (local.get $c) (i32.const 2)))))
      (local.set $mo (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3))))
      (local.set $cnt (i32.load (local.get $mo)))
      (if (i32.gt_u (local.get $cnt) (local.get $k)) (then (local.set $cnt (local.get $k))))
      (call $one_i8 (local.get $cnt) (local.get $rowBytes)
        (i32.add (local.get $glob) (i32.mul (local.get $slot) (local.get $rowBytes)))
        (f64.promote_f32 (f32.load offset=4 (local.get $mo)))
        (i32.add (local.get $codes) (i32.mul (i32.mul (local.get $slot) (local.get $k)) (local.get $rb)))
        (i32.add (local.get $scales) (i32.shl (i32.mul (local.get $slot) (local.get $kPad)) (i32.const 2)))
        (i32.add (local.get $gram) (i32.mul (local.get $slot) (call $gram_bytes (local.get $kPad))))
        (local.get $rb) (local.get $kPad) (local.get $q16) (local.get $e16) (local.get $rs)
        (local.get $e) (local.get $enorm) (local.get $w) (local.get $cst) (local.get $iq)
        (i32.add (local.get $out) (i32.mul (local.get $c) (i32.const 12)))
        (local.get $alpha) (local.get $beta) (local.get $zn))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cands))))

  ;; One candidate: cnt rows of codes at base (scales at sc, Gram at gr), global vector at g.
  (func $one_i8
    (param $cnt i32) (param $rowBytes i32) (param $g i32) (param $gn f64)
    (param $base i32) (param $sc i32) (param $gr i32) (param $rb i32) (param $kPad i32)
    (param $q16 i32) (param $e16 i32) (param $rs i32) (param $e i32) (param $enorm f64)
    (param $w i32) (param $cst i32) (param $iq i32) (param $out i32) (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $j i32) (local $ie i32) (local $pq i32) (local $pe i32) (local $end i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $xl v128) (local $xh v128)
    (local $ql v128) (local $qh v128) (local $el v128) (local $eh v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128)
    (local $ab v128) (local $cd v128)
    (local.set $ie (i32.add (local.get $iq) (i32.shl (local.get $kPad) (i32.const 2))))

    ;; the rows four at a time (rows past the count repeat row j; their weights are masked and
    ;; their scales are 0). Each 8-code half of a row's 16 is loaded sign-extended to i16
    ;; (v128.load8x8_s: one instruction, where a 16-byte load then needs two widenings), and the
    ;; row, q and e pointers advance by a constant, so every load takes its address as it is.
    (local.set $j (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $r0 (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $rb))))
      (local.set $r1 (local.get $r0)) (local.set $r2 (local.get $r0)) (local.set $r3 (local.get $r0))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cnt)) (then (local.set $r1 (i32.add (local.get $r0) (local.get $rb)))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 2)) (local.get $cnt)) (then (local.set $r2 (i32.add (local.get $r1) (local.get $rb)))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 3)) (local.get $cnt)) (then (local.set $r3 (i32.add (local.get $r2) (local.get $rb)))))
      (local.set $q0 (v128.const i64x2 0 0)) (local.set $q1 (v128.const i64x2 0 0))
      (local.set $q2 (v128.const i64x2 0 0)) (local.set $q3 (v128.const i64x2 0 0))
      (local.set $e0 (v128.const i64x2 0 0)) (local.set $e1 (v128.const i64x2 0 0))
      (local.set $e2 (v128.const i64x2 0 0)) (local.set $e3 (v128.const i64x2 0 0))
      (local.set $pq (local.get $q16))
      (local.set $pe (local.get $e16))
      ;; rb is a positive multiple of 16
      (local.set $end (i32.add (local.get $r0) (local.get $rb)))
      (loop $vl
        (local.set $ql (v128.load (local.get $pq)))
        (local.set $qh (v128.load offset=16 (local.get $pq)))
        (local.set $el (v128.load (local.get $pe)))
        (local.set $eh (v128.load offset=16 (local.get $pe)))
        (local.set $xl (v128.load8x8_s (local.get $r0)))
        (local.set $xh (v128.load8x8_s offset=8 (local.get $r0)))
        (local.set $q0 (i32x4.add (local.get $q0) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $ql)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $qh)))))
        (local.set $e0 (i32x4.add (local.get $e0) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $el)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $eh)))))
        (local.set $xl (v128.load8x8_s (local.get $r1)))
        (local.set $xh (v128.load8x8_s offset=8 (local.get $r1)))
        (local.set $q1 (i32x4.add (local.get $q1) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $ql)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $qh)))))
        (local.set $e1 (i32x4.add (local.get $e1) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $el)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $eh)))))
        (local.set $xl (v128.load8x8_s (local.get $r2)))
        (local.set $xh (v128.load8x8_s offset=8 (local.get $r2)))
        (local.set $q2 (i32x4.add (local.get $q2) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $ql)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $qh)))))
        (local.set $e2 (i32x4.add (local.get $e2) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $el)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $eh)))))
        (local.set $xl (v128.load8x8_s (local.get $r3)))
        (local.set $xh (v128.load8x8_s offset=8 (local.get $r3)))
        (local.set $q3 (i32x4.add (local.get $q3) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $ql)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $qh)))))
        (local.set $e3 (i32x4.add (local.get $e3) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $el)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $eh)))))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
        (local.set $r3 (i32.add (local.get $r3) (i32.const 16)))
        (local.set $pq (i32.add (local.get $pq) (i32.const 32)))
        (local.set $pe (i32.add (local.get $pe) (i32.const 32)))
        (br_if $vl (i32.lt_u (local.get $r0) (local.get $end))))
      ;; the lane sums of q0..q3 as one vector (integer adds: exact in any order)
      (local.set $ab (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $q0) (local.get $q1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $q0) (local.get $q1))))
      (local.set $cd (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $q2) (local.get $q3))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $q2) (local.get $q3))))
      (v128.store (i32.add (local.get $iq) (i32.shl (local.get $j) (i32.const 2))) (i32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
      ;; the lane sums of e0..e3 as one vector (integer adds: exact in any order)
      (local.set $ab (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e0) (local.get $e1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e0) (local.get $e1))))
      (local.set $cd (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e2) (local.get $e3))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e2) (local.get $e3))))
      (v128.store (i32.add (local.get $ie) (i32.shl (local.get $j) (i32.const 2))) (i32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $pl)))
    (call $weights_i8 (local.get $cnt) (i32.const 1) (local.get $iq) (local.get $sc) (local.get $rs) (local.get $w) (local.get $kPad) (local.get $cst))
    (call $finish_i8 (local.get $cnt) (local.get $rowBytes) (local.get $g) (local.get $gn) (local.get $sc) (local.get $gr) (local.get $kPad)
      (local.get $iq) (f32.load offset=4 (local.get $rs)) (local.get $e) (local.get $enorm) (local.get $w) (local.get $out)
      (local.get $alpha) (local.get $beta) (local.get $zn)))

  ;; One request against one candidate from its integer dots (iq: the logits C_j·q as codes, then
  ;; at iq + 4·kPad the dots C_j·e; se: e's scale) and its weights at w: g·e in f32, Σw and e·L
  ;; four rows at a time, |L|² = wᵀGw.
  (func $finish_i8
    (param $cnt i32) (param $rowBytes i32) (param $g i32) (param $gn f64) (param $sc i32) (param $gr i32) (param $kPad i32)
    (param $iq i32) (param $se f32) (param $e i32) (param $enorm f64) (param $w i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $a i32) (local $row i32) (local $cnt4 i32) (local $ie i32) (local $wp i32) (local $wend i32)
    (local $wv v128) (local $swv v128) (local $elv v128) (local $llv v128) (local $t v128)
    (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $o0 v128) (local $o1 v128) (local $o2 v128) (local $o3 v128)
    (local $wq i32) (local $ep i32) (local $rs i32) (local $ab v128) (local $cd v128) (local $dg v128)
    (local.set $ie (i32.add (local.get $iq) (i32.shl (local.get $kPad) (i32.const 2))))
    ;; g · e in f32, four accumulators (rowBytes is a multiple of 32: a last half turn takes two)
    (local.set $t (v128.const i64x2 0 0)) (local.set $t1 (v128.const i64x2 0 0))
    (local.set $t2 (v128.const i64x2 0 0)) (local.set $t3 (v128.const i64x2 0 0))
    (local.set $wp (local.get $g))
    (local.set $ep (local.get $e))
    (local.set $wend (i32.add (local.get $g) (local.get $rowBytes)))
    (block $gd (loop $gl
      (br_if $gd (i32.gt_u (i32.add (local.get $wp) (i32.const 64)) (local.get $wend)))
      (local.set $t (f32x4.add (local.get $t) (f32x4.mul (v128.load (local.get $wp)) (v128.load (local.get $ep)))))
      (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (v128.load offset=16 (local.get $wp)) (v128.load offset=16 (local.get $ep)))))
      (local.set $t2 (f32x4.add (local.get $t2) (f32x4.mul (v128.load offset=32 (local.get $wp)) (v128.load offset=32 (local.get $ep)))))
      (local.set $t3 (f32x4.add (local.get $t3) (f32x4.mul (v128.load offset=48 (local.get $wp)) (v128.load offset=48 (local.get $ep)))))
      (local.set $wp (i32.add (local.get $wp) (i32.const 64)))
      (local.set $ep (i32.add (local.get $ep) (i32.const 64)))
      (br $gl)))
    (if (i32.lt_u (local.get $wp) (local.get $wend))
      (then
        (local.set $t (f32x4.add (local.get $t) (f32x4.mul (v128.load (local.get $wp)) (v128.load (local.get $ep)))))
        (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (v128.load offset=16 (local.get $wp)) (v128.load offset=16 (local.get $ep)))))))
    (local.set $dg (f32x4.add (f32x4.add (local.get $t) (local.get $t1)) (f32x4.add (local.get $t2) (local.get $t3))))

    ;; Σw and e·L = Σ w_j (C_j·e), the e-dots scaled back to values, four rows at a time in row
    ;; order (lanes past the count: weight 0, scale 0)
    (local.set $swv (v128.const i64x2 0 0))
    (local.set $elv (v128.const i64x2 0 0))
    (local.set $a (i32.const 0))
    (local.set $wend (i32.shl (local.get $cnt) (i32.const 2)))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $a) (local.get $wend)))
      (local.set $wv (v128.load (i32.add (local.get $w) (local.get $a))))
      (local.set $swv (f32x4.add (local.get $swv) (local.get $wv)))
      (local.set $elv (f32x4.add (local.get $elv) (f32x4.mul (local.get $wv)
        (f32x4.mul (f32x4.mul (f32x4.convert_i32x4_s (v128.load (i32.add (local.get $ie) (local.get $a)))) (v128.load (i32.add (local.get $sc) (local.get $a)))) (f32x4.splat (local.get $se))))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $pl)))

    ;; |L|² = wᵀGw from the Gram's blocks on and right of the diagonal (G is symmetric: half the
    ;; products and bytes of the full matrix). They are stored in the order read (core/quantize.ts,
    ;; writeGramBlocks): per block row a, the block (a, a), then (a, b) for b > a, each as four
    ;; vectors, vector i = G[4b + i][4a .. 4a + 4) — column i of G_ab — so every product is a stored
    ;; vector times a splatted weight and one pointer walks the item's Gram. Per block row,
    ;; G_aa w_a + 2 Σ_{b>a} G_ab w_b, then its dot with w_a; four accumulators for each part keep
    ;; every chain as short as the number of blocks. Rows and lanes from cnt to cnt4 have weight 0
    ;; (and the Gram is 0 there).
    (local.set $cnt4 (i32.and (i32.add (local.get $cnt) (i32.const 3)) (i32.const -4)))
    (local.set $wend (i32.add (local.get $w) (i32.shl (local.get $cnt4) (i32.const 2))))
    (local.set $rs (local.get $gr))
    (local.set $llv (v128.const i64x2 0 0))
    (local.set $a (i32.const 0))
    (block $ad (loop $al
      (br_if $ad (i32.ge_u (local.get $a) (local.get $cnt4)))
      (local.set $row (local.get $rs))
      ;; the next block row starts after this one's kPad / 4 − a / 4 blocks (those past cnt4 unread)
      (local.set $rs (i32.add (local.get $rs) (i32.shl (i32.sub (i32.shr_u (local.get $kPad) (i32.const 2)) (i32.shr_u (local.get $a) (i32.const 2))) (i32.const 6))))
      (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $a) (i32.const 2))))
      (local.set $t (f32x4.mul (v128.load (local.get $row)) (v128.load32_splat (local.get $wp))))
      (local.set $t1 (f32x4.mul (v128.load offset=16 (local.get $row)) (v128.load32_splat offset=4 (local.get $wp))))
      (local.set $t2 (f32x4.mul (v128.load offset=32 (local.get $row)) (v128.load32_splat offset=8 (local.get $wp))))
      (local.set $t3 (f32x4.mul (v128.load offset=48 (local.get $row)) (v128.load32_splat offset=12 (local.get $wp))))
      (local.set $row (i32.add (local.get $row) (i32.const 64)))
      (local.set $o0 (v128.const i64x2 0 0)) (local.set $o1 (v128.const i64x2 0 0))
      (local.set $o2 (v128.const i64x2 0 0)) (local.set $o3 (v128.const i64x2 0 0))
      (local.set $wq (i32.add (local.get $wp) (i32.const 16)))
      (block $bd (loop $bl
        (br_if $bd (i32.ge_u (local.get $wq) (local.get $wend)))
        (local.set $o0 (f32x4.add (local.get $o0) (f32x4.mul (v128.load (local.get $row)) (v128.load32_splat (local.get $wq)))))
        (local.set $o1 (f32x4.add (local.get $o1) (f32x4.mul (v128.load offset=16 (local.get $row)) (v128.load32_splat offset=4 (local.get $wq)))))
        (local.set $o2 (f32x4.add (local.get $o2) (f32x4.mul (v128.load offset=32 (local.get $row)) (v128.load32_splat offset=8 (local.get $wq)))))
        (local.set $o3 (f32x4.add (local.get $o3) (f32x4.mul (v128.load offset=48 (local.get $row)) (v128.load32_splat offset=12 (local.get $wq)))))
        (local.set $row (i32.add (local.get $row) (i32.const 64)))
        (local.set $wq (i32.add (local.get $wq) (i32.const 16)))
        (br $bl)))
      (local.set $o0 (f32x4.add (f32x4.add (local.get $o0) (local.get $o1)) (f32x4.add (local.get $o2) (local.get $o3))))
      (local.set $t (f32x4.add (f32x4.add (f32x4.add (local.get $t) (local.get $t1)) (f32x4.add (local.get $t2) (local.get $t3)))
        (f32x4.add (local.get $o0) (local.get $o0))))
      (local.set $llv (f32x4.add (local.get $llv) (f32x4.mul (local.get $t) (v128.load (local.get $wp)))))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $al)))
    ;; the lane sums of g·e, e·L, |L|² and Σw as one vector (each lane's sum in the order of one
    ;; reduced alone: the pairs (0, 2) and (1, 3), then their sum)
    (local.set $ab (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $dg) (local.get $elv))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $dg) (local.get $elv))))
    (local.set $cd (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $llv) (local.get $swv))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $llv) (local.get $swv))))
    (local.set $t (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
    (call $emit (local.get $cnt) (f32x4.extract_lane 0 (local.get $t)) (f32x4.extract_lane 1 (local.get $t))
      (f32.max (f32x4.extract_lane 2 (local.get $t)) (f32.const 0)) (f32x4.extract_lane 3 (local.get $t))
      (local.get $enorm) (local.get $gn) (local.get $out) (local.get $alpha) (local.get $beta) (local.get $zn)))

  ;; Bytes of one item's Gram blocks (core/quantize.ts, gramBlockFloats): with n = kPad / 4 blocks
  ;; a side, n(n + 1)/2 blocks of 64 bytes.
  (func $gram_bytes (param $kPad i32) (result i32)
    (local $n i32)
    (local.set $n (i32.shr_u (local.get $kPad) (i32.const 2)))
    (i32.shl (i32.mul (local.get $n) (i32.add (local.get $n) (i32.const 1))) (i32.const 5)))

  ;; The lane sums of four i32x4 as one vector [Σa, Σb, Σc, Σd] ($sum4's shuffles, integer adds).
  (func $isum4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $ab v128) (local $cd v128)
    (local.set $ab (i32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $cd (i32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (i32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
