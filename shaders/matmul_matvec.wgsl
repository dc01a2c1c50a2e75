// The matmul family's decode kernels (matrix × vector: a few rows). Composed after matmul.wgsl (constants,
// bindings, storeOut / storeQuad, inverseRms): see its header for the whole module.

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
