// Inverted dropout from a counter-based generator (dropout_mask.wgsl), so nothing is stored between forward and
// backward: element i is kept when dropoutHash(seed, site, step, i) ≥ p·2³², and kept values are scaled by
// 1/(1 − p). The backward dispatches the same entry on the gradient with the same key, which regenerates the mask.
// - dropout:     x ← mask(x) (+ residual with ADD_RESIDUAL), in place: the embeddings' output and its gradient,
//                and a block's c_proj output dropped before its residual add.
// - dropoutInto: y = mask(x), out of place: the residual stream's gradient dropped on its way back into c_proj
//                (the stream itself keeps the undropped gradient).
// Prepended: step.wgsl (unused), dropout_mask.wgsl.

override ADD_RESIDUAL: bool = false;

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
@group(0) @binding(3) var<storage, read> residual: array<f32>;   // a placeholder without ADD_RESIDUAL
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn dropped(i: u32, v: f32) -> f32 {
  let kept = dropoutHash(drop.seed, drop.site, drop.stepIndex, i) >= drop.threshold;
  return select(0.0, v * drop.scale, kept);
}

@compute @workgroup_size(WG)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < drop.count; i += groups.x * WG) {
    var v = dropped(i, x[i]);
    if (ADD_RESIDUAL) {
      v += residual[i];
    }
    x[i] = v;
  }
}

@compute @workgroup_size(WG)
fn dropoutInto(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < drop.count; i += groups.x * WG) {
    y[i] = dropped(i, x[i]);
  }
}
