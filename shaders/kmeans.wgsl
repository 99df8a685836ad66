// Batched k-means (Lloyd) over many items' seed sets: the re-clustering run's inner loop.
// The host computes each item's start (warm start + k-means++) and tests convergence between
// iterations from the per-item change counters; the rules are src/clustering/kmeans.ts's.
//
// `assign_points`: one invocation per point (of every item in the batch). Finds the nearest of its
// item's centroids by squared Euclidean distance, ties to the lower index; counts a change into
// its item's counter when the assignment differs from the previous one.
// `update_centroids`: one invocation per (item, centroid). Averages the item's points assigned to
// it, in point order; an empty cluster keeps its centroid.
// Workgroup: WORKGROUP_SIZE in x; 2-D grid past 65,535 workgroups.
//
// Memory layout: rows are padded to row_vec4 vec4<f32> (zero padding does not change distances).
//   points      [total points, row_vec4]        point_item[p] = its item
//   items[i]    = (centroid count, first point, point count, active); a converged item is
//                 inactive: its assignments and centroids are left alone
//   centroids   [items, k, row_vec4]             assignments[p], changed[i] (atomic)
// Bounds: row_vec4 <= MAX_ROW_VEC4. MAX_ROW_VEC4 and the overrides are set from src/gpu/limits.ts.

override WORKGROUP_SIZE: u32;

struct Params {
  total: u32,
  item_count: u32,
  k: u32,
  row_vec4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> point_item: array<u32>;
@group(0) @binding(3) var<storage, read> items: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> centroids: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> assignments: array<u32>;
@group(0) @binding(6) var<storage, read_write> changed: array<atomic<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn assign_points(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (p >= params.total) {
    return;
  }
  let rv = params.row_vec4;
  let item = point_item[p];
  if (items[item].w == 0u) {
    return;
  }
  let count = items[item].x;
  var best = 0u;
  var best_d = 3.4e38;
  for (var c = 0u; c < count; c++) {
    let cb = (item * params.k + c) * rv;
    var d = 0.0;
    for (var v = 0u; v < rv; v++) {
      let x = points[p * rv + v] - centroids[cb + v];
      d += dot(x, x);
    }
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  if (assignments[p] != best) {
    atomicAdd(&changed[item], 1u);
    assignments[p] = best;
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn update_centroids(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (idx >= params.item_count * params.k) {
    return;
  }
  let item = idx / params.k;
  let c = idx % params.k;
  let info = items[item];
  if (c >= info.x || info.w == 0u) {
    return;
  }
  let rv = params.row_vec4;
  var acc: array<vec4<f32>, MAX_ROW_VEC4>;
  var size = 0u;
  for (var p = info.y; p < info.y + info.z; p++) {
    if (assignments[p] == c) {
      size++;
      for (var v = 0u; v < rv; v++) {
        acc[v] += points[p * rv + v];
      }
    }
  }
  if (size == 0u) {
    return;
  }
  for (var v = 0u; v < rv; v++) {
    centroids[(item * params.k + c) * rv + v] = acc[v] / f32(size);
  }
}
