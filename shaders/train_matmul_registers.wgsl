// trainMatmul for CPU adapters (SwiftShader, lavapipe): each thread computes a 4×4 tile of C straight from storage,
// no workgroup memory and no barriers (a CPU renderer runs barriers slowly, and its caches serve the reuse), K
// unrolled by four. Rows and columns past C's edge are clamped to the last one (read, computed, never stored), so
// the inner loop has no bounds branches. Composed after train_matmul.wgsl (sizes, bindings, reads, store).
// (Reading an operand four floats at a time through a vec4 view measured no faster on SwiftShader: it loads each
// component of a vector separately anyway.)
override THREADS_X: u32 = 8u;
override THREADS_Y: u32 = 8u;

// op(A)[rows, kk] (rows clamped) as one vector: the column of A that meets a row of B.
fn aColumn(rows: vec4<u32>, kk: u32) -> vec4<f32> {
  return vec4(readA(rows.x, kk), readA(rows.y, kk), readA(rows.z, kk), readA(rows.w, kk));
}

// op(B)[kk, cols] (columns clamped).
fn bRow(kk: u32, cols: vec4<u32>) -> vec4<f32> {
  return vec4(readB(kk, cols.x), readB(kk, cols.y), readB(kk, cols.z), readB(kk, cols.w));
}

@compute @workgroup_size(THREADS_X, THREADS_Y)
fn trainMatmul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = 4u * gid.y;
  let col0 = 4u * gid.x;
  if (row0 >= M || col0 >= N) {
    return;
  }
  let rows = min(vec4(row0) + vec4(0u, 1u, 2u, 3u), vec4(M - 1u));
  let cols = min(vec4(col0) + vec4(0u, 1u, 2u, 3u), vec4(N - 1u));
  var t = Tile(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
  var kk = 0u;
  for (; kk + 4u <= K; kk += 4u) {
    t = tileFma(t, aColumn(rows, kk), bRow(kk, cols));
    t = tileFma(t, aColumn(rows, kk + 1u), bRow(kk + 1u, cols));
    t = tileFma(t, aColumn(rows, kk + 2u), bRow(kk + 2u, cols));
    t = tileFma(t, aColumn(rows, kk + 3u), bRow(kk + 3u, cols));
  }
  for (; kk < K; kk++) {
    t = tileFma(t, aColumn(rows, kk), bRow(kk, cols));
  }
  storeTile(row0, col0, t);
}
