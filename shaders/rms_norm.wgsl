// ImageGPT's layer norm: out = x / sqrt(mean(x²) + eps) * weight. No mean-centering, no bias.
// Prepended: step.wgsl. Two layouts (entry points):
// - rmsNorm: one workgroup per row, WG threads share the sum of squares (GPUs).
// - rmsNormPerThread: one thread per row, no workgroup memory or barriers (SwiftShader, where
//   those cost more than the row itself).

override DIM: u32;
override EPS: f32;
override WG: u32 = 64u;           // a power of two

@group(0) @binding(1) var<storage, read> x: array<f32>;           // [rows, DIM]
@group(0) @binding(2) var<storage, read> weight: array<f32>;      // [DIM]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, DIM]

var<workgroup> partial: array<f32, WG>;

fn inverseRms(sumSquares: f32) -> f32 {
  return inverseSqrt(sumSquares / f32(DIM) + EPS);
}

// The workgroup layouts' share of a row (also rms_norm_subgroups.wgsl): thread t takes t, t + WG, t + 2·WG, …
fn threadSumSquares(base: u32, t: u32) -> f32 {
  var sum = 0.0;
  for (var i = t; i < DIM; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  return sum;
}

fn threadStoreScaled(base: u32, t: u32, scale: f32) {
  for (var i = t; i < DIM; i += WG) {
    out[base + i] = x[base + i] * scale * weight[i];
  }
}

@compute @workgroup_size(WG)
fn rmsNorm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * DIM;
  partial[lid.x] = threadSumSquares(base, lid.x);
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid.x < stride) {
      partial[lid.x] += partial[lid.x + stride];
    }
  }
  workgroupBarrier();
  threadStoreScaled(base, lid.x, inverseRms(partial[0]));
}

@compute @workgroup_size(WG)
fn rmsNormPerThread(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * DIM;
  var sum = 0.0;
  for (var i = 0u; i < DIM; i++) {
    let v = x[base + i];
    sum += v * v;
  }
  let scale = inverseRms(sum);
  for (var i = 0u; i < DIM; i++) {
    out[base + i] = x[base + i] * scale * weight[i];
  }
}
