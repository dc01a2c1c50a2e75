// matmul prologue, with the RMS norm: the product reads x[row, k] · normWeight[k], and each row's
// sum is scaled by 1 / sqrt(mean(x[row]²) + NORM_EPS) (ImageGPT's ln_1 / ln_2 / ln_f, folded in).
const HAS_NORM = true;
@group(0) @binding(5) var<storage, read> normWeight: array<f32>;   // [K]

fn normGain(k: u32) -> f32 {
  return normWeight[k];
}
