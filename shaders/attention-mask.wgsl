// HF attention_mask for the attention kernels (prepended to attention.wgsl and attention-weights.wgsl, after
// step.wgsl): with the pipeline constant MASKED, key j of sequence b takes part only where keyMask[b, j] ≠ 0.
// A query none of whose visible keys is allowed gets HF's result instead: HF adds finfo(f32).min to the masked
// scores after the causal mask, so in f32 each visible key then scores exactly finfo.min, as does each unmasked
// key after the query within this step (causal finfo.min + 0), while a masked later key scores -inf
// (finfo.min + finfo.min). The softmax is uniform over the first two sets (inFullyMaskedRow).
// Without MASKED the mask is never read (the branches fold away).

override MASKED: bool = false;

@group(0) @binding(7) var<storage, read> keyMask: array<u32>;            // [batch, step.positions]: 1 attend, 0 masked

fn keyAllowed(b: u32, j: u32) -> bool {
  if (!MASKED) {
    return true;
  }
  return keyMask[b * step.positions + j] != 0u;
}

// Whether the query at cache position `query` of sequence b sees any allowed key (keys 0 … query).
fn anyKeyAllowed(b: u32, query: u32) -> bool {
  for (var j = 0u; j <= query; j++) {
    if (keyAllowed(b, j)) {
      return true;
    }
  }
  return false;
}

// Whether key j shares the uniform weights of a fully masked query at cache position `query` of sequence b.
fn inFullyMaskedRow(b: u32, query: u32, j: u32) -> bool {
  return j < step.past + step.seq && (j <= query || keyAllowed(b, j));
}
