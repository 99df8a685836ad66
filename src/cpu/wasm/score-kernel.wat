;; RALM scorer for the CPU backend: the same math as shaders/score.wgsl, with 128-bit SIMD over
;; the row (4 lanes of f32; rows are padded to multiples of 8 floats, so every row is whole vec4
;; pairs). Per candidate: pass 1 takes four rows' logits per load of q, the weights follow four
;; rows at a time (f32x4 exp and tanh), pass 2 builds L eight columns at a time from the rows
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
;; One module, eight source files: this one (single requests and the shared helpers),
;; score-batch.wat (`score_batch`: requests sharing a candidate list), scan-users.wat
;; (`scan_users`: audience expansion's user scan, the module then bound to a user-table page),
;; score-int8.wat, score-batch-int8.wat, weights-int8.wat and scan-int8.wat (`score_i8`,
;; `score_batch_i8`, `scan_users_i8`: ranking one request or a batch, and the scan, over int8
;; storage), scan-direction.wat (`scan_direction`, `scan_direction_i8`: the two-pass scan's first
;; pass). build.ts splices the other seven in where the line `;; @parts` stands.
(module
  (import "env" "memory" (memory 1 65536 shared))

  (func $hsum (param $v v128) (result f64)
    (f64.promote_f32 (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))))

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


  ;; One request's outputs from its sums (as `score` forms them): cos_g = g·e / (|g| |e|),
  ;; cos_l = (e·L / Σw) / (|e| · |L| / Σw), zero-norm rule on each (a norm below
  ;; zn gives cosine 0), without branches or calls: a call per cosine cost more than its division.
  (func $emit
    (param $cnt i32) (param $dg f32) (param $el f32) (param $ll f32) (param $sw f32) (param $enorm f64) (param $gn f64)
    (param $out i32) (param $alpha f64) (param $beta f64) (param $zn f64)
    (local $cg f64) (local $cl f64) (local $s f64) (local $nl f64)
    (local.set $s (f64.promote_f32 (local.get $sw)))
    (local.set $cg (select (f64.const 0)
      (f64.div (f64.promote_f32 (local.get $dg)) (f64.mul (local.get $enorm) (local.get $gn)))
      (i32.or (f64.lt (local.get $enorm) (local.get $zn)) (f64.lt (local.get $gn) (local.get $zn)))))
    ;; an item without rows (Σw = 0: |L| is NaN) gets cos_l = 0
    (local.set $nl (f64.div (f64.sqrt (f64.promote_f32 (local.get $ll))) (local.get $s)))
    (local.set $cl (select (f64.const 0)
      (f64.div (f64.div (f64.promote_f32 (local.get $el)) (local.get $s)) (f64.mul (local.get $enorm) (local.get $nl)))
      (i32.or (i32.eqz (local.get $cnt)) (i32.or (f64.lt (local.get $enorm) (local.get $zn)) (f64.lt (local.get $nl) (local.get $zn))))))
    (f32.store (local.get $out) (f32.demote_f64 (f64.add (f64.mul (local.get $alpha) (local.get $cg)) (f64.mul (local.get $beta) (local.get $cl)))))
    (f32.store offset=4 (local.get $out) (f32.demote_f64 (local.get $cg)))
    (f32.store offset=8 (local.get $out) (f32.demote_f64 (local.get $cl))))


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

  ;; exp(tanh(clamp(x, -20, 20))) for four lanes, tanh through e^(-2|x|) so nothing overflows;
  ;; lanes at or past `valid` are 0. e^y (y in about [-45, 1]) twice: y = n ln2 + r with
  ;; |r| <= ln2/2, a degree-6 Taylor polynomial for e^r (relative error below 2e-7, about float32
  ;; resolution), and 2^n built in the exponent bits. n is rounded by adding and subtracting
  ;; 1.5·2^23 (the same round-to-nearest-even as f32x4.nearest for |v| < 2^22), whose sum also
  ;; holds n in its low bits: 2^n's bits are (bits(m) − 0x4b400000 + 127) << 23, in place of
  ;; f32x4.nearest and i32x4.trunc_sat_f32x4_s, which V8 lowers to long sequences on x64. The sum
  ;; is its own statement so that the fused build leaves the product rounded first. Written out in place rather than as a
  ;; function: V8 does not inline wasm calls, and two calls per weight cost a fifth of the
  ;; batched int8 kernel's time.
  (func $attn_weight4 (param $x v128) (param $valid i32) (result v128)
    (local $t v128) (local $th v128) (local $y v128) (local $n v128) (local $r v128) (local $p v128) (local $m v128)
    (local.set $x (f32x4.max (f32x4.splat (f32.const -20)) (f32x4.min (f32x4.splat (f32.const 20)) (local.get $x))))
    (local.set $y (f32x4.mul (f32x4.abs (local.get $x)) (f32x4.splat (f32.const -2))))
    (local.set $m (f32x4.mul (local.get $y) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m (f32x4.add (local.get $m) (f32x4.splat (f32.const 12582912))))
    (local.set $n (f32x4.sub (local.get $m) (f32x4.splat (f32.const 12582912))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $y) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.5))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $t (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.sub (local.get $m) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (local.set $th (f32x4.div (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $t)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $t))))
    (local.set $y (v128.or (local.get $th) (v128.and (local.get $x) (i32x4.splat (i32.const 0x80000000)))))
    (local.set $m (f32x4.mul (local.get $y) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m (f32x4.add (local.get $m) (f32x4.splat (f32.const 12582912))))
    (local.set $n (f32x4.sub (local.get $m) (f32x4.splat (f32.const 12582912))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $y) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 0.5))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1))))
    (local.set $t (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.sub (local.get $m) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (v128.and (local.get $t)
      (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $valid)))))

  ;; $attn_weight4 for two vectors at once (x0 with valid0, x1 with valid1), each lane computed by
  ;; the same operations; the two chains interleaved so the processor overlaps their latencies
  ;; (one weight vector is a chain of about 30 dependent operations).
  (func $attn_weight4x2 (param $x0 v128) (param $x1 v128) (param $valid0 i32) (param $valid1 i32) (result v128 v128)
    (local $t0 v128) (local $th0 v128) (local $y0 v128) (local $n0 v128) (local $r0 v128) (local $p0 v128) (local $m0 v128)
    (local $t1 v128) (local $th1 v128) (local $y1 v128) (local $n1 v128) (local $r1 v128) (local $p1 v128) (local $m1 v128)
    (local.set $x0 (f32x4.max (f32x4.splat (f32.const -20)) (f32x4.min (f32x4.splat (f32.const 20)) (local.get $x0))))
    (local.set $x1 (f32x4.max (f32x4.splat (f32.const -20)) (f32x4.min (f32x4.splat (f32.const 20)) (local.get $x1))))
    (local.set $y0 (f32x4.mul (f32x4.abs (local.get $x0)) (f32x4.splat (f32.const -2))))
    (local.set $y1 (f32x4.mul (f32x4.abs (local.get $x1)) (f32x4.splat (f32.const -2))))
    (local.set $m0 (f32x4.mul (local.get $y0) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m0 (f32x4.add (local.get $m0) (f32x4.splat (f32.const 12582912))))
    (local.set $n0 (f32x4.sub (local.get $m0) (f32x4.splat (f32.const 12582912))))
    (local.set $m1 (f32x4.mul (local.get $y1) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m1 (f32x4.add (local.get $m1) (f32x4.splat (f32.const 12582912))))
    (local.set $n1 (f32x4.sub (local.get $m1) (f32x4.splat (f32.const 12582912))))
    (local.set $r0 (f32x4.sub (f32x4.sub (local.get $y0) (f32x4.mul (local.get $n0) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n0) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $r1 (f32x4.sub (f32x4.sub (local.get $y1) (f32x4.mul (local.get $n1) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n1) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p0 (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p1 (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 0.5))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 0.5))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 1))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 1))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 1))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 1))))
    (local.set $t0 (f32x4.mul (local.get $p0)
      (i32x4.shl (i32x4.sub (local.get $m0) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (local.set $t1 (f32x4.mul (local.get $p1)
      (i32x4.shl (i32x4.sub (local.get $m1) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (local.set $th0 (f32x4.div (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $t0)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $t0))))
    (local.set $th1 (f32x4.div (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $t1)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $t1))))
    (local.set $y0 (v128.or (local.get $th0) (v128.and (local.get $x0) (i32x4.splat (i32.const 0x80000000)))))
    (local.set $y1 (v128.or (local.get $th1) (v128.and (local.get $x1) (i32x4.splat (i32.const 0x80000000)))))
    (local.set $m0 (f32x4.mul (local.get $y0) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m0 (f32x4.add (local.get $m0) (f32x4.splat (f32.const 12582912))))
    (local.set $n0 (f32x4.sub (local.get $m0) (f32x4.splat (f32.const 12582912))))
    (local.set $m1 (f32x4.mul (local.get $y1) (f32x4.splat (f32.const 1.44269504))))
    (local.set $m1 (f32x4.add (local.get $m1) (f32x4.splat (f32.const 12582912))))
    (local.set $n1 (f32x4.sub (local.get $m1) (f32x4.splat (f32.const 12582912))))
    (local.set $r0 (f32x4.sub (f32x4.sub (local.get $y0) (f32x4.mul (local.get $n0) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n0) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $r1 (f32x4.sub (f32x4.sub (local.get $y1) (f32x4.mul (local.get $n1) (f32x4.splat (f32.const 0.693145752))))
                             (f32x4.mul (local.get $n1) (f32x4.splat (f32.const 1.42860677e-6)))))
    (local.set $p0 (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p1 (f32x4.splat (f32.const 1.38888889e-3)))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 8.33333333e-3))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 4.16666667e-2))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 0.166666667))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 0.5))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 0.5))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 1))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 1))))
    (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (f32x4.splat (f32.const 1))))
    (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (f32x4.splat (f32.const 1))))
    (local.set $t0 (f32x4.mul (local.get $p0)
      (i32x4.shl (i32x4.sub (local.get $m0) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (local.set $t1 (f32x4.mul (local.get $p1)
      (i32x4.shl (i32x4.sub (local.get $m1) (i32x4.splat (i32.const 0x4b3fff81))) (i32.const 23))))
    (v128.and (local.get $t0) (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $valid0))))
    (v128.and (local.get $t1) (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $valid1)))))


;; @parts
)
