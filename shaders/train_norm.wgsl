// ImageGPT's norm for training, y = g ⊙ x · r with r = 1/sqrt(mean(x²) + eps), and its backward for x: with
// u = dy ⊙ g, dx = r · u − x · r³ · mean(u ⊙ x). The gain gets no gradient (Hugging Face multiplies by weight.data).
// The backward recomputes r from x (cheaper than storing it). When ACCUMULATE, dx is added to what `dx` holds
// (the residual stream's gradient). Prepended: step.wgsl (unused).

struct Dims {
  rows: u32,
  dim: u32,
  eps: f32,
  pad: u32,
}

override ACCUMULATE: bool = false;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> gain: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;   // the forward's output

// One thread per row (no workgroup reductions: a CPU renderer runs barriers slowly, and a training step has
// thousands of rows to keep a GPU busy).
fn inverseRms(base: u32) -> f32 {
  var xx = 0.0;
  for (var i = 0u; i < dims.dim; i++) {
    xx += x[base + i] * x[base + i];
  }
  return inverseSqrt(xx / f32(dims.dim) + dims.eps);
}

@compute @workgroup_size(64)
fn normForward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= dims.rows) {
    return;
  }
  let base = row * dims.dim;
  let r = inverseRms(base);
  for (var i = 0u; i < dims.dim; i++) {
    y[base + i] = gain[i] * x[base + i] * r;
  }
}

@compute @workgroup_size(64)
fn normBackward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= dims.rows) {
    return;
  }
  let base = row * dims.dim;
  let r = inverseRms(base);
  var ux = 0.0;
  for (var i = 0u; i < dims.dim; i++) {
    ux += dy[base + i] * gain[i] * x[base + i];
  }
  let meanUX = ux / f32(dims.dim);
  for (var i = 0u; i < dims.dim; i++) {
    let v = r * dy[base + i] * gain[i] - x[base + i] * r * r * r * meanUX;
    if (ACCUMULATE) {
      dx[base + i] += v;
    } else {
      dx[base + i] = v;
    }
  }
}
