// Causal attention for training. The forward writes O = softmax(q kᵀ · scale) v per row and head (online softmax,
// one pass over the keys). The backward recomputes the probabilities instead of storing them (T² per head would
// not fit at T = 1024): memory stays O(rows · heads). Each entry point is one thread per (position, head, sequence):
// - rowStats:     L_i = logsumexp_j s_ij and D_i = dO_i · O_i (= Σ_j dp_ij p_ij), with s = q kᵀ · scale.
// - queryGrad:    dq_i = scale · Σ_{j ≤ i} p_ij (dp_ij − D_i) k_j, where p_ij = exp(s_ij − L_i), dp_ij = dO_i · v_j.
// - keyValueGrad: dv_j = Σ_{i ≥ j} p_ij dO_i and dk_j = scale · Σ_{i ≥ j} p_ij (dp_ij − D_i) q_i.
// No float atomics: every output element has one writer. Prepended: step.wgsl (unused), dropout_mask.wgsl and
// train_attention_common.wgsl (the uniform, the bindings and the layouts).
// With DROPOUT, the probabilities are dropped after the softmax, before · v (Hugging Face's attn_dropout):
// O_i = Σ_j m_ij p_ij v_j with m_ij ∈ {0, 1/(1 − p)} from the mask hash of element ((b·H + h)·T + t)·T + u (the
// [B, H, T, T] probabilities' index). The backward recomputes the same m_ij: dv_j = Σ_i m_ij p_ij dO_i, and the
// gradient reaching p_ij is m_ij dp_ij, so ds_ij = p_ij (m_ij dp_ij − D_i), where D_i = dO_i · O_i still equals
// Σ_j p_ij (m_ij dp_ij) since O already holds the mask.

fn width() -> u32 {
  return dims.heads * dims.headDim;   // E
}

// Offset of row `row`'s part (0 q, 1 k, 2 v) of head `h` in qkv / dqkv.
fn at(row: u32, part: u32, h: u32) -> u32 {
  return row * 3u * width() + part * width() + h * dims.headDim;
}

fn score(i: u32, j: u32, h: u32) -> f32 {
  var s = 0.0;
  let qi = at(i, 0u, h);
  let kj = at(j, 1u, h);
  for (var d = 0u; d < dims.headDim; d++) {
    s += qkv[qi + d] * qkv[kj + d];
  }
  return s * dims.scale;
}

// The dropout multiplier m of probability (b, h, t, u): 1 without DROPOUT.
fn keep(b: u32, h: u32, t: u32, u: u32) -> f32 {
  if (!DROPOUT) {
    return 1.0;
  }
  let element = ((b * dims.heads + h) * dims.seq + t) * dims.seq + u;
  let kept = dropoutHash(dims.dropSeed, dims.dropSite, dims.dropStep, element) >= dims.dropThreshold;
  return select(0.0, dims.dropScale, kept);
}

// dp_ij = dO_i · v_j.
fn gradDot(i: u32, j: u32, h: u32) -> f32 {
  var s = 0.0;
  let o = i * width() + h * dims.headDim;
  let vj = at(j, 2u, h);
  for (var d = 0u; d < dims.headDim; d++) {
    s += dOut[o + d] * qkv[vj + d];
  }
  return s;
}

@compute @workgroup_size(64)
fn attentionForward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= dims.seq) {
    return;
  }
  let i = b * dims.seq + t;
  var acc: array<f32, MAX_HEAD_DIM>;
  var peak = -3.4028234e38;
  var sum = 0.0;
  for (var u = 0u; u <= t; u++) {
    let j = b * dims.seq + u;
    let s = score(i, j, h);
    let newPeak = max(peak, s);
    let rescale = exp(peak - newPeak);
    let p = exp(s - newPeak);
    sum = sum * rescale + p;
    let kept = p * keep(b, h, t, u);
    let vj = at(j, 2u, h);
    for (var d = 0u; d < dims.headDim; d++) {
      acc[d] = acc[d] * rescale + kept * qkv[vj + d];
    }
    peak = newPeak;
  }
  let o = i * width() + h * dims.headDim;
  for (var d = 0u; d < dims.headDim; d++) {
    outputs[o + d] = acc[d] / sum;
  }
}

@compute @workgroup_size(64)
fn rowStats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= dims.seq) {
    return;
  }
  let i = b * dims.seq + t;
  var peak = -3.4028234e38;
  for (var u = 0u; u <= t; u++) {
    peak = max(peak, score(i, b * dims.seq + u, h));
  }
  var sum = 0.0;
  for (var u = 0u; u <= t; u++) {
    sum += exp(score(i, b * dims.seq + u, h) - peak);
  }
  var dot = 0.0;
  let o = i * width() + h * dims.headDim;
  for (var d = 0u; d < dims.headDim; d++) {
    dot += dOut[o + d] * outputs[o + d];
  }
  stats[(i * dims.heads + h) * 2u] = peak + log(sum);
  stats[(i * dims.heads + h) * 2u + 1u] = dot;
}

@compute @workgroup_size(64)
fn queryGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t >= dims.seq) {
    return;
  }
  let i = b * dims.seq + t;
  let logSum = stats[(i * dims.heads + h) * 2u];
  let rowDot = stats[(i * dims.heads + h) * 2u + 1u];
  var acc: array<f32, MAX_HEAD_DIM>;
  for (var u = 0u; u <= t; u++) {
    let j = b * dims.seq + u;
    let p = exp(score(i, j, h) - logSum);
    let ds = p * (keep(b, h, t, u) * gradDot(i, j, h) - rowDot);
    let kj = at(j, 1u, h);
    for (var d = 0u; d < dims.headDim; d++) {
      acc[d] += ds * qkv[kj + d];
    }
  }
  let qi = at(i, 0u, h);
  for (var d = 0u; d < dims.headDim; d++) {
    dqkv[qi + d] = acc[d] * dims.scale;
  }
}

@compute @workgroup_size(64)
fn keyValueGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let u = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (u >= dims.seq) {
    return;
  }
  let j = b * dims.seq + u;
  var accK: array<f32, MAX_HEAD_DIM>;
  var accV: array<f32, MAX_HEAD_DIM>;
  for (var t = u; t < dims.seq; t++) {
    let i = b * dims.seq + t;
    let p = exp(score(i, j, h) - stats[(i * dims.heads + h) * 2u]);
    let m = keep(b, h, t, u);
    let ds = p * (m * gradDot(i, j, h) - stats[(i * dims.heads + h) * 2u + 1u]);
    let qi = at(i, 0u, h);
    let o = i * width() + h * dims.headDim;
    for (var d = 0u; d < dims.headDim; d++) {
      accV[d] += m * p * dOut[o + d];
      accK[d] += ds * qkv[qi + d];
    }
  }
  let kj = at(j, 1u, h);
  let vj = at(j, 2u, h);
  for (var d = 0u; d < dims.headDim; d++) {
    dqkv[kj + d] = accK[d] * dims.scale;
    dqkv[vj + d] = accV[d];
  }
}
