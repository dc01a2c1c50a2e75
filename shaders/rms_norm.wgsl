// ImageGPT's layer norm: out = x / sqrt(mean(x²) + eps) * weight. No mean-centering, no bias.
// Prepended: step.wgsl. One workgroup per row; WG threads share the sum of squares.

override DIM: u32;
override EPS: f32;
override WG: u32 = 64u;           // a power of two

@group(0) @binding(1) var<storage, read> x: array<f32>;           // [rows, DIM]
@group(0) @binding(2) var<storage, read> weight: array<f32>;      // [DIM]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [rows, DIM]

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn rmsNorm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * DIM;
  var sum = 0.0;
  for (var i = lid.x; i < DIM; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  partial[lid.x] = sum;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid.x < stride) {
      partial[lid.x] += partial[lid.x + stride];
    }
  }
  workgroupBarrier();
  let scale = inverseSqrt(partial[0] / f32(DIM) + EPS);
  for (var i = lid.x; i < DIM; i += WG) {
    out[base + i] = x[base + i] * scale * weight[i];
  }
}
