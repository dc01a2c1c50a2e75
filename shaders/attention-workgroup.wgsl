// The attention family's workgroup layout (GPUs): `attention`, one workgroup per (head, query row) (x = head,
// y = row); the scores live in workgroup memory and the threads share the dot products and the weighted sum.
// Composed after attention.wgsl (constants, bindings, fullyMaskedMean): see its header for the whole module.

override SCORES: u32;             // attention: the workgroup's score slots, ≥ the cache's positions (a few sizes)
override GROUPS: u32;             // position groups in the V sum
override WG_POW2: u32;            // the smallest power of two ≥ WG, for the tree reductions
override WG: u32 = GROUPS * D4;

var<workgroup> query: array<vec4<f32>, D4>;
var<workgroup> weights: array<f32, SCORES>;   // scores, then exp(score - max)
var<workgroup> partial: array<f32, WG_POW2>;
var<workgroup> partialOut: array<vec4<f32>, WG>;

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
  let cacheBase = (b * H + head) * step.positions * D4;
  if (t < D4) {
    query[t] = qkv[row * 3u * E4 + head * D4 + t];
  }
  workgroupBarrier();

  var localMax = -3.402823e38;
  for (var j = t; j < keys; j += WG) {
    var score = 0.0;
    let k = cacheBase + j * D4;
    for (var c = 0u; c < D4; c++) {
      score += dot(query[c], kCache[k + c]);
    }
    score *= params.scale;
    if (!keyAllowed(b, j)) {
      score = -3.402823e38; // exp(· - max) = 0 unless every key is masked (attentionMaskedRows)
    }
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

  // Thread t sums channels 4·(t % D4) … +3 over the positions j ≡ t / D4 (mod GROUPS).
  let c = t % D4;
  var acc = vec4<f32>(0.0);
  for (var j = t / D4; j < keys; j += GROUPS) {
    acc = fma(vec4(weights[j]), vCache[cacheBase + j * D4 + c], acc);
  }
  partialOut[t] = acc;
  workgroupBarrier();
  if (t < D4) {
    if (MASKED && INLINE_MASKED && maxScore == -3.402823e38) { // every visible key masked
      out[row * E4 + head * D4 + t] = fullyMaskedMean(b, keys - 1u, cacheBase, t);
      return;
    }
    var sum = vec4<f32>(0.0);
    for (var g = 0u; g < GROUPS; g++) {
      sum += partialOut[g * D4 + t];
    }
    out[row * E4 + head * D4 + t] = sum / total;
  }
}
