// A small, readable CPU training step in float64: forward keeping what backward needs, the loss, backward per op,
// global-norm clipping and AdamW. It is the yardstick the GPU trainer's kernels are tested against, and it is
// itself checked against torch (test/fixtures/train, made by weights-tools/make_train_fixtures.py).
// Semantics as the project's training docs give them; norm gains get no gradient (as in Hugging Face's ImageGPT).
import type { ImageGPTConfig } from '../../src/model/config';
import { dropoutHash, dropoutSite, dropoutThreshold } from '../../src/train/dropout-mask';

/** Row-major matrices as flat arrays; `rows × cols`. */
export type Mat = Float64Array;

/** C[m×n] = A·B, A[m×k] (or Aᵀ when `ta`: A stored [k×m]), B[k×n] (or Bᵀ when `tb`: B stored [n×k]). */
export function mm(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number, ta = false, tb = false): Mat {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const a = ta ? A[p * m + i] : A[i * k + p];
      if (a === 0) continue;
      for (let j = 0; j < n; j++) C[i * n + j] += a * (tb ? B[j * k + p] : B[p * n + j]);
    }
  }
  return C;
}

function addBias(x: Mat, b: ArrayLike<number>, n: number): Mat {
  for (let i = 0; i < x.length; i++) x[i] += b[i % n];
  return x;
}

/** Σ over rows of x[rows×n]: a bias's gradient. */
export function sumRows(x: Mat, n: number): Mat {
  const s = new Float64Array(n);
  for (let i = 0; i < x.length; i++) s[i % n] += x[i];
  return s;
}

function add(a: Mat, b: Mat): Mat {
  return a.map((v, i) => v + b[i]);
}

/** ImageGPT's norm per row: y = g ⊙ x · r, r = 1/sqrt(mean(x²) + eps). Returns y and r per row. */
export function norm(x: Mat, g: ArrayLike<number>, E: number, eps: number): { y: Mat; r: Mat } {
  const rows = x.length / E;
  const y = new Float64Array(x.length);
  const r = new Float64Array(rows);
  for (let n = 0; n < rows; n++) {
    let ss = 0;
    for (let e = 0; e < E; e++) ss += x[n * E + e] ** 2;
    r[n] = 1 / Math.sqrt(ss / E + eps);
    for (let e = 0; e < E; e++) y[n * E + e] = g[e] * x[n * E + e] * r[n];
  }
  return { y, r };
}

/** The norm's backward for x: with u = dy ⊙ g, dx = r·u − x·r³·mean(u ⊙ x). */
export function normBackward(x: Mat, r: Mat, g: ArrayLike<number>, dy: Mat, E: number): Mat {
  const dx = new Float64Array(x.length);
  for (let n = 0; n < r.length; n++) {
    let ux = 0;
    for (let e = 0; e < E; e++) ux += dy[n * E + e] * g[e] * x[n * E + e];
    ux /= E;
    for (let e = 0; e < E; e++) dx[n * E + e] = r[n] * dy[n * E + e] * g[e] - x[n * E + e] * r[n] ** 3 * ux;
  }
  return dx;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const quickGelu = (v: number): number => v * sigmoid(1.702 * v);
export const quickGeluGrad = (v: number): number => {
  const s = sigmoid(1.702 * v);
  return s + 1.702 * v * s * (1 - s);
};

/** Sizes of causal attention over rows b·T + t; qkv rows are [q | k | v], head h at columns h·D of each part. */
export interface AttentionSizes {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  scale: number;
}

/**
 * Dropout multipliers per element (0 where dropped, 1/(1 − p) where kept) of the places a training step drops: the
 * embeddings' output [N·E], and per layer the attention probabilities [B·H·T·T] and both c_proj outputs [N·E].
 * An absent one drops nothing.
 */
export interface DropoutMasks {
  embeddings?: Mat;
  layers: { attention?: Mat; attentionOutput?: Mat; mlpOutput?: Mat }[];
}

/** The multipliers of `count` elements the GPU's dropout at (p, seed, site, step) applies (its hash decides each). */
export function dropoutMultipliers(p: number, seed: number, site: number, step: number, count: number): Mat {
  const kept = Math.fround(1 / (1 - p)); // the kernels' scale is an f32
  return Float64Array.from({ length: count }, (_, i) => (dropoutHash(seed, site, step, i) >= dropoutThreshold(p) ? kept : 0));
}

/** Every mask of a training step with the config's shapes (the GPU trainer's sites; a place with p = 0 has none). */
export function stepMasks(config: ImageGPTConfig, batch: number, seq: number, o: { resid: number; embd: number; attn: number; seed: number; step: number }): DropoutMasks {
  const N = batch * seq * config.n_embd;
  const mask = (p: number, site: number, count: number): Mat | undefined => (p > 0 ? dropoutMultipliers(p, o.seed, site, o.step, count) : undefined);
  return {
    embeddings: mask(o.embd, dropoutSite.embeddings, N),
    layers: Array.from({ length: config.n_layer }, (_, i) => ({
      attention: mask(o.attn, dropoutSite.attention(i), batch * config.n_head * seq * seq),
      attentionOutput: mask(o.resid, dropoutSite.attentionOutput(i), N),
      mlpOutput: mask(o.resid, dropoutSite.mlpOutput(i), N),
    })),
  };
}

/** x ⊙ mask (x itself without a mask). */
function drop(x: Mat, mask?: Mat): Mat {
  return mask ? x.map((v, k) => v * mask[k]) : x;
}

/**
 * p [B, H, T, T] = softmax(q kᵀ · scale) under the causal mask (0 above the diagonal), merged [rows, E] = (p ⊙ drop) v
 * with `drop` [B, H, T, T] the dropout multipliers (p is returned before dropout).
 */
export function attentionForward(qkv: Mat, a: AttentionSizes, dropMask?: Mat): { p: Mat; merged: Mat } {
  const { batch: B, seq: T, heads: H, headDim: D, scale } = a;
  const E = H * D;
  const at = (b: number, t: number, part: number, hd: number, d: number) => (b * T + t) * 3 * E + part * E + hd * D + d;
  const p = new Float64Array(B * H * T * T);
  const merged = new Float64Array(B * T * E);
  for (let b = 0; b < B; b++) {
    for (let hd = 0; hd < H; hd++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * H + hd) * T + t) * T;
        let max = -Infinity;
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qkv[at(b, t, 0, hd, d)] * qkv[at(b, u, 1, hd, d)];
          p[row + u] = dot * scale;
          max = Math.max(max, p[row + u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += (p[row + u] = Math.exp(p[row + u] - max));
        for (let u = 0; u <= t; u++) {
          p[row + u] /= sum;
          const kept = p[row + u] * (dropMask ? dropMask[row + u] : 1);
          for (let d = 0; d < D; d++) merged[(b * T + t) * E + hd * D + d] += kept * qkv[at(b, u, 2, hd, d)];
        }
      }
    }
  }
  return { p, merged };
}

/**
 * Attention's backward: dv = (p ⊙ drop)ᵀ·do, dp = drop ⊙ (do·vᵀ), ds = p ⊙ (dp − rowsum(dp ⊙ p)), dq = ds·k·scale,
 * dk = dsᵀ·q·scale (`dropMask` as the forward's; none: all 1).
 */
export function attentionBackward(qkv: Mat, p: Mat, dmerged: Mat, a: AttentionSizes, dropMask?: Mat): Mat {
  const { batch: B, seq: T, heads: H, headDim: D, scale } = a;
  const E = H * D;
  const at = (b: number, t: number, part: number, hd: number, d: number) => (b * T + t) * 3 * E + part * E + hd * D + d;
  const dqkv = new Float64Array(B * T * 3 * E);
  for (let b = 0; b < B; b++) {
    for (let hd = 0; hd < H; hd++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * H + hd) * T + t) * T;
        const dp = new Float64Array(t + 1);
        let dot = 0;
        for (let u = 0; u <= t; u++) {
          const m = dropMask ? dropMask[row + u] : 1;
          for (let d = 0; d < D; d++) {
            dp[u] += m * dmerged[(b * T + t) * E + hd * D + d] * qkv[at(b, u, 2, hd, d)];
            dqkv[at(b, u, 2, hd, d)] += m * p[row + u] * dmerged[(b * T + t) * E + hd * D + d];
          }
          dot += dp[u] * p[row + u];
        }
        for (let u = 0; u <= t; u++) {
          const ds = p[row + u] * (dp[u] - dot) * scale;
          for (let d = 0; d < D; d++) {
            dqkv[at(b, t, 0, hd, d)] += ds * qkv[at(b, u, 1, hd, d)];
            dqkv[at(b, u, 1, hd, d)] += ds * qkv[at(b, t, 0, hd, d)];
          }
        }
      }
    }
  }
  return dqkv;
}

export type Labels = { kind: 'causal'; labels: number[][] } | { kind: 'classes'; labels: number[] };

export interface StepResult {
  loss: number;
  /** Every trainable weight's gradient (norm gains have none). */
  grads: Map<string, Float64Array>;
}

/** Loss and gradients of one batch. `ids` [B][T], SOS first. Causal labels [B][T] (-100 ignored); classes [B] (-100 ignored). */
export function lossAndGrads(
  config: ImageGPTConfig,
  weights: ReadonlyMap<string, Float32Array | Float64Array>,
  ids: number[][],
  labels: Labels,
  masks?: DropoutMasks,
): StepResult {
  const { n_embd: E, n_head: H, n_layer: L, layer_norm_epsilon: eps } = config;
  const I = config.n_inner ?? 4 * E;
  const D = E / H;
  const B = ids.length;
  const T = ids[0].length;
  const N = B * T;
  const W = (name: string): Float32Array | Float64Array => {
    const t = weights.get(name);
    if (!t) throw new Error(`reference train: missing ${name}`);
    return t;
  };
  const grads = new Map<string, Float64Array>();
  const grad = (name: string, g: Float64Array) => grads.set(name, add(grads.get(name) ?? new Float64Array(g.length), g));

  // Forward, keeping each block's inputs, norms, attention probabilities and MLP pre-activation.
  const wte = W('transformer.wte.weight');
  const wpe = W('transformer.wpe.weight');
  let h: Mat = new Float64Array(N * E);
  for (let n = 0; n < N; n++) {
    const id = ids[Math.floor(n / T)][n % T];
    for (let e = 0; e < E; e++) h[n * E + e] = wte[id * E + e] + wpe[(n % T) * E + e];
  }
  h = drop(h, masks?.embeddings);
  interface Saved {
    x: Mat; r1: Mat; n1: Mat; qkv: Mat; p: Mat; merged: Mat; h1: Mat; r2: Mat; n2: Mat; f: Mat; act: Mat;
  }
  const saved: Saved[] = [];
  for (let i = 0; i < L; i++) {
    const pre = `transformer.h.${i}.`;
    let scale = config.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
    if (config.scale_attn_by_inverse_layer_idx) scale /= i + 1;
    const { y: n1, r: r1 } = norm(h, W(pre + 'ln_1.weight'), E, eps);
    const qkv = addBias(mm(n1, W(pre + 'attn.c_attn.weight'), N, E, 3 * E), W(pre + 'attn.c_attn.bias'), 3 * E);
    const dropped = masks?.layers[i];
    const { p, merged } = attentionForward(qkv, { batch: B, seq: T, heads: H, headDim: D, scale }, dropped?.attention);
    const h1 = add(h, drop(addBias(mm(merged, W(pre + 'attn.c_proj.weight'), N, E, E), W(pre + 'attn.c_proj.bias'), E), dropped?.attentionOutput));
    const { y: n2, r: r2 } = norm(h1, W(pre + 'ln_2.weight'), E, eps);
    const f = addBias(mm(n2, W(pre + 'mlp.c_fc.weight'), N, E, I), W(pre + 'mlp.c_fc.bias'), I);
    const act = f.map(quickGelu);
    saved.push({ x: h, r1, n1, qkv, p, merged, h1, r2, n2, f, act });
    h = add(h1, drop(addBias(mm(act, W(pre + 'mlp.c_proj.weight'), N, I, E), W(pre + 'mlp.c_proj.bias'), E), dropped?.mlpOutput));
  }
  const { y: nf, r: rf } = norm(h, W('transformer.ln_f.weight'), E, eps);

  // Loss and its gradient at the output of ln_f.
  let loss = 0;
  let dnf: Mat;
  if (labels.kind === 'causal') {
    const V = config.vocab_size - 1;
    const head = W('lm_head.weight'); // [V, E]
    const logits = mm(nf, head, N, E, V, false, true);
    const dlogits = new Float64Array(N * V);
    let counted = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) if (labels.labels[b][t + 1] !== -100) counted++;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        const target = labels.labels[b][t + 1];
        if (target === -100) continue;
        const o = (b * T + t) * V;
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, logits[o + v]);
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
        loss += (Math.log(sum) + max - logits[o + target]) / counted;
        for (let v = 0; v < V; v++) dlogits[o + v] = (Math.exp(logits[o + v] - max) / sum - (v === target ? 1 : 0)) / counted;
      }
    }
    grad('lm_head.weight', mm(dlogits, nf, V, N, E, true)); // dWᵀ layout: [V, E] = dlogitsᵀ · nf
    dnf = mm(dlogits, head, N, V, E);
  } else {
    const score = W('score.weight'); // [C, E]
    const C = score.length / E;
    const pooled = new Float64Array(B * E);
    for (let n = 0; n < N; n++) for (let e = 0; e < E; e++) pooled[Math.floor(n / T) * E + e] += nf[n * E + e] / T;
    const logits = mm(pooled, score, B, E, C, false, true);
    const dlogits = new Float64Array(B * C);
    // torch's CrossEntropyLoss: rows labelled -100 are ignored, the mean is over the counted ones.
    const counted = labels.labels.filter((l) => l !== -100).length;
    for (let b = 0; b < B; b++) {
      const target = labels.labels[b];
      if (target === -100) continue;
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, logits[b * C + c]);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(logits[b * C + c] - max);
      loss += (Math.log(sum) + max - logits[b * C + target]) / counted;
      for (let c = 0; c < C; c++) dlogits[b * C + c] = (Math.exp(logits[b * C + c] - max) / sum - (c === target ? 1 : 0)) / counted;
    }
    grad('score.weight', mm(dlogits, pooled, C, B, E, true));
    const dpooled = mm(dlogits, score, B, C, E);
    dnf = new Float64Array(N * E);
    for (let n = 0; n < N; n++) for (let e = 0; e < E; e++) dnf[n * E + e] = dpooled[Math.floor(n / T) * E + e] / T;
  }

  // Backward through the blocks, last first.
  let dh = normBackward(h, rf, W('transformer.ln_f.weight'), dnf, E);
  for (let i = L - 1; i >= 0; i--) {
    const pre = `transformer.h.${i}.`;
    const s = saved[i];
    let scale = config.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
    if (config.scale_attn_by_inverse_layer_idx) scale /= i + 1;
    const dropped = masks?.layers[i];
    // MLP: h = h1 + drop(act·Wp + bp), act = quickGelu(n2·Wf + bf).
    const dmlp = drop(dh, dropped?.mlpOutput);
    grad(pre + 'mlp.c_proj.weight', mm(s.act, dmlp, I, N, E, true));
    grad(pre + 'mlp.c_proj.bias', sumRows(dmlp, E));
    const dact = mm(dmlp, W(pre + 'mlp.c_proj.weight'), N, E, I, false, true);
    const df = dact.map((v, k) => v * quickGeluGrad(s.f[k]));
    grad(pre + 'mlp.c_fc.weight', mm(s.n2, df, E, N, I, true));
    grad(pre + 'mlp.c_fc.bias', sumRows(df, I));
    const dn2 = mm(df, W(pre + 'mlp.c_fc.weight'), N, I, E, false, true);
    const dh1 = add(dh, normBackward(s.h1, s.r2, W(pre + 'ln_2.weight'), dn2, E));
    // Attention output projection: h1 = x + drop(merged·Wo + bo).
    const dproj = drop(dh1, dropped?.attentionOutput);
    grad(pre + 'attn.c_proj.weight', mm(s.merged, dproj, E, N, E, true));
    grad(pre + 'attn.c_proj.bias', sumRows(dproj, E));
    const dmerged = mm(dproj, W(pre + 'attn.c_proj.weight'), N, E, E, false, true);
    const dqkv = attentionBackward(s.qkv, s.p, dmerged, { batch: B, seq: T, heads: H, headDim: D, scale }, dropped?.attention);
    grad(pre + 'attn.c_attn.weight', mm(s.n1, dqkv, E, N, 3 * E, true));
    grad(pre + 'attn.c_attn.bias', sumRows(dqkv, 3 * E));
    const dn1 = mm(dqkv, W(pre + 'attn.c_attn.weight'), N, 3 * E, E, false, true);
    dh = add(dh1, normBackward(s.x, s.r1, W(pre + 'ln_1.weight'), dn1, E));
  }
  // Embeddings: each position's gradient (through the embeddings' dropout) goes to its token's wte row and its wpe row.
  dh = drop(dh, masks?.embeddings);
  const dwte = new Float64Array(wte.length);
  const dwpe = new Float64Array(wpe.length);
  for (let n = 0; n < N; n++) {
    const id = ids[Math.floor(n / T)][n % T];
    for (let e = 0; e < E; e++) {
      dwte[id * E + e] += dh[n * E + e];
      dwpe[(n % T) * E + e] += dh[n * E + e];
    }
  }
  grad('transformer.wte.weight', dwte);
  grad('transformer.wpe.weight', dwpe);
  return { loss, grads };
}

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
}

/** Biases and norm gains get no weight decay (Hugging Face Trainer's grouping). */
export const decays = (name: string): boolean => !name.includes('.bias') && !name.includes('ln_');

/** AdamW state: step count and both moments per weight. */
export class ReferenceAdamW {
  step = 0;
  readonly m = new Map<string, Float64Array>();
  readonly v = new Map<string, Float64Array>();

  /** Clips the gradients to `maxGradNorm` (global norm) and updates `weights` in place; returns the norm before clipping. */
  update(weights: Map<string, Float64Array>, grads: Map<string, Float64Array>, o: AdamWOptions): number {
    let ss = 0;
    for (const g of grads.values()) for (const x of g) ss += x * x;
    const total = Math.sqrt(ss);
    const clip = total > o.maxGradNorm ? o.maxGradNorm / (total + 1e-6) : 1;
    this.step++;
    const [b1, b2] = o.betas;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    for (const [name, g] of grads) {
      const p = weights.get(name)!;
      const m = this.m.get(name) ?? new Float64Array(p.length);
      const v = this.v.get(name) ?? new Float64Array(p.length);
      const wd = decays(name) ? o.weightDecay : 0;
      for (let k = 0; k < p.length; k++) {
        const gk = g[k] * clip;
        p[k] *= 1 - o.lr * wd;
        m[k] = b1 * m[k] + (1 - b1) * gk;
        v[k] = b2 * v[k] + (1 - b2) * gk * gk;
        p[k] -= (o.lr * (m[k] / c1)) / (Math.sqrt(v[k] / c2) + o.eps);
      }
      this.m.set(name, m);
      this.v.set(name, v);
    }
    return total;
  }
}
