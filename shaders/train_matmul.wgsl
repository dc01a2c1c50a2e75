// The training step's matrix products in f32: C = op(A) · op(B) (+ bias) (+ residual), where op transposes when
// asked. Forward: y = x W + b (+ the residual stream); backward: dX = dY · Wᵀ, dW = Xᵀ · dY. Row-major operands
// as stored; edges of any size guarded. Prepended: step.wgsl (unused).

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

// Each thread computes a 4×4 block of C straight from global memory (no workgroup memory, no barriers: a CPU
// renderer runs barriers slowly, and caches serve the reuse); a workgroup of 8×8 threads covers 32×32 of C.
const TILE = 4u;
const WG = 8u;

@group(0) @binding(1) var<uniform> dims: Dims;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> residual: array<f32>;

fn readA(row: u32, kk: u32) -> f32 {
  if (row >= dims.m) {
    return 0.0;
  }
  if (TRANS_A) {
    return a[kk * dims.m + row];
  }
  return a[row * dims.k + kk];
}

fn readB(kk: u32, col: u32) -> f32 {
  if (col >= dims.n) {
    return 0.0;
  }
  if (TRANS_B) {
    return b[col * dims.k + kk];
  }
  return b[kk * dims.n + col];
}

@compute @workgroup_size(WG, WG)
fn trainMatmul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TILE;
  let col0 = gid.x * TILE;
  if (row0 >= dims.m || col0 >= dims.n) {
    return;
  }
  // Four named accumulators, not an array: a dynamically indexed array may live in memory instead of registers.
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  for (var kk = 0u; kk < dims.k; kk++) {
    let bv = vec4<f32>(readB(kk, col0), readB(kk, col0 + 1u), readB(kk, col0 + 2u), readB(kk, col0 + 3u));
    acc0 += readA(row0, kk) * bv;
    acc1 += readA(row0 + 1u, kk) * bv;
    acc2 += readA(row0 + 2u, kk) * bv;
    acc3 += readA(row0 + 3u, kk) * bv;
  }
  let acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < TILE; r++) {
    let row = row0 + r;
    if (row >= dims.m) {
      break;
    }
    for (var j = 0u; j < TILE; j++) {
      let col = col0 + j;
      if (col >= dims.n) {
        break;
      }
      var v = acc[r][j];
      if (HAS_BIAS) {
        v += bias[col];
      }
      if (HAS_RESIDUAL) {
        v += residual[row * dims.n + col];
      }
      c[row * dims.n + col] = v;
    }
  }
}
