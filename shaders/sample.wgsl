// Sampling the next token of each sequence, on the GPU: one workgroup per sequence b.
// HF's order: logits / temperature → top-k → top-p → softmax → draw; temperature 0 = argmax
// (lowest index on ties).
//
// Nothing is sorted. Both filters come down to a threshold on the logit, found by a radix
// select over order-preserving u32 keys (eight 4-bit passes from the top):
//   top-k: the k-th largest logit (counting tokens);   keep logits ≥ it, so boundary ties stay
//          (as HF's TopKLogitsWarper);
//   top-p: HF's TopPLogitsWarper: in the order of decreasing probability, lower token id first
//          among equal logits, keep each token whose mass before it is < top_p (summing what
//          top-k kept): the shortest prefix reaching top_p. Its last logit is found by the
//          select; of the tokens tied at that logit only the lowest ids the mass needs are kept.
// The draw is an inverse CDF over the kept tokens in index order: per-thread chunk sums of
// exp(logit - max), each thread's offset, and the one thread whose chunk holds u * total walks it.
// The uniform comes from a counter-based hash of (seed, absolute position of the new token, b).
// The row is re-read from global memory in every pass: workgroup memory is dear on SwiftShader.
// src/model/sampling.ts mirrors every step on the CPU (samplingDistribution, counterUniform).
// Given tokens: where the new token's history index is below prompt_ends[b], sequence b is still inside its own
// prompt (prompts of different lengths decode in one batch): the token already in history is kept, not sampled.

struct Step { batch: u32, seq: u32, past: u32, rows: u32 }
struct Params {
  temperature: f32,   // 0 = greedy
  top_k: u32,         // 0 = off
  top_p: f32,         // 1 = off; (0, 1]
  seed: u32,
}
struct Shape { vocab: u32, history: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<uniform> shape: Shape;
@group(0) @binding(3) var<storage, read> logits: array<f32>;         // [rows, vocab]
@group(0) @binding(4) var<storage, read_write> next_ids: array<i32>;  // [batch]
@group(0) @binding(5) var<storage, read_write> history: array<i32>;   // [batch, history]
@group(0) @binding(6) var<storage, read> prompt_ends: array<u32>;     // [batch]: history below it is given

override WG: u32 = 64u;   // threads per sequence (a power of two ≤ 128: bins must fit 16 KiB)
const DIGITS: u32 = 16u;  // 4-bit radix
const NONE: u32 = 0xffffffffu;

var<workgroup> bins: array<f32, WG * DIGITS>;  // [thread, digit] token counts or masses
var<workgroup> sums: array<f32, WG>;           // per-thread weight sums
var<workgroup> max_key: atomic<u32>;
var<workgroup> argmax: atomic<u32>;             // lowest token holding the max
var<workgroup> select_prefix: u32;
var<workgroup> select_want: f32;
var<workgroup> tie_cut: u32;                    // top-p: highest token id kept at the threshold logit
var<workgroup> chosen: u32;                     // token drawn (NONE until found)

// PCG's output permutation (O'Neill) used as a 32-bit integer hash; bijective.
fn pcg_hash(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Uniform in [0, 1) with 24 random bits, keyed by (seed, position, sample).
fn counter_uniform(seed: u32, position: u32, sample: u32) -> f32 {
  let h = pcg_hash(sample ^ pcg_hash(position ^ pcg_hash(seed)));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// u32 key with the order of the float (-0 folded into +0 so that they tie, as floats do).
fn ordered_key(x: f32) -> u32 {
  let bits = bitcast<u32>(select(x, 0.0, x == 0.0));
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

fn key_value(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) == 1u));
}

// The (scaled) logit of token i in this workgroup's row; HF skips the division at temperature 1.
fn logit(base: u32, i: u32) -> f32 {
  let x = logits[base + i];
  if (params.temperature == 0.0 || params.temperature == 1.0) { return x; }
  return x / params.temperature;
}

// The largest key c with (amount of keys ≥ c among keys ≥ min_key) ≥ want, where the amount is
// a token count (by_mass false, want = k) or the mass exp(logit - top) (want = fraction of the
// total). Must be called in uniform control flow.
fn radix_select(t: u32, base: u32, vocab: u32, min_key: u32, by_mass: bool, want: f32, top: f32) -> u32 {
  var prefix = 0u;
  var mask = 0u;
  for (var round = 0u; round < 8u; round++) {
    let shift = 28u - 4u * round;
    var mine = array<f32, DIGITS>();   // explicit: an uninitialized var in a loop was not re-zeroed (Dawn on SwiftShader)
    for (var i = t; i < vocab; i += WG) {
      let x = logit(base, i);
      let k = ordered_key(x);
      if (k >= min_key && (k & mask) == prefix) {
        mine[(k >> shift) & 15u] += select(1.0, exp(x - top), by_mass);
      }
    }
    for (var d = 0u; d < DIGITS; d++) { bins[t * DIGITS + d] = mine[d]; }
    workgroupBarrier();
    if (t == 0u) {
      var amount = array<f32, DIGITS>();
      var all = 0.0;
      for (var d = 0u; d < DIGITS; d++) {
        for (var u = 0u; u < WG; u++) { amount[d] += bins[u * DIGITS + d]; }
        all += amount[d];
      }
      if (round == 0u) { select_want = select(want, want * all, by_mass); }
      // Walk the digits from the top until the amount reaches what is still wanted.
      var seen = 0.0;
      var d = DIGITS - 1u;
      loop {
        if (seen + amount[d] >= select_want || d == 0u) { break; }
        seen += amount[d];
        d -= 1u;
      }
      select_prefix = prefix | (d << shift);
      select_want -= seen;
    }
    prefix = workgroupUniformLoad(&select_prefix);   // a barrier too: bins are free again
    mask |= 15u << shift;
  }
  return prefix;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wg.x;
  let vocab = shape.vocab;
  let base = (b * step.seq + step.seq - 1u) * vocab;   // the last new token of sequence b

  // 1. The max, and the lowest token holding it (greedy's answer, and the fallback of a row
  //    without finite mass).
  var local_max = 0u;
  for (var i = t; i < vocab; i += WG) { local_max = max(local_max, ordered_key(logit(base, i))); }
  if (t == 0u) {
    atomicStore(&argmax, NONE);
    chosen = NONE;
  }
  atomicMax(&max_key, local_max);
  workgroupBarrier();
  let top_key = atomicLoad(&max_key);
  for (var i = t; i < vocab; i += WG) {
    if (ordered_key(logit(base, i)) == top_key) { atomicMin(&argmax, i); }
  }
  workgroupBarrier();

  if (params.temperature != 0.0) {
    // 2. Thresholds: top-k on counts, then top-p on the masses of what top-k kept.
    let top = key_value(top_key);
    var threshold = 0u;   // every key is ≥ 0: keeps all
    var cut = NONE;       // tokens at the threshold key with a higher id are dropped
    if (params.top_k > 0u && params.top_k < vocab) {
      threshold = radix_select(t, base, vocab, 0u, false, f32(params.top_k), top);
    }
    if (params.top_p < 1.0) {
      threshold = radix_select(t, base, vocab, threshold, true, params.top_p, top);
      cut = tie_cutoff(t, base, vocab, threshold, top);
    }

    // 3. Inverse CDF in token order over contiguous chunks: offsets are running sums of the
    //    chunk sums, computed alike by every thread, so the chunks tile [0, total) exactly.
    let per = (vocab + WG - 1u) / WG;
    let first = min(t * per, vocab);
    let last = min(first + per, vocab);
    var sum = 0.0;
    for (var i = first; i < last; i++) { sum += weight(base, i, threshold, cut, top); }
    sums[t] = sum;
    workgroupBarrier();
    var offset = 0.0;
    var total = 0.0;
    for (var u = 0u; u < WG; u++) {
      if (u == t) { offset = total; }
      total += sums[u];
    }
    let goal = counter_uniform(params.seed, step.past + step.seq, b) * total;
    if (offset <= goal && goal < offset + sum) {
      // Rounding may leave the walk just short of the goal: then the chunk's last kept token.
      var run = offset;
      var pick = NONE;
      for (var i = first; i < last; i++) {
        let w = weight(base, i, threshold, cut, top);
        if (w > 0.0) {
          pick = i;
          if (run + w > goal) { break; }
        }
        run += w;
      }
      chosen = pick;
    }
    workgroupBarrier();
  }

  if (t == 0u) {
    let at = step.past + step.seq;
    var token = i32(chosen);
    if (chosen == NONE) { token = i32(atomicLoad(&argmax)); }
    // The draw above still ran (uniform control flow, one dispatch for the batch); a given token replaces it.
    if (at < prompt_ends[b]) { token = history[b * shape.history + at]; }
    next_ids[b] = token;
    history[b * shape.history + at] = token;
  }
}

// exp(logit - top) for a kept token (key > threshold, or = threshold with id ≤ cut), 0 for a filtered one.
fn weight(base: u32, i: u32, threshold: u32, cut: u32, top: f32) -> f32 {
  let x = logit(base, i);
  let k = ordered_key(x);
  if (k < threshold || (k == threshold && i > cut)) { return 0.0; }
  return exp(x - top);
}

// After the top-p select: select_want is the mass still wanted from the tokens whose key is exactly
// `threshold` (each weighs the same), so the lowest ceil(want / weight) of their ids are kept.
// Returns the highest id kept (NONE: all of them). Must be called in uniform control flow.
fn tie_cutoff(t: u32, base: u32, vocab: u32, threshold: u32, top: f32) -> u32 {
  let per = (vocab + WG - 1u) / WG;   // contiguous chunks: thread order is token order
  let first = min(t * per, vocab);
  let last = min(first + per, vocab);
  var count = 0u;
  for (var i = first; i < last; i++) {
    if (ordered_key(logit(base, i)) == threshold) { count++; }
  }
  sums[t] = f32(count);
  if (t == 0u) { tie_cut = NONE; }
  workgroupBarrier();
  let keep = max(1.0, ceil(select_want / exp(key_value(threshold) - top)));
  var before = 0.0;
  for (var u = 0u; u < t; u++) { before += sums[u]; }
  if (before < keep && keep <= before + f32(count)) {
    var seen = before;
    for (var i = first; i < last; i++) {
      if (ordered_key(logit(base, i)) == threshold) {
        seen += 1.0;
        if (seen >= keep) {
          tie_cut = i;
          break;
        }
      }
    }
  }
  return workgroupUniformLoad(&tie_cut);   // a barrier too: sums are free again
}
