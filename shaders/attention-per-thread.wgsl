// The attention family's thread layout (SwiftShader): `attentionPerThread`, one thread per (head, query row), an
// online softmax over chunks of four keys (softmax4, weightedV4 of attention.wgsl) accumulating in its own row of
// `out`. Composed after attention.wgsl: see its header for the whole module.

@compute @workgroup_size(PT_THREADS)
fn attentionPerThread(@builtin(global_invocation_id) gid: vec3<u32>) {
  let head = gid.x % H;
  let row = gid.x / H;
  if (row >= step.rows) {
    return;
  }
  let b = row / step.seq;
  let keys = step.past + row % step.seq + 1u;
  let lastKey = keys - 1u;
  let cacheBase = (b * H + head) * step.positions * D4;
  let qBase = row * 3u * E4 + head * D4;
  let o = row * E4 + head * D4;
  for (var c = 0u; c < D4; c++) {
    out[o + c] = vec4<f32>(0.0);
  }
  var runningMax = -3.402823e38;
  var total = 0.0;
  for (var j0 = 0u; j0 < keys; j0 += 4u) {
    let w = softmax4(b, qBase, cacheBase, j0, keys, lastKey, runningMax);
    total = total * w.rescale + dot(w.p, vec4(1.0));
    runningMax = w.runningMax;
    for (var c = 0u; c < D4; c++) {
      out[o + c] = weightedV4(out[o + c], w, c);
    }
  }
  if (MASKED && INLINE_MASKED && total == 0.0) {
    for (var c = 0u; c < D4; c++) {
      out[o + c] = fullyMaskedMean(b, lastKey, cacheBase, c);
    }
    return;
  }
  for (var c = 0u; c < D4; c++) {
    out[o + c] = out[o + c] / total;
  }
}
