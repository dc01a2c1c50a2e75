// out[b] += Σ_i x[b * seq + i]: the sum half of mean pooling over a chunk of tokens
// (the caller zeroes `out` first and divides by the token count at the end).
// Prepended: step.wgsl. Threads: x = channel, y = sequence b.

override DIM: u32;

@group(0) @binding(1) var<storage, read> x: array<f32>;           // [rows, DIM]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // [batch, DIM]

@compute @workgroup_size(64)
fn meanPoolSum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let b = gid.y;
  if (e >= DIM || b >= step.batch) {
    return;
  }
  var sum = 0.0;
  for (var i = 0u; i < step.seq; i++) {
    sum += x[(b * step.seq + i) * DIM + e];
  }
  out[b * DIM + e] += sum;
}
