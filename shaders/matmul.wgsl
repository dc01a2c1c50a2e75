// The matmul family's shared part: out = act(x @ W + bias), or out += … (the fused residual add). Conv1D layout:
// W is [K, N]. Its module is, in order: step.wgsl, a weight reading (weights_{f32,f16,f16_native}.wgsl: WeightPair /
// WeightQuad and their unpacking), a prologue (matmul_norm.wgsl: the RMS norm folded in, or matmul_no_norm.wgsl), an
// epilogue (matmul_kv.wgsl: the K/V append of the qkv product, or matmul_no_kv.wgsl), this file (the constants,
// bindings and the store every kernel ends with), then the kernels by job:
// - matmul_matvec.wgsl: matvecQuads / matvecQuadsSplitK (decode, N % 4 = 0: a thread computes four columns of one
//   row from one vec4 of weights per k), matvec / matvecSplitK (decode, any even N: eight columns from four pairs);
// - matmul_tiled.wgsl: matmulRegisters (prefill, register-blocked, no workgroup memory: best on SwiftShader),
//   matmulShared (prefill, workgroup-memory tiles: best on GPUs);
// - matmul_naive.wgsl: matmulNaive (one thread per output: the benchmark's baseline).
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
