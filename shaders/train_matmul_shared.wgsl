// trainMatmul for GPUs: a workgroup computes (4 · THREADS_Y) rows × (4 · THREADS_X) columns of C, staging
// DEPTH-deep slices of op(A) and op(B) in workgroup memory so each operand value is read from storage once per
// workgroup; each thread then computes a 4×4 tile from there. Staging reads follow the stored layout (consecutive
// threads, consecutive addresses, whichever way the operand is transposed); values past an edge stage as 0.
// Composed after train_matmul.wgsl (sizes, bindings, reads, store).
override THREADS_X: u32 = 16u;
override THREADS_Y: u32 = 16u;
override DEPTH: u32 = 16u;
override TILE_ROWS: u32 = 4u * THREADS_Y;
override TILE_COLS: u32 = 4u * THREADS_X;
var<workgroup> aTile: array<f32, DEPTH * TILE_ROWS>;   // [DEPTH, TILE_ROWS]: op(A) slice, k-major
var<workgroup> bTile: array<f32, DEPTH * TILE_COLS>;   // [DEPTH, TILE_COLS]: op(B) slice

// op(A)[row, kk], or 0 outside A.
fn stagedA(row: u32, kk: u32) -> f32 {
  return select(0.0, readA(min(row, M - 1u), min(kk, K - 1u)), row < M && kk < K);
}

// op(B)[kk, col], or 0 outside B.
fn stagedB(kk: u32, col: u32) -> f32 {
  return select(0.0, readB(min(kk, K - 1u), min(col, N - 1u)), kk < K && col < N);
}

@compute @workgroup_size(THREADS_X, THREADS_Y)
fn trainMatmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let thread = lid.y * THREADS_X + lid.x;
  let threads = THREADS_X * THREADS_Y;
  let rowBase = wid.y * TILE_ROWS;
  let colBase = wid.x * TILE_COLS;
  var t = Tile(vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
  for (var k0 = 0u; k0 < K; k0 += DEPTH) {
    for (var i = thread; i < DEPTH * TILE_ROWS; i += threads) {
      // A stored [K, M] is contiguous along rows, [M, K] along k.
      let m = select(i / DEPTH, i % TILE_ROWS, TRANS_A);
      let kk = select(i % DEPTH, i / TILE_ROWS, TRANS_A);
      aTile[kk * TILE_ROWS + m] = stagedA(rowBase + m, k0 + kk);
    }
    for (var i = thread; i < DEPTH * TILE_COLS; i += threads) {
      // B stored [K, N] is contiguous along columns, [N, K] along k.
      let n = select(i % TILE_COLS, i / DEPTH, TRANS_B);
      let kk = select(i / TILE_COLS, i % DEPTH, TRANS_B);
      bTile[kk * TILE_COLS + n] = stagedB(k0 + kk, colBase + n);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      let ai = kk * TILE_ROWS + 4u * lid.y;
      let bi = kk * TILE_COLS + 4u * lid.x;
      t = tileFma(t, vec4(aTile[ai], aTile[ai + 1u], aTile[ai + 2u], aTile[ai + 3u]), vec4(bTile[bi], bTile[bi + 1u], bTile[bi + 2u], bTile[bi + 3u]));
    }
    workgroupBarrier();
  }
  storeTile(rowBase + 4u * lid.y, colBase + 4u * lid.x, t);
}
