// The matmul family's prefill kernels: 4 rows × 4 columns per thread, from registers (matmulRegisters) or from
// workgroup-memory tiles (matmulShared). Composed after matmul.wgsl (constants, bindings, storeQuad, inverseRms):
// see its header for the whole module.

// Four rows × four columns of accumulators. A struct of named vectors, not an array: SwiftShader
// keeps it in registers, while a loop-indexed array went through memory (2-3x slower there).
struct Tile {
  r0: vec4<f32>,
  r1: vec4<f32>,
  r2: vec4<f32>,
  r3: vec4<f32>,
}

// t += column a (one x value per row) times row b (four adjacent weights).
fn tileFma(t: Tile, a: vec4<f32>, b: vec4<f32>) -> Tile {
  return Tile(fma(vec4(a.x), b, t.r0), fma(vec4(a.y), b, t.r1), fma(vec4(a.z), b, t.r2), fma(vec4(a.w), b, t.r3));
}

// Each row of t times its inverseRms (sumSquares: one row's Σx² per component).
fn scaleTile(t: Tile, sumSquares: vec4<f32>) -> Tile {
  if (!HAS_NORM) {
    return t;
  }
  return Tile(t.r0 * inverseRms(sumSquares.x), t.r1 * inverseRms(sumSquares.y), t.r2 * inverseRms(sumSquares.z), t.r3 * inverseRms(sumSquares.w));
}

// Weights (k, 2·pair0 … 2·pair0+3) times the norm's gain of k; pair1 is pair0 + 1 clamped to the last pair.
fn loadW4(k: u32, pair0: u32, pair1: u32) -> vec4<f32> {
  return vec4<f32>(unpackPair(w[k * PAIRS + pair0]), unpackPair(w[k * PAIRS + pair1])) * normGain(k);
}

fn storeTile(row0: u32, pair0: u32, t: Tile) {
  storeQuad(row0, pair0, t.r0);
  storeQuad(row0 + 1u, pair0, t.r1);
  storeQuad(row0 + 2u, pair0, t.r2);
  storeQuad(row0 + 3u, pair0, t.r3);
}

// ---- prefill, register-blocked: a thread computes 4 rows × 4 columns straight from storage
// (no workgroup memory, no barriers), K unrolled by four.
override TILE_X: u32 = 8u;
override TILE_Y: u32 = 8u;

// x[row, k … k+3]
fn loadX4(i: u32) -> vec4<f32> {
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

@compute @workgroup_size(TILE_X, TILE_Y)
fn matmulRegisters(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair0 = 2u * gid.x;
  let row0 = 4u * gid.y;
  if (pair0 >= PAIRS || row0 >= step.rows) {
    return;
  }
  let pair1 = min(pair0 + 1u, PAIRS - 1u);
  // Rows past the last one recompute it; storeTile drops them.
  let last = step.rows - 1u;
  let x0 = row0 * K;
  let x1 = min(row0 + 1u, last) * K;
  let x2 = min(row0 + 2u, last) * K;
  let x3 = min(row0 + 3u, last) * K;
  var t = Tile(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
  // With the norm: per row, Σx² over k ≡ 0, 1, 2, 3 (mod 4), one FMA per x (added up once, at the end).
  var squares = Tile(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    let a0 = loadX4(x0 + k);
    let a1 = loadX4(x1 + k);
    let a2 = loadX4(x2 + k);
    let a3 = loadX4(x3 + k);
    if (HAS_NORM) {
      squares = Tile(fma(a0, a0, squares.r0), fma(a1, a1, squares.r1), fma(a2, a2, squares.r2), fma(a3, a3, squares.r3));
    }
    t = tileFma(t, vec4(a0.x, a1.x, a2.x, a3.x), loadW4(k, pair0, pair1));
    t = tileFma(t, vec4(a0.y, a1.y, a2.y, a3.y), loadW4(k + 1u, pair0, pair1));
    t = tileFma(t, vec4(a0.z, a1.z, a2.z, a3.z), loadW4(k + 2u, pair0, pair1));
    t = tileFma(t, vec4(a0.w, a1.w, a2.w, a3.w), loadW4(k + 3u, pair0, pair1));
  }
  let ones = vec4<f32>(1.0);
  var sumSquares = vec4(dot(squares.r0, ones), dot(squares.r1, ones), dot(squares.r2, ones), dot(squares.r3, ones));
  for (; k < K; k++) {
    let a = vec4(x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k]);
    if (HAS_NORM) {
      sumSquares = fma(a, a, sumSquares);
    }
    t = tileFma(t, a, loadW4(k, pair0, pair1));
  }
  storeTile(row0, pair0, scaleTile(t, sumSquares));
}

// ---- prefill, workgroup-memory tiles: a workgroup computes (4·SH_Y) rows × (4·SH_X) columns,
// staging SH_K-deep slices of x and W (times the norm's gain) in workgroup memory.
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
  var t = Tile(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
  var sumSquares = vec4<f32>(0.0);   // this thread's 4 rows (with the norm): x is staged as it is
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
      let gk = min(k0 + kk, K - 1u);
      let gp = min(pairBase + i % SH_PAIRS, PAIRS - 1u);
      wTile[i] = select(vec2<f32>(0.0), unpackPair(w[gk * PAIRS + gp]) * normGain(gk), k0 + kk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SH_K; kk++) {
      let b = vec4<f32>(wTile[kk * SH_PAIRS + 2u * lid.x], wTile[kk * SH_PAIRS + 2u * lid.x + 1u]);
      let m = kk * SH_ROWS + 4u * lid.y;
      let a = vec4(xTile[m], xTile[m + 1u], xTile[m + 2u], xTile[m + 3u]);
      if (HAS_NORM) {
        sumSquares = fma(a, a, sumSquares);
      }
      t = tileFma(t, a, b);
    }
    workgroupBarrier();
  }
  let pair0 = pairBase + 2u * lid.x;
  if (pair0 < PAIRS) {
    storeTile(rowBase + 4u * lid.y, pair0, scaleTile(t, sumSquares));
  }
}
