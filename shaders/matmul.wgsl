// out = act(x @ W + bias), or out += … (the fused residual add). Conv1D layout: W is [K, N].
// Prepended: step.wgsl, weights_{f32,f16,f16_native}.wgsl (WeightPair / WeightQuad and their unpacking), a prologue
// (matmul_norm.wgsl: the RMS norm folded in, or matmul_no_norm.wgsl) and an epilogue (matmul_kv.wgsl: the K/V
// append of the qkv product, or matmul_no_kv.wgsl).
// Entry points: matvecQuads / matvecQuadsSplitK (decode, N % 4 = 0: a thread computes four columns of one row from
// one vec4 of weights per k), matvec / matvecSplitK (decode, any even N: eight columns from four pairs), matmulRegisters
// (prefill, register-blocked, no workgroup memory: best on SwiftShader), matmulShared (prefill, workgroup-memory
// tiles: best on GPUs), matmulNaive (one thread per output: the benchmark's baseline).
//
// With the norm: every kernel sums x² over the K it reads anyway, multiplies the weights (or x) by normWeight[k], and
// scales each row's finished sums by inverseRms before bias, activation and the residual add.

override K: u32;                    // inner dimension
override N: u32;                    // output columns (even)
override PAIRS: u32 = N / 2u;       // weights are read two columns at a time
override QUADS: u32 = N / 4u;       // … or four (matvecQuads: N % 4 = 0)
override HAS_BIAS: bool = false;
override ACTIVATION: u32 = 0u;      // 0: none, 1: quick_gelu
override ACCUMULATE: bool = false;
override NORM_EPS: f32 = 0.0;       // the norm's epsilon (HAS_NORM)

@group(0) @binding(1) var<storage, read> x: array<f32>;            // [rows, K]
@group(0) @binding(2) var<storage, read> w: array<WeightPair>;     // [K, N / 2]
@group(0) @binding(2) var<storage, read> wQuads: array<WeightQuad>; // the same W as [K, N / 4] (matvecQuads only)
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // [N] (a dummy when !HAS_BIAS)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // [rows, N]

// 1 / RMS of a row whose squares add up to sumSquares, as rms_norm.wgsl computes it; 1 without the norm.
fn inverseRms(sumSquares: f32) -> f32 {
  if (!HAS_NORM) {
    return 1.0;
  }
  return inverseSqrt(sumSquares / f32(K) + NORM_EPS);
}

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
  kvStore(row, n, v);
}

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

// Stores four adjacent columns starting at the even column 2 · pair0 (the second pair may not exist).
fn storeQuad(row: u32, pair0: u32, v: vec4<f32>) {
  if (row >= step.rows) {
    return;
  }
  storeOut(row, 2u * pair0, v.x);
  storeOut(row, 2u * pair0 + 1u, v.y);
  if (pair0 + 1u < PAIRS) {
    storeOut(row, 2u * pair0 + 2u, v.z);
    storeOut(row, 2u * pair0 + 3u, v.w);
  }
}

fn storeTile(row0: u32, pair0: u32, t: Tile) {
  storeQuad(row0, pair0, t.r0);
  storeQuad(row0 + 1u, pair0, t.r1);
  storeQuad(row0 + 2u, pair0, t.r2);
  storeQuad(row0 + 3u, pair0, t.r3);
}

// ---- decode: a thread computes the columns of one row, reading W row by row (adjacent threads read adjacent
// words: coalesced). The *SplitK kernels also share K among MV_SPLIT threads, added up through workgroup memory
// (GPUs: more readers per column); matvec and matvecQuads have no workgroup memory at all (SwiftShader zero-fills
// it for every workgroup, which costs more than this kernel's math).
override MV_THREADS: u32 = 32u;
override MV_SPLIT: u32 = 1u;
var<workgroup> mvPartial: array<vec4<f32>, 2u * MV_THREADS * MV_SPLIT>;
var<workgroup> mvQuadPartial: array<vec4<f32>, MV_THREADS * MV_SPLIT>;
var<workgroup> mvSquares: array<f32, MV_SPLIT>;   // per K slice: its Σx² (the same for every column)

// Four columns 4·quad … 4·quad+3 of one row, and the row's Σx² over the k read (with the norm).
struct QuadSum {
  v: vec4<f32>,
  sumSquares: f32,
}

// The sum over k = kFirst, kFirst + kStride, … < K of x[row, k] · W[k, 4·quad … 4·quad+3]: one vec4 per k.
fn matvecQuadsPartial(row: u32, quad: u32, kFirst: u32, kStride: u32) -> QuadSum {
  let xRow = row * K;
  // Two chains of adds, so each FMA need not wait for the one before.
  var even = vec4<f32>(0.0);
  var odd = vec4<f32>(0.0);
  var sumSquares = 0.0;
  var k = kFirst;
  for (; k + kStride < K; k += 2u * kStride) {
    let k1 = k + kStride;
    let x0 = x[xRow + k];
    let x1 = x[xRow + k1];
    if (HAS_NORM) {
      sumSquares = fma(x1, x1, fma(x0, x0, sumSquares));
    }
    even = fma(vec4(x0 * normGain(k)), unpackQuad(wQuads[k * QUADS + quad]), even);
    odd = fma(vec4(x1 * normGain(k1)), unpackQuad(wQuads[k1 * QUADS + quad]), odd);
  }
  if (k < K) {
    let x0 = x[xRow + k];
    if (HAS_NORM) {
      sumSquares = fma(x0, x0, sumSquares);
    }
    even = fma(vec4(x0 * normGain(k)), unpackQuad(wQuads[k * QUADS + quad]), even);
  }
  return QuadSum(even + odd, sumSquares);
}

fn storeQuadSum(row: u32, quad: u32, s: QuadSum) {
  let v = s.v * inverseRms(s.sumSquares);
  let n = 4u * quad;
  storeOut(row, n, v.x);
  storeOut(row, n + 1u, v.y);
  storeOut(row, n + 2u, v.z);
  storeOut(row, n + 3u, v.w);
}

@compute @workgroup_size(MV_THREADS)
fn matvecQuads(@builtin(global_invocation_id) gid: vec3<u32>) {
  let quad = gid.x;
  let row = gid.y;
  if (quad < QUADS && row < step.rows) {
    storeQuadSum(row, quad, matvecQuadsPartial(row, quad, 0u, 1u));
  }
}

@compute @workgroup_size(MV_THREADS, MV_SPLIT)
fn matvecQuadsSplitK(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let quad = wid.x * MV_THREADS + lid.x;
  let row = wid.y;
  // Threads past the last quad still reach the barrier (reading a valid quad); they store nothing.
  var s = matvecQuadsPartial(row, min(quad, QUADS - 1u), lid.y, MV_SPLIT);
  mvQuadPartial[lid.y * MV_THREADS + lid.x] = s.v;
  if (HAS_NORM && lid.x == 0u) {
    mvSquares[lid.y] = s.sumSquares;
  }
  workgroupBarrier();
  if (lid.y != 0u || quad >= QUADS || row >= step.rows) {
    return;
  }
  for (var slice = 1u; slice < MV_SPLIT; slice++) {
    s.v += mvQuadPartial[slice * MV_THREADS + lid.x];
    if (HAS_NORM) {
      s.sumSquares += mvSquares[slice];
    }
  }
  storeQuadSum(row, quad, s);
}

// Columns 2·pair0 … 2·pair0+7 of one row, and the row's Σx² over the k read (with the norm).
struct Octet {
  lo: vec4<f32>,
  hi: vec4<f32>,
  sumSquares: f32,
}

// The sum over k = kFirst, kFirst + kStride, … < K of x[row, k] · W[k, columns of pair0 … pair0+3].
fn matvecPartial(row: u32, pair0: u32, kFirst: u32, kStride: u32) -> Octet {
  let last = PAIRS - 1u;
  let p0 = min(pair0, last);
  let p1 = min(pair0 + 1u, last);
  let p2 = min(pair0 + 2u, last);
  let p3 = min(pair0 + 3u, last);
  let xRow = row * K;
  var lo = vec4<f32>(0.0);
  var hi = vec4<f32>(0.0);
  var sumSquares = 0.0;
  var k = kFirst;
  for (; k + 3u * kStride < K; k += 4u * kStride) {
    for (var u = 0u; u < 4u; u++) {
      let ku = k + u * kStride;
      let xv = x[xRow + ku];
      if (HAS_NORM) {
        sumSquares = fma(xv, xv, sumSquares);
      }
      let xk = vec4(xv * normGain(ku));
      lo = fma(xk, vec4<f32>(unpackPair(w[ku * PAIRS + p0]), unpackPair(w[ku * PAIRS + p1])), lo);
      hi = fma(xk, vec4<f32>(unpackPair(w[ku * PAIRS + p2]), unpackPair(w[ku * PAIRS + p3])), hi);
    }
  }
  for (; k < K; k += kStride) {
    let xv = x[xRow + k];
    if (HAS_NORM) {
      sumSquares = fma(xv, xv, sumSquares);
    }
    let xk = vec4(xv * normGain(k));
    lo = fma(xk, vec4<f32>(unpackPair(w[k * PAIRS + p0]), unpackPair(w[k * PAIRS + p1])), lo);
    hi = fma(xk, vec4<f32>(unpackPair(w[k * PAIRS + p2]), unpackPair(w[k * PAIRS + p3])), hi);
  }
  return Octet(lo, hi, sumSquares);
}

fn storeOctet(row: u32, pair0: u32, o: Octet) {
  let s = inverseRms(o.sumSquares);
  if (pair0 < PAIRS) {
    storeQuad(row, pair0, o.lo * s);
  }
  if (pair0 + 2u < PAIRS) {
    storeQuad(row, pair0 + 2u, o.hi * s);
  }
}

@compute @workgroup_size(MV_THREADS)
fn matvec(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair0 = 4u * gid.x;
  let row = gid.y;
  if (pair0 < PAIRS && row < step.rows) {
    storeOctet(row, pair0, matvecPartial(row, pair0, 0u, 1u));
  }
}

@compute @workgroup_size(MV_THREADS, MV_SPLIT)
fn matvecSplitK(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let pair0 = 4u * (wid.x * MV_THREADS + lid.x);
  let row = wid.y;
  var o = matvecPartial(row, pair0, lid.y, MV_SPLIT);
  let slot = 2u * (lid.y * MV_THREADS + lid.x);
  mvPartial[slot] = o.lo;
  mvPartial[slot + 1u] = o.hi;
  if (HAS_NORM && lid.x == 0u) {
    mvSquares[lid.y] = o.sumSquares;
  }
  workgroupBarrier();
  if (lid.y != 0u) {
    return;
  }
  for (var s = 1u; s < MV_SPLIT; s++) {
    o.lo += mvPartial[2u * (s * MV_THREADS + lid.x)];
    o.hi += mvPartial[2u * (s * MV_THREADS + lid.x) + 1u];
    if (HAS_NORM) {
      o.sumSquares += mvSquares[s];
    }
  }
  storeOctet(row, pair0, o);
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

// ---- baseline: one thread per output element, no tiling, no reuse.
@compute @workgroup_size(64)
fn matmulNaive(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let row = gid.y;
  if (n >= N || row >= step.rows) {
    return;
  }
  var sum = 0.0;
  var sumSquares = 0.0;
  for (var k = 0u; k < K; k++) {
    let xv = x[row * K + k];
    if (HAS_NORM) {
      sumSquares = fma(xv, xv, sumSquares);
    }
    sum += xv * normGain(k) * unpackPair(w[k * PAIRS + n / 2u])[n % 2u];
  }
  storeOut(row, n, sum * inverseRms(sumSquares));
}
