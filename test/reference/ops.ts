// Plain CPU versions of each GPU kernel, in float64, written to be read: the yardstick of test/gpu.
// Arrays are row-major; rows of activations are r = b * seq + i (token i of sequence b, at position past + i).

export interface Shape {
  batch: number;
  seq: number;
  past: number;
}

/** h[r] = wte[ids[r]] + wpe[past + i]. */
export function embed(ids: Int32Array, wte: Float32Array, wpe: Float32Array, E: number, s: Shape): Float64Array {
  const out = new Float64Array(ids.length * E);
  for (let r = 0; r < ids.length; r++) {
    const position = s.past + (r % s.seq);
    for (let e = 0; e < E; e++) out[r * E + e] = wte[ids[r] * E + e] + wpe[position * E + e];
  }
  return out;
}

/**
 * embed with HF's optional inputs: inputsEmbeds [rows, E] replaces wte[ids[r]]; wte[tokenTypes[r]] is added after the
 * position row (HF: (inputs_embeds + position_embeds) + token_type_embeds).
 */
export function embedInputs(
  ids: Int32Array,
  wte: Float32Array,
  wpe: Float32Array,
  E: number,
  s: Shape,
  o: { tokenTypes?: Int32Array; inputsEmbeds?: Float32Array },
): Float64Array {
  const out = new Float64Array(ids.length * E);
  for (let r = 0; r < ids.length; r++) {
    const position = s.past + (r % s.seq);
    for (let e = 0; e < E; e++) {
      let v = (o.inputsEmbeds ? o.inputsEmbeds[r * E + e] : wte[ids[r] * E + e]) + wpe[position * E + e];
      if (o.tokenTypes) v += wte[o.tokenTypes[r] * E + e];
      out[r * E + e] = v;
    }
  }
  return out;
}

/** HF head_mask on x [rows, H, W]: x[r, h, w] · mask[h]. */
export function headScale(x: Float32Array, mask: ArrayLike<number>, H: number, W: number): Float64Array {
  return Float64Array.from(x, (v, i) => v * mask[Math.floor(i / W) % H]);
}

/** x / sqrt(mean(x²) + eps) * weight, per row of `dim`. */
export function rmsNorm(x: Float32Array, weight: Float32Array, dim: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += dim) {
    let sumSquares = 0;
    for (let e = 0; e < dim; e++) sumSquares += x[base + e] ** 2;
    const scale = 1 / Math.sqrt(sumSquares / dim + eps);
    for (let e = 0; e < dim; e++) out[base + e] = x[base + e] * scale * weight[e];
  }
  return out;
}

export const quickGelu = (v: number): number => v / (1 + Math.exp(-1.702 * v));

/** act(x @ w + bias) (+ accumulateInto when given): x [rows, K], w [K, N]. */
export function matmul(
  x: Float32Array,
  w: Float32Array,
  K: number,
  N: number,
  o: { bias?: Float32Array; activation?: 'none' | 'quick_gelu'; accumulateInto?: Float32Array } = {},
): Float64Array {
  const rows = x.length / K;
  const out = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) {
      let v = o.bias ? o.bias[n] : 0;
      for (let k = 0; k < K; k++) v += x[r * K + k] * w[k * N + n];
      if (o.activation === 'quick_gelu') v = quickGelu(v);
      if (o.accumulateInto) v += o.accumulateInto[r * N + n];
      out[r * N + n] = v;
    }
  }
  return out;
}

export interface AttentionDims {
  nHead: number;
  dim: number;
  maxPositions: number;
  scale: number;
}

/**
 * exp(q·k·scale - max) of row r, head h over keys 0 … keys-1 (0 where `allowed` says no), in an array of `length`
 * (≥ keys; the tail stays 0): the unnormalised softmax that attention and attentionWeights share.
 */
function causalScores(
  qkv: Float32Array,
  kCache: Float32Array,
  o: AttentionDims,
  s: Shape,
  r: number,
  h: number,
  length: number,
  allowed: (j: number) => boolean,
): Float64Array {
  const E = o.dim;
  const D = E / o.nHead;
  const b = Math.floor(r / s.seq);
  const keys = s.past + (r % s.seq) + 1;
  const base = (b * o.nHead + h) * o.maxPositions * D;
  const w = new Float64Array(length);
  let max = -Infinity;
  for (let j = 0; j < keys; j++) {
    if (!allowed(j)) continue;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += qkv[r * 3 * E + h * D + d] * kCache[base + j * D + d];
    w[j] = dot * o.scale;
    max = Math.max(max, w[j]);
  }
  for (let j = 0; j < keys; j++) w[j] = allowed(j) ? Math.exp(w[j] - max) : 0;
  return w;
}

/**
 * Causal attention of this step's queries over a cache that already holds positions 0 … past+seq-1.
 * qkv [rows, 3E]; caches [batch, H, maxPositions, D]; returns [rows, E]. maskedAttention with every key allowed.
 */
export function attention(qkv: Float32Array, kCache: Float32Array, vCache: Float32Array, o: AttentionDims, s: Shape): Float64Array {
  return maskedAttention(qkv, kCache, vCache, o, s);
}

/**
 * The attention weights of this step's queries (HF output_attentions): [rows, H, maxPositions], softmax of
 * q·kᵀ·scale over positions 0 … past+i, 0 after. Same inputs as `attention`.
 */
export function attentionWeights(qkv: Float32Array, kCache: Float32Array, o: AttentionDims, s: Shape): Float64Array {
  const P = o.maxPositions;
  const rows = s.batch * s.seq;
  const out = new Float64Array(rows * o.nHead * P);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < o.nHead; h++) {
      const w = causalScores(qkv, kCache, o, s, r, h, s.past + (r % s.seq) + 1, () => true);
      const total = w.reduce((a, x) => a + x, 0);
      for (let j = 0; j < w.length; j++) out[(r * o.nHead + h) * P + j] = w[j] / total;
    }
  }
  return out;
}

/** Writes k and v of each row into caches [batch, H, maxPositions, D] (in place). */
export function kvAppend(
  qkv: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  o: { nHead: number; dim: number; maxPositions: number },
  s: Shape,
): void {
  const E = o.dim;
  const D = E / o.nHead;
  for (let r = 0; r < s.batch * s.seq; r++) {
    const b = Math.floor(r / s.seq);
    const position = s.past + (r % s.seq);
    for (let e = 0; e < E; e++) {
      const h = Math.floor(e / D);
      const slot = ((b * o.nHead + h) * o.maxPositions + position) * D + (e % D);
      kCache[slot] = qkv[r * 3 * E + E + e];
      vCache[slot] = qkv[r * 3 * E + 2 * E + e];
    }
  }
}

/** out[b] = start[b] + Σ_i x[b * seq + i]. */
export function meanPoolSum(x: Float32Array, start: Float32Array, dim: number, s: Shape): Float64Array {
  const out = Float64Array.from(start);
  for (let b = 0; b < s.batch; b++) {
    for (let i = 0; i < s.seq; i++) {
      for (let e = 0; e < dim; e++) out[b * dim + e] += x[(b * s.seq + i) * dim + e];
    }
  }
  return out;
}

/** -log softmax(logits[r])[targets[r]] per row of `vocab` (nats), 0 where targets[r] < 0; float64. */
export function crossEntropy(logits: Float32Array, targets: Int32Array, vocab: number): Float64Array {
  const out = new Float64Array(targets.length);
  for (let r = 0; r < targets.length; r++) {
    if (targets[r] < 0) continue;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let peak = -Infinity;
    for (const v of row) peak = Math.max(peak, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - peak);
    out[r] = Math.log(sum) + peak - row[targets[r]];
  }
  return out;
}

/**
 * attention with HF's attention_mask over the cache: keyMask [batch, maxPositions] (1 attend, 0 masked; none: all
 * attend). A query with an allowed visible key: softmax over its allowed visible keys. A query whose visible keys are
 * all masked: HF's f32 arithmetic (finfo.min added after the causal finfo.min) makes it uniform over its visible keys
 * and this step's allowed later keys (positions < past + seq).
 */
export function maskedAttention(
  qkv: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  o: AttentionDims,
  s: Shape,
  keyMask?: Uint32Array,
): Float64Array {
  const E = o.dim;
  const D = E / o.nHead;
  const rows = s.batch * s.seq;
  const out = new Float64Array(rows * E);
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / s.seq);
    const keys = s.past + (r % s.seq) + 1;
    const allowed = (j: number) => keyMask === undefined || keyMask[b * o.maxPositions + j] !== 0;
    const fullyMasked = !Array.from({ length: keys }, (_, j) => allowed(j)).some(Boolean);
    for (let h = 0; h < o.nHead; h++) {
      const base = (b * o.nHead + h) * o.maxPositions * D;
      const end = fullyMasked ? s.past + s.seq : keys;
      const w = fullyMasked
        ? Float64Array.from({ length: end }, (_, j) => (j < keys || allowed(j) ? 1 : 0))
        : causalScores(qkv, kCache, o, s, r, h, end, allowed);
      const total = w.reduce((a, x) => a + x, 0);
      for (let d = 0; d < D; d++) {
        let v = 0;
        for (let j = 0; j < end; j++) v += w[j] * vCache[base + j * D + d];
        out[r * E + h * D + d] = v / total;
      }
    }
  }
  return out;
}
