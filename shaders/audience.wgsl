// Audience expansion: one page of the user table scored against one or several seed sets in one
// dispatch (see src/core/seed-set.ts for the algebra). Per seed set s with c centroids the
// host has folded the model into D_s = [A; C; ĝ] (A_j = W_lᵀ C_j, ĝ = g / |g| or 0) and the Gram
// matrix G_s (G_ij = C_i · C_j), so for user row e with norm |e|:
//   w_j   = exp(tanh(A_j · e))                 (tanh bounds the logit: no overflow, no running max;
//                                               clamped_tanh in common.wgsl)
//   e·L   = Σ_j w_j (C_j · e)                   L = Σ_j w_j C_j, never formed
//   |L|²  = wᵀ G w
//   cos_l = e·L / (|e| |L|)   (0 when |L|/Σw or |e| is below zero_norm: the zero rule applies to the
//                              normalised L, so this is not common.wgsl's safe_cos of the scaled one)
//   cos_g = ĝ · e / |e|
//   score = alpha · cos_g + beta · cos_l
//
// One invocation = (seed set, position). Dense mode: positions pos_base + i are the page's rows
// row_base + i, and a row whose bit is set in the set's skip mask (dead or excluded; indexed by
// global row) gets the sentinel score SKIPPED (set by the host, which drops such rows). Pool
// mode: list[list_base + i] = (page-local row, position). Results: results[set · positions +
// position] = (score, cos_g, cos_l, 0), the layout the top-K passes (top-k.wgsl) read.
//
// Memory layout: rows: page rows × row_vec4 vec4<f32> (zero padded); norms: |e| per page row;
// sets: two vec4<u32> per set: (c, first D row, first G element, kPad), (first skip word, 0, 0, 0);
// dmat (rows of row_vec4 vec4s), gram: every set's D and G back to back; skip: 1 bit per row.
// Workgroup: WORKGROUP_SIZE in x; 2-D grid past 65,535 workgroups.
// Bounds: c <= MAX_K, h <= 4 * MAX_ROW_VEC4 (checked by the host). MAX_K and the overrides are set
// from src/gpu/limits.ts and src/gpu/programs.ts.

override WORKGROUP_SIZE: u32;
override SKIPPED: f32;

struct Params {
  count: u32,
  set_count: u32,
  row_vec4: u32,
  pool_mode: u32,
  row_base: u32,
  pos_base: u32,
  list_base: u32,
  positions: u32,
  page_first_row: u32,
  alpha: f32,
  beta: f32,
  zero_norm: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read> list: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> sets: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> dmat: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> gram: array<f32>;
@group(0) @binding(7) var<storage, read> skip: array<u32>;
@group(0) @binding(8) var<storage, read_write> results: array<vec4<f32>>;

fn row_dot(user: u32, d_row: u32) -> f32 {
  let rv = params.row_vec4;
  var acc = vec4<f32>(0.0);
  for (var v = 0u; v < rv; v++) {
    acc += rows[user * rv + v] * dmat[d_row * rv + v];
  }
  return acc.x + acc.y + acc.z + acc.w;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let linear = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (linear >= params.count * params.set_count) {
    return;
  }
  let s = linear / params.count;
  let i = linear - s * params.count;
  var row: u32;
  var pos: u32;
  if (params.pool_mode != 0u) {
    let e = list[params.list_base + i];
    row = e.x;
    pos = e.y;
  } else {
    row = params.row_base + i;
    pos = params.pos_base + i;
  }
  let out = s * params.positions + pos;
  let desc = sets[2u * s];
  let c = min(desc.x, MAX_K);
  let d_base = desc.y;
  let g_base = desc.z;
  let k_pad = desc.w;
  if (params.pool_mode == 0u) {
    let global_row = params.page_first_row + row;
    let word = skip[sets[2u * s + 1u].x + (global_row >> 5u)];
    if ((word & (1u << (global_row & 31u))) != 0u) {
      results[out] = vec4<f32>(SKIPPED, 0.0, 0.0, 0.0);
      return;
    }
  }
  let e_norm = norms[row];
  if (e_norm < params.zero_norm) {
    results[out] = vec4<f32>(0.0);
    return;
  }

  var w: array<f32, MAX_K>;
  var sum_w = 0.0;
  var e_l = 0.0;
  for (var j = 0u; j < c; j++) {
    let wj = exp(clamped_tanh(row_dot(row, d_base + j)));
    w[j] = wj;
    sum_w += wj;
    e_l += wj * row_dot(row, d_base + c + j);
  }
  var ll = 0.0;
  for (var a = 0u; a < c; a++) {
    var t = 0.0;
    for (var b = 0u; b < c; b++) {
      t += gram[g_base + a * k_pad + b] * w[b];
    }
    ll += w[a] * t;
  }
  let l_norm = sqrt(max(ll, 0.0));
  var cos_l = 0.0;
  if (l_norm / sum_w >= params.zero_norm) {
    cos_l = e_l / (e_norm * l_norm);
  }
  let cos_g = row_dot(row, d_base + 2u * c) / e_norm;
  results[out] = vec4<f32>(params.alpha * cos_g + params.beta * cos_l, cos_g, cos_l, 0.0);
}
