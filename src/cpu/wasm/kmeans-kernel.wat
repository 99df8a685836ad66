;; k-means steps for the CPU path. Assignment: for each point, the nearest centroid by squared
;; Euclidean distance (ties to the lower index), as shaders/kmeans.wgsl computes it: the sum of
;; squared differences accumulated in f32 lanes. Rows are padded to multiples of 8 floats
;; (32 bytes), so every row is whole vec4 pairs; the padding is zero in points and centroids.
;;
;; Memory (byte offsets from the host): points [n × rowBytes], centroids [count × rowBytes],
;; assignments [n × u32] (read and written), dist [n × f32] (written). Returns how many
;; assignments changed.
(module
  (import "env" "memory" (memory 1))
  (func (export "assign")
    (param $pts i32) (param $n i32) (param $cent i32) (param $count i32) (param $rowBytes i32)
    (param $asg i32) (param $dist i32) (result i32)
    (local $p i32) (local $c i32) (local $v i32) (local $pp i32) (local $cp i32)
    (local $best f32) (local $bi i32) (local $d f32) (local $changed i32) (local $a i32)
    (local $a0 v128) (local $a1 v128) (local $x0 v128) (local $x1 v128)
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $n)))
      (local.set $pp (i32.add (local.get $pts) (i32.mul (local.get $p) (local.get $rowBytes))))
      (local.set $best (f32.const inf))
      (local.set $bi (i32.const 0))
      (local.set $c (i32.const 0))
      (local.set $cp (local.get $cent))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $c) (local.get $count)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $v (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_u (local.get $v) (local.get $rowBytes)))
          (local.set $x0 (f32x4.sub (v128.load (i32.add (local.get $pp) (local.get $v))) (v128.load (i32.add (local.get $cp) (local.get $v)))))
          (local.set $x1 (f32x4.sub (v128.load offset=16 (i32.add (local.get $pp) (local.get $v))) (v128.load offset=16 (i32.add (local.get $cp) (local.get $v)))))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $x0) (local.get $x0))))
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $x1) (local.get $x1))))
          (local.set $v (i32.add (local.get $v) (i32.const 32)))
          (br $vl)))
        (local.set $a0 (f32x4.add (local.get $a0) (local.get $a1)))
        (local.set $d (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
          (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
        (if (f32.lt (local.get $d) (local.get $best))
          (then (local.set $best (local.get $d)) (local.set $bi (local.get $c))))
        (local.set $cp (i32.add (local.get $cp) (local.get $rowBytes)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $a (i32.add (local.get $asg) (i32.shl (local.get $p) (i32.const 2))))
      (if (i32.ne (i32.load (local.get $a)) (local.get $bi))
        (then (local.set $changed (i32.add (local.get $changed) (i32.const 1)))))
      (i32.store (local.get $a) (local.get $bi))
      (f32.store (i32.add (local.get $dist) (i32.shl (local.get $p) (i32.const 2))) (local.get $best))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl)))
    (local.get $changed))
;; Update step: centroid c ← mean of its points, summed in f32 in point order and divided
  ;; by the count (as the WGSL update does); an empty cluster keeps its centroid. `sums` is
  ;; count × rowBytes of scratch, `sizes` count × u32.
  (func (export "update")
    (param $pts i32) (param $n i32) (param $cent i32) (param $count i32) (param $rowBytes i32)
    (param $asg i32) (param $sums i32) (param $sizes i32)
    (local $p i32) (local $c i32) (local $v i32) (local $pp i32) (local $sp i32) (local $size f32) (local $cp i32)
    (memory.fill (local.get $sums) (i32.const 0) (i32.mul (local.get $count) (local.get $rowBytes)))
    (memory.fill (local.get $sizes) (i32.const 0) (i32.shl (local.get $count) (i32.const 2)))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $n)))
      (local.set $c (i32.load (i32.add (local.get $asg) (i32.shl (local.get $p) (i32.const 2)))))
      (local.set $pp (i32.add (local.get $pts) (i32.mul (local.get $p) (local.get $rowBytes))))
      (local.set $sp (i32.add (local.get $sums) (i32.mul (local.get $c) (local.get $rowBytes))))
      (local.set $v (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $v) (local.get $rowBytes)))
        (v128.store (i32.add (local.get $sp) (local.get $v))
          (f32x4.add (v128.load (i32.add (local.get $sp) (local.get $v))) (v128.load (i32.add (local.get $pp) (local.get $v)))))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (br $vl)))
      (i32.store (i32.add (local.get $sizes) (i32.shl (local.get $c) (i32.const 2)))
        (i32.add (i32.load (i32.add (local.get $sizes) (i32.shl (local.get $c) (i32.const 2)))) (i32.const 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl)))
    (local.set $c (i32.const 0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_u (local.get $c) (local.get $count)))
      (local.set $size (f32.convert_i32_u (i32.load (i32.add (local.get $sizes) (i32.shl (local.get $c) (i32.const 2))))))
      (if (f32.gt (local.get $size) (f32.const 0))
        (then
          (local.set $sp (i32.add (local.get $sums) (i32.mul (local.get $c) (local.get $rowBytes))))
          (local.set $cp (i32.add (local.get $cent) (i32.mul (local.get $c) (local.get $rowBytes))))
          (local.set $v (i32.const 0))
          (block $dd (loop $dl
            (br_if $dd (i32.ge_u (local.get $v) (local.get $rowBytes)))
            (v128.store (i32.add (local.get $cp) (local.get $v))
              (f32x4.div (v128.load (i32.add (local.get $sp) (local.get $v))) (f32x4.splat (local.get $size))))
            (local.set $v (i32.add (local.get $v) (i32.const 16)))
            (br $dl)))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))
)
