// Sampling options and a CPU mirror of shaders/sample.wgsl (no GPU here).
// HF's order: logits / temperature → top-k → top-p → softmax → draw; temperature 0 = argmax.

export interface SamplingOptions {
  /** Divides the logits; default 1 (skipped); 0 = greedy (argmax, lowest index on ties). */
  temperature?: number;
  /** Keep the logits ≥ the k-th largest (ties at the boundary stay); default 40; 0 = off. */
  topK?: number;
  /** Nucleus: keep the shortest prefix (by probability) whose mass reaches topP; (0, 1], default 1 = off. */
  topP?: number;
  /** u32 key of the counter-based RNG; default: a random one. */
  seed?: number;
}

export const DEFAULT_TOP_K = 40;

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** Fills in the defaults and rejects values the kernel cannot honour, with an Error naming the option. */
export function resolveSampling(o: SamplingOptions = {}): Required<SamplingOptions> {
  const temperature = o.temperature ?? 1;
  const topK = o.topK ?? DEFAULT_TOP_K;
  const topP = o.topP ?? 1;
  const seed = o.seed ?? randomSeed();
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new Error(`sampling: temperature must be a finite number ≥ 0 (0 = greedy), got ${temperature}`);
  }
  if (typeof topK !== 'number' || !isU32(topK)) {
    throw new Error(`sampling: topK must be an integer ≥ 0 (0 = off), got ${topK}`);
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new Error(`sampling: topP must be in (0, 1] (1 = off), got ${topP}`);
  }
  if (typeof seed !== 'number' || !isU32(seed)) {
    throw new Error(`sampling: seed must be an integer in [0, 2^32 - 1], got ${seed}`);
  }
  return { temperature, topK, topP, seed };
}

// PCG's output permutation as a 32-bit hash: the same integer ops as pcg_hash in the shader.
function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/**
 * The shader's uniform in [0, 1) (24 random bits) for a sequence `sample` drawing the token at
 * absolute `position` under `seed`; bit-exact with counter_uniform in shaders/sample.wgsl.
 */
export function counterUniform(seed: number, position: number, sample: number): number {
  const h = pcgHash((sample ^ pcgHash((position ^ pcgHash(seed)) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** The filtered distribution: tokens by decreasing probability (lowest index first on ties), and their probabilities. */
export interface TokenDistribution {
  tokens: Int32Array;
  probs: Float64Array;
}

function checkRow(logits: Float32Array, vocab: number): void {
  if (!Number.isInteger(vocab) || vocab < 1) throw new Error(`sampling: vocab must be a positive integer, got ${vocab}`);
  if (logits.length !== vocab) {
    throw new Error(`sampling: expected one row of ${vocab} logits, got ${logits.length} values`);
  }
}

/**
 * Temperature, top-k and top-p applied to one row of logits, as the kernel does them
 * (scaled logits in f32; weights and sums in f64 here, f32 on the GPU).
 * Greedy (temperature 0) gives the argmax alone with probability 1.
 */
export function samplingDistribution(
  logits: Float32Array,
  vocab: number,
  o: Required<SamplingOptions>,
): TokenDistribution {
  checkRow(logits, vocab);
  const t = Math.fround(o.temperature);
  const keys = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) keys[i] = t === 0 || t === 1 ? logits[i] : logits[i] / t;
  const order = Array.from({ length: vocab }, (_, i) => i);
  order.sort((a, b) => (keys[a] > keys[b] ? -1 : keys[a] < keys[b] ? 1 : a - b));
  if (t === 0) return { tokens: Int32Array.of(order[0]), probs: Float64Array.of(1) };

  let kept = vocab;
  if (o.topK > 0 && o.topK < vocab) {
    const threshold = keys[order[o.topK - 1]];
    kept = o.topK;
    while (kept < vocab && keys[order[kept]] >= threshold) kept++;
  }
  const top = keys[order[0]];
  const weights = new Float64Array(kept);
  let total = 0;
  for (let i = 0; i < kept; i++) {
    weights[i] = Math.exp(keys[order[i]] - top);
    total += weights[i];
  }
  if (o.topP < 1) {
    const mass = Math.fround(o.topP) * total;
    let before = 0;
    let end = 0;
    while (end < kept && before < mass) before += weights[end++];
    kept = Math.max(1, end);
    total = 0;
    for (let i = 0; i < kept; i++) total += weights[i];
  }
  const tokens = Int32Array.from(order.slice(0, kept));
  const probs = new Float64Array(kept);
  for (let i = 0; i < kept; i++) probs[i] = weights[i] / total;
  return { tokens, probs };
}

/**
 * Draws one token from one row of logits with the given uniform in [0, 1): the first token
 * (in decreasing probability) whose cumulative probability exceeds `uniform`. With
 * `counterUniform(seed, position, sample)` this is the kernel's draw, up to float rounding
 * where the CDF comes within ~1e-6 of the uniform.
 */
export function sampleOnCpu(
  logits: Float32Array,
  vocab: number,
  o: Required<SamplingOptions>,
  uniform: number,
): number {
  if (!(uniform >= 0 && uniform < 1)) throw new Error(`sampling: uniform must be in [0, 1), got ${uniform}`);
  const { tokens, probs } = samplingDistribution(logits, vocab, o);
  let cdf = 0;
  let last = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (probs[i] === 0) continue;
    cdf += probs[i];
    last = i;
    if (uniform < cdf) return tokens[i];
  }
  return tokens[last]; // rounding left the CDF just short of 1
}
