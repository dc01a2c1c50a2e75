// Cross-entropy and its gradient in one pass over the logits, in place: row r's logits become
// (softmax − one-hot(target)) · scale, and loss[r] = −log softmax[target] (nats, unscaled). A row whose target is
// negative (−100: ignored, or the last position, which predicts nothing) gets zeros. `scale` is 1 / the number
// of counted targets (the mean), from the host. This file is the shared part (sizes, bindings); its module is
// step.wgsl (unused), this file, then one kernel (both named crossEntropyBackward):
// - train_cross_entropy_workgroup.wgsl: a workgroup per row, reductions in workgroup memory (GPUs);
// - train_cross_entropy_thread.wgsl: a thread per row, no barriers (CPU adapters, which run barriers slowly).

struct Dims {
  rows: u32,
  vocab: u32,
  scale: f32,
  pad: u32,
}

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;   // [rows, vocab]: logits in, gradient out
@group(0) @binding(3) var<storage, read> targets: array<i32>;        // [rows]
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;     // [rows]
