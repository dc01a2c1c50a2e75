// One-dispatch decode attention (steps of a few new tokens over a long cache): a workgroup of DT threads per
// (head, query row) (x = head, y = row). Thread t takes the key quads t, t + DT, t + 2·DT, … of the query's
// visible keys and runs the online softmax over them in registers (split-K inside the workgroup: no scratch in
// global memory, no second pass); mergeLanes then rescales the threads' partial sums to the common max, adds
// them and writes the head's channels. Its two bodies (prepended / appended by the host):
// - attention-merge.wgsl: through workgroup memory, one barrier;
// - attention-merge-subgroups.wgsl: subgroupMax / subgroupAdd, no workgroup memory, no barrier (the host picks
//   it only where the workgroup is one subgroup).
// With MASKED, a query whose visible keys are all masked (its merged sum is 0) gets HF's result in a second
// merge: the mean of V over its visible keys and this step's unmasked later keys (inFullyMaskedRow).
// Prepended: step.wgsl, attention-mask.wgsl (keyAllowed, inFullyMaskedRow), attention.wgsl (softmax4, weightedV4
// and the bindings).

override DT: u32;                 // threads per workgroup
const MAX_DECODE_D4: u32 = 32u;   // the private accumulator's size: head size ≤ 128

// This thread's weighted V sum over its keys (not yet divided), channels 4c … 4c+3.
var<private> acc: array<vec4<f32>, MAX_DECODE_D4>;

@compute @workgroup_size(DT)
fn attentionDecode(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let head = wid.x;
  let row = wid.y;
  let b = row / step.seq;
  let query = step.past + row % step.seq;
  let keys = query + 1u;
  let cacheBase = (b * H + head) * step.positions * D4;
  let qBase = row * 3u * E4 + head * D4;
  let o = row * E4 + head * D4;
  for (var c = 0u; c < D4; c++) {
    acc[c] = vec4<f32>(0.0);
  }
  var runningMax = -3.402823e38;
  var total = 0.0;
  for (var j0 = 4u * t; j0 < keys; j0 += 4u * DT) {
    let w = softmax4(b, qBase, cacheBase, j0, keys, query, runningMax);
    total = total * w.rescale + dot(w.p, vec4(1.0));
    runningMax = w.runningMax;
    for (var c = 0u; c < D4; c++) {
      acc[c] = weightedV4(acc[c], w, c);
    }
  }
  // Writes out unless the merged sum is 0 (every visible key masked: only possible with MASKED).
  let merged = mergeLanes(t, runningMax, total, o);
  if (MASKED) {
    // A uniform second merge (barriers and subgroup operations need uniform control flow); only a fully
    // masked query has keys in it, so only such a query is written.
    for (var c = 0u; c < D4; c++) {
      acc[c] = vec4<f32>(0.0);
    }
    var count = 0.0;
    if (merged == 0.0) {
      for (var j = t; j < step.past + step.seq; j += DT) {
        if (inFullyMaskedRow(b, query, j)) {
          for (var c = 0u; c < D4; c++) {
            acc[c] += vCache[cacheBase + j * D4 + c];
          }
          count += 1.0;
        }
      }
    }
    mergeLanes(t, 0.0, count, o);
  }
}
