// Per-row cross-entropy: out[r] = -log softmax(logits[r])[targets[r]] (nats), or 0 where targets[r] < 0
// (an ignored label). Max-subtracted log-sum-exp in f32. A target ≥ VOCAB gives NaN (the GPU cannot throw;
// the host checks labels first). Prepended: step.wgsl. One thread per row: a row is only VOCAB floats.

override VOCAB: u32;              // logits per row (vocab_size - 1)
override WG: u32 = 64u;

@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [rows, VOCAB]
@group(0) @binding(2) var<storage, read> targets: array<i32>;       // [rows]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;     // [rows]

@compute @workgroup_size(WG)
fn crossEntropy(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= step.rows) {
    return;
  }
  let label = targets[row];
  if (label < 0) {
    out[row] = 0.0;
    return;
  }
  if (u32(label) >= VOCAB) {
    // A NaN built at run time: a constant NaN is a shader-creation error.
    out[row] = bitcast<f32>(0x7fc00000u | (u32(label) & 0u));
    return;
  }
  let base = row * VOCAB;
  var peak = logits[base];
  for (var i = 1u; i < VOCAB; i++) {
    peak = max(peak, logits[base + i]);
  }
  var sum = 0.0;
  for (var i = 0u; i < VOCAB; i++) {
    sum += exp(logits[base + i] - peak);
  }
  out[row] = log(sum) + peak - logits[base + u32(label)];
}
