// The global gradient norm for clipping, in two passes so no float atomics are needed: every thread of a tensor's
// dispatch writes the sum of squares of its strided share of the gradient into its own slot (no barriers: a CPU
// renderer runs them slowly), then one workgroup adds all the slots into total[0] (a sum of squares: the norm is
// its square root). Prepended: step.wgsl (unused).

struct Tensor {
  count: u32,       // gradient elements
  slots: u32,       // first partial slot of this tensor (sumSquares); number of slots (sumPartials)
  decays: u32,      // read by adamw.wgsl, which shares this uniform
  pad: u32,
}

const WG = 256u;

@group(0) @binding(1) var<uniform> tensor: Tensor;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> total: array<f32>;

var<workgroup> acc: array<f32, WG>;

fn reduceWorkgroup(lid: u32, value: f32) -> f32 {
  acc[lid] = value;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      acc[lid] += acc[lid + k];
    }
    workgroupBarrier();
  }
  return acc[0];
}

// One dispatch per tensor: thread t sums the squares of elements t, t + threads, … into slot `slots + t`.
@compute @workgroup_size(64)
fn sumSquares(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var s = 0.0;
  for (var i = gid.x; i < tensor.count; i += groups.x * 64u) {
    let g = grad[i];
    s += g * g;
  }
  partials[tensor.slots + gid.x] = s;
}

// One workgroup: total[0] = Σ partials[0 .. slots).
@compute @workgroup_size(WG)
fn sumPartials(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < tensor.slots; i += WG) {
    s += partials[i];
  }
  let sum = reduceWorkgroup(lid.x, s);
  if (lid.x == 0u) {
    total[0] = sum;
  }
}
