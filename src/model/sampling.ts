// Sampling options and a CPU mirror of shaders/sample.wgsl (no GPU here).
// HF's order: logits / temperature → top-k → top-p → softmax → draw; temperature 0 = argmax.
import { badInput } from '../errors';
import { describeValue } from '../json';

export interface SamplingOptions {
  /** Divides the logits; default 1 (skipped); 0 = greedy (argmax, lowest index on ties). */
  temperature?: number;
  /** Keep the logits ≥ the k-th largest (ties at the boundary stay); default 40; 0 = off. */
  topK?: number;
  /**
   * Nucleus, as HF's TopPLogitsWarper: keep the shortest prefix, by decreasing probability, whose mass
   * reaches topP; among equal logits the lower token id comes first. [0, 1], default 1 = off; 0 keeps only the
   * most likely token (HF keeps at least one), which is greedy decoding.
   */
  topP?: number;
  /** u32 key of the counter-based RNG; default: a random one. */
  seed?: number;
}

export const DEFAULT_TOP_K = 40;

/** The keys of SamplingOptions (for checking option objects). */
export const SAMPLING_OPTIONS: readonly string[] = ['temperature', 'topK', 'topP', 'seed'];

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Fills in the defaults and rejects values the kernel cannot honour, with an Error naming the option and `what`
 * (the public call the options were given to).
 */
export function resolveSampling(o: SamplingOptions = {}, what = 'resolveSampling'): Required<SamplingOptions> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw badInput(`${what}: sampling options must be an object { temperature?, topK?, topP?, seed? }, got ${describeValue(o)}`);
  }
  const temperature = o.temperature ?? 1;
  const topK = o.topK ?? DEFAULT_TOP_K;
  const topP = o.topP ?? 1;
  const seed = o.seed ?? randomSeed();
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw badInput(`${what}: temperature must be a finite number ≥ 0 (0 = greedy), got ${describeValue(temperature)}`);
  }
  if (typeof topK !== 'number' || !isU32(topK)) {
    throw badInput(`${what}: topK must be an integer ≥ 0 (0 = off), got ${describeValue(topK)}`);
  }
  if (typeof topP !== 'number' || !(topP >= 0 && topP <= 1)) {
    throw badInput(`${what}: topP must be in [0, 1] (1 = off, 0 = only the most likely token), got ${describeValue(topP)}`);
  }
  if (typeof seed !== 'number' || !isU32(seed)) {
    throw badInput(`${what}: seed must be an integer in [0, 2^32 - 1], got ${describeValue(seed)}`);
  }
  return { temperature, topK, topP, seed };
}

/**
 * What the GPU sampler is given: topP 0 keeps only the most likely token (HF's TopPLogitsWarper keeps at least
 * one), which is greedy decoding, so it runs as temperature 0.
 */
export function kernelSampling(o: Required<SamplingOptions>): Required<SamplingOptions> {
  return o.topP === 0 ? { ...o, temperature: 0, topP: 1 } : o;
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

/** The filtered distribution: the kept tokens in index order (the kernel's draw order) and their probabilities. */
export interface TokenDistribution {
  tokens: Int32Array;
  probs: Float64Array;
}

function checkRow(logits: Float32Array, vocab: number): void {
  if (!Number.isInteger(vocab) || vocab < 1) throw badInput(`sampling: vocab must be a positive integer, got ${describeValue(vocab)}`);
  if (logits.length !== vocab) {
    throw badInput(`sampling: expected one row of ${vocab} logits, got ${logits.length} values`);
  }
}

/**
 * Temperature, top-k and top-p applied to one row of logits, as the kernel does them:
 * logits scaled in f32 (skipped at temperature 1); top-k keeps every logit ≥ the k-th largest
 * (ties at its boundary stay, as HF's TopKLogitsWarper); top-p, as HF's TopPLogitsWarper, keeps
 * the tokens, in order of decreasing logit with the lower id first among equal logits, up to the
 * first one where the mass summed so far reaches topP (a tie at that boundary is cut by id).
 * Weights and sums are f64 here, f32 on the GPU.
 * Greedy (temperature 0), or a row without finite mass, gives the argmax (lowest index on ties).
 */
export function samplingDistribution(
  logits: Float32Array,
  vocab: number,
  o: Required<SamplingOptions>,
): TokenDistribution {
  checkRow(logits, vocab);
  o = kernelSampling(o);
  const t = Math.fround(o.temperature);
  const keys = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) keys[i] = t === 0 || t === 1 ? logits[i] : logits[i] / t;
  let argmax = 0;
  for (let i = 1; i < vocab; i++) if (keys[i] > keys[argmax]) argmax = i;
  const greedy: TokenDistribution = { tokens: Int32Array.of(argmax), probs: Float64Array.of(1) };
  if (t === 0) return greedy;

  const byValue = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => keys[b] - keys[a] || a - b);
  let threshold = -Infinity;
  if (o.topK > 0 && o.topK < vocab) threshold = keys[byValue[o.topK - 1]];
  const top = keys[argmax];
  let cut = vocab; // at the threshold logit, ids above cut are dropped (top-p's tie)
  const weight = (i: number): number => (keys[i] > threshold || (keys[i] === threshold && i <= cut) ? Math.exp(keys[i] - top) : 0);
  if (o.topP < 1) {
    let total = 0;
    for (let i = 0; i < vocab; i++) total += weight(i);
    const mass = Math.fround(o.topP) * total;
    let seen = 0;
    for (const i of byValue) {
      seen += weight(i);
      if (seen >= mass) {
        threshold = keys[i];
        cut = i; // byValue lists equal logits by increasing id
        break;
      }
    }
  }
  const tokens: number[] = [];
  const weights: number[] = [];
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    const w = weight(i);
    if (w > 0) {
      tokens.push(i);
      weights.push(w);
      total += w;
    }
  }
  if (!(total > 0 && Number.isFinite(total))) return greedy;
  return { tokens: Int32Array.from(tokens), probs: Float64Array.from(weights, (w) => w / total) };
}

/**
 * Draws one token from one row of logits with the given uniform in [0, 1): the first kept token
 * (in index order) whose cumulative probability exceeds `uniform`. With
 * `counterUniform(seed, past + seq, b)` this is the kernel's draw, up to float rounding where
 * the CDF (or the top-p mass) comes within ~1e-6 of the cut.
 */
export function sampleOnCpu(
  logits: Float32Array,
  vocab: number,
  o: Required<SamplingOptions>,
  uniform: number,
): number {
  if (!(uniform >= 0 && uniform < 1)) throw badInput(`sampling: uniform must be in [0, 1), got ${describeValue(uniform)}`);
  const { tokens, probs } = samplingDistribution(logits, vocab, o);
  let cdf = 0;
  for (let i = 0; i < tokens.length; i++) {
    cdf += probs[i];
    if (uniform < cdf) return tokens[i];
  }
  return tokens[tokens.length - 1]; // rounding left the CDF just short of 1
}
