// quick-GELU for training: the forward y = x · σ(1.702 x) out of place (the backward needs x), and the backward
// in place on the gradient: dy ← dy · (σ + 1.702 · x · σ · (1 − σ)) with σ = σ(1.702 x). Prepended: step.wgsl (unused).

struct Dims {
  count: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

const WG = 256u;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn quickGeluForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < dims.count; i += groups.x * WG) {
    let v = x[i];
    y[i] = v / (1.0 + exp(-1.702 * v));
  }
}

@compute @workgroup_size(WG)
fn quickGeluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < dims.count; i += groups.x * WG) {
    let v = x[i];
    let s = 1.0 / (1.0 + exp(-1.702 * v));
    grad[i] *= s + 1.702 * v * s * (1.0 - s);
  }
}
