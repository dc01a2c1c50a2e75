// attentionDecode's merge through workgroup memory (appended after attention-decode.wgsl): each thread leaves
// its partial sums, max and sum; after one barrier thread t adds channels t, t + DT, … of every thread, each
// weighted by exp(its max - the common max), divides by the common sum and writes them (not where it is 0).
// Returns the common sum, the same in every thread.

override SLOT: u32 = D4 + 1u;     // a thread's entries: acc[0 … D4) | (max, sum, 0, 0)
override DT_SLOTS: u32 = DT * SLOT;

var<workgroup> lanes: array<vec4<f32>, DT_SLOTS>;

fn mergeLanes(t: u32, laneMax: f32, laneSum: f32, o: u32) -> f32 {
  for (var c = 0u; c < D4; c++) {
    lanes[t * SLOT + c] = acc[c];
  }
  lanes[t * SLOT + D4] = vec4(laneMax, laneSum, 0.0, 0.0);
  workgroupBarrier();
  var maxScore = -3.402823e38;
  for (var i = 0u; i < DT; i++) {
    maxScore = max(maxScore, lanes[i * SLOT + D4].x);
  }
  var total = 0.0;
  for (var i = 0u; i < DT; i++) {
    let stats = lanes[i * SLOT + D4];
    total += exp(stats.x - maxScore) * stats.y; // 0 for a thread without keys (max stays at -3.4e38)
  }
  for (var c = t; c < D4; c += DT) {
    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < DT; i++) {
      sum = fma(vec4(exp(lanes[i * SLOT + D4].x - maxScore)), lanes[i * SLOT + c], sum);
    }
    if (total != 0.0) {
      out[o + c] = sum / total;
    }
  }
  if (MASKED) {
    workgroupBarrier(); // all have read `lanes` before the second merge writes it
  }
  return total;
}
