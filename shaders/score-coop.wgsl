// Cooperative variant of the fused scorer (score.wgsl) for hardware GPUs: the same math, uniforms,
// bindings, work list and results, but one workgroup of COOP_LANES invocations per work item
// (candidate slot, request, output position) instead of one invocation.
//
// Lane l owns the vec4 columns v = l, l + COOP_LANES, … of every row (at most COOP_VEC4 of them,
// since h <= 4 · MAX_ROW_VEC4): neighbouring lanes read neighbouring 16 bytes of the same row, so
// a row is one coalesced read, and L lives in COOP_VEC4 registers per lane rather than a private
// array of MAX_ROW_VEC4 vec4s per invocation (which a GPU spills to memory). Dot products are
// reduced through workgroup memory, ROW_BLOCK rows at a time (three barriers per block):
//   1. every lane writes its partial dot with q for the block's rows;
//   2. lane l sums a quarter of row l / 4's partials;
//   3. lanes 0 … ROW_BLOCK - 1 add their row's four quarters into the logits.
// Then every lane turns the logits into weights (the same values in every lane), accumulates its
// columns of L from the rows (read again; they are in cache), and the three sums (|L|², e·L, g·e)
// are reduced once at the end. The workgroup's control flow is uniform: every lane of a workgroup
// has the same work item and the same count (broadcast through workgroupUniformLoad).
//
// Memory layout: as score.wgsl (the same buffers, bound the same way).
//
// Not done yet: `subgroupAdd` in place of the workgroup reductions where the device has the
// `subgroups` feature, and sharing a row's load across the requests of a batch.

override F16_CENTROIDS: bool;
override I8_CENTROIDS: bool;

const ROW_BLOCK: u32 = COOP_LANES / 4u;
const COOP_VEC4: u32 = (MAX_ROW_VEC4 + COOP_LANES - 1u) / COOP_LANES;

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

var<workgroup> part: array<f32, ROW_BLOCK * COOP_LANES>;
var<workgroup> quarter: array<f32, COOP_LANES>;
var<workgroup> logits: array<f32, MAX_K>;
var<workgroup> wg_count: u32;

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

@compute @workgroup_size(COOP_LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let i = grid_index(wid, nwg, 1u);
  if (i >= params.work_count) {
    return;
  }
  let w = work[params.work_start + i];
  let slot = w.x;
  let rv = params.row_vec4;
  let q_base = w.y * 2u * rv;
  let e_base = q_base + rv;
  let m = item_meta[slot];
  if (lane == 0u) {
    wg_count = min(m.x, params.k);
  }
  let count = workgroupUniformLoad(&wg_count);

  var qv: array<vec4<f32>, COOP_VEC4>;
  var ev: array<vec4<f32>, COOP_VEC4>;
  var acc: array<vec4<f32>, COOP_VEC4>;
  var dg = 0.0;
  for (var c = 0u; c < COOP_VEC4; c++) {
    let v = lane + c * COOP_LANES;
    qv[c] = vec4<f32>(0.0);
    ev[c] = vec4<f32>(0.0);
    acc[c] = vec4<f32>(0.0);
    if (v < rv) {
      qv[c] = users[q_base + v];
      ev[c] = users[e_base + v];
      dg += dot(globals[slot * rv + v], ev[c]);
    }
  }

  // The logits C_j · q, ROW_BLOCK rows at a time.
  for (var j0 = 0u; j0 < count; j0 += ROW_BLOCK) {
    for (var r = 0u; r < ROW_BLOCK; r++) {
      let j = j0 + r;
      var p = 0.0;
      if (j < count) {
        let row = slot * params.k + j;
        for (var c = 0u; c < COOP_VEC4; c++) {
          let v = lane + c * COOP_LANES;
          if (v < rv) {
            p += dot(load_row(row, v), qv[c]);
          }
        }
      }
      part[r * COOP_LANES + lane] = p;
    }
    workgroupBarrier();
    let base = (lane / 4u) * COOP_LANES + (lane % 4u) * (COOP_LANES / 4u);
    var s = 0.0;
    for (var t = 0u; t < COOP_LANES / 4u; t++) {
      s += part[base + t];
    }
    quarter[lane] = s;
    workgroupBarrier();
    if (lane < ROW_BLOCK && j0 + lane < count) {
      logits[j0 + lane] = (quarter[lane * 4u] + quarter[lane * 4u + 1u]) + (quarter[lane * 4u + 2u] + quarter[lane * 4u + 3u]);
    }
    workgroupBarrier();
  }

  // L = Σ_j w_j C_j, this lane's columns.
  var sum_w = 0.0;
  for (var j = 0u; j < count; j++) {
    let wj = exp(clamped_tanh(logits[j]));
    sum_w += wj;
    let row = slot * params.k + j;
    for (var c = 0u; c < COOP_VEC4; c++) {
      let v = lane + c * COOP_LANES;
      if (v < rv) {
        acc[c] += wj * load_row(row, v);
      }
    }
  }
  var ll = 0.0;
  var el = 0.0;
  for (var c = 0u; c < COOP_VEC4; c++) {
    ll += dot(acc[c], acc[c]);
    el += dot(acc[c], ev[c]);
  }
  part[lane] = ll;
  part[COOP_LANES + lane] = el;
  part[2u * COOP_LANES + lane] = dg;
  workgroupBarrier();
  if (lane == 0u) {
    var l2 = 0.0;
    var e_dot_l = 0.0;
    var g_dot_e = 0.0;
    for (var t = 0u; t < COOP_LANES; t++) {
      l2 += part[t];
      e_dot_l += part[COOP_LANES + t];
      g_dot_e += part[2u * COOP_LANES + t];
    }
    let e_norm = user_norms[w.y];
    var cos_l = 0.0;
    if (count > 0u) {
      cos_l = safe_cos(e_dot_l / sum_w, e_norm, sqrt(l2) / sum_w, params.zero_norm);
    }
    let cos_g = safe_cos(g_dot_e, e_norm, bitcast<f32>(m.y), params.zero_norm);
    // The item's popularity prior (0 when the model has none), added after the blend is rounded.
    let blend = params.alpha * cos_g + params.beta * cos_l;
    results[w.z] = vec4<f32>(blend + bitcast<f32>(w.w), cos_g, cos_l, 0.0);
  }
}
