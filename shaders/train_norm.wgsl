// ImageGPT's norm for training, y = g ⊙ x · r with r = 1/sqrt(mean(x²) + eps), and its backward for x: with
// u = dy ⊙ g, dx = r · u − x · r³ · mean(u ⊙ x). The gain gets no gradient (Hugging Face multiplies by weight.data).
// One workgroup per row; the backward recomputes r from x (cheaper than storing it). When ACCUMULATE, dx is added
// to what `dx` holds (the residual stream's gradient). Prepended: step.wgsl (unused).

struct Dims {
  rows: u32,
  dim: u32,
  eps: f32,
  pad: u32,
}

override ACCUMULATE: bool = false;
const WG = 64u;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> gain: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;   // the forward's output

var<workgroup> sumsX: array<f32, WG>;
var<workgroup> sumsUX: array<f32, WG>;

@compute @workgroup_size(WG)
fn normForward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let base = wid.x * dims.dim;
  var xx = 0.0;
  for (var i = lid.x; i < dims.dim; i += WG) {
    xx += x[base + i] * x[base + i];
  }
  sumsX[lid.x] = xx;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid.x < k) {
      sumsX[lid.x] += sumsX[lid.x + k];
    }
    workgroupBarrier();
  }
  let r = inverseSqrt(sumsX[0] / f32(dims.dim) + dims.eps);
  for (var i = lid.x; i < dims.dim; i += WG) {
    y[base + i] = gain[i] * x[base + i] * r;
  }
}

@compute @workgroup_size(WG)
fn normBackward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  if (row >= dims.rows) {
    return;   // uniform per workgroup: no barrier is skipped by part of one
  }
  let base = row * dims.dim;
  var xx = 0.0;
  var ux = 0.0;
  for (var i = lid.x; i < dims.dim; i += WG) {
    let xi = x[base + i];
    xx += xi * xi;
    ux += dy[base + i] * gain[i] * xi;
  }
  sumsX[lid.x] = xx;
  sumsUX[lid.x] = ux;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid.x < k) {
      sumsX[lid.x] += sumsX[lid.x + k];
      sumsUX[lid.x] += sumsUX[lid.x + k];
    }
    workgroupBarrier();
  }
  let n = f32(dims.dim);
  let r = inverseSqrt(sumsX[0] / n + dims.eps);
  let meanUX = sumsUX[0] / n;
  for (var i = lid.x; i < dims.dim; i += WG) {
    let v = r * dy[base + i] * gain[i] - x[base + i] * r * r * r * meanUX;
    if (ACCUMULATE) {
      dx[base + i] += v;
    } else {
      dx[base + i] = v;
    }
  }
}
