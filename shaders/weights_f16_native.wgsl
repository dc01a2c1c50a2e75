// Weights stored as f16, read as f16 (`shader-f16`; the kernel source starts with `enable f16;`), then
// widened: the arithmetic stays f32. The same bytes and the same values as weights_f16.wgsl's unpacking.
alias WeightPair = vec2<f16>;
alias WeightQuad = vec4<f16>;

fn unpackPair(word: WeightPair) -> vec2<f32> {
  return vec2<f32>(word);
}

fn unpackQuad(quad: WeightQuad) -> vec4<f32> {
  return vec4<f32>(quad);
}
