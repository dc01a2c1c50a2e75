// The classifier head's mean pool over each sequence, and its backward (ImageGPTForImageClassification reads the
// mean over T of ln_f's output). Forward: pooled[b, e] = (Σ_t x[b·T + t, e]) / T, the sum in order over t and then
// divided by T, as torch's mean. Backward: dx[b·T + t, e] = dpooled[b, e] / T (every position gets an equal share).
// One thread per output element; x = channel, y = sequence (forward) or position (backward), z = sequence.
// Prepended: step.wgsl (unused).

struct Dims {
  batch: u32,
  seq: u32,
  dim: u32,
  pad: u32,
}

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> source: array<f32>;        // forward: x [batch · seq, dim]; backward: dpooled [batch, dim]
@group(0) @binding(3) var<storage, read_write> result: array<f32>;  // forward: pooled [batch, dim]; backward: dx [batch · seq, dim]

@compute @workgroup_size(64)
fn poolForward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let b = gid.y;
  if (e >= dims.dim || b >= dims.batch) {
    return;
  }
  var sum = 0.0;
  for (var t = 0u; t < dims.seq; t++) {
    sum += source[(b * dims.seq + t) * dims.dim + e];
  }
  result[b * dims.dim + e] = sum / f32(dims.seq);
}

@compute @workgroup_size(64)
fn poolBackward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let t = gid.y;
  let b = gid.z;
  if (e >= dims.dim || t >= dims.seq || b >= dims.batch) {
    return;
  }
  result[(b * dims.seq + t) * dims.dim + e] = source[b * dims.dim + e] / f32(dims.seq);
}
