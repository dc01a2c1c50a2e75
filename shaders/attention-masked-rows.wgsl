// The attention family's pass for fully masked queries (MASKED, decodeAttention 'splitK'): after the kernels, a
// thread per row, head and channel quad writes HF's result (fullyMaskedMean of attention.wgsl) where no visible key
// of the query is allowed. Composed after attention.wgsl: see its header for the whole module.

@compute @workgroup_size(PT_THREADS)
fn attentionMaskedRows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let units = step.rows * H;
  let unit = gid.x / D4;
  let c = gid.x % D4;
  if (unit >= units) {
    return;
  }
  let row = unit / H;
  let head = unit % H;
  let b = row / step.seq;
  let query = step.past + row % step.seq;
  if (anyKeyAllowed(b, query)) {
    return; // an ordinary row, already written
  }
  out[row * E4 + head * D4 + c] = fullyMaskedMean(b, query, (b * H + head) * step.positions * D4, c);
}
