// Causal attention for training on CPU adapters (SwiftShader, lavapipe): the same four entry points and results as
// train_attention.wgsl (read its header for the formulas and the dropout mask), register-blocked the way
// train_matmul_registers.wgsl is. Each thread owns 4 rows of one head (4 query rows; 4 key rows in keyValueGrad)
// and walks the other side in 4×4 tiles of scores (8 loads feed 16 multiply-adds; every head vector it loads serves
// 4 rows), two tiles a step where it accumulates. The accumulators are one vec4 per head dimension (the 4 owned
// rows' values): a CPU renderer reaches a private array at a computed index slowly (component by component), and
// the tiles make that happen once per 8 others instead of once per other (against one tile a step, on SwiftShader:
// the forward 16-25 % faster, the backward's two 15-27 % at 2 × 256 tokens and within noise at 8 × 256; lavapipe
// the same speed). Sizes are pipeline constants (HEAD_DIM, HEADS, SEQ), so addresses fold.
// Rows past the end of a sequence are clamped to its last row (read, never stored or counted), so the loops have no
// bounds branches. Prepended: dropout_mask.wgsl and train_attention_common.wgsl (the bindings, and the uniform, of
// which this kernel reads only the scale and the dropout terms). lavapipe compiles it in 2-5 s an entry point at head
// sizes 32 and 64, but 30 s at 16, where its compiler unrolls the loops over the head: the tests' small heads pay that.

override HEAD_DIM: u32 = 1u;   // D ≤ MAX_HEAD_DIM
override HEADS: u32 = 1u;
override SEQ: u32 = 1u;        // T
override WIDTH: u32 = HEADS * HEAD_DIM;   // E

const LOWEST = -3.4028234e38;   // a masked score: exp(LOWEST − anything finite) is 0
const LANES = vec4(0u, 1u, 2u, 3u);

// Positions start..start + 3 of a sequence, the ones past its end clamped to the last.
fn fourFrom(start: u32) -> vec4<u32> {
  return min(vec4(start) + LANES, vec4(SEQ - 1u));
}

// Offsets of part `part` (0 q, 1 k, 2 v) of head h in qkv / dqkv, for 4 rows.
fn parts(rows: vec4<u32>, part: u32, h: u32) -> vec4<u32> {
  return rows * 3u * WIDTH + part * WIDTH + h * HEAD_DIM;
}

// Offsets of head h in O / dO, for 4 rows.
fn merged(rows: vec4<u32>, h: u32) -> vec4<u32> {
  return rows * WIDTH + h * HEAD_DIM;
}

fn qkvAt(at: vec4<u32>, d: u32) -> vec4<f32> {
  return vec4(qkv[at.x + d], qkv[at.y + d], qkv[at.z + d], qkv[at.w + d]);
}

fn dOutAt(at: vec4<u32>, d: u32) -> vec4<f32> {
  return vec4(dOut[at.x + d], dOut[at.y + d], dOut[at.z + d], dOut[at.w + d]);
}

// Column n: the dot products of the 4 owned head vectors (in qkv at `own`) with the n-th other one (in qkv at `other`).
fn qkvDots(own: vec4<u32>, other: vec4<u32>) -> mat4x4<f32> {
  var t = mat4x4<f32>();
  for (var d = 0u; d < HEAD_DIM; d++) {
    let a = qkvAt(own, d);
    let b = qkvAt(other, d);
    t[0] += a * b.x;
    t[1] += a * b.y;
    t[2] += a * b.z;
    t[3] += a * b.w;
  }
  return t;
}

// Column n: the owned dO rows (at `own`) with the n-th v (in qkv at `other`): dp of 4 query rows and key n.
fn gradDotsByRow(own: vec4<u32>, other: vec4<u32>) -> mat4x4<f32> {
  var t = mat4x4<f32>();
  for (var d = 0u; d < HEAD_DIM; d++) {
    let a = dOutAt(own, d);
    let b = qkvAt(other, d);
    t[0] += a * b.x;
    t[1] += a * b.y;
    t[2] += a * b.z;
    t[3] += a * b.w;
  }
  return t;
}

// The dropout multipliers m of probabilities (b, h, t, u), lane by lane: 1 without DROPOUT.
fn keep(b: u32, h: u32, t: vec4<u32>, u: vec4<u32>) -> vec4<f32> {
  if (!DROPOUT) {
    return vec4(1.0);
  }
  let e = ((b * HEADS + h) * SEQ + t) * SEQ + u;
  let s = dims.dropSeed;
  let site = dims.dropSite;
  let step = dims.dropStep;
  let hashes = vec4(dropoutHash(s, site, step, e.x), dropoutHash(s, site, step, e.y), dropoutHash(s, site, step, e.z), dropoutHash(s, site, step, e.w));
  return select(vec4(0.0), vec4(dims.dropScale), hashes >= vec4(dims.dropThreshold));
}

// The scores of query rows `ts` with keys u0..u0 + 3 (column n: key u0 + n), LOWEST where the key is after the row.
fn causalScores(q: vec4<u32>, k: vec4<u32>, ts: vec4<u32>, u0: u32) -> mat4x4<f32> {
  let s = qkvDots(q, k);
  return mat4x4(
    select(vec4(LOWEST), s[0] * dims.scale, vec4(u0) <= ts),
    select(vec4(LOWEST), s[1] * dims.scale, vec4(u0 + 1u) <= ts),
    select(vec4(LOWEST), s[2] * dims.scale, vec4(u0 + 2u) <= ts),
    select(vec4(LOWEST), s[3] * dims.scale, vec4(u0 + 3u) <= ts),
  );
}

fn largest(s: mat4x4<f32>) -> vec4<f32> {
  return max(max(s[0], s[1]), max(s[2], s[3]));
}

// p (column n: key u0 + n) with each probability's dropout multiplier.
fn dropped(p: mat4x4<f32>, b: u32, h: u32, ts: vec4<u32>, u0: u32) -> mat4x4<f32> {
  if (!DROPOUT) {
    return p;
  }
  return mat4x4(p[0] * keep(b, h, ts, vec4(u0)), p[1] * keep(b, h, ts, vec4(u0 + 1u)), p[2] * keep(b, h, ts, vec4(u0 + 2u)), p[3] * keep(b, h, ts, vec4(u0 + 3u)));
}

fn expMinus(s: mat4x4<f32>, m: vec4<f32>) -> mat4x4<f32> {
  return mat4x4(exp(s[0] - m), exp(s[1] - m), exp(s[2] - m), exp(s[3] - m));
}

fn columnSum(p: mat4x4<f32>) -> vec4<f32> {
  return (p[0] + p[1]) + (p[2] + p[3]);
}

@compute @workgroup_size(64)
fn attentionForward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t0 = 4u * gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t0 >= SEQ) {
    return;
  }
  let ts = fourFrom(t0);
  let first = b * SEQ;
  let q = parts(first + ts, 0u, h);
  var acc: array<vec4<f32>, MAX_HEAD_DIM>;   // acc[d]: the 4 rows' Σ p v at dimension d
  var peak = vec4(LOWEST);
  var sum = vec4(0.0);
  // 8 keys a step, two tiles of 4: each accumulator is reached once per 8 keys.
  for (var u0 = 0u; u0 <= ts.w; u0 += 8u) {
    let us = first + min(vec4(u0) + LANES, vec4(ts.w));
    let ws = first + min(vec4(u0 + 4u) + LANES, vec4(ts.w));
    let s = causalScores(q, parts(us, 1u, h), ts, u0);
    let r = causalScores(q, parts(ws, 1u, h), ts, u0 + 4u);
    let newPeak = max(peak, max(largest(s), largest(r)));
    let rescale = exp(peak - newPeak);
    let p = expMinus(s, newPeak);
    let p2 = expMinus(r, newPeak);
    sum = sum * rescale + columnSum(p) + columnSum(p2);
    let kept = dropped(p, b, h, ts, u0);
    let kept2 = dropped(p2, b, h, ts, u0 + 4u);
    let v = parts(us, 2u, h);
    let w = parts(ws, 2u, h);
    for (var d = 0u; d < HEAD_DIM; d++) {
      acc[d] = acc[d] * rescale + kept * qkvAt(v, d) + kept2 * qkvAt(w, d);
    }
    peak = newPeak;
  }
  let o = merged(first + ts, h);
  for (var r = 0u; r < 4u && t0 + r < SEQ; r++) {
    for (var d = 0u; d < HEAD_DIM; d++) {
      outputs[o[r] + d] = acc[d][r] / sum[r];
    }
  }
}

@compute @workgroup_size(64)
fn rowStats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t0 = 4u * gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t0 >= SEQ) {
    return;
  }
  let ts = fourFrom(t0);
  let first = b * SEQ;
  let q = parts(first + ts, 0u, h);
  var peak = vec4(LOWEST);
  var sum = vec4(0.0);
  for (var u0 = 0u; u0 <= ts.w; u0 += 4u) {
    let us = first + min(vec4(u0) + LANES, vec4(ts.w));
    let s = causalScores(q, parts(us, 1u, h), ts, u0);
    let newPeak = max(peak, largest(s));
    sum = sum * exp(peak - newPeak) + columnSum(expMinus(s, newPeak));
    peak = newPeak;
  }
  let logSum = peak + log(sum);
  let o = merged(first + ts, h);
  var dot = vec4(0.0);
  for (var d = 0u; d < HEAD_DIM; d++) {
    dot += dOutAt(o, d) * vec4(outputs[o.x + d], outputs[o.y + d], outputs[o.z + d], outputs[o.w + d]);
  }
  for (var r = 0u; r < 4u && t0 + r < SEQ; r++) {
    let at = ((first + t0 + r) * HEADS + h) * 2u;
    stats[at] = logSum[r];
    stats[at + 1u] = dot[r];
  }
}

// L and D of 4 rows, as vectors.
fn rowStatsOf(rows: vec4<u32>, h: u32) -> array<vec4<f32>, 2> {
  let at = (rows * HEADS + h) * 2u;
  return array(
    vec4(stats[at.x], stats[at.y], stats[at.z], stats[at.w]),
    vec4(stats[at.x + 1u], stats[at.y + 1u], stats[at.z + 1u], stats[at.w + 1u]),
  );
}

// ds of query rows `ts` (their q at `q`, dO at `o`, L and D) with keys u0..u0 + 3 at `us` (column n: key u0 + n).
fn queryTile(b: u32, h: u32, q: vec4<u32>, o: vec4<u32>, ts: vec4<u32>, us: vec4<u32>, u0: u32, logSum: vec4<f32>, rowDot: vec4<f32>) -> mat4x4<f32> {
  let p = expMinus(causalScores(q, parts(us, 1u, h), ts, u0), logSum);
  let dp = gradDotsByRow(o, parts(us, 2u, h));
  let m = dropped(mat4x4(vec4(1.0), vec4(1.0), vec4(1.0), vec4(1.0)), b, h, ts, u0);   // the dropout multipliers
  return mat4x4(p[0] * (m[0] * dp[0] - rowDot), p[1] * (m[1] * dp[1] - rowDot), p[2] * (m[2] * dp[2] - rowDot), p[3] * (m[3] * dp[3] - rowDot));
}

@compute @workgroup_size(64)
fn queryGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t0 = 4u * gid.x;
  let h = gid.y;
  let b = gid.z;
  if (t0 >= SEQ) {
    return;
  }
  let ts = fourFrom(t0);
  let first = b * SEQ;
  let q = parts(first + ts, 0u, h);
  let o = merged(first + ts, h);
  let known = rowStatsOf(first + ts, h);
  var acc: array<vec4<f32>, MAX_HEAD_DIM>;   // acc[d]: the 4 rows' Σ ds k at dimension d
  for (var u0 = 0u; u0 <= ts.w; u0 += 8u) {
    let us = first + min(vec4(u0) + LANES, vec4(ts.w));
    let ws = first + min(vec4(u0 + 4u) + LANES, vec4(ts.w));
    let ds = queryTile(b, h, q, o, ts, us, u0, known[0], known[1]);
    let ds2 = queryTile(b, h, q, o, ts, ws, u0 + 4u, known[0], known[1]);
    let k = parts(us, 1u, h);
    let l = parts(ws, 1u, h);
    for (var d = 0u; d < HEAD_DIM; d++) {
      acc[d] += ds * qkvAt(k, d) + ds2 * qkvAt(l, d);
    }
  }
  for (var r = 0u; r < 4u && t0 + r < SEQ; r++) {
    for (var d = 0u; d < HEAD_DIM; d++) {
      dqkv[q[r] + d] = acc[d][r] * dims.scale;
    }
  }
}

// What query row t adds to the 4 owned keys: m p (toward dv) and ds = p (m dp − D) (toward dk), 0 where the row is
// before a key or a clamped copy past the sequence's end.
struct Terms {
  pm: vec4<f32>,
  ds: vec4<f32>,
}

fn keyTerms(b: u32, h: u32, keys: vec4<u32>, t: u32, s: vec4<f32>, dp: vec4<f32>, logSum: f32, rowDot: f32) -> Terms {
  let p = select(vec4(0.0), exp(s * dims.scale - logSum), (keys <= vec4(t)) & vec4(t < SEQ));
  let m = keep(b, h, vec4(t), keys);
  return Terms(m * p, p * (m * dp - rowDot));
}

// The terms of rows t0..t0 + 3 (column n: row t0 + n) for the owned keys (their k at `k`, v at `v`).
struct KeyTile {
  pm: mat4x4<f32>,
  ds: mat4x4<f32>,
}

fn keyTile(b: u32, h: u32, keys: vec4<u32>, k: vec4<u32>, v: vec4<u32>, first: u32, t0: u32) -> KeyTile {
  let rows = first + fourFrom(t0);
  let known = rowStatsOf(rows, h);
  let s = qkvDots(k, parts(rows, 0u, h));
  // Column n: the 4 owned keys' v with row n's dO, the by-row tile transposed.
  let dp = transpose(gradDotsByRow(merged(rows, h), v));
  let a0 = keyTerms(b, h, keys, t0, s[0], dp[0], known[0].x, known[1].x);
  let a1 = keyTerms(b, h, keys, t0 + 1u, s[1], dp[1], known[0].y, known[1].y);
  let a2 = keyTerms(b, h, keys, t0 + 2u, s[2], dp[2], known[0].z, known[1].z);
  let a3 = keyTerms(b, h, keys, t0 + 3u, s[3], dp[3], known[0].w, known[1].w);
  return KeyTile(mat4x4(a0.pm, a1.pm, a2.pm, a3.pm), mat4x4(a0.ds, a1.ds, a2.ds, a3.ds));
}

@compute @workgroup_size(64)
fn keyValueGrad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let u0 = 4u * gid.x;
  let h = gid.y;
  let b = gid.z;
  if (u0 >= SEQ) {
    return;
  }
  let keys = vec4(u0) + LANES;   // unclamped, for the causal test
  let first = b * SEQ;
  let us = first + fourFrom(u0);
  let k = parts(us, 1u, h);
  let v = parts(us, 2u, h);
  var accK: array<vec4<f32>, MAX_HEAD_DIM>;   // the 4 keys' Σ ds q at dimension d
  var accV: array<vec4<f32>, MAX_HEAD_DIM>;   // the 4 keys' Σ m p dO at dimension d
  // 8 query rows a step, two tiles of 4.
  for (var t0 = u0; t0 < SEQ; t0 += 8u) {
    let a = keyTile(b, h, keys, k, v, first, t0);
    let c = keyTile(b, h, keys, k, v, first, t0 + 4u);
    let rows = first + fourFrom(t0);
    let rows2 = first + fourFrom(t0 + 4u);
    let q = parts(rows, 0u, h);
    let q2 = parts(rows2, 0u, h);
    let o = merged(rows, h);
    let o2 = merged(rows2, h);
    for (var d = 0u; d < HEAD_DIM; d++) {
      accK[d] += a.ds * qkvAt(q, d) + c.ds * qkvAt(q2, d);
      accV[d] += a.pm * dOutAt(o, d) + c.pm * dOutAt(o2, d);
    }
  }
  for (var r = 0u; r < 4u && u0 + r < SEQ; r++) {
    for (var d = 0u; d < HEAD_DIM; d++) {
      dqkv[k[r] + d] = accK[d][r] * dims.scale;
      dqkv[v[r] + d] = accV[d][r];
    }
  }
}
