// Causal attention over the KV cache, one workgroup per (head, query row). Query row r = b*seq + i
// sees cache positions 0 … past+i of sequence b (kvAppend has already written this step's keys).
// Softmax in f32; the scores of one query live in workgroup memory, never in global memory.
// Prepended: step.wgsl. Threads: WG = GROUPS · D; the weighted sum of V gives thread t the channel
// t % D and every GROUPS-th position from t / D.

override H: u32;                  // n_head
override D: u32;                  // head size
override MAX_POSITIONS: u32;      // the cache's capacity per sequence
override GROUPS: u32;             // position groups in the V sum
override WG_POW2: u32;            // the smallest power of two ≥ WG, for the tree reductions
override E: u32 = H * D;
override WG: u32 = GROUPS * D;

struct AttentionParams {
  scale: f32,                     // 1/sqrt(D), maybe also /(layer + 1)
}

@group(0) @binding(1) var<storage, read> qkv: array<f32>;          // [rows, 3E]: q | k | v
@group(0) @binding(2) var<storage, read> kCache: array<f32>;       // [batch, H, MAX_POSITIONS, D]
@group(0) @binding(3) var<storage, read> vCache: array<f32>;       // [batch, H, MAX_POSITIONS, D]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // [rows, E]
@group(0) @binding(5) var<uniform> params: AttentionParams;

var<workgroup> query: array<f32, D>;
var<workgroup> weights: array<f32, MAX_POSITIONS>;   // scores, then exp(score - max)
var<workgroup> partial: array<f32, WG_POW2>;

// Max or sum of one value per thread, returned to every thread.
fn workgroupReduce(t: u32, value: f32, takeMax: bool) -> f32 {
  partial[t] = value;
  for (var stride = WG_POW2 / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride && t + stride < WG) {
      let a = partial[t];
      let b = partial[t + stride];
      partial[t] = select(a + b, max(a, b), takeMax);
    }
  }
  workgroupBarrier();
  let result = partial[0];
  workgroupBarrier(); // everyone has read it before `partial` is reused
  return result;
}

@compute @workgroup_size(WG)
fn attention(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let head = wid.x;
  let row = wid.y;
  let b = row / step.seq;
  let keys = step.past + row % step.seq + 1u;
  let cacheBase = (b * H + head) * MAX_POSITIONS * D;
  if (t < D) {
    query[t] = qkv[row * 3u * E + head * D + t];
  }
  workgroupBarrier();

  var localMax = -3.402823e38;
  for (var j = t; j < keys; j += WG) {
    var dot = 0.0;
    let k = cacheBase + j * D;
    for (var d = 0u; d < D; d++) {
      dot += query[d] * kCache[k + d];
    }
    let score = dot * params.scale;
    weights[j] = score;
    localMax = max(localMax, score);
  }
  let maxScore = workgroupReduce(t, localMax, true);

  var localSum = 0.0;
  for (var j = t; j < keys; j += WG) {
    let p = exp(weights[j] - maxScore);
    weights[j] = p;
    localSum += p;
  }
  let total = workgroupReduce(t, localSum, false);

  let d = t % D;
  var acc = 0.0;
  for (var j = t / D; j < keys; j += GROUPS) {
    acc += weights[j] * vCache[cacheBase + j * D + d];
  }
  partial[t] = acc;
  workgroupBarrier();
  if (t < D) {
    var sum = 0.0;
    for (var g = 0u; g < GROUPS; g++) {
      sum += partial[g * D + t];
    }
    out[row * E + head * D + t] = sum / total;
  }
}
