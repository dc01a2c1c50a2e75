// crossEntropyBackward for CPU adapters: one thread per row, three passes over its logits (the max, the sum of
// exponentials, then the gradient written in place), no workgroup memory and no barriers: a CPU renderer runs a
// workgroup reduction's barriers slowly, and a step has a row per token to spread over the cores. Composed after
// train_cross_entropy.wgsl (sizes, bindings).

@compute @workgroup_size(64)
fn crossEntropyBackward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= dims.rows) {
    return;
  }
  let base = row * dims.vocab;
  let label = targets[row];
  let counted = label >= 0;
  let hit = u32(max(label, 0));
  var peak = -3.4028234e38;   // the lowest f32
  for (var i = 0u; i < dims.vocab; i++) {
    peak = max(peak, logits[base + i]);
  }
  var sum = 0.0;
  for (var i = 0u; i < dims.vocab; i++) {
    sum += exp(logits[base + i] - peak);
  }
  loss[row] = select(0.0, log(sum) + peak - logits[base + hit], counted);
  let scale = select(0.0, dims.scale, counted);
  for (var i = 0u; i < dims.vocab; i++) {
    let p = exp(logits[base + i] - peak) / sum;
    logits[base + i] = (p - select(0.0, 1.0, i == hit)) * scale;
  }
}
