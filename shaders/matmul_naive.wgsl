// The matmul family's baseline for the benchmark: one thread per output element, no tiling, no reuse. Composed
// after matmul.wgsl (constants, bindings, storeOut, inverseRms): see its header for the whole module.

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
