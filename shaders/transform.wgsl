// The shared look-alike transform T(x) = PReLU(W_t x + b_t) for a batch of vectors: applied to
// seed users before clustering and to target users whose look-alike embedding is not stored.
//
// One invocation computes one output element (vector v, output channel o), linear index
// v * h + o. Workgroup: WORKGROUP_SIZE in x; 2-D grid past 65,535 workgroups.
//
// Memory layout (f32, row-major): x [count, m], weight [h, m], bias [h], prelu [h] (per-channel
// negative slope), out [count, h]. WORKGROUP_SIZE is set from src/gpu/limits.ts.

override WORKGROUP_SIZE: u32;

struct Params {
  count: u32,
  m: u32,
  h: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> prelu: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = grid_index(gid, nwg, WORKGROUP_SIZE);
  if (idx >= params.count * params.h) {
    return;
  }
  let v = idx / params.h;
  let o = idx % params.h;
  var z = bias[o];
  for (var i = 0u; i < params.m; i++) {
    z += weight[o * params.m + i] * x[v * params.m + i];
  }
  out[idx] = select(prelu[o] * z, z, z >= 0.0);
}
