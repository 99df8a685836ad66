// What every kernel repeats. WGSL has no include: the shader loader (assembleShader in
// src/gpu/programs.ts) appends this file to each kernel's source, once.

// The linear index of an invocation (or, with workgroup_size 1 and workgroup ids, of a workgroup)
// in a 1-D problem dispatched on a 2-D grid: the host folds x into y past the per-dimension limit
// of 65,535 workgroups, so the index is rebuilt from num_workgroups.
fn grid_index(id: vec3<u32>, num_workgroups: vec3<u32>, workgroup_size: u32) -> u32 {
  return id.x + id.y * num_workgroups.x * workgroup_size;
}

// The zero-norm rule: a vector whose norm is below zero_norm counts as zero, and its cosine with
// anything is 0 (never NaN).
fn safe_cos(dot_ab: f32, na: f32, nb: f32, zero_norm: f32) -> f32 {
  if (na < zero_norm || nb < zero_norm) {
    return 0.0;
  }
  return dot_ab / (na * nb);
}

// tanh with its input clamped to [-20, 20] first: some drivers evaluate tanh through exp and
// return NaN for huge inputs, and tanh(±20) is already ±1 in f32.
fn clamped_tanh(x: f32) -> f32 {
  return tanh(clamp(x, -20.0, 20.0));
}
