// Fused RALM scorer: local (target-aware) attention over each candidate's centroids, the cosine
// with the precomputed global vector, and the α/β blend.
//
// One invocation scores one work item = (candidate slot, request, output position). A dispatch
// covers the work items of one table page; several requests (each with its own user) share it.
// Workgroup: WORKGROUP_SIZE invocations in x; the grid may be 2-D when the work list is longer
// than 65,535 workgroups (grid_index in common.wgsl rebuilds the linear index).
//
// Per work item, with q = W_l e (computed once per request on the host) and rows C_j, j < count:
//   w_j   = exp(tanh(C_j · q))            tanh bounds the logit to [-1, 1]: exp cannot overflow,
//                                         so the softmax needs no running maximum
//   L     = Σ_j w_j C_j                   unnormalised local vector (Σ w_j cancels in the cosine)
//   cos_l = e·L / (|e| |L|)               e·L and |L| from the accumulated L, not per row
//   cos_g = e · g / (|e| |g|)             |g| precomputed with the item
//   score = alpha · cos_g + beta · cos_l + prior   prior = λ · ln(1 + clickers), from the work item
// A vector whose norm is below zero_norm counts as zero and its cosine is 0 (safe_cos).
// The logit is tanh'd through clamped_tanh (common.wgsl).
//
// Memory layout (all little-endian, row stride = h rounded up to a multiple of 8, zero padded):
//   centroids  page of slots × k rows; f32: row_vec4 vec4<u32> (bit-cast f32) per row;
//              f16 (F16_CENTROIDS): row_vec4 / 2 vec4<u32>, each packing 8 halves (pack2x16float);
//              int8 (I8_CENTROIDS): ceil(row_vec4 / 4) vec4<u32> of codes per row, then from vec4
//              index i8_scales one f32 scale per row (item storage `int8`, core/quantize.ts)
//   globals    page of slots × row_vec4 vec4<f32>
//   item_meta  page of slots × (valid centroid count, bitcast |g|)
//   users      per request: q then e, row_vec4 vec4<f32> each;  user_norms: |e| per request
//   work       (slot within page, request, output position, bitcast prior: the item's
//              popularity prior in float32, 0 when the model has none)
//   results    per output position: (score, cos_g, cos_l, 0)
// Bounds: count <= k; h <= 4 * MAX_ROW_VEC4 (the host checks both before dispatch). MAX_ROW_VEC4
// and the overrides are set from src/gpu/limits.ts.

override WORKGROUP_SIZE: u32;
override F16_CENTROIDS: bool;
override I8_CENTROIDS: bool;

struct Params {
  work_start: u32,
  work_count: u32,
  k: u32,
  row_vec4: u32,
  alpha: f32,
  beta: f32,
  zero_norm: f32,
  i8_scales: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> centroids: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> globals: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> item_meta: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> users: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> user_norms: array<f32>;
@group(0) @binding(6) var<storage, read> work: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read_write> results: array<vec4<f32>>;

fn load_row(row: u32, v: u32) -> vec4<f32> {
  if (I8_CENTROIDS) {
    // Codes: ceil(row_vec4 / 4) vec4<u32> per row, 16 codes each (little-endian bytes); the row's
    // scale at vec4 index i8_scales + row / 4. Value = code · scale, as the host table holds it.
    let w = centroids[row * ((params.row_vec4 + 3u) / 4u) + v / 4u][v % 4u];
    let s = bitcast<f32>(centroids[params.i8_scales + row / 4u][row % 4u]);
    let b = bitcast<i32>(w);
    return vec4<f32>(f32(extractBits(b, 0u, 8u)), f32(extractBits(b, 8u, 8u)), f32(extractBits(b, 16u, 8u)), f32(extractBits(b, 24u, 8u))) * s;
  }
  if (F16_CENTROIDS) {
    let u = centroids[row * (params.row_vec4 / 2u) + v / 2u];
    if ((v & 1u) == 0u) {
      return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
    }
    return vec4<f32>(unpack2x16float(u.z), unpack2x16float(u.w));
  }
  return bitcast<vec4<f32>>(centroids[row * params.row_vec4 + v]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (i >= params.work_count) {
    return;
  }
  let w = work[params.work_start + i];
  let slot = w.x;
  let rv = params.row_vec4;
  let q_base = w.y * 2u * rv;
  let e_base = q_base + rv;
  let e_norm = user_norms[w.y];
  let m = item_meta[slot];
  let count = min(m.x, params.k);
  let g_norm = bitcast<f32>(m.y);

  var dg = 0.0;
  for (var v = 0u; v < rv; v++) {
    dg += dot(globals[slot * rv + v], users[e_base + v]);
  }

  var acc: array<vec4<f32>, MAX_ROW_VEC4>;
  var sum_w = 0.0;
  for (var j = 0u; j < count; j++) {
    let row = slot * params.k + j;
    var dq = 0.0;
    for (var v = 0u; v < rv; v++) {
      dq += dot(load_row(row, v), users[q_base + v]);
    }
    let wj = exp(clamped_tanh(dq));
    sum_w += wj;
    for (var v = 0u; v < rv; v++) {
      acc[v] += wj * load_row(row, v);
    }
  }
  var ll = 0.0;
  var e_dot_l = 0.0;
  for (var v = 0u; v < rv; v++) {
    ll += dot(acc[v], acc[v]);
    e_dot_l += dot(acc[v], users[e_base + v]);
  }
  var cos_l = 0.0;
  if (count > 0u) {
    cos_l = safe_cos(e_dot_l / sum_w, e_norm, sqrt(ll) / sum_w, params.zero_norm);
  }
  let cos_g = safe_cos(dg, e_norm, g_norm, params.zero_norm);
  // The item's popularity prior (0 when the model has none), added after the blend is rounded.
  let blend = params.alpha * cos_g + params.beta * cos_l;
  results[w.z] = vec4<f32>(blend + bitcast<f32>(w.w), cos_g, cos_l, 0.0);
}
