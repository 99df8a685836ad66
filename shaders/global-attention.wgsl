// Global (self-) attention over an item's centroids, run when an item's centroids change,
// never per request:  g = softmax_j(w_g · tanh(W_g C_j)),  global = Σ_j g_j C_j,  and |global|.
//
// One invocation computes one item. Workgroup: WORKGROUP_SIZE invocations in x; 2-D grid for
// more than 65,535 workgroups. The logits are unbounded (|logit| <= |w_g|_1), so the softmax
// subtracts the maximum first. tanh is common.wgsl's clamped_tanh.
//
// Memory layout (f32, row-major): centroids [items, k, h] (rows past counts[item] ignored),
// counts [items], w_g_mat [s, h], w_g_vec [s], out_globals [items, h], out_norms [items].
// Bounds: 1 <= counts[item] <= k <= MAX_K (the engine checks before dispatch). MAX_K and the
// overrides are set from src/gpu/limits.ts.

override WORKGROUP_SIZE: u32;

struct Params {
  item_count: u32,
  k: u32,
  h: u32,
  s: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> centroids: array<f32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read> w_g_mat: array<f32>;
@group(0) @binding(4) var<storage, read> w_g_vec: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_globals: array<f32>;
@group(0) @binding(6) var<storage, read_write> out_norms: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let item = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (item >= params.item_count) {
    return;
  }
  let h = params.h;
  let n = min(counts[item], min(params.k, MAX_K));
  let base = item * params.k * h;
  var logits: array<f32, MAX_K>;
  var max_logit = -3.0e38;
  for (var j = 0u; j < n; j++) {
    var logit = 0.0;
    for (var a = 0u; a < params.s; a++) {
      var z = 0.0;
      for (var i = 0u; i < h; i++) {
        z += w_g_mat[a * h + i] * centroids[base + j * h + i];
      }
      logit += w_g_vec[a] * clamped_tanh(z);
    }
    logits[j] = logit;
    max_logit = max(max_logit, logit);
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    logits[j] = exp(logits[j] - max_logit);
    sum += logits[j];
  }
  var nn = 0.0;
  for (var i = 0u; i < h; i++) {
    var v = 0.0;
    for (var j = 0u; j < n; j++) {
      v += logits[j] * centroids[base + j * h + i];
    }
    v = v / sum;
    out_globals[item * h + i] = v;
    nn += v * v;
  }
  out_norms[item] = sqrt(nn);
}
