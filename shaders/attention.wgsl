// Causal attention over the KV cache. Query row r = b*seq + i sees cache positions 0 … past+i of
// sequence b (kvAppend has already written this step's keys). Softmax in f32; scores never go to
// global memory. Two layouts (entry points):
// - attention: one workgroup per (head, query); the scores live in workgroup memory, threads share
//   the dot products and the weighted sum (GPUs).
// - attentionPerThread: one thread per (head, query), online softmax over chunks of four keys,
//   accumulating in its own row of `out`. No workgroup memory and no barriers: on SwiftShader each
//   workgroup's zero-initialised workgroup memory and each barrier cost more than the math.
// - attentionSplit + attentionCombine: split-K for steps of few queries over a long cache (decode):
//   a thread per (head, query, chunk of keys), then a pass that merges the chunks (see below).
// - attentionDecode (attention-decode.wgsl, which appends to this file): the fused path's split-K in one
//   dispatch, a workgroup per (head, query) whose threads split the keys.
// Prepended: step.wgsl, attention-mask.wgsl (MASKED, keyMask, keyAllowed, HF's rule for fully masked queries).
// Channels are read four at a time (vec4).
// With MASKED, a query none of whose visible keys is allowed gets HF's result (fullyMaskedMean): from
// attentionMaskedRows after these kernels, or, with INLINE_MASKED (the fused path), from the kernel itself.

override H: u32;                  // n_head
override D: u32;                  // head size, a multiple of 4 (read as vec4)
override SCORES: u32;             // attention: the workgroup's score slots, ≥ the cache's positions (a few sizes)
override GROUPS: u32;             // position groups in the V sum
override WG_POW2: u32;            // the smallest power of two ≥ WG, for the tree reductions
override D4: u32 = D / 4u;
override E4: u32 = H * D4;
override WG: u32 = GROUPS * D4;
override INLINE_MASKED: bool = false;

struct AttentionParams {
  scale: f32,                     // 1/sqrt(D), maybe also /(layer + 1)
}

@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;          // [rows, 3E / 4]: q | k | v
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;       // [batch, H, step.positions, D / 4]
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;       // [batch, H, step.positions, D / 4]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;    // [rows, E / 4]
@group(0) @binding(5) var<uniform> params: AttentionParams;

// keyAllowed of keys j0 … j0+3, clamped to lastKey like scores4 (the caller masks those past the end).
fn keysAllowed4(b: u32, j0: u32, lastKey: u32) -> vec4<bool> {
  if (!MASKED) {
    return vec4(true);
  }
  return vec4(keyAllowed(b, j0), keyAllowed(b, min(j0 + 1u, lastKey)), keyAllowed(b, min(j0 + 2u, lastKey)), keyAllowed(b, min(j0 + 3u, lastKey)));
}

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

// ---- one thread per (head, query row): x = head, y = row.
override PT_THREADS: u32 = 64u;

// The 4 scores of keys j0 … j0+3 (clamped to the last visible key; the caller masks them).
fn scores4(qBase: u32, kBase: u32, j0: u32, lastKey: u32) -> vec4<f32> {
  let k0 = kBase + j0 * D4;
  let k1 = kBase + min(j0 + 1u, lastKey) * D4;
  let k2 = kBase + min(j0 + 2u, lastKey) * D4;
  let k3 = kBase + min(j0 + 3u, lastKey) * D4;
  var s = vec4<f32>(0.0);
  for (var c = 0u; c < D4; c++) {
    let q = qkv[qBase + c];
    s += vec4(dot(q, kCache[k0 + c]), dot(q, kCache[k1 + c]), dot(q, kCache[k2 + c]), dot(q, kCache[k3 + c]));
  }
  return s * params.scale;
}

// One step of the online softmax over keys j0 … j0+3 (those ≥ end masked out): their weights
// exp(score - new max), the factor that rescales what was summed before, and their V rows.
struct Keys4 {
  p: vec4<f32>,
  rescale: f32,
  runningMax: f32,
  vRows: vec4<u32>,
}

fn softmax4(b: u32, qBase: u32, cacheBase: u32, j0: u32, end: u32, lastKey: u32, runningMax: f32) -> Keys4 {
  let visible = (vec4<u32>(j0, j0 + 1u, j0 + 2u, j0 + 3u) < vec4<u32>(end)) & keysAllowed4(b, j0, lastKey);
  let s = select(vec4(-3.402823e38), scores4(qBase, cacheBase, j0, lastKey), visible);
  let newMax = max(runningMax, max(max(s.x, s.y), max(s.z, s.w)));
  let rows = cacheBase + vec4<u32>(j0, min(j0 + 1u, lastKey), min(j0 + 2u, lastKey), min(j0 + 3u, lastKey)) * D4;
  return Keys4(select(vec4(0.0), exp(s - newMax), visible), exp(runningMax - newMax), newMax, rows);
}

// acc · rescale + the four keys' weighted V, channels 4c … 4c+3.
fn weightedV4(acc: vec4<f32>, w: Keys4, c: u32) -> vec4<f32> {
  var a = acc * w.rescale;
  a = fma(vec4(w.p.x), vCache[w.vRows.x + c], a);
  a = fma(vec4(w.p.y), vCache[w.vRows.y + c], a);
  a = fma(vec4(w.p.z), vCache[w.vRows.z + c], a);
  a = fma(vec4(w.p.w), vCache[w.vRows.w + c], a);
  return a;
}

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

// ---- split over keys (decode: few queries, long cache). Each (query row, head) is cut into
// `splits` chunks of keys; attentionSplit handles one chunk per thread (x = row * H + head,
// y = split) and leaves a partial: the weighted V sum (not yet divided), the chunk's max score and
// its sum of exp(score - max). attentionCombine (a thread per row, head and channel quad) rescales the
// partials to the common max and divides. splits is a function of past + seq alone (splitCount), so
// the host's dispatch and both kernels agree without another uniform.
override SPLIT_KEYS: u32 = 64u;   // about this many keys per chunk
override MAX_SPLITS: u32 = 16u;
const MAX_SPLIT_D4: u32 = 32u;    // the private accumulator's size: head size ≤ 128

@group(0) @binding(6) var<storage, read_write> partials: array<vec4<f32>>;  // [splits, rows * H, D4 + 1]: acc | (max, sum, 0, 0)

fn splitCount() -> u32 {
  return clamp((step.past + step.seq + SPLIT_KEYS - 1u) / SPLIT_KEYS, 1u, MAX_SPLITS);
}

// Keys per chunk, a multiple of 4 (the loop's stride).
fn splitChunk(splits: u32) -> u32 {
  return ((step.past + step.seq + splits - 1u) / splits + 3u) & ~3u;
}

@compute @workgroup_size(PT_THREADS)
fn attentionSplit(@builtin(global_invocation_id) gid: vec3<u32>) {
  let units = step.rows * H;
  let unit = gid.x;
  if (unit >= units) {
    return;
  }
  let head = unit % H;
  let row = unit / H;
  let split = gid.y;
  let b = row / step.seq;
  let keys = step.past + row % step.seq + 1u;
  let lastKey = keys - 1u;
  let chunk = splitChunk(splitCount());
  let first = split * chunk;
  let end = min(first + chunk, keys); // first ≥ end: an empty chunk (a query early in a seq > 1 step)
  let cacheBase = (b * H + head) * step.positions * D4;
  let qBase = row * 3u * E4 + head * D4;
  var acc: array<vec4<f32>, MAX_SPLIT_D4>;
  var runningMax = -3.402823e38;
  var total = 0.0;
  for (var j0 = first; j0 < end; j0 += 4u) {
    let w = softmax4(b, qBase, cacheBase, j0, end, lastKey, runningMax);
    total = total * w.rescale + dot(w.p, vec4(1.0));
    runningMax = w.runningMax;
    for (var c = 0u; c < D4; c++) {
      acc[c] = weightedV4(acc[c], w, c);
    }
  }
  let o = (split * units + unit) * (D4 + 1u);
  for (var c = 0u; c < D4; c++) {
    partials[o + c] = acc[c];
  }
  partials[o + D4] = vec4(runningMax, total, 0.0, 0.0);
}

@compute @workgroup_size(PT_THREADS)
fn attentionCombine(@builtin(global_invocation_id) gid: vec3<u32>) {
  let units = step.rows * H;
  let unit = gid.x / D4;
  let c = gid.x % D4;
  if (unit >= units) {
    return;
  }
  let splits = splitCount();
  var maxScore = -3.402823e38;
  for (var s = 0u; s < splits; s++) {
    maxScore = max(maxScore, partials[(s * units + unit) * (D4 + 1u) + D4].x);
  }
  var total = 0.0;
  var sum = vec4<f32>(0.0);
  for (var s = 0u; s < splits; s++) {
    let p = (s * units + unit) * (D4 + 1u);
    let stats = partials[p + D4];
    let w = exp(stats.x - maxScore); // 0 for an empty chunk (max stays at -3.4e38)
    total += w * stats.y;
    sum = fma(vec4(w), partials[p + c], sum);
  }
  let row = unit / H;
  let head = unit % H;
  out[row * E4 + head * D4 + c] = sum / total;
}

// ---- HF's result for a query whose visible keys are all masked (MASKED only; after the kernels above, a
// thread per row, head and channel quad): uniform weights over inFullyMaskedRow's keys (attention-mask.wgsl),
// the mean of their V rows.
fn fullyMaskedMean(b: u32, query: u32, cacheBase: u32, c: u32) -> vec4<f32> {
  var sum = vec4<f32>(0.0);
  var count = 0.0;
  for (var j = 0u; j < step.past + step.seq; j++) {
    if (inFullyMaskedRow(b, query, j)) {
      sum += vCache[cacheBase + j * D4 + c];
      count += 1.0;
    }
  }
  return sum / count;
}

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
