// Weights stored as f32: one storage word is two adjacent columns, as they are.
alias WeightPair = vec2<f32>;

fn unpackPair(word: WeightPair) -> vec2<f32> {
  return word;
}
