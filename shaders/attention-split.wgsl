// The attention family's split-K decode (decodeAttention 'splitK'): attentionSplit and its combine pass.
// Composed after attention.wgsl: see its header for the whole module.

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
