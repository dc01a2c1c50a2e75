// A small, readable CPU ImageGPT in float64, straight from shared/REFERENCE.md.
// It is the yardstick the GPU model is tested against (beside the PyTorch fixtures).
import type { ImageGPTConfig } from '../../src/model/config';

export type WeightMap = Map<string, Float32Array>;

function w(weights: WeightMap, name: string): Float32Array {
  const t = weights.get(name);
  if (!t) throw new Error(`reference model: missing ${name}`);
  return t;
}

/** x / sqrt(mean(x²) + eps) * weight: no mean-centering, no bias. */
function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * weight[i]);
}

/** y = x @ W + b with W in Conv1D layout [in, out]. */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | null, out: number): Float64Array {
  const y = new Float64Array(out);
  for (let k = 0; k < x.length; k++) {
    const xk = x[k];
    if (xk === 0) continue;
    const row = k * out;
    for (let n = 0; n < out; n++) y[n] += xk * W[row + n];
  }
  if (b) for (let n = 0; n < out; n++) y[n] += b[n];
  return y;
}

const quickGelu = (v: number): number => v / (1 + Math.exp(-1.702 * v));

export interface ReferenceOutput {
  /** [B, T, V-1] */
  logits: Float64Array;
  /** n_layer + 1 tensors, each [B, T, E]; [L] is after ln_f. */
  hiddenStates: Float64Array[];
  /** n_layer tensors, each [B, H, T, T]: the softmax weights after the causal mask (0 above the diagonal). */
  attentions: Float64Array[];
}

/** HF ImageGPTModel's optional inputs, with its semantics. */
export interface ReferenceInputs {
  /** head_mask [n_layer][n_head]: multiplies each head's softmax weights (before V; the returned weights too). */
  headMask?: number[][];
  /** token_type_ids [B, T]: wte rows added after the position rows. */
  tokenTypeIds?: number[][];
  /** inputs_embeds [B, T, E]: used instead of wte[ids] (ids may then be null). */
  inputsEmbeds?: number[][][];
}

/** The full forward of B sequences of T ids (no cache). */
export function referenceForward(config: ImageGPTConfig, weights: WeightMap, ids: number[][] | null, inputs: ReferenceInputs = {}): ReferenceOutput {
  const { n_embd: E, n_head: H, n_layer: L, n_inner: I, layer_norm_epsilon: eps } = config;
  const V1 = config.vocab_size - 1;
  const D = E / H;
  const rows = ids ?? inputs.inputsEmbeds!;
  const B = rows.length;
  const T = rows[0].length;
  const wte = w(weights, 'transformer.wte.weight');
  const wpe = w(weights, 'transformer.wpe.weight');
  const hiddenStates = Array.from({ length: L + 1 }, () => new Float64Array(B * T * E));
  const logits = new Float64Array(B * T * V1);
  const attentions = Array.from({ length: L }, () => new Float64Array(B * H * T * T));

  for (let b = 0; b < B; b++) {
    let h: Float64Array[] = Array.from({ length: T }, (_, t) => {
      const v = new Float64Array(E);
      for (let e = 0; e < E; e++) {
        v[e] = (inputs.inputsEmbeds ? inputs.inputsEmbeds[b][t][e] : wte[ids![b][t] * E + e]) + wpe[t * E + e];
        if (inputs.tokenTypeIds) v[e] += wte[inputs.tokenTypeIds[b][t] * E + e];
      }
      return v;
    });
    const record = (k: number, rows: Float64Array[]) => rows.forEach((r, t) => hiddenStates[k].set(r, (b * T + t) * E));
    record(0, h);

    for (let i = 0; i < L; i++) {
      const p = `transformer.h.${i}.`;
      let scale = config.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
      if (config.scale_attn_by_inverse_layer_idx) scale /= i + 1;
      const qkv = h.map((x) => linear(rmsNorm(x, w(weights, p + 'ln_1.weight'), eps), w(weights, p + 'attn.c_attn.weight'), w(weights, p + 'attn.c_attn.bias'), 3 * E));
      const merged = h.map(() => new Float64Array(E));
      for (let head = 0; head < H; head++) {
        const o = head * D;
        for (let t = 0; t < T; t++) {
          const scores = new Float64Array(t + 1);
          let max = -Infinity;
          for (let s = 0; s <= t; s++) {
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qkv[t][o + d] * qkv[s][E + o + d];
            scores[s] = dot * scale;
            max = Math.max(max, scores[s]);
          }
          let sum = 0;
          for (let s = 0; s <= t; s++) sum += (scores[s] = Math.exp(scores[s] - max));
          for (let s = 0; s <= t; s++) {
            const a = (scores[s] / sum) * (inputs.headMask?.[i][head] ?? 1);
            attentions[i][((b * H + head) * T + t) * T + s] = a;
            for (let d = 0; d < D; d++) merged[t][o + d] += a * qkv[s][2 * E + o + d];
          }
        }
      }
      h = h.map((x, t) => {
        const attn = linear(merged[t], w(weights, p + 'attn.c_proj.weight'), w(weights, p + 'attn.c_proj.bias'), E);
        const h1 = x.map((v, e) => v + attn[e]);
        const m = linear(rmsNorm(h1, w(weights, p + 'ln_2.weight'), eps), w(weights, p + 'mlp.c_fc.weight'), w(weights, p + 'mlp.c_fc.bias'), I).map(quickGelu);
        const m2 = linear(m, w(weights, p + 'mlp.c_proj.weight'), w(weights, p + 'mlp.c_proj.bias'), E);
        return h1.map((v, e) => v + m2[e]);
      });
      if (i < L - 1) record(i + 1, h);
    }
    const final = h.map((x) => rmsNorm(x, w(weights, 'transformer.ln_f.weight'), eps));
    record(L, final);
    const head = w(weights, 'lm_head.weight'); // [V-1, E]
    final.forEach((x, t) => {
      for (let v = 0; v < V1; v++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += x[e] * head[v * E + e];
        logits[(b * T + t) * V1 + v] = s;
      }
    });
  }
  return { logits, hiddenStates, attentions };
}

// Random weights with HF names, for tests that need a model of any shape (shared with the benchmarks).
export { randomWeights } from '../../scripts/random';

/**
 * Features as `features(…, { normalize })` defines them: [B, E], the mean over T of hidden state `layer`, or with
 * normalize of ImageGPT's norm of it with block `layer`'s ln_1 gains (hidden state n_layer, already ln_f's output,
 * as it is).
 */
export function referenceFeatures(config: ImageGPTConfig, weights: WeightMap, ids: number[][], layer: number, normalize: boolean): Float64Array {
  const E = config.n_embd;
  const B = ids.length;
  const T = ids[0].length;
  const hidden = referenceForward(config, weights, ids).hiddenStates[layer];
  const gains = normalize && layer < config.n_layer ? w(weights, `transformer.h.${layer}.ln_1.weight`) : null;
  const out = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const x = hidden.subarray((b * T + t) * E, (b * T + t + 1) * E);
      const v = gains ? rmsNorm(x, gains, config.layer_norm_epsilon) : x;
      for (let e = 0; e < E; e++) out[b * E + e] += v[e] / T;
    }
  }
  return out;
}
