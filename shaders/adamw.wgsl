// One AdamW step of one tensor, as torch.optim.AdamW computes it (decoupled weight decay, bias correction),
// with the gradient first scaled by global-norm clipping (torch's clip_grad_norm_: × min(1, max / (norm + 1e-6))).
// Per-step numbers come from the host in `adam` (computed in f64 there); the norm's square from grad_norm.wgsl.
// Prepended: step.wgsl (unused).

struct Adam {
  stepSize: f32,   // lr / (1 − β1^t)
  keep: f32,       // 1 − lr · weight decay: the decay factor of a decayed tensor
  beta1: f32,
  beta2: f32,
  sqrtC2: f32,     // sqrt(1 − β2^t)
  eps: f32,
  maxNorm: f32,    // clipping threshold; 0: no clipping
  pad: f32,
}

struct Tensor {
  count: u32,
  slots: u32,      // read by grad_norm.wgsl, which shares this uniform
  decays: u32,     // 1: weight decay applies (matrices, embeddings); 0: biases
  pad: u32,
}

const WG = 256u;

@group(0) @binding(1) var<uniform> adam: Adam;
@group(0) @binding(2) var<uniform> tensor: Tensor;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;
@group(0) @binding(7) var<storage, read> normSquared: array<f32>;

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var clip = 1.0;
  if (adam.maxNorm > 0.0) {
    clip = min(adam.maxNorm / (sqrt(normSquared[0]) + 1e-6), 1.0);
  }
  let keep = select(1.0, adam.keep, tensor.decays != 0u);
  for (var i = gid.x; i < tensor.count; i += groups.x * WG) {
    let g = grad[i] * clip;
    let mi = adam.beta1 * m[i] + (1.0 - adam.beta1) * g;
    let vi = adam.beta2 * v[i] + (1.0 - adam.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * keep - adam.stepSize * mi / (sqrt(vi) / adam.sqrtC2 + adam.eps);
  }
}
