// Inverted dropout from a counter-based generator, so nothing is stored between forward and backward: element i
// of site `site` (one per dropout place and layer) in step `step` is kept when hash(seed, site, step, i) ≥ p·2³²,
// and kept values are scaled by 1/(1 − p). The backward calls the same entry on the gradient with the same
// numbers, which regenerates the same mask. In place. Prepended: step.wgsl (unused).

struct Dropout {
  count: u32,
  seed: u32,
  site: u32,
  stepIndex: u32,
  threshold: u32,   // p · 2³², rounded; 0 drops nothing
  scale: f32,       // 1 / (1 − p)
  pad0: u32,
  pad1: u32,
}

const WG = 256u;

@group(0) @binding(1) var<uniform> drop: Dropout;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

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

fn dropoutHash(i: u32) -> u32 {
  return mix32(mix32(mix32(mix32(drop.seed) ^ drop.site) ^ drop.stepIndex) ^ i);
}

@compute @workgroup_size(WG)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < drop.count; i += groups.x * WG) {
    let kept = dropoutHash(i) >= drop.threshold;
    x[i] = select(0.0, x[i] * drop.scale, kept);
  }
}
