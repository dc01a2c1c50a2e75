// The per-submit shape, shared by every kernel (prepended to each kernel's source).
// rows = batch * seq; activation row r = b * seq + i is token i of sequence b, at position past + i.
// positions is the KV cache's capacity per sequence (its row stride): written once when the buffer is made, so
// one pipeline serves every session length.
struct Step {
  batch: u32,
  seq: u32,
  past: u32,
  rows: u32,
  positions: u32,
}
@group(0) @binding(0) var<uniform> step: Step;  // batch, seq, past, rows (per submit); positions (per buffer)
