// HF head_mask: x[r, h, w] *= mask[h] for this step's rows, where x is [rows, H, W] (the attention output, W = the
// head size, or the attention weights, W = the cache length: W_POSITIONS). Scaling a head's output equals scaling its softmax
// weights before they multiply V, as HF does: sum_j (m p_j) v_j = m sum_j p_j v_j.
// `mask` is bound at this layer's row of the [n_layer, H] table. Prepended: step.wgsl. Threads: x = h * W + w, y = row.

override H: u32;
override W: u32;                       // the width, unless W_POSITIONS
override W_POSITIONS: bool = false;    // the width is the cache's length (step.positions): one pipeline for every length

@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // [rows, H, W]
@group(0) @binding(2) var<storage, read> mask: array<f32>;      // [H]: this layer's factors

@compute @workgroup_size(64)
fn headScale(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let row = gid.y;
  let width = select(W, step.positions, W_POSITIONS);
  if (i >= H * width || row >= step.rows) {
    return;
  }
  x[row * H * width + i] *= mask[i / width];
}
