;; Batched ranking over int8 storage, part of the scorer module (spliced into score-kernel.wat at
;; build time; it uses score-int8.wat's $finish_i8 and $gram_bytes, weights-int8.wat's $weights_i8).
;;
;; `score_batch_i8` takes B requests against the same candidates: per candidate its rows are read
;; for two requests at a time (each row's 8-code chunk sign-extended once per load,
;; v128.load8x8_s, against the two requests' q and e: eight exact 32-bit sums per pair of rows), so
;; the integer dots of all B requests come from one candidate's codes while they sit in L1. Then
;; the weights of all B requests in one pass ($weights_i8: the lanes a request alone leaves empty
;; hold the next request's rows), and each request's finish ($finish_i8), as for a single request.

  ;; B requests sharing the candidates (the batch path of the engine for int8 storage).
  ;; nb requests; requests 2p and 2p + 1 as 16-bit codes at rq + 2p·4·rb, interleaved as $dots2_i8
  ;; reads them (an odd last request paired with itself), request b's scales (f32 sq, se) at rs + 8b, its e in f32 at es + b·rowBytes, |e| (f64) at norms + 8b;
  ;; iq: nb × 2·kPad i32 scratch; w: nb × kPad f32 scratch; cst: init_i8's constants; out: (c × nb + b) × (f32 score, cos_g, cos_l).
  ;; The other parameters are score_i8's.
  (func (export "score_batch_i8")
    (param $n i32) (param $k i32) (param $rowBytes i32) (param $glob i32) (param $meta i32)
    (param $codes i32) (param $scales i32) (param $gram i32) (param $rb i32) (param $kPad i32)
    (param $nb i32) (param $rq i32) (param $rs i32) (param $es i32) (param $norms i32) (param $iq i32) (param $w i32) (param $cst i32)
    (param $slots i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $c i32) (local $slot i32) (local $cnt i32) (local $mo i32) (local $base i32) (local $sc i32) (local $gr i32)
    (local $g i32) (local $gn f64) (local $b i32) (local $b1 i32) (local $o i32) (local $iqStride i32) (local $rqStride i32)
    (local.set $iqStride (i32.shl (local.get $kPad) (i32.const 3)))
    (local.set $rqStride (i32.shl (local.get $rb) (i32.const 2)))
    (local.set $c (i32.const 0))
    (block $done (loop $cands
      (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
      (local.set $slot (i32.load (i32.add (local.get $slots) (i32.shl (local.get $c) (i32.const 2)))))
      (local.set $mo (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3))))
      (local.set $cnt (i32.load (local.get $mo)))
      (if (i32.gt_u (local.get $cnt) (local.get $k)) (then (local.set $cnt (local.get $k))))
      (local.set $gn (f64.promote_f32 (f32.load offset=4 (local.get $mo))))
      (local.set $g (i32.add (local.get $glob) (i32.mul (local.get $slot) (local.get $rowBytes))))
      (local.set $base (i32.add (local.get $codes) (i32.mul (i32.mul (local.get $slot) (local.get $k)) (local.get $rb))))
      (local.set $sc (i32.add (local.get $scales) (i32.shl (i32.mul (local.get $slot) (local.get $kPad)) (i32.const 2))))
      (local.set $gr (i32.add (local.get $gram) (i32.mul (local.get $slot) (call $gram_bytes (local.get $kPad)))))
      ;; the integer dots, two requests at a time (an odd last one paired with itself)
      (local.set $b (i32.const 0))
      (block $dd (loop $dl
        (br_if $dd (i32.ge_u (local.get $b) (local.get $nb)))
        (local.set $b1 (i32.add (local.get $b) (i32.const 1)))
        (if (i32.ge_u (local.get $b1) (local.get $nb)) (then (local.set $b1 (local.get $b))))
        (call $dots2_i8 (local.get $cnt) (local.get $base) (local.get $rb) (local.get $kPad)
          (i32.add (local.get $rq) (i32.mul (local.get $b) (local.get $rqStride)))
          (i32.add (local.get $iq) (i32.mul (local.get $b) (local.get $iqStride)))
          (i32.add (local.get $iq) (i32.mul (local.get $b1) (local.get $iqStride))))
        (local.set $b (i32.add (local.get $b) (i32.const 2)))
        (br $dl)))
      ;; the weights of every request, then each request's outputs
      (call $weights_i8 (local.get $cnt) (local.get $nb) (local.get $iq) (local.get $sc) (local.get $rs) (local.get $w) (local.get $kPad) (local.get $cst))
      (local.set $o (i32.add (local.get $out) (i32.mul (i32.mul (local.get $c) (local.get $nb)) (i32.const 12))))
      (local.set $b (i32.const 0))
      (block $fd (loop $fl
        (br_if $fd (i32.ge_u (local.get $b) (local.get $nb)))
        (call $finish_i8 (local.get $cnt) (local.get $rowBytes) (local.get $g) (local.get $gn) (local.get $sc) (local.get $gr) (local.get $kPad)
          (i32.add (local.get $iq) (i32.mul (local.get $b) (local.get $iqStride)))
          (f32.load offset=4 (i32.add (local.get $rs) (i32.shl (local.get $b) (i32.const 3))))
          (i32.add (local.get $es) (i32.mul (local.get $b) (local.get $rowBytes)))
          (f64.load (i32.add (local.get $norms) (i32.shl (local.get $b) (i32.const 3))))
          (i32.add (local.get $w) (i32.shl (i32.mul (local.get $b) (local.get $kPad)) (i32.const 2)))
          (i32.add (local.get $o) (i32.mul (local.get $b) (i32.const 12)))
          (local.get $alpha) (local.get $beta) (local.get $zn))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $fl)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cands))))

  ;; A pair of requests against a candidate's cnt rows of codes at base, two rows at a time. The
  ;; pair's codes are interleaved by 8: at pr + 64c, chunk c (codes 8c..8c+7) of request a's q,
  ;; a's e, b's q, b's e, so one pointer walks all four. Each row's 8-code chunk is loaded
  ;; sign-extended to i16 once (v128.load8x8_s) and multiplied into the four vectors' sums (eight
  ;; accumulators). Writes request a's logits at ia, its e-dots at ia + 4·kPad (rows j, j+1 per
  ;; pair; an odd last row is paired with itself), the same for b at ib. Lanes from cnt up to the
  ;; next multiple of 4 are left as they were: $finish_i8 gives them weight 0 and scale 0.
  (func $dots2_i8
    (param $cnt i32) (param $base i32) (param $rb i32) (param $kPad i32)
    (param $pr i32) (param $ia i32) (param $ib i32)
    (local $j i32) (local $r0 i32) (local $r1 i32) (local $p i32) (local $end i32) (local $ke i32)
    (local $x0 v128) (local $x1 v128) (local $y v128)
    (local $aq0 v128) (local $aq1 v128) (local $ae0 v128) (local $ae1 v128)
    (local $bq0 v128) (local $bq1 v128) (local $be0 v128) (local $be1 v128) (local $ab v128) (local $cd v128)
    (local.set $ke (i32.shl (local.get $kPad) (i32.const 2)))
    (local.set $end (i32.add (local.get $pr) (i32.shl (local.get $rb) (i32.const 3))))
    (local.set $j (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $r0 (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $rb))))
      (local.set $r1 (local.get $r0))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cnt)) (then (local.set $r1 (i32.add (local.get $r0) (local.get $rb)))))
      (local.set $aq0 (v128.const i64x2 0 0)) (local.set $aq1 (v128.const i64x2 0 0))
      (local.set $ae0 (v128.const i64x2 0 0)) (local.set $ae1 (v128.const i64x2 0 0))
      (local.set $bq0 (v128.const i64x2 0 0)) (local.set $bq1 (v128.const i64x2 0 0))
      (local.set $be0 (v128.const i64x2 0 0)) (local.set $be1 (v128.const i64x2 0 0))
      (local.set $p (local.get $pr))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x0 (v128.load8x8_s (local.get $r0)))
        (local.set $x1 (v128.load8x8_s (local.get $r1)))
        (local.set $y (v128.load (local.get $p)))
        (local.set $aq0 (i32x4.add (local.get $aq0) (i32x4.dot_i16x8_s (local.get $x0) (local.get $y))))
        (local.set $aq1 (i32x4.add (local.get $aq1) (i32x4.dot_i16x8_s (local.get $x1) (local.get $y))))
        (local.set $y (v128.load offset=16 (local.get $p)))
        (local.set $ae0 (i32x4.add (local.get $ae0) (i32x4.dot_i16x8_s (local.get $x0) (local.get $y))))
        (local.set $ae1 (i32x4.add (local.get $ae1) (i32x4.dot_i16x8_s (local.get $x1) (local.get $y))))
        (local.set $y (v128.load offset=32 (local.get $p)))
        (local.set $bq0 (i32x4.add (local.get $bq0) (i32x4.dot_i16x8_s (local.get $x0) (local.get $y))))
        (local.set $bq1 (i32x4.add (local.get $bq1) (i32x4.dot_i16x8_s (local.get $x1) (local.get $y))))
        (local.set $y (v128.load offset=48 (local.get $p)))
        (local.set $be0 (i32x4.add (local.get $be0) (i32x4.dot_i16x8_s (local.get $x0) (local.get $y))))
        (local.set $be1 (i32x4.add (local.get $be1) (i32x4.dot_i16x8_s (local.get $x1) (local.get $y))))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 8)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $vl)))
      ;; [q·r0, q·r1, e·r0, e·r1] per request (the lane sums of four accumulators, written out): the logits to i + 4j, the e-dots to i + 4·kPad + 4j
      (local.set $ab (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $aq0) (local.get $aq1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $aq0) (local.get $aq1))))
      (local.set $cd (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $ae0) (local.get $ae1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $ae0) (local.get $ae1))))
      (local.set $y (i32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
      (v128.store64_lane 0 (i32.add (local.get $ia) (i32.shl (local.get $j) (i32.const 2))) (local.get $y))
      (v128.store64_lane 1 (i32.add (i32.add (local.get $ia) (local.get $ke)) (i32.shl (local.get $j) (i32.const 2))) (local.get $y))
      (local.set $ab (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $bq0) (local.get $bq1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $bq0) (local.get $bq1))))
      (local.set $cd (i32x4.add
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $be0) (local.get $be1))
        (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $be0) (local.get $be1))))
      (local.set $y (i32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))
      (v128.store64_lane 0 (i32.add (local.get $ib) (i32.shl (local.get $j) (i32.const 2))) (local.get $y))
      (v128.store64_lane 1 (i32.add (i32.add (local.get $ib) (local.get $ke)) (i32.shl (local.get $j) (i32.const 2))) (local.get $y))
      (local.set $j (i32.add (local.get $j) (i32.const 2)))
      (br $pl))))

