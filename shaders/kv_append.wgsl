// Copies this step's keys and values into the cache: cache[b, h, past + i, :] = k/v of row b*seq+i.
// Prepended: step.wgsl. Threads: x = channel quad in [0, E/4), y = row (D is a multiple of 4).

override H: u32;                  // n_head
override D: u32;                  // head size
override D4: u32 = D / 4u;
override E4: u32 = H * D4;

@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;              // [rows, 3E / 4]: q | k | v
@group(0) @binding(2) var<storage, read_write> kCache: array<vec4<f32>>;     // [batch, H, step.positions, D / 4]
@group(0) @binding(3) var<storage, read_write> vCache: array<vec4<f32>>;     // [batch, H, step.positions, D / 4]

@compute @workgroup_size(64)
fn kvAppend(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e4 = gid.x;
  let row = gid.y;
  if (e4 >= E4 || row >= step.rows) {
    return;
  }
  let b = row / step.seq;
  let position = step.past + row % step.seq;
  let slot = ((b * H + e4 / D4) * step.positions + position) * D4 + e4 % D4;
  kCache[slot] = qkv[row * 3u * E4 + E4 + e4];
  vCache[slot] = qkv[row * 3u * E4 + 2u * E4 + e4];
}
