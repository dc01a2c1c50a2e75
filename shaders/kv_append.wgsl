// Copies this step's keys and values into the cache: cache[b, h, past + i, :] = k/v of row b*seq+i.
// Prepended: step.wgsl. Threads: x = channel e in [0, E), y = row.

override H: u32;                  // n_head
override D: u32;                  // head size
override MAX_POSITIONS: u32;      // the cache's capacity per sequence
override E: u32 = H * D;

@group(0) @binding(1) var<storage, read> qkv: array<f32>;              // [rows, 3E]: q | k | v
@group(0) @binding(2) var<storage, read_write> kCache: array<f32>;     // [batch, H, MAX_POSITIONS, D]
@group(0) @binding(3) var<storage, read_write> vCache: array<f32>;     // [batch, H, MAX_POSITIONS, D]

@compute @workgroup_size(64)
fn kvAppend(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let row = gid.y;
  if (e >= E || row >= step.rows) {
    return;
  }
  let b = row / step.seq;
  let position = step.past + row % step.seq;
  let head = e / D;
  let slot = ((b * H + head) * MAX_POSITIONS + position) * D + e % D;
  kCache[slot] = qkv[row * 3u * E + E + e];
  vCache[slot] = qkv[row * 3u * E + 2u * E + e];
}
