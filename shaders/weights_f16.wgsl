// Weights stored as f16, two per u32 (low half = even column). unpack2x16float needs no
// `shader-f16` feature, so this works on every adapter.
alias WeightPair = u32;

fn unpackPair(word: WeightPair) -> vec2<f32> {
  return unpack2x16float(word);
}
