// Top-K per request on the GPU, so that only K rows per request are read back.
//
// `select` (one workgroup per tile): loads up to TILE (score, position) pairs of one request,
// sorts them best-first in workgroup memory with a bitonic network, and writes the first `keep`.
// The host plans passes: the first reads scores straight from the scorer's results; each later
// pass re-tiles the survivors of the previous one, until every request fits one tile.
// Order ("best first"): higher score first; equal scores by lower candidate position first.
// Padding lanes carry position 0xffffffff and always lose.
//
// `gather` (one workgroup per request): turns the final pairs into result rows
// (position, score, cos_g, cos_l), reading the two cosines from the scorer's results.
//
// Workgroup: WORKGROUP_SIZE = TILE / 4 invocations, each owning 4 tile elements; TILE is a power
// of two. Both are set from src/gpu/limits.ts. Grid: tiles (or requests) in x, 2-D past 65,535.
// Memory layout: a pass's descriptors start at tiles[desc_offset]; for `select_tile`, tile t has two
// entries: (source start, source count, destination start, position base) and (keep, 0, 0, 0);
// for `gather`, request r has one: (final pairs start, count, results offset of the request,
// output row start).
// Pairs are vec2<u32>(bitcast score, position).

override TILE: u32;
override WORKGROUP_SIZE: u32;
const NONE: u32 = 0xffffffffu;

struct Params {
  tile_count: u32,
  desc_offset: u32,
  first_pass: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tiles: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> results: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> src: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> dst: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> rows: array<vec4<u32>>;

var<workgroup> keys: array<f32, TILE>;
var<workgroup> pos: array<u32, TILE>;

fn better(a: u32, b: u32) -> bool {
  if (pos[b] == NONE) {
    return pos[a] != NONE;
  }
  if (pos[a] == NONE) {
    return false;
  }
  return keys[a] > keys[b] || (keys[a] == keys[b] && pos[a] < pos[b]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn select_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let t = grid_index(wid, nwg, 1u);
  // Uniform control flow is required around barriers: out-of-range workgroups still run the network.
  var desc = vec4<u32>(0u, 0u, 0u, 0u);
  var keep = 0u;
  if (t < params.tile_count) {
    desc = tiles[params.desc_offset + 2u * t];
    keep = min(tiles[params.desc_offset + 2u * t + 1u].x, desc.y);
  }
  for (var e = lid; e < TILE; e += WORKGROUP_SIZE) {
    if (e < desc.y) {
      if (params.first_pass != 0u) {
        keys[e] = results[desc.x + e].x;
        pos[e] = desc.w + e;
      } else {
        let p = src[desc.x + e];
        keys[e] = bitcast<f32>(p.x);
        pos[e] = p.y;
      }
    } else {
      keys[e] = 0.0;
      pos[e] = NONE;
    }
  }
  for (var size = 2u; size <= TILE; size = size << 1u) {
    for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
      workgroupBarrier();
      for (var p = lid; p < TILE / 2u; p += WORKGROUP_SIZE) {
        let i = 2u * stride * (p / stride) + (p % stride);
        let j = i + stride;
        let up = (i & size) == 0u;
        var swap = false;
        if (up) {
          swap = better(j, i);
        } else {
          swap = better(i, j);
        }
        if (swap) {
          let tk = keys[i];
          keys[i] = keys[j];
          keys[j] = tk;
          let tp = pos[i];
          pos[i] = pos[j];
          pos[j] = tp;
        }
      }
    }
  }
  workgroupBarrier();
  if (t < params.tile_count) {
    for (var e = lid; e < keep; e += WORKGROUP_SIZE) {
      dst[desc.z + e] = vec2<u32>(bitcast<u32>(keys[e]), pos[e]);
    }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let r = grid_index(wid, nwg, 1u);
  if (r >= params.tile_count) {
    return;
  }
  let d = tiles[params.desc_offset + r];
  for (var e = lid; e < d.y; e += WORKGROUP_SIZE) {
    let p = src[d.x + e];
    let res = results[d.z + p.y];
    rows[d.w + e] = vec4<u32>(p.y, p.x, bitcast<u32>(res.y), bitcast<u32>(res.z));
  }
}
