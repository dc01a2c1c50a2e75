// out = act(x @ W + bias), or out += … (the fused residual add). Conv1D layout: W is [K, N].
// Prepended: step.wgsl and weights_{f32,f16}.wgsl (WeightPair, unpackPair).
// Entry points: matvec (decode, few rows), matmulRegisters (prefill, register-blocked, no
// workgroup memory: best on SwiftShader), matmulShared (prefill, workgroup-memory tiles: best on
// GPUs), matmulNaive (one thread per output: the benchmark's baseline).

override K: u32;                    // inner dimension
override N: u32;                    // output columns (even)
override PAIRS: u32 = N / 2u;       // weights are read two columns at a time
override HAS_BIAS: bool = false;
override ACTIVATION: u32 = 0u;      // 0: none, 1: quick_gelu
override ACCUMULATE: bool = false;

@group(0) @binding(1) var<storage, read> x: array<f32>;          // [rows, K]
@group(0) @binding(2) var<storage, read> w: array<WeightPair>;   // [K, N / 2]
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // [N] (a dummy when !HAS_BIAS)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // [rows, N]

fn storeOut(row: u32, n: u32, sum: f32) {
  var v = sum;
  if (HAS_BIAS) {
    v += bias[n];
  }
  if (ACTIVATION == 1u) {
    v = v / (1.0 + exp(-1.702 * v)); // quick_gelu: v * sigmoid(1.702 v)
  }
  let i = row * N + n;
  if (ACCUMULATE) {
    v += out[i];
  }
  out[i] = v;
}

// Stores four adjacent columns starting at the even column 2 * pair0 (the last pair may not exist).
fn storeQuad(row: u32, pair0: u32, v: vec4<f32>) {
  storeOut(row, 2u * pair0, v.x);
  storeOut(row, 2u * pair0 + 1u, v.y);
  if (pair0 + 1u < PAIRS) {
    storeOut(row, 2u * pair0 + 2u, v.z);
    storeOut(row, 2u * pair0 + 3u, v.w);
  }
}

// ---- decode: one thread per column pair (coalesced reads of each W row), MV_ROWS rows per
// workgroup kept in registers so W is read once for up to MV_ROWS rows; K optionally split across
// MV_KSPLIT threads and summed in workgroup memory.
override MV_PAIRS: u32 = 64u;
override MV_KSPLIT: u32 = 1u;
const MV_ROWS: u32 = 8u;
var<workgroup> mvPartial: array<vec2<f32>, MV_PAIRS * MV_KSPLIT * MV_ROWS>;

@compute @workgroup_size(MV_PAIRS, MV_KSPLIT)
fn matvec(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let pair = wid.x * MV_PAIRS + lid.x;
  let p = min(pair, PAIRS - 1u);
  let row0 = wid.y * MV_ROWS;
  let nrows = min(MV_ROWS, step.rows - row0);
  var acc: array<vec2<f32>, MV_ROWS>;
  for (var k = lid.y; k < K; k += MV_KSPLIT) {
    let wk = unpackPair(w[k * PAIRS + p]);
    for (var r = 0u; r < MV_ROWS; r++) {
      if (r < nrows) {
        acc[r] += x[(row0 + r) * K + k] * wk;
      }
    }
  }
  if (MV_KSPLIT > 1u) {
    for (var r = 0u; r < MV_ROWS; r++) {
      mvPartial[(lid.y * MV_ROWS + r) * MV_PAIRS + lid.x] = acc[r];
    }
    workgroupBarrier();
    if (lid.y != 0u) {
      return;
    }
    for (var r = 0u; r < MV_ROWS; r++) {
      var sum = vec2<f32>(0.0);
      for (var s = 0u; s < MV_KSPLIT; s++) {
        sum += mvPartial[(s * MV_ROWS + r) * MV_PAIRS + lid.x];
      }
      acc[r] = sum;
    }
  }
  if (pair >= PAIRS) {
    return;
  }
  for (var r = 0u; r < nrows; r++) {
    storeOut(row0 + r, 2u * pair, acc[r].x);
    storeOut(row0 + r, 2u * pair + 1u, acc[r].y);
  }
}

// ---- prefill, register-blocked: each thread computes 4 rows × 4 columns, reading x and W
// straight from storage (no workgroup memory, no barriers).
override TILE_X: u32 = 8u;
override TILE_Y: u32 = 8u;

@compute @workgroup_size(TILE_X, TILE_Y)
fn matmulRegisters(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair0 = 2u * gid.x;
  let row0 = 4u * gid.y;
  if (pair0 >= PAIRS || row0 >= step.rows) {
    return;
  }
  let pair1 = min(pair0 + 1u, PAIRS - 1u);
  var xBase: array<u32, 4>;
  for (var r = 0u; r < 4u; r++) {
    xBase[r] = min(row0 + r, step.rows - 1u) * K; // past the last row: recompute it, store nothing
  }
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < K; k++) {
    let wk = vec4<f32>(unpackPair(w[k * PAIRS + pair0]), unpackPair(w[k * PAIRS + pair1]));
    for (var r = 0u; r < 4u; r++) {
      acc[r] += x[xBase[r] + k] * wk;
    }
  }
  for (var r = 0u; r < 4u; r++) {
    if (row0 + r < step.rows) {
      storeQuad(row0 + r, pair0, acc[r]);
    }
  }
}

// ---- prefill, workgroup-memory tiles: a workgroup computes (4·SH_Y) rows × (4·SH_X) columns,
// staging SH_K-deep slices of x and W in workgroup memory.
override SH_X: u32 = 16u;
override SH_Y: u32 = 16u;
override SH_K: u32 = 16u;
override SH_ROWS: u32 = 4u * SH_Y;
override SH_PAIRS: u32 = 2u * SH_X;
var<workgroup> xTile: array<f32, SH_K * SH_ROWS>;          // [SH_K, SH_ROWS]
var<workgroup> wTile: array<vec2<f32>, SH_K * SH_PAIRS>;   // [SH_K, SH_PAIRS]

@compute @workgroup_size(SH_X, SH_Y)
fn matmulShared(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let thread = lid.y * SH_X + lid.x;
  let threads = SH_X * SH_Y;
  let rowBase = wid.y * SH_ROWS;
  let pairBase = wid.x * SH_PAIRS;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < K; k0 += SH_K) {
    for (var i = thread; i < SH_K * SH_ROWS; i += threads) {
      let m = i / SH_K;
      let kk = i % SH_K; // consecutive threads read consecutive k of one x row
      let gk = k0 + kk;
      let gm = min(rowBase + m, step.rows - 1u);
      xTile[kk * SH_ROWS + m] = select(0.0, x[gm * K + min(gk, K - 1u)], gk < K);
    }
    for (var i = thread; i < SH_K * SH_PAIRS; i += threads) {
      let kk = i / SH_PAIRS;
      let gk = k0 + kk;
      let gp = min(pairBase + i % SH_PAIRS, PAIRS - 1u);
      wTile[i] = select(vec2<f32>(0.0), unpackPair(w[min(gk, K - 1u) * PAIRS + gp]), gk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SH_K; kk++) {
      let wk = vec4<f32>(wTile[kk * SH_PAIRS + 2u * lid.x], wTile[kk * SH_PAIRS + 2u * lid.x + 1u]);
      for (var r = 0u; r < 4u; r++) {
        acc[r] += xTile[kk * SH_ROWS + 4u * lid.y + r] * wk;
      }
    }
    workgroupBarrier();
  }
  let pair0 = pairBase + 2u * lid.x;
  if (pair0 >= PAIRS) {
    return;
  }
  for (var r = 0u; r < 4u; r++) {
    let row = rowBase + 4u * lid.y + r;
    if (row < step.rows) {
      storeQuad(row, pair0, acc[r]);
    }
  }
}

// ---- baseline: one thread per output element, no tiling, no reuse.
@compute @workgroup_size(64)
fn matmulNaive(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let row = gid.y;
  if (n >= N || row >= step.rows) {
    return;
  }
  var sum = 0.0;
  for (var k = 0u; k < K; k++) {
    sum += x[row * K + k] * unpackPair(w[k * PAIRS + n / 2u])[n % 2u];
  }
  storeOut(row, n, sum);
}
