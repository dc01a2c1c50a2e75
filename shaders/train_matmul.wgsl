// The training step's matrix products in f32: C = op(A) · op(B) (+ bias) (+ residual), where op transposes when
// asked. Forward: y = x W + b (+ the residual stream); backward: dX = dY · Wᵀ, dW = Xᵀ · dY. Row-major operands
// as stored; 16×16 output tiles through workgroup memory, edges of any size guarded. Prepended: step.wgsl (unused).

struct Dims {
  m: u32,   // rows of C
  n: u32,   // columns of C
  k: u32,   // the summed dimension
  pad: u32,
}

override TRANS_A: bool = false;   // A stored [k, m] (read transposed) instead of [m, k]
override TRANS_B: bool = false;   // B stored [n, k] instead of [k, n]
override HAS_BIAS: bool = false;  // + bias[column]
override HAS_RESIDUAL: bool = false;   // + residual[row, column]

const T = 16u;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> residual: array<f32>;

var<workgroup> tileA: array<array<f32, T>, T>;   // [row of C][k]
var<workgroup> tileB: array<array<f32, T>, T>;   // [k][column of C]

fn readA(row: u32, kk: u32) -> f32 {
  if (row >= dims.m || kk >= dims.k) {
    return 0.0;
  }
  if (TRANS_A) {
    return a[kk * dims.m + row];
  }
  return a[row * dims.k + kk];
}

fn readB(kk: u32, col: u32) -> f32 {
  if (kk >= dims.k || col >= dims.n) {
    return 0.0;
  }
  if (TRANS_B) {
    return b[col * dims.k + kk];
  }
  return b[kk * dims.n + col];
}

@compute @workgroup_size(T, T)
fn trainMatmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.y * T + lid.y;
  let col = wid.x * T + lid.x;
  var sum = 0.0;
  for (var k0 = 0u; k0 < dims.k; k0 += T) {
    tileA[lid.y][lid.x] = readA(row, k0 + lid.x);
    tileB[lid.y][lid.x] = readB(k0 + lid.y, col);
    workgroupBarrier();
    for (var kk = 0u; kk < T; kk++) {
      sum += tileA[lid.y][kk] * tileB[kk][lid.x];
    }
    workgroupBarrier();
  }
  if (row < dims.m && col < dims.n) {
    if (HAS_BIAS) {
      sum += bias[col];
    }
    if (HAS_RESIDUAL) {
      sum += residual[row * dims.n + col];
    }
    c[row * dims.n + col] = sum;
  }
}
