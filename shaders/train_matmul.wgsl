// The training step's matrix products in f32: C = op(A) · op(B) (+ bias) (+ residual), where op transposes when
// asked. Forward: y = x W + b (+ the residual stream); backward: dX = dY · Wᵀ (TRANS_B), dW = Xᵀ · dY (TRANS_A).
// Row-major operands as stored; edges of any size. This file is the shared part: sizes, bindings, the operand
// reads and the store. Its module is step.wgsl (unused), this file, then one kernel (both named trainMatmul):
// - train_matmul_registers.wgsl: 4×4 outputs per thread straight from storage, no workgroup memory (CPU adapters);
// - train_matmul_shared.wgsl: workgroup-memory tiles (GPUs).

// M, N and K are pipeline constants (a trainer's shapes are fixed): the index arithmetic and loop bounds compile to
// constants, which a CPU adapter turns into much cheaper addressing than sizes read from a uniform.
override M: u32;                       // rows of C
override N: u32;                       // columns of C
override K: u32;                       // the summed dimension
override TRANS_A: bool = false;        // A stored [K, M] (read transposed) instead of [M, K]
override TRANS_B: bool = false;        // B stored [N, K] instead of [K, N]
override HAS_BIAS: bool = false;       // + bias[column]
override HAS_RESIDUAL: bool = false;   // + residual[row, column]

@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;       // [N] (a placeholder without HAS_BIAS)
@group(0) @binding(6) var<storage, read> residual: array<f32>;   // [M, N] (a placeholder without HAS_RESIDUAL)

// Four rows × four columns of accumulators: named vectors, not an array (a loop-indexed array may live in memory).
struct Tile {
  r0: vec4<f32>,
  r1: vec4<f32>,
  r2: vec4<f32>,
  r3: vec4<f32>,
}

// t += column aCol (one A value per row) times row bRow (four adjacent columns of B).
fn tileFma(t: Tile, aCol: vec4<f32>, bRow: vec4<f32>) -> Tile {
  return Tile(fma(vec4(aCol.x), bRow, t.r0), fma(vec4(aCol.y), bRow, t.r1), fma(vec4(aCol.z), bRow, t.r2), fma(vec4(aCol.w), bRow, t.r3));
}

// op(A)[row, kk], row < M and kk < K (callers clamp: reads never leave the operand).
fn readA(row: u32, kk: u32) -> f32 {
  if (TRANS_A) {
    return a[kk * M + row];
  }
  return a[row * K + kk];
}

// op(B)[kk, col], kk < K and col < N.
fn readB(kk: u32, col: u32) -> f32 {
  if (TRANS_B) {
    return b[col * K + kk];
  }
  return b[kk * N + col];
}

// C[row, col] = v (+ bias) (+ residual), for the elements of a 4×4 tile inside C.
fn storeTile(row0: u32, col0: u32, t: Tile) {
  let rows = array<vec4<f32>, 4>(t.r0, t.r1, t.r2, t.r3);
  for (var r = 0u; r < 4u; r++) {
    let row = row0 + r;
    if (row >= M) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= N) {
        break;
      }
      var v = rows[r][j];
      if (HAS_BIAS) {
        v += bias[col];
      }
      if (HAS_RESIDUAL) {
        v += residual[row * N + col];
      }
      c[row * N + col] = v;
    }
  }
}
