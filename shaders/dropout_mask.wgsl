// The dropout mask as a function of its key, prepended to dropout.wgsl and train_attention.wgsl: element `i` of
// site `site` (one per dropout place and layer) in step `stepIndex` under `seed` is kept when its hash is ≥ the
// threshold p · 2³². Counter-based, so nothing is stored: the backward recomputes the forward's mask from the same
// key. src/train/dropout-mask.ts computes the same hash on the CPU (the tests' masks).

// An integer hash with good avalanche (xor-shift-multiply rounds); the key mixes in one word at a time.
fn mix32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

fn dropoutHash(seed: u32, site: u32, stepIndex: u32, i: u32) -> u32 {
  return mix32(mix32(mix32(mix32(seed) ^ site) ^ stepIndex) ^ i);
}
