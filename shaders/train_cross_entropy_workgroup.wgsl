// crossEntropyBackward for GPUs: one workgroup per row, the max and the sum reduced in workgroup memory.
// Composed after train_cross_entropy.wgsl (sizes, bindings).

const WG = 64u;

var<workgroup> part: array<f32, WG>;

fn reduceMax(lid: u32, v: f32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      part[lid] = max(part[lid], part[lid + k]);
    }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

fn reduceSum(lid: u32, v: f32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      part[lid] += part[lid + k];
    }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn crossEntropyBackward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  let base = row * dims.vocab;
  // No early return for an ignored row: the reductions' barriers must be reached by the whole workgroup.
  let label = targets[row];
  let counted = label >= 0;
  let hit = u32(max(label, 0));
  var peak = -3.4028234e38;   // the lowest f32
  for (var i = lid.x; i < dims.vocab; i += WG) {
    peak = max(peak, logits[base + i]);
  }
  peak = reduceMax(lid.x, peak);
  var sum = 0.0;
  for (var i = lid.x; i < dims.vocab; i += WG) {
    sum += exp(logits[base + i] - peak);
  }
  sum = reduceSum(lid.x, sum);
  if (lid.x == 0u) {
    loss[row] = select(0.0, log(sum) + peak - logits[base + hit], counted);
  }
  workgroupBarrier();   // the loss reads the target's logit before it is overwritten
  let scale = select(0.0, dims.scale, counted);
  for (var i = lid.x; i < dims.vocab; i += WG) {
    let p = exp(logits[base + i] - peak) / sum;
    logits[base + i] = (p - select(0.0, 1.0, i == hit)) * scale;
  }
}
