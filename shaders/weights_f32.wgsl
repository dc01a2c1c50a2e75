// Weights stored as f32: one storage word is two adjacent columns, as they are; a quad is four.
alias WeightPair = vec2<f32>;
alias WeightQuad = vec4<f32>;

fn unpackPair(word: WeightPair) -> vec2<f32> {
  return word;
}

fn unpackQuad(quad: WeightQuad) -> vec4<f32> {
  return quad;
}
