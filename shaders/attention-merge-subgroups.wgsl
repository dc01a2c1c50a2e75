// attentionDecode's merge with subgroup operations (its module enables `subgroups`), for a workgroup that is
// one subgroup: the common max, each thread's weight exp(its max - common max), the weighted sums of the
// channels; thread t writes channels t, t + DT, … (each thread holds every sum). No workgroup memory, no
// barrier. Returns the common sum, the same in every thread.

fn mergeLanes(t: u32, laneMax: f32, laneSum: f32, o: u32) -> f32 {
  let maxScore = subgroupMax(laneMax);
  let w = exp(laneMax - maxScore); // 0 for a thread without keys (max stays at -3.4e38)
  let total = subgroupAdd(laneSum * w);
  for (var c = 0u; c < D4; c++) {
    let sum = subgroupAdd(acc[c] * w);
    if (c % DT == t && total != 0.0) {
      out[o + c] = sum / total;
    }
  }
  return total;
}
