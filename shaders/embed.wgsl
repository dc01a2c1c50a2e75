// h[r] = wte[ids[r]] + wpe[past + i] for row r = b * seq + i; with HAS_POSITIONS, wpe[positions[r]] (HF position_ids).
// HF's optional inputs, each a pipeline constant so the default path reads nothing more:
// HAS_EMBEDS: embeds[r] (HF inputs_embeds) replaces wte[ids[r]] (ids are not read);
// HAS_TOKEN_TYPES: wte[tokenTypes[r]] is added last (HF token_type_ids: (inputs + positions) + token types).
// Prepended: step.wgsl and weights_{f32,f16}.wgsl. Threads: x = column pair, y = row.
// An id outside [0, VOCAB) cannot raise an error on the GPU: its row becomes NaN, so the
// mistake shows in every logit instead of passing for another token (the host validates ids).

override E: u32;                  // n_embd (even)
override VOCAB: u32;              // rows of wte
override POSITIONS: u32;          // rows of wpe
override PAIRS: u32 = E / 2u;
override HAS_POSITIONS: bool = false;
override HAS_EMBEDS: bool = false;
override HAS_TOKEN_TYPES: bool = false;

@group(0) @binding(1) var<storage, read> ids: array<i32>;             // [rows]
@group(0) @binding(2) var<storage, read> wte: array<WeightPair>;      // [VOCAB, E / 2]
@group(0) @binding(3) var<storage, read> wpe: array<WeightPair>;      // [POSITIONS, E / 2]
@group(0) @binding(4) var<storage, read_write> out: array<vec2<f32>>; // [rows, E / 2]
@group(0) @binding(5) var<storage, read> positions: array<u32>;       // [rows], read with HAS_POSITIONS only
@group(0) @binding(6) var<storage, read> tokenTypes: array<i32>;      // [rows], read with HAS_TOKEN_TYPES only
@group(0) @binding(7) var<storage, read> embeds: array<vec2<f32>>;    // [rows, E / 2], read with HAS_EMBEDS only

@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  let row = gid.y;
  if (pair >= PAIRS || row >= step.rows) {
    return;
  }
  var id = 0;
  if (!HAS_EMBEDS) {
    id = ids[row];
  }
  var tokenType = 0;
  if (HAS_TOKEN_TYPES) {
    tokenType = tokenTypes[row];
  }
  var position = step.past + row % step.seq;
  if (HAS_POSITIONS) {
    position = positions[row];
  }
  let badId = id < 0 || u32(id) >= VOCAB || tokenType < 0 || u32(tokenType) >= VOCAB;
  if (badId || position >= POSITIONS) {
    out[row * PAIRS + pair] = vec2<f32>(bitcast<f32>(0x7fc00000u | u32(id & 0)));
    return;
  }
  var h: vec2<f32>;
  if (HAS_EMBEDS) {
    h = embeds[row * PAIRS + pair];
  } else {
    h = unpackPair(wte[u32(id) * PAIRS + pair]);
  }
  h += unpackPair(wpe[position * PAIRS + pair]);
  if (HAS_TOKEN_TYPES) {
    h += unpackPair(wte[u32(tokenType) * PAIRS + pair]);
  }
  out[row * PAIRS + pair] = h;
}
