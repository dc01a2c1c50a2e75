// The ImageGPT forward as GPU work, in the order of shared/REFERENCE.md:
// embed, then per block ln_1 → qkv → attention (KV cache) → proj + residual → ln_2 → fc + quick-GELU
// → proj + residual, then ln_f and the head. Every op (pipeline + bind group) is made once, here;
// `encode` only records dispatches for one step's shape.
// With the default tuning a block is five ops: ln_1 is folded into the qkv matmul (tuning.foldNorm), which also
// appends this step's K/V to the cache (tuning.fusedKvAppend); ln_2 into fc; ln_f into the head when nothing reads
// the normed last hidden state. Each flag off adds that kernel back on its own.
import { ImageGPTError } from '../errors';
import type { Kernels } from '../gpu/kernels';
import type { Op, StepShape } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import type { ModelWeights } from './weights';

/** The GPU buffers one forward works in, sized for `maxRows` rows (batch × new tokens). */
export interface ActivationBuffers {
  step: GPUBuffer; // uniform StepShape
  ids: GPUBuffer; // i32 [maxRows]
  hidden: GPUBuffer; // f32 [maxRows, E]   the residual stream
  normed: GPUBuffer; // f32 [maxRows, E]   ln_1 / ln_2 / ln_f output
  qkv: GPUBuffer; // f32 [maxRows, 3E]
  attnOut: GPUBuffer; // f32 [maxRows, E]
  mlp: GPUBuffer; // f32 [maxRows, I]
  logits: GPUBuffer; // f32 [maxRows, V-1]
  pooled: GPUBuffer[]; // per hidden state k: f32 [batch, E], Σ over tokens (features)
  kCache: GPUBuffer[]; // per layer f32 [batch, H, maxLength, D]
  vCache: GPUBuffer[];
}

export interface EncodeOptions {
  /** Stop after hidden state `stopAt` (0 = embeddings … n_layer = after ln_f); default: run everything. */
  stopAt?: number;
  /** Compute the logits (needs stopAt = n_layer, the default). */
  head?: boolean;
  /** Add Σ over this step's tokens of each of these hidden states k into `pooled[k]`. */
  poolHidden?: readonly number[];
  /** Called with the buffer holding hidden state k, between passes, so the caller can copy it out. */
  onHidden?: (k: number, buffer: GPUBuffer, encoder: GPUCommandEncoder) => void;
  /**
   * Per layer i, right after its attention: that layer's attention weights for this step's queries are written
   * to `attentionOut` (f32 [rows, n_head, maxLength], 0 past each query's last key), then onAttention(i, …) is
   * called between passes so the caller can copy them out. Without onAttention no weights are computed.
   */
  onAttention?: (layer: number, buffer: GPUBuffer, encoder: GPUCommandEncoder) => void;
  attentionOut?: GPUBuffer;
  /**
   * HF attention_mask: u32 [batch, maxLength], key j of sequence b attended only where keyMask[b, j] ≠ 0 (the
   * caller has written this step's keys' bits). Masked attention ops are made on first use: none otherwise.
   */
  keyMask?: GPUBuffer;
  /** HF position_ids: u32 [rows] of this step, the wpe row of each token (default past + i). */
  positions?: GPUBuffer;
  /** HF token_type_ids: i32 [rows] of this step; wte[tokenTypes[r]] is added to the embedding. */
  tokenTypes?: GPUBuffer;
  /** HF inputs_embeds: f32 [rows, E] of this step, used instead of wte[ids] (ids are not read). */
  inputsEmbeds?: GPUBuffer;
  /**
   * HF head_mask: f32 table [n_layer, headMaskStride / 4] (src/gpu/attention.ts); layer i's attention output (and
   * its attention weights, where asked) are scaled per head by row i. One more small dispatch per layer, only then.
   */
  headMask?: GPUBuffer;
  /**
   * poolHidden pools ImageGPT's layer norm of hidden state k < n_layer with block k's ln_1 gains (what block k's
   * attention reads) instead of the raw state; hidden state n_layer is already ln_f's output and is pooled as is.
   */
  poolNormed?: boolean;
  /** Ops recorded after the head in the same pass (the sampler). */
  extra?: Op[];
}

/** One transformer block: its ops in order, and which of them is the attention (swapped for the masked variant and
 *  followed by the attention weights when a step asks for them). */
interface Block {
  ops: Op[];
  attention: Op;
}

export class ForwardPlan {
  private readonly embed: Op;
  private readonly blocks: Block[];
  /** ln_f then the head: what runs without foldNorm, and with it where the normed hidden state is read. */
  private readonly lnF: Op;
  private readonly head: Op | null;
  /** The head reading the residual stream with ln_f folded in (foldNorm only). */
  private readonly normedHead: Op | null = null;
  /** tuning.foldNorm: ln_1 / ln_2 / ln_f folded into the matmuls that read them. */
  private readonly foldNorm: boolean;
  /** Every op made here (destroy frees them). */
  private readonly made: Op[] = [];
  private readonly poolOps: Map<number, Op> = new Map();
  private readonly scales: number[] = [];
  /** The attention-weight ops of the last output buffer asked for (made on first use: nothing otherwise). */
  private weightOps: { out: GPUBuffer; keyMask: GPUBuffer | undefined; ops: Op[] } | null = null;
  /** Per layer, attention reading a key mask; and embed reading position ids (made on first use). */
  private maskedOps: { keyMask: GPUBuffer; ops: Op[] } | null = null;
  /** The embed of the last optional inputs asked for (position ids, token types, inputs embeds), made on first use. */
  private inputEmbed: { key: (GPUBuffer | undefined)[]; op: Op } | null = null;
  /** Per layer, the head-mask scaling of the attention output, and of the attention weights (made on first use). */
  private headScaleOps: { mask: GPUBuffer; ops: Op[] } | null = null;
  private weightScaleOps: { mask: GPUBuffer; out: GPUBuffer; ops: Op[] } | null = null;
  /** Per hidden state k < n_layer: block k's ln_1 into `normed` (poolNormed), made on first use. */
  private readonly featureNormOps = new Map<number, Op>();
  private readonly normedPoolOps = new Map<number, Op>();
  private readonly weights: ModelWeights;

  constructor(
    private readonly kernels: Kernels,
    private readonly config: ImageGPTConfig,
    weights: ModelWeights,
    private readonly buf: ActivationBuffers,
    private readonly maxLength: number,
  ) {
    const { n_embd: E, n_head: H, layer_norm_epsilon: eps } = config;
    const D = E / H;
    const step = buf.step;
    this.weights = weights;
    this.foldNorm = kernels.tuning.foldNorm;
    const fusedKvAppend = kernels.tuning.fusedKvAppend;
    // An Op may own GPU memory (attention scratch): if a later one fails, free those made so far.
    const made = this.made;
    const keep = <T extends Op>(op: T): T => {
      made.push(op);
      return op;
    };
    try {
      this.embed = keep(kernels.embed({ step, ids: buf.ids, wte: weights.wte, wpe: weights.wpe, out: buf.hidden }));
      this.blocks = weights.layers.map((w, i) => {
        let scale = config.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
        if (config.scale_attn_by_inverse_layer_idx) scale /= i + 1;
        this.scales.push(scale);
        const cache = { kCache: buf.kCache[i], vCache: buf.vCache[i], nHead: H, dim: E, maxPositions: maxLength };
        const attnProj = { step, x: buf.attnOut, w: w.attnProjW, bias: w.attnProjB, out: buf.hidden, accumulate: true };
        const mlpProj = { step, x: buf.mlp, w: w.mlpProjW, bias: w.mlpProjB, out: buf.hidden, accumulate: true };
        const ops: Op[] = [];
        // ln_1: folded into the qkv matmul, or a kernel of its own writing `normed`, which the matmul reads.
        const ln1 = this.foldNorm ? { x: buf.hidden, norm: { weight: w.ln1, eps } } : { x: buf.normed };
        if (!this.foldNorm) ops.push(keep(kernels.rmsNorm({ step, x: buf.hidden, weight: w.ln1, out: buf.normed, dim: E, eps })));
        const kvAppend = fusedKvAppend ? { kvAppend: { kCache: cache.kCache, vCache: cache.vCache, nHead: H, maxPositions: maxLength } } : {};
        ops.push(keep(kernels.matmul({ step, ...ln1, w: w.attnW, bias: w.attnB, out: buf.qkv, ...kvAppend })));
        if (!fusedKvAppend) ops.push(keep(kernels.kvAppend({ step, qkv: buf.qkv, ...cache })));
        const attention = keep(kernels.attention({ step, qkv: buf.qkv, out: buf.attnOut, scale, ...cache }));
        ops.push(attention, keep(kernels.matmul(attnProj)));
        const ln2 = this.foldNorm ? { x: buf.hidden, norm: { weight: w.ln2, eps } } : { x: buf.normed };
        if (!this.foldNorm) ops.push(keep(kernels.rmsNorm({ step, x: buf.hidden, weight: w.ln2, out: buf.normed, dim: E, eps })));
        ops.push(keep(kernels.matmul({ step, ...ln2, w: w.fcW, bias: w.fcB, out: buf.mlp, activation: 'quick_gelu' })));
        ops.push(keep(kernels.matmul(mlpProj)));
        return { ops, attention };
      });
      this.lnF = keep(kernels.rmsNorm({ step, x: buf.hidden, weight: weights.lnF, out: buf.normed, dim: E, eps }));
      const lmHead = weights.lmHead;
      this.head = lmHead ? keep(kernels.matmul({ step, x: buf.normed, w: lmHead, out: buf.logits })) : null;
      if (this.foldNorm && lmHead) {
        this.normedHead = keep(kernels.matmul({ step, x: buf.hidden, w: lmHead, out: buf.logits, norm: { weight: weights.lnF, eps } }));
      }
    } catch (e) {
      for (const op of made) op.destroy?.();
      throw e;
    }
  }

  /** Which buffer holds hidden state k once it has been computed (HF output_hidden_states numbering). */
  hiddenBuffer(k: number): GPUBuffer {
    return k === this.config.n_layer ? this.buf.normed : this.buf.hidden;
  }

  private pool(k: number): Op {
    const cached = this.poolOps.get(k);
    if (cached) return cached;
    const op = this.kernels.meanPoolSum({ step: this.buf.step, x: this.hiddenBuffer(k), out: this.buf.pooled[k], dim: this.config.n_embd });
    this.poolOps.set(k, op);
    return op;
  }

  /** Layer i's attention-weight op writing into `out` (the same scale, cache and key mask as its attention). */
  private weightOp(i: number, out: GPUBuffer, keyMask: GPUBuffer | undefined): Op {
    if (this.weightOps?.out !== out || this.weightOps.keyMask !== keyMask) {
      const { n_embd: E, n_head: H } = this.config;
      const ops = this.scales.map((scale, layer) =>
        this.kernels.attentionWeights({ step: this.buf.step, qkv: this.buf.qkv, kCache: this.buf.kCache[layer], out, nHead: H, dim: E, maxPositions: this.maxLength, scale, keyMask }),
      );
      this.weightOps = { out, keyMask, ops };
    }
    return this.weightOps.ops[i];
  }

  /** Layer i's attention: the plain op, or the one reading `keyMask`. */
  private attentionOp(i: number, keyMask: GPUBuffer | undefined): Op {
    if (!keyMask) return this.blocks[i].attention;
    if (this.maskedOps?.keyMask !== keyMask) {
      for (const op of this.maskedOps?.ops ?? []) op.destroy?.();
      this.maskedOps = null;
      const { n_embd: E, n_head: H } = this.config;
      const ops: Op[] = [];
      try {
        this.scales.forEach((scale, layer) => {
          const cache = { kCache: this.buf.kCache[layer], vCache: this.buf.vCache[layer], nHead: H, dim: E, maxPositions: this.maxLength };
          ops.push(this.kernels.attention({ step: this.buf.step, qkv: this.buf.qkv, out: this.buf.attnOut, scale, keyMask, ...cache }));
        });
      } catch (e) {
        for (const op of ops) op.destroy?.();
        throw e;
      }
      this.maskedOps = { keyMask, ops };
    }
    return this.maskedOps.ops[i];
  }

  private embedOp(o: Pick<EncodeOptions, 'positions' | 'tokenTypes' | 'inputsEmbeds'>): Op {
    const key = [o.positions, o.tokenTypes, o.inputsEmbeds];
    if (key.every((b) => b === undefined)) return this.embed;
    if (!this.inputEmbed || this.inputEmbed.key.some((b, i) => b !== key[i])) {
      const w = this.weights;
      const op = this.kernels.embed({ step: this.buf.step, ids: this.buf.ids, wte: w.wte, wpe: w.wpe, out: this.buf.hidden, ...o });
      this.inputEmbed = { key, op };
    }
    return this.inputEmbed.op;
  }

  /** Layer i's head-mask scaling of its attention output (x = attnOut) or of its attention weights (x = out). */
  private headScaleOp(i: number, mask: GPUBuffer, weightsOut?: GPUBuffer): Op {
    const { n_head: H, n_embd: E } = this.config;
    const make = (x: GPUBuffer, width: number | 'positions') =>
      this.weights.layers.map((_, layer) => this.kernels.headScale({ step: this.buf.step, x, mask, layer, nHead: H, width }));
    if (weightsOut) {
      if (this.weightScaleOps?.mask !== mask || this.weightScaleOps.out !== weightsOut) {
        this.weightScaleOps = { mask, out: weightsOut, ops: make(weightsOut, 'positions') };
      }
      return this.weightScaleOps.ops[i];
    }
    if (this.headScaleOps?.mask !== mask) this.headScaleOps = { mask, ops: make(this.buf.attnOut, E / H) };
    return this.headScaleOps.ops[i];
  }

  /** Σ over this step's tokens of ln_1[k](hidden state k) into pooled[k] (k < n_layer): the norm, then the pool. */
  private normedPool(k: number): Op[] {
    let norm = this.featureNormOps.get(k);
    let pool = this.normedPoolOps.get(k);
    if (!norm || !pool) {
      const { n_embd: E, layer_norm_epsilon: eps } = this.config;
      const { step, hidden, normed } = this.buf;
      norm = this.kernels.rmsNorm({ step, x: hidden, weight: this.weights.layers[k].ln1, out: normed, dim: E, eps });
      pool = this.kernels.meanPoolSum({ step, x: normed, out: this.buf.pooled[k], dim: E });
      this.featureNormOps.set(k, norm);
      this.normedPoolOps.set(k, pool);
    }
    return [norm, pool];
  }

  /** Every op of a full step with the head (of this tuning's path), in order (the benchmark times and counts them). */
  allOps(): Op[] {
    const ops = [this.embed];
    for (const b of this.blocks) ops.push(...b.ops);
    if (this.normedHead) ops.push(this.normedHead);
    else {
      ops.push(this.lnF);
      if (this.head) ops.push(this.head);
    }
    return ops;
  }

  /** Frees what the ops own (attention scratch); the plan is unusable afterwards. */
  destroy(): void {
    for (const op of [...this.made, ...this.poolOps.values(), ...(this.maskedOps?.ops ?? [])]) op.destroy?.();
  }

  get hasHead(): boolean {
    return this.head !== null;
  }

  /** Records one step (batch × seq new tokens at position past) into the encoder. */
  encode(encoder: GPUCommandEncoder, step: StepShape, opts: EncodeOptions = {}): void {
    const L = this.config.n_layer;
    const stopAt = opts.stopAt ?? L;
    if (opts.head && stopAt !== L) throw new ImageGPTError('E_INTERNAL', 'ForwardPlan: the head needs the full forward');
    if (opts.head && !this.head) throw new ImageGPTError('E_UNSUPPORTED', 'This checkpoint has no lm_head.weight (a classification checkpoint?): no logits');
    if (opts.onAttention && !opts.attentionOut) throw new ImageGPTError('E_INTERNAL', 'ForwardPlan: onAttention needs attentionOut, the buffer the weights go to');
    let pass = encoder.beginComputePass();
    // Hidden state k is ready: pool it and/or hand it out (which needs the pass closed for copies).
    const reached = (k: number) => {
      if (opts.poolHidden?.includes(k)) {
        for (const op of opts.poolNormed && k < L ? this.normedPool(k) : [this.pool(k)]) op.encode(pass, step);
      }
      if (opts.onHidden) {
        pass.end();
        opts.onHidden(k, this.hiddenBuffer(k), encoder);
        pass = encoder.beginComputePass();
      }
    };

    this.embedOp(opts).encode(pass, step);
    reached(0);
    for (let i = 0; i < L && i < stopAt; i++) {
      const b = this.blocks[i];
      for (const op of b.ops) {
        if (op !== b.attention) {
          op.encode(pass, step);
          continue;
        }
        this.attentionOp(i, opts.keyMask).encode(pass, step);
        if (opts.headMask) this.headScaleOp(i, opts.headMask).encode(pass, step);
        if (opts.onAttention) {
          this.weightOp(i, opts.attentionOut!, opts.keyMask).encode(pass, step);
          if (opts.headMask) this.headScaleOp(i, opts.headMask, opts.attentionOut!).encode(pass, step);
          pass.end();
          opts.onAttention(i, opts.attentionOut!, encoder);
          pass = encoder.beginComputePass();
        }
      }
      if (i + 1 < L) reached(i + 1);
    }
    if (stopAt === L) {
      // The folded head reads the residual stream itself, unless someone reads the normed hidden state (hidden state L).
      const normedRead = opts.onHidden !== undefined || (opts.poolHidden?.includes(L) ?? false);
      if (opts.head && this.normedHead && !normedRead) {
        this.normedHead.encode(pass, step);
      } else {
        this.lnF.encode(pass, step);
        reached(L);
        if (opts.head) this.head!.encode(pass, step);
      }
    }
    for (const op of opts.extra ?? []) op.encode(pass, step);
    pass.end();
  }
}
