// rmsNorm with subgroup sums (appended to rms_norm.wgsl, sharing its threadSumSquares and threadStoreScaled; the
// module starts with `enable subgroups;`): one workgroup per row as rmsNorm, but the sum of squares takes one
// barrier instead of a log2(WG)-step tree. Nothing assumes how invocations map to subgroups: each subgroup's
// total is kept once (by its elected lane), and every subgroup then adds up all WG slots, lane i taking slots i,
// i + subgroup size, …

@compute @workgroup_size(WG)
fn rmsNormSubgroups(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) lanes: u32,
) {
  let row = wid.x;
  if (row >= step.rows) {
    return;
  }
  let base = row * DIM;
  let subgroupTotal = subgroupAdd(threadSumSquares(base, lid.x));
  partial[lid.x] = select(0.0, subgroupTotal, subgroupElect());
  workgroupBarrier();
  var slots = 0.0;
  for (var i = lane; i < WG; i += lanes) {
    slots += partial[i];
  }
  threadStoreScaled(base, lid.x, inverseRms(subgroupAdd(slots)));
}
