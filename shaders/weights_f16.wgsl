// Weights stored as f16, two per u32 (low half = even column). unpack2x16float needs no
// `shader-f16` feature, so this works on every adapter. A quad is four columns: two words.
alias WeightPair = u32;
alias WeightQuad = vec2<u32>;

fn unpackPair(word: WeightPair) -> vec2<f32> {
  return unpack2x16float(word);
}

fn unpackQuad(quad: WeightQuad) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(quad.x), unpack2x16float(quad.y));
}
