// matmul epilogue of the qkv product (N = 3E): columns [E, 2E) are also this row's key, [2E, 3E) its
// value, stored at cache[b, h, past + i, d] (layout [batch, KV_HEADS, step.positions, D], row = b·seq + i),
// as kv_append.wgsl does.
override KV_HEADS: u32;
@group(0) @binding(6) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(7) var<storage, read_write> vCache: array<f32>;

fn kvStore(row: u32, n: u32, v: f32) {
  let E = N / 3u;
  if (n < E) {
    return;
  }
  let c = n % E;
  let D = E / KV_HEADS;
  let b = row / step.seq;
  let position = step.past + row % step.seq;
  let slot = ((b * KV_HEADS + c / D) * step.positions + position) * D + c % D;
  if (n < 2u * E) {
    kCache[slot] = v;
  } else {
    vCache[slot] = v;
  }
}
