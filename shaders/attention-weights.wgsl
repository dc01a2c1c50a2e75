// The attention weights themselves (HF output_attentions), only when asked: for each of this step's
// query rows r = b*seq + i and head h, softmax(q · kᵀ · scale) over cache positions 0 … past+i (kvAppend
// has already written this step's keys), written to out[r, h, 0 … step.positions - 1] with zeros past the
// last visible key (the causal mask). Recomputed from qkv and the K cache, apart from attention.wgsl so the
// forward's own kernels stay as they are. One thread per (row, head): scores go to `out` first, then
// are exponentiated and normalised in place. The scale and the max-subtracted f32 softmax match attention.wgsl.
// With MASKED (HF attention_mask), key j of sequence b takes part only where keyMask[b, j] ≠ 0, and a query
// none of whose visible keys is allowed gets HF's uniform weights (the rule in attention-mask.wgsl).
// Prepended: step.wgsl, attention-mask.wgsl (MASKED, keyMask and its rules).

override H: u32;                  // n_head
override D: u32;                  // head size, a multiple of 4 (read as vec4)
override THREADS: u32 = 64u;
override D4: u32 = D / 4u;
override E4: u32 = H * D4;

struct AttentionParams {
  scale: f32,                     // 1/sqrt(D), maybe also /(layer + 1): the forward's own
}

@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;          // [rows, 3E / 4]: q | k | v
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;       // [batch, H, step.positions, D / 4]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;          // [rows, H, step.positions]: a row per cache position
@group(0) @binding(5) var<uniform> params: AttentionParams;               // binding 7: keyMask (attention-mask.wgsl)

@compute @workgroup_size(THREADS)
fn attentionWeights(@builtin(global_invocation_id) gid: vec3<u32>) {
  let head = gid.x % H;
  let row = gid.x / H;
  if (row >= step.rows) {
    return;
  }
  let b = row / step.seq;
  let keys = step.past + row % step.seq + 1u;
  let cacheBase = (b * H + head) * step.positions * D4;
  let qBase = row * 3u * E4 + head * D4;
  let o = (row * H + head) * step.positions;
  if (MASKED && !anyKeyAllowed(b, keys - 1u)) {
    // Uniform over inFullyMaskedRow's keys (HF's finfo.min arithmetic).
    let query = keys - 1u;
    var count = 0.0;
    for (var j = 0u; j < step.past + step.seq; j++) {
      count += select(0.0, 1.0, inFullyMaskedRow(b, query, j));
    }
    for (var j = 0u; j < step.positions; j++) {
      out[o + j] = select(0.0, 1.0 / count, inFullyMaskedRow(b, query, j));
    }
    return;
  }
  var maxScore = -3.402823e38;
  for (var j = 0u; j < keys; j++) {
    var s = 0.0;
    for (var c = 0u; c < D4; c++) {
      s += dot(qkv[qBase + c], kCache[cacheBase + j * D4 + c]);
    }
    s *= params.scale;
    if (!keyAllowed(b, j)) {
      s = -3.402823e38; // its weight comes out exactly 0
    }
    out[o + j] = s;
    maxScore = max(maxScore, s);
  }
  var total = 0.0;
  for (var j = 0u; j < keys; j++) {
    let p = exp(out[o + j] - maxScore);
    out[o + j] = p;
    total += p;
  }
  for (var j = 0u; j < keys; j++) {
    out[o + j] = out[o + j] / total;
  }
  for (var j = keys; j < step.positions; j++) {
    out[o + j] = 0.0;
  }
}
