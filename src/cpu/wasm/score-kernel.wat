;; RALM scorer for the CPU backend: the same math as shaders/score.wgsl, with 128-bit SIMD over
;; the row (4 lanes of f32, unrolled by 2; rows are padded to multiples of 8 floats, so every row
;; is whole vec4 pairs). Per candidate: pass 1 reads each row once for its logit, the weights
;; follow four rows at a time (f32x4 exp and tanh), pass 2 builds L column-wise from the rows
;; still in L1 and takes |L|² and e·L from it.
;;
;; The module imports the memory of one item-table page: centroids, global vectors and metadata
;; live there, plus a scratch area the host fills per call (q, e, the candidates' local slots) and
;; reads back (score, cos_g, cos_l per candidate). Pointers and sizes are byte offsets/counts
;; passed by the host; nothing is allocated.
;;
;; Per candidate, rows C_j (j < count):
;;   w_j = exp(tanh(clamp(C_j·q, -20, 20)));  L = Σ w_j C_j;  cos_l = e·L / (|e| |L|)
;;   cos_g = e·g / (|e| |g|);  score = alpha·cos_g + beta·cos_l
;; with the zero-norm rule (a norm below zero_norm gives cosine 0). Dots and attention weights are
;; f32 (as on the GPU); the final cosines and blend are f64.
;;
;; A second export, `scan_users`, is audience expansion's user scan (the same math with the roles
;; swapped: user rows against one prepared seed set); the module is then bound to a user-table
;; page instead of an item-table page.
(module
  (import "env" "memory" (memory 1 65536 shared))

  (func $hsum (param $v v128) (result f64)
    (f64.promote_f32 (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))))

  (func $cos (param $dot f64) (param $na f64) (param $nb f64) (param $zn f64) (result f64)
    (if (result f64) (i32.or (f64.lt (local.get $na) (local.get $zn)) (f64.lt (local.get $nb) (local.get $zn)))
      (then (f64.const 0))
      (else (f64.div (local.get $dot) (f64.mul (local.get $na) (local.get $nb))))))

  ;; n candidates; k rows per slot; rowBytes = stride * 4; cent/glob/meta: page region offsets;
  ;; q, e: rowBytes each; acc: the weight area (see wasm-kernel.ts); slots: n u32 local slots;
  ;; out: n × (f32 score, cos_g, cos_l).
  (func (export "score")
    (param $n i32) (param $k i32) (param $rowBytes i32)
    (param $cent i32) (param $glob i32) (param $meta i32)
    (param $q i32) (param $e i32) (param $acc i32) (param $slots i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $enorm f64) (param $zn f64)
    (local $c i32) (local $slot i32) (local $cnt i32) (local $base i32) (local $gn f64) (local $dq i32)
    ;; the logits C_j · q, packed: after the weight slots (k rounded up to 4, 16 bytes each)
    (local.set $dq (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $k) (i32.const 3)) (i32.const -4)) (i32.const 4))))
    (local.set $c (i32.const 0))
    (block $done
      (loop $cands
        (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
        (local.set $slot (i32.load (i32.add (local.get $slots) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $cnt (i32.load (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3)))))
        (if (i32.gt_u (local.get $cnt) (local.get $k)) (then (local.set $cnt (local.get $k))))
        (local.set $gn (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3))))))

        (local.set $base (i32.add (local.get $cent) (i32.mul (i32.mul (local.get $slot) (local.get $k)) (local.get $rowBytes))))
        (call $one (local.get $cnt) (local.get $rowBytes) (local.get $base)
          (i32.add (local.get $glob) (i32.mul (local.get $slot) (local.get $rowBytes))) (local.get $gn)
          (local.get $q) (local.get $e) (local.get $enorm) (local.get $acc) (local.get $dq)
          (i32.add (local.get $out) (i32.mul (local.get $c) (i32.const 12)))
          (local.get $alpha) (local.get $beta) (local.get $zn))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cands))))
;; ---------------------------------------------------------------- one request, one candidate
  ;; The candidate's cnt rows at base, its global vector at g (norm gn), against q and e (norm
  ;; enorm); acc: the weight slots, dq: the packed logits; writes (score, cos_g, cos_l) at out.
  ;; Every sum is formed in the order and with the operations of one lane of $four (the batched
  ;; path), so a request scores bit for bit the same alone or in a batch of any size.
  (func $one
    (param $cnt i32) (param $rowBytes i32) (param $base i32) (param $g i32) (param $gn f64)
    (param $q i32) (param $e i32) (param $enorm f64) (param $acc i32) (param $dq i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $j i32) (local $v i32) (local $o i32) (local $end i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $y v128) (local $wv v128) (local $x0 v128) (local $x1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $sw f32) (local $dg f32) (local $ll f32) (local $el f32)

    ;; g · e: one accumulator over 4-float chunks, as $four's lane
    (local.set $a0 (v128.const i64x2 0 0))
    (local.set $v (i32.const 0))
    (block $gd (loop $gl
      (br_if $gd (i32.ge_u (local.get $v) (local.get $rowBytes)))
      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $v))) (v128.load (i32.add (local.get $e) (local.get $v))))))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (br $gl)))
    (local.set $dg (f32x4.extract_lane 0 (call $sum4 (local.get $a0) (local.get $a0) (local.get $a0) (local.get $a0))))

    ;; pass 1: the logits C_j · q four rows at a time (one load of q per chunk; rows past the
    ;; count repeat row j and are masked below); sum4 leaves the four logits in one vector.
    (local.set $j (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $r0 (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $rowBytes))))
      (local.set $r1 (local.get $r0)) (local.set $r2 (local.get $r0)) (local.set $r3 (local.get $r0))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cnt)) (then (local.set $r1 (i32.add (local.get $r0) (local.get $rowBytes)))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 2)) (local.get $cnt)) (then (local.set $r2 (i32.add (local.get $r1) (local.get $rowBytes)))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 3)) (local.get $cnt)) (then (local.set $r3 (i32.add (local.get $r2) (local.get $rowBytes)))))
      (local.set $a0 (v128.const i64x2 0 0)) (local.set $a1 (v128.const i64x2 0 0))
      (local.set $a2 (v128.const i64x2 0 0)) (local.set $a3 (v128.const i64x2 0 0))
      (local.set $v (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $v) (local.get $rowBytes)))
        (local.set $y (v128.load (i32.add (local.get $q) (local.get $v))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $r0) (local.get $v))) (local.get $y))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $r1) (local.get $v))) (local.get $y))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $r2) (local.get $v))) (local.get $y))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $r3) (local.get $v))) (local.get $y))))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (br $vl)))
      (v128.store (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 2)))
        (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $pl)))

    ;; the weights four rows at a time (lanes past the count get 0), splatted for pass 2; their
    ;; sum in row order, in f32, as $four's lane accumulates it
    (local.set $sw (f32.const 0))
    (local.set $j (i32.const 0))
    (block $wd (loop $wl
      (br_if $wd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $wv (call $attn_weight4 (v128.load (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 2))))
        (i32.sub (local.get $cnt) (local.get $j))))
      (local.set $sw (f32.add (local.get $sw) (f32x4.extract_lane 0 (local.get $wv))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cnt)) (then (local.set $sw (f32.add (local.get $sw) (f32x4.extract_lane 1 (local.get $wv))))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 2)) (local.get $cnt)) (then (local.set $sw (f32.add (local.get $sw) (f32x4.extract_lane 2 (local.get $wv))))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 3)) (local.get $cnt)) (then (local.set $sw (f32.add (local.get $sw) (f32x4.extract_lane 3 (local.get $wv))))))
      (local.set $o (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 4))))
      (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $wv) (local.get $wv)))
      (v128.store offset=16 (local.get $o) (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $wv) (local.get $wv)))
      (v128.store offset=32 (local.get $o) (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $wv) (local.get $wv)))
      (v128.store offset=48 (local.get $o) (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $wv) (local.get $wv)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $wl)))

    ;; pass 2: L = Σ_j w_j C_j eight columns at a time; |L|² and e·L accumulate lane-wise with
    ;; $four's expressions
    (local.set $a2 (v128.const i64x2 0 0))
    (local.set $a3 (v128.const i64x2 0 0))
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $cnt) (i32.const 4))))
    (local.set $v (i32.const 0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $v) (local.get $rowBytes)))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $r0 (i32.add (local.get $base) (local.get $v)))
      (local.set $o (local.get $acc))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $x0 (v128.load (local.get $r0)))
        (local.set $x1 (v128.load offset=16 (local.get $r0)))
        (local.set $y (v128.load (local.get $o)))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $y) (local.get $x0))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $y) (local.get $x1))))
        (local.set $r0 (i32.add (local.get $r0) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $jl)))
      (local.set $a2 (f32x4.add (local.get $a2) (f32x4.add (f32x4.mul (local.get $a0) (local.get $a0)) (f32x4.mul (local.get $a1) (local.get $a1)))))
      (local.set $r1 (i32.add (local.get $e) (local.get $v)))
      (local.set $a3 (f32x4.add (local.get $a3) (f32x4.add (f32x4.mul (local.get $a0) (v128.load (local.get $r1))) (f32x4.mul (local.get $a1) (v128.load offset=16 (local.get $r1))))))
      (local.set $v (i32.add (local.get $v) (i32.const 32)))
      (br $cl)))
    (local.set $ll (f32x4.extract_lane 0 (call $sum4 (local.get $a2) (local.get $a2) (local.get $a2) (local.get $a2))))
    (local.set $el (f32x4.extract_lane 0 (call $sum4 (local.get $a3) (local.get $a3) (local.get $a3) (local.get $a3))))
    (call $emit (local.get $cnt) (local.get $dg) (local.get $el) (local.get $ll) (local.get $sw) (local.get $enorm) (local.get $gn)
      (local.get $out) (local.get $alpha) (local.get $beta) (local.get $zn)))

;; ---------------------------------------------------------------- batched scoring
  ;; B requests against the same candidates: each candidate's rows are read from memory once per
  ;; batch (they stay in L1 while every request of the batch uses them). Requests go four at a
  ;; time through $four (two rows × four q per load of the rows: 8 independent accumulators, 6
  ;; loads per 8 multiply-adds; the attention weights of four requests in one f32x4; L of four
  ;; requests built column-wise with one load of each row chunk), and a remainder of one to three
  ;; requests through the single-request path of `score` ($one).
  ;;
  ;; |L|² = wᵀGw with a per-item Gram matrix would cost the same k·h multiply-adds per request as
  ;; building L (the e·C_j dots replace the L accumulation) plus the Gram itself, so L is built.
  ;;   qs, es: nb rows of rowBytes each; norms: nb f64 |e|; acc: the batch weight area
  ;;   (kPad × 80 bytes, see wasm-kernel.ts); out: (c × nb + b) × (f32 score, cos_g, cos_l).
  (func (export "score_batch")
    (param $n i32) (param $k i32) (param $rowBytes i32)
    (param $cent i32) (param $glob i32) (param $meta i32)
    (param $nb i32) (param $qs i32) (param $es i32) (param $norms i32) (param $acc i32) (param $slots i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $c i32) (local $slot i32) (local $cnt i32) (local $b i32) (local $g i32) (local $base i32)
    (local $gn f64) (local $dq i32) (local $o i32)
    ;; the single-request remainder keeps its logits after its weight slots, as `score` does
    (local.set $dq (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $k) (i32.const 3)) (i32.const -4)) (i32.const 4))))
    (local.set $c (i32.const 0))
    (block $done (loop $cands
      (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
      (local.set $slot (i32.load (i32.add (local.get $slots) (i32.shl (local.get $c) (i32.const 2)))))
      (local.set $cnt (i32.load (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3)))))
      (if (i32.gt_u (local.get $cnt) (local.get $k)) (then (local.set $cnt (local.get $k))))
      (local.set $gn (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $meta) (i32.shl (local.get $slot) (i32.const 3))))))
      (local.set $g (i32.add (local.get $glob) (i32.mul (local.get $slot) (local.get $rowBytes))))
      (local.set $base (i32.add (local.get $cent) (i32.mul (i32.mul (local.get $slot) (local.get $k)) (local.get $rowBytes))))
      (local.set $o (i32.add (local.get $out) (i32.mul (i32.mul (local.get $c) (local.get $nb)) (i32.const 12))))
      (local.set $b (i32.const 0))
      (block $fd (loop $fl
        (br_if $fd (i32.gt_u (i32.add (local.get $b) (i32.const 4)) (local.get $nb)))
        (call $four (local.get $cnt) (local.get $rowBytes) (local.get $base) (local.get $g) (local.get $gn)
          (i32.add (local.get $qs) (i32.mul (local.get $b) (local.get $rowBytes)))
          (i32.add (local.get $es) (i32.mul (local.get $b) (local.get $rowBytes)))
          (i32.add (local.get $norms) (i32.shl (local.get $b) (i32.const 3)))
          (local.get $acc) (i32.add (local.get $o) (i32.mul (local.get $b) (i32.const 12)))
          (local.get $alpha) (local.get $beta) (local.get $zn))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $fl)))
      (block $rd (loop $rl
        (br_if $rd (i32.ge_u (local.get $b) (local.get $nb)))
        (call $one (local.get $cnt) (local.get $rowBytes) (local.get $base) (local.get $g) (local.get $gn)
          (i32.add (local.get $qs) (i32.mul (local.get $b) (local.get $rowBytes)))
          (i32.add (local.get $es) (i32.mul (local.get $b) (local.get $rowBytes)))
          (f64.load (i32.add (local.get $norms) (i32.shl (local.get $b) (i32.const 3))))
          (local.get $acc) (local.get $dq) (i32.add (local.get $o) (i32.mul (local.get $b) (i32.const 12)))
          (local.get $alpha) (local.get $beta) (local.get $zn))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $rl)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cands))))

  ;; Four requests (q, e rows at q0/e0 + b × rowBytes, norms at nrm) against one candidate's
  ;; cnt rows at base and its global vector g; writes four consecutive outputs at out.
  ;; acc: per row j, four splatted weights (64 bytes: one vector per request) for kPad rows, then
  ;; per row the four requests' logits (16 bytes).
  (func $four
    (param $cnt i32) (param $rowBytes i32) (param $base i32) (param $g i32) (param $gn f64)
    (param $q0 i32) (param $e0 i32) (param $nrm i32) (param $acc i32) (param $out i32)
    (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $q1 i32) (local $q2 i32) (local $q3 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32)
    (local $j i32) (local $v i32) (local $r0 i32) (local $r1 i32) (local $dq i32) (local $o i32) (local $end i32)
    (local $x0 v128) (local $x1 v128) (local $y v128)
    (local $a00 v128) (local $a01 v128) (local $a02 v128) (local $a03 v128)
    (local $a10 v128) (local $a11 v128) (local $a12 v128) (local $a13 v128)
    (local $dgv v128) (local $swv v128) (local $wv v128) (local $llv v128) (local $elv v128)
    (local $l0 v128) (local $l1 v128) (local $l2 v128) (local $l3 v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local.set $q1 (i32.add (local.get $q0) (local.get $rowBytes)))
    (local.set $q2 (i32.add (local.get $q1) (local.get $rowBytes)))
    (local.set $q3 (i32.add (local.get $q2) (local.get $rowBytes)))
    (local.set $e1 (i32.add (local.get $e0) (local.get $rowBytes)))
    (local.set $e2 (i32.add (local.get $e1) (local.get $rowBytes)))
    (local.set $e3 (i32.add (local.get $e2) (local.get $rowBytes)))
    (local.set $dq (i32.add (local.get $acc) (i32.shl (i32.and (i32.add (local.get $cnt) (i32.const 3)) (i32.const -4)) (i32.const 6))))

    ;; g · e_b for the four requests
    (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
    (local.set $a02 (v128.const i64x2 0 0)) (local.set $a03 (v128.const i64x2 0 0))
    (local.set $v (i32.const 0))
    (block $gd (loop $gl
      (br_if $gd (i32.ge_u (local.get $v) (local.get $rowBytes)))
      (local.set $x0 (v128.load (i32.add (local.get $g) (local.get $v))))
      (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $x0) (v128.load (i32.add (local.get $e0) (local.get $v))))))
      (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $x0) (v128.load (i32.add (local.get $e1) (local.get $v))))))
      (local.set $a02 (f32x4.add (local.get $a02) (f32x4.mul (local.get $x0) (v128.load (i32.add (local.get $e2) (local.get $v))))))
      (local.set $a03 (f32x4.add (local.get $a03) (f32x4.mul (local.get $x0) (v128.load (i32.add (local.get $e3) (local.get $v))))))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (br $gl)))
    (local.set $dgv (call $sum4 (local.get $a00) (local.get $a01) (local.get $a02) (local.get $a03)))

    ;; pass 1: the logits C_j · q_b, two rows at a time (an odd last row is paired with itself)
    (local.set $j (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $r0 (i32.add (local.get $base) (i32.mul (local.get $j) (local.get $rowBytes))))
      (local.set $r1 (local.get $r0))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $cnt))
        (then (local.set $r1 (i32.add (local.get $r0) (local.get $rowBytes)))))
      (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
      (local.set $a02 (v128.const i64x2 0 0)) (local.set $a03 (v128.const i64x2 0 0))
      (local.set $a10 (v128.const i64x2 0 0)) (local.set $a11 (v128.const i64x2 0 0))
      (local.set $a12 (v128.const i64x2 0 0)) (local.set $a13 (v128.const i64x2 0 0))
      (local.set $v (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $v) (local.get $rowBytes)))
        (local.set $x0 (v128.load (i32.add (local.get $r0) (local.get $v))))
        (local.set $x1 (v128.load (i32.add (local.get $r1) (local.get $v))))
        (local.set $y (v128.load (i32.add (local.get $q0) (local.get $v))))
        (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $q1) (local.get $v))))
        (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $q2) (local.get $v))))
        (local.set $a02 (f32x4.add (local.get $a02) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $a12 (f32x4.add (local.get $a12) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $q3) (local.get $v))))
        (local.set $a03 (f32x4.add (local.get $a03) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $a13 (f32x4.add (local.get $a13) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (br $vl)))
      (v128.store (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 4)))
        (call $sum4 (local.get $a00) (local.get $a01) (local.get $a02) (local.get $a03)))
      (v128.store offset=16 (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 4)))
        (call $sum4 (local.get $a10) (local.get $a11) (local.get $a12) (local.get $a13)))
      (local.set $j (i32.add (local.get $j) (i32.const 2)))
      (br $pl)))

    ;; the weights: one f32x4 holds row j's weight for the four requests; each is splatted
    (local.set $swv (v128.const i64x2 0 0))
    (local.set $j (i32.const 0))
    (block $wd (loop $wl
      (br_if $wd (i32.ge_u (local.get $j) (local.get $cnt)))
      (local.set $wv (call $attn_weight4 (v128.load (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 4)))) (i32.const 4)))
      (local.set $swv (f32x4.add (local.get $swv) (local.get $wv)))
      (local.set $o (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 6))))
      (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $wv) (local.get $wv)))
      (v128.store offset=16 (local.get $o) (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $wv) (local.get $wv)))
      (v128.store offset=32 (local.get $o) (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $wv) (local.get $wv)))
      (v128.store offset=48 (local.get $o) (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $wv) (local.get $wv)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $wl)))

    ;; pass 2: L_b = Σ_j w_bj C_j eight columns at a time for the four requests (each row chunk
    ;; loaded once for all four); |L_b|² (a0b) and e_b·L_b (a1b) accumulate lane-wise
    (local.set $a00 (v128.const i64x2 0 0)) (local.set $a01 (v128.const i64x2 0 0))
    (local.set $a02 (v128.const i64x2 0 0)) (local.set $a03 (v128.const i64x2 0 0))
    (local.set $a10 (v128.const i64x2 0 0)) (local.set $a11 (v128.const i64x2 0 0))
    (local.set $a12 (v128.const i64x2 0 0)) (local.set $a13 (v128.const i64x2 0 0))
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $cnt) (i32.const 6))))
    (local.set $v (i32.const 0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $v) (local.get $rowBytes)))
      (local.set $l0 (v128.const i64x2 0 0)) (local.set $l1 (v128.const i64x2 0 0))
      (local.set $l2 (v128.const i64x2 0 0)) (local.set $l3 (v128.const i64x2 0 0))
      (local.set $m0 (v128.const i64x2 0 0)) (local.set $m1 (v128.const i64x2 0 0))
      (local.set $m2 (v128.const i64x2 0 0)) (local.set $m3 (v128.const i64x2 0 0))
      (local.set $r0 (i32.add (local.get $base) (local.get $v)))
      (local.set $o (local.get $acc))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $x0 (v128.load (local.get $r0)))
        (local.set $x1 (v128.load offset=16 (local.get $r0)))
        (local.set $y (v128.load (local.get $o)))
        (local.set $l0 (f32x4.add (local.get $l0) (f32x4.mul (local.get $y) (local.get $x0))))
        (local.set $m0 (f32x4.add (local.get $m0) (f32x4.mul (local.get $y) (local.get $x1))))
        (local.set $y (v128.load offset=16 (local.get $o)))
        (local.set $l1 (f32x4.add (local.get $l1) (f32x4.mul (local.get $y) (local.get $x0))))
        (local.set $m1 (f32x4.add (local.get $m1) (f32x4.mul (local.get $y) (local.get $x1))))
        (local.set $y (v128.load offset=32 (local.get $o)))
        (local.set $l2 (f32x4.add (local.get $l2) (f32x4.mul (local.get $y) (local.get $x0))))
        (local.set $m2 (f32x4.add (local.get $m2) (f32x4.mul (local.get $y) (local.get $x1))))
        (local.set $y (v128.load offset=48 (local.get $o)))
        (local.set $l3 (f32x4.add (local.get $l3) (f32x4.mul (local.get $y) (local.get $x0))))
        (local.set $m3 (f32x4.add (local.get $m3) (f32x4.mul (local.get $y) (local.get $x1))))
        (local.set $r0 (i32.add (local.get $r0) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (i32.const 64)))
        (br $jl)))
      (local.set $a00 (f32x4.add (local.get $a00) (f32x4.add (f32x4.mul (local.get $l0) (local.get $l0)) (f32x4.mul (local.get $m0) (local.get $m0)))))
      (local.set $a01 (f32x4.add (local.get $a01) (f32x4.add (f32x4.mul (local.get $l1) (local.get $l1)) (f32x4.mul (local.get $m1) (local.get $m1)))))
      (local.set $a02 (f32x4.add (local.get $a02) (f32x4.add (f32x4.mul (local.get $l2) (local.get $l2)) (f32x4.mul (local.get $m2) (local.get $m2)))))
      (local.set $a03 (f32x4.add (local.get $a03) (f32x4.add (f32x4.mul (local.get $l3) (local.get $l3)) (f32x4.mul (local.get $m3) (local.get $m3)))))
      (local.set $r1 (i32.add (local.get $e0) (local.get $v)))
      (local.set $a10 (f32x4.add (local.get $a10) (f32x4.add (f32x4.mul (local.get $l0) (v128.load (local.get $r1))) (f32x4.mul (local.get $m0) (v128.load offset=16 (local.get $r1))))))
      (local.set $r1 (i32.add (local.get $e1) (local.get $v)))
      (local.set $a11 (f32x4.add (local.get $a11) (f32x4.add (f32x4.mul (local.get $l1) (v128.load (local.get $r1))) (f32x4.mul (local.get $m1) (v128.load offset=16 (local.get $r1))))))
      (local.set $r1 (i32.add (local.get $e2) (local.get $v)))
      (local.set $a12 (f32x4.add (local.get $a12) (f32x4.add (f32x4.mul (local.get $l2) (v128.load (local.get $r1))) (f32x4.mul (local.get $m2) (v128.load offset=16 (local.get $r1))))))
      (local.set $r1 (i32.add (local.get $e3) (local.get $v)))
      (local.set $a13 (f32x4.add (local.get $a13) (f32x4.add (f32x4.mul (local.get $l3) (v128.load (local.get $r1))) (f32x4.mul (local.get $m3) (v128.load offset=16 (local.get $r1))))))
      (local.set $v (i32.add (local.get $v) (i32.const 32)))
      (br $cl)))
    (local.set $llv (call $sum4 (local.get $a00) (local.get $a01) (local.get $a02) (local.get $a03)))
    (local.set $elv (call $sum4 (local.get $a10) (local.get $a11) (local.get $a12) (local.get $a13)))
    (call $emit (local.get $cnt) (f32x4.extract_lane 0 (local.get $dgv)) (f32x4.extract_lane 0 (local.get $elv))
      (f32x4.extract_lane 0 (local.get $llv)) (f32x4.extract_lane 0 (local.get $swv)) (f64.load (local.get $nrm)) (local.get $gn)
      (local.get $out) (local.get $alpha) (local.get $beta) (local.get $zn))
    (call $emit (local.get $cnt) (f32x4.extract_lane 1 (local.get $dgv)) (f32x4.extract_lane 1 (local.get $elv))
      (f32x4.extract_lane 1 (local.get $llv)) (f32x4.extract_lane 1 (local.get $swv)) (f64.load offset=8 (local.get $nrm)) (local.get $gn)
      (i32.add (local.get $out) (i32.const 12)) (local.get $alpha) (local.get $beta) (local.get $zn))
    (call $emit (local.get $cnt) (f32x4.extract_lane 2 (local.get $dgv)) (f32x4.extract_lane 2 (local.get $elv))
      (f32x4.extract_lane 2 (local.get $llv)) (f32x4.extract_lane 2 (local.get $swv)) (f64.load offset=16 (local.get $nrm)) (local.get $gn)
      (i32.add (local.get $out) (i32.const 24)) (local.get $alpha) (local.get $beta) (local.get $zn))
    (call $emit (local.get $cnt) (f32x4.extract_lane 3 (local.get $dgv)) (f32x4.extract_lane 3 (local.get $elv))
      (f32x4.extract_lane 3 (local.get $llv)) (f32x4.extract_lane 3 (local.get $swv)) (f64.load offset=24 (local.get $nrm)) (local.get $gn)
      (i32.add (local.get $out) (i32.const 36)) (local.get $alpha) (local.get $beta) (local.get $zn)))

  ;; One request's outputs from its sums (as `score` forms them): cos_g = g·e / (|g| |e|),
  ;; cos_l = (e·L / Σw) / (|e| · |L| / Σw), zero-norm rule on each.
  (func $emit
    (param $cnt i32) (param $dg f32) (param $el f32) (param $ll f32) (param $sw f32) (param $enorm f64) (param $gn f64)
    (param $out i32) (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $cg f64) (local $cl f64) (local $s f64)
    (local.set $s (f64.promote_f32 (local.get $sw)))
    (local.set $cg (call $cos (f64.promote_f32 (local.get $dg)) (local.get $enorm) (local.get $gn) (local.get $zn)))
    (local.set $cl (f64.const 0))
    (if (i32.gt_u (local.get $cnt) (i32.const 0))
      (then
        (local.set $cl (call $cos (f64.div (f64.promote_f32 (local.get $el)) (local.get $s)) (local.get $enorm)
          (f64.div (f64.sqrt (f64.promote_f32 (local.get $ll))) (local.get $s)) (local.get $zn)))))
    (f32.store (local.get $out) (f32.demote_f64 (f64.add (f64.mul (local.get $alpha) (local.get $cg)) (f64.mul (local.get $beta) (local.get $cl)))))
    (f32.store offset=4 (local.get $out) (f32.demote_f64 (local.get $cg)))
    (f32.store offset=8 (local.get $out) (f32.demote_f64 (local.get $cl))))

;; ---------------------------------------------------------------- audience expansion
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

;; The lane sums of four vectors as one vector [Σa, Σb, Σc, Σd] (a transpose by shuffles).
  (func $sum4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $ab v128) (local $cd v128)
    (local.set $ab (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $cd (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ab) (local.get $cd))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ab) (local.get $cd))))

  ;; e^y for four f32 lanes, y in about [-45, 1]: y = n ln2 + r with |r| <= ln2/2, a degree-6
  ;; Taylor polynomial for e^r (relative error below 2e-7, about float32 resolution), and 2^n
  ;; built in the exponent bits.
  (func $exp4 (param $y v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $y) (f32x4.splat (f32.const 1.44269504)))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $y) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.5))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; exp(tanh(clamp(x, -20, 20))) for four lanes, tanh through e^(-2|x|) so nothing overflows;
  ;; lanes at or past `valid` are 0.
  (func $attn_weight4 (param $x v128) (param $valid i32) (result v128)
    (local $t v128) (local $th v128)
    (local.set $x (f32x4.max (f32x4.splat (f32.const -20)) (f32x4.min (f32x4.splat (f32.const 20)) (local.get $x))))
    (local.set $t (call $exp4 (f32x4.mul (f32x4.abs (local.get $x)) (f32x4.splat (f32.const -2)))))
    (local.set $th (f32x4.div (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $t)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $t))))
    (local.set $th (v128.or (local.get $th) (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000)))))
    (v128.and (call $exp4 (local.get $th))
      (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $valid)))))

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
)
