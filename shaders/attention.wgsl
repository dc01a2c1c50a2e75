// The attention family's shared part. Causal attention over the KV cache: query row r = b*seq + i sees cache
// positions 0 … past+i of sequence b (kvAppend has already written this step's keys). Softmax in f32; scores never
// go to global memory. Channels are read four at a time (vec4). This file holds the constants, the bindings, the
// online-softmax steps over four keys (scores4, softmax4, weightedV4) and HF's result for fully masked queries
// (fullyMaskedMean); the kernels are in files by job, each composed after it:
// - attention-workgroup.wgsl: `attention`, one workgroup per (head, query); the scores live in workgroup memory,
//   threads share the dot products and the weighted sum (GPUs).
// - attention-per-thread.wgsl: `attentionPerThread`, one thread per (head, query), online softmax over chunks of
//   four keys, accumulating in its own row of `out`. No workgroup memory and no barriers: on SwiftShader each
//   workgroup's zero-initialised workgroup memory and each barrier cost more than the math.
// - attention-split.wgsl: `attentionSplit` + `attentionCombine`, split-K for steps of few queries over a long cache
//   (decode, decodeAttention 'splitK'): a thread per (head, query, chunk of keys), then a pass that merges the chunks.
// - attention-masked-rows.wgsl: `attentionMaskedRows`, the pass after them that writes fully masked queries.
// - attention-decode.wgsl (its own module: this file, then it): decodeAttention 'oneDispatch', split-K in one
//   dispatch, a workgroup per (head, query) whose threads split the keys.
// Prepended: step.wgsl, attention-mask.wgsl (MASKED, keyMask, keyAllowed, HF's rule for fully masked queries).
// With MASKED, a query none of whose visible keys is allowed gets HF's result (fullyMaskedMean): from
// attentionMaskedRows after the kernels, or, with INLINE_MASKED (decodeAttention 'oneDispatch'), from the kernel itself.

override H: u32;                  // n_head
override D: u32;                  // head size, a multiple of 4 (read as vec4)
override D4: u32 = D / 4u;
override E4: u32 = H * D4;
override INLINE_MASKED: bool = false;
override PT_THREADS: u32 = 64u;      // threads per workgroup of the thread-per-unit kernels

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
