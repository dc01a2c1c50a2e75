// A bias's gradient: out[j] = Σ_i x[i, j] over the rows of x [rows, cols]. One thread per column; consecutive
// threads read consecutive addresses. Prepended: step.wgsl (unused).

struct Dims {
  rows: u32,
  cols: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn columnSum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= dims.cols) {
    return;
  }
  var s = 0.0;
  for (var i = 0u; i < dims.rows; i++) {
    s += x[i * dims.cols + j];
  }
  out[j] = s;
}
