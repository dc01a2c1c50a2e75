// One training step of ImageGPTForCausalImageModeling (or, with the head of classifier-head.ts,
// ImageGPTForImageClassification) as a fixed list of dispatches: the forward keeping what the
// backward needs (per layer: its input, both norms' outputs, qkv, the attention output, h1, the MLP's pre-activation
// and activation), the loss with its gradient, the backward block by block (last first), and AdamW. Every buffer and
// op is made here, once, for one (batchSize, seqLength); a step writes its ids, targets and learning rate and
// records the list into one compute pass. The model's f32 weight buffers are updated in place. With `dropout`, the
// places Hugging Face drops in training get their ops (dropout.ts; the attention drops inside its kernels), whose
// masks are keyed by the step; a place with p = 0 gets none.
import type { ImageGPTConfig } from '../model/config';
import type { ModelWeights } from '../model/weights';
import type { KernelContext } from '../gpu/context';
import { badInput, ImageGPTError } from '../errors';
import {
  attentionBackwardOp,
  attentionForwardOp,
  columnSumOp,
  crossEntropyBackwardOp,
  embeddingBackwardOp,
  embeddingForwardOp,
  normBackwardOp,
  normForwardOp,
  quickGeluBackwardOp,
  quickGeluForwardOp,
  tokenRows,
  trainMatmulOp,
  type CrossEntropyBackwardOp,
  type TrainOp,
} from './kernels';
import { AdamW, decaysByName, type AdamWOptions, type TrainedTensor } from './adamw';
import { dropoutIntoOp, dropoutOp, type DropoutOp } from './dropout';
import { dropoutSite, type DropoutKey } from './dropout-mask';
import { classifierHead, classifierHeadBytes, type ClassifierHead } from './classifier-head';

export interface GraphOptions extends AdamWOptions {
  batchSize: number;
  seqLength: number;
  /** Dropout probabilities (the config's *_pdrop) and the masks' seed; absent or 0: no dropout op at all. */
  dropout?: GraphDropout;
}

export interface GraphDropout {
  resid: number;
  embd: number;
  attn: number;
  seed: number;
}

/** A trained weight: its HF name, the model's buffer, its gradient, and how it is laid out on the GPU. */
interface Trained extends TrainedTensor {
  /** [rows, cols] as stored on the GPU (lm_head is stored transposed: [E, V − 1]). */
  shape: [number, number] | [number];
  transposed: boolean;
}

/**
 * Bytes of every buffer the graph makes (activations, gradients, both moments), for the size check before making any.
 * `numLabels`: a classifier's head (its score and the head's buffers) instead of the causal one's lm_head and logits.
 */
export function trainingBytes(config: ImageGPTConfig, batchSize: number, seqLength: number, numLabels?: number): { activations: number; weights: number } {
  const { n_embd: E, n_layer: L, vocab_size: V, n_positions: P } = config;
  const I = config.n_inner;
  const N = batchSize * seqLength;
  const perLayer = N * (5 * E + 3 * E + 2 * I);
  const head = numLabels === undefined ? { rows: N * (V - 1), weights: E * (V - 1), extra: 0 } : { rows: 0, weights: E * numLabels, extra: classifierHeadBytes(batchSize, E, numLabels) / 4 };
  const scratch = N * (E * 3 + I + 3 * E + 2 * config.n_head) + N * (E * 2 + 4) + head.rows + head.extra;
  const weights = V * E + P * E + L * (E * 3 * E + 3 * E + E * E + E + E * I + I + I * E + E) + head.weights;
  return { activations: 4 * (L * perLayer + scratch), weights: 4 * weights };
}

export class TrainingGraph {
  readonly batchSize: number;
  readonly seqLength: number;
  readonly optimizer: AdamW;
  /** Trained tensors in a fixed order (the optimizer's order too). */
  readonly trained: readonly Trained[];
  private readonly forward: TrainOp[] = [];
  private readonly backward: TrainOp[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly ops: TrainOp[] = [];
  /** The ops that drop values: each step gives them its step number, which keys their masks. */
  private readonly dropouts: DropoutOp[] = [];
  /** The causal head's loss (null for a classifier). */
  private readonly crossEntropy: CrossEntropyBackwardOp | null = null;
  /** ImageGPTForImageClassification's head (null for the causal model). */
  readonly classifier: ClassifierHead | null = null;
  private readonly idsBuffer: GPUBuffer;
  private readonly targetsBuffer: GPUBuffer;
  private readonly startsBuffer: GPUBuffer;
  private readonly rowsOfBuffer: GPUBuffer;
  /** Σ of the per-row losses (nats) of the last step, f32 [1]: the mean is this / the counted targets. */
  readonly lossSum: GPUBuffer;
  private readonly idsScratch: Uint32Array<ArrayBuffer>;
  private readonly targetsScratch: Int32Array<ArrayBuffer>;
  private readonly rowIndex: { starts: Uint32Array<ArrayBuffer>; rowsOf: Uint32Array<ArrayBuffer> };

  constructor(
    private readonly ctx: KernelContext,
    private readonly config: ImageGPTConfig,
    weights: ModelWeights,
    options: GraphOptions,
  ) {
    const { batchSize: B, seqLength: T } = options;
    const { n_embd: E, n_head: H, n_layer: L, vocab_size: V, layer_norm_epsilon: eps } = config;
    const I = config.n_inner;
    const D = E / H;
    const V1 = V - 1;
    const N = B * T;
    this.batchSize = B;
    this.seqLength = T;
    if (weights.dtype !== 'f32') {
      throw new ImageGPTError('E_UNSUPPORTED', `training: the model's weights are ${weights.dtype}; training updates f32 weights in place, load the model with dtype: 'f32'`);
    }
    const lmHead = weights.lmHead;
    if (!lmHead && !weights.score) throw new ImageGPTError('E_UNSUPPORTED', 'training: this model has neither lm_head nor score.weight; expected ImageGPTForCausalImageModeling or ImageGPTForImageClassification weights');

    const device = ctx.device;
    const f32 = (label: string, floats: number): GPUBuffer => {
      const b = device.createBuffer({ label, size: Math.max(16, floats * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      this.owned.push(b);
      return b;
    };
    const use = <T extends TrainOp>(o: T, into: TrainOp[]): T => {
      this.ops.push(o);
      into.push(o);
      return o;
    };
    const fwd = <T extends TrainOp>(o: T): T => use(o, this.forward);
    const bwd = <T extends TrainOp>(o: T): T => use(o, this.backward);

    // Trained tensors and their gradients (norm gains are frozen: Hugging Face multiplies by weight.data).
    const trained: Trained[] = [];
    const train = (name: string, param: GPUBuffer, shape: [number, number] | [number], transposed = false): GPUBuffer => {
      const count = shape.reduce((a, b) => a * b, 1);
      const grad = f32(`grad ${name}`, count);
      trained.push({ name, param, grad, count, decays: decaysByName(name), shape, transposed });
      return grad;
    };
    const gWte = train('transformer.wte.weight', weights.wte.buffer, [V, E]);
    const gWpe = train('transformer.wpe.weight', weights.wpe.buffer, [config.n_positions, E]);
    const layerGrads = weights.layers.map((w, i) => {
      const p = `transformer.h.${i}.`;
      return {
        attnW: train(p + 'attn.c_attn.weight', w.attnW.buffer, [E, 3 * E]),
        attnB: train(p + 'attn.c_attn.bias', w.attnB, [3 * E]),
        projW: train(p + 'attn.c_proj.weight', w.attnProjW.buffer, [E, E]),
        projB: train(p + 'attn.c_proj.bias', w.attnProjB, [E]),
        fcW: train(p + 'mlp.c_fc.weight', w.fcW.buffer, [E, I]),
        fcB: train(p + 'mlp.c_fc.bias', w.fcB, [I]),
        mlpW: train(p + 'mlp.c_proj.weight', w.mlpProjW.buffer, [I, E]),
        mlpB: train(p + 'mlp.c_proj.bias', w.mlpProjB, [E]),
      };
    });
    this.trained = trained; // the head's weight is added below, once its head is made

    // Inputs of a step.
    this.idsBuffer = f32('train ids', N);
    this.targetsBuffer = f32('train targets', N);
    this.startsBuffer = f32('train token starts', V + 1);
    this.rowsOfBuffer = f32('train token rows', N);
    this.idsScratch = new Uint32Array(N);
    this.targetsScratch = new Int32Array(N);
    this.rowIndex = { starts: new Uint32Array(V + 1), rowsOf: new Uint32Array(N) };

    // Forward, keeping every layer's activations.
    const mm = (o: Parameters<typeof trainMatmulOp>[1]) => trainMatmulOp(ctx, o);
    // Dropout where Hugging Face's ImageGPT applies it in training; a place with p = 0 gets no op (no dispatch).
    const drop = options.dropout ?? { resid: 0, embd: 0, attn: 0, seed: 0 };
    const key = (p: number, site: number): DropoutKey => ({ p, seed: drop.seed, site });
    const keyed = <T extends DropoutOp>(o: T): T => {
      this.dropouts.push(o);
      return o;
    };
    const attentionKey = (i: number): DropoutKey | undefined => (drop.attn > 0 ? key(drop.attn, dropoutSite.attention(i)) : undefined);
    // A c_proj adding into the residual stream: `+ residual` fused into the product, or with resid dropout the
    // product written to c, then dropped and added in place.
    const project = (o: { a: GPUBuffer; b: GPUBuffer; bias: GPUBuffer; residual: GPUBuffer; c: GPUBuffer; k: number }, site: number): void => {
      if (drop.resid > 0) {
        fwd(mm({ a: o.a, b: o.b, bias: o.bias, c: o.c, m: N, k: o.k, n: E }));
        fwd(keyed(dropoutOp(ctx, { x: o.c, residual: o.residual, count: N * E, ...key(drop.resid, site) })));
      } else {
        fwd(mm({ ...o, m: N, n: E }));
      }
    };
    let x = f32('x 0', N * E);
    fwd(embeddingForwardOp(ctx, { ids: this.idsBuffer, wte: weights.wte.buffer, wpe: weights.wpe.buffer, hidden: x, batch: B, seq: T, dim: E, vocab: V }));
    if (drop.embd > 0) fwd(keyed(dropoutOp(ctx, { x, count: N * E, ...key(drop.embd, dropoutSite.embeddings) })));
    const saved = weights.layers.map((w, i) => {
      let scale = config.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
      if (config.scale_attn_by_inverse_layer_idx) scale /= i + 1;
      const s = {
        x,
        n1: f32(`n1 ${i}`, N * E),
        qkv: f32(`qkv ${i}`, N * 3 * E),
        merged: f32(`merged ${i}`, N * E),
        h1: f32(`h1 ${i}`, N * E),
        n2: f32(`n2 ${i}`, N * E),
        f: f32(`fc ${i}`, N * I),
        act: f32(`act ${i}`, N * I),
        out: f32(`x ${i + 1}`, N * E),
        scale,
      };
      fwd(normForwardOp(ctx, { x: s.x, gain: w.ln1, y: s.n1, rows: N, dim: E, eps }));
      fwd(mm({ a: s.n1, b: w.attnW.buffer, bias: w.attnB, c: s.qkv, m: N, k: E, n: 3 * E }));
      const attention = fwd(attentionForwardOp(ctx, { qkv: s.qkv, outputs: s.merged, batch: B, seq: T, heads: H, headDim: D, scale, dropout: attentionKey(i) }));
      if (drop.attn > 0) keyed(attention);
      project({ a: s.merged, b: w.attnProjW.buffer, bias: w.attnProjB, residual: s.x, c: s.h1, k: E }, dropoutSite.attentionOutput(i));
      fwd(normForwardOp(ctx, { x: s.h1, gain: w.ln2, y: s.n2, rows: N, dim: E, eps }));
      fwd(mm({ a: s.n2, b: w.fcW.buffer, bias: w.fcB, c: s.f, m: N, k: E, n: I }));
      fwd(quickGeluForwardOp(ctx, { x: s.f, y: s.act, count: N * I }));
      project({ a: s.act, b: w.mlpProjW.buffer, bias: w.mlpProjB, residual: s.h1, c: s.out, k: I }, dropoutSite.mlpOutput(i));
      x = s.out;
      return s;
    });
    const nf = f32('ln_f out', N * E);
    this.lossSum = f32('loss sum', 1);
    fwd(normForwardOp(ctx, { x, gain: weights.lnF, y: nf, rows: N, dim: E, eps }));
    const dN = f32('d normed', N * E);
    // The head, forward and its backward down to d(loss)/d(ln_f output) in dN (the backward's first ops):
    // ImageGPTForCausalImageModeling's lm_head at every position, or the classifier's score of the mean-pooled state.
    if (lmHead) {
      const gHead = train('lm_head.weight', lmHead.buffer, [E, V1], true);
      const logits = f32('logits', N * V1);
      const lossRows = f32('loss rows', N);
      fwd(mm({ a: nf, b: lmHead.buffer, c: logits, m: N, k: E, n: V1 }));
      this.crossEntropy = fwd(crossEntropyBackwardOp(ctx, { logits, targets: this.targetsBuffer, loss: lossRows, rows: N, vocab: V1 }));
      fwd(columnSumOp(ctx, { x: lossRows, out: this.lossSum, rows: N, cols: 1 }));
      // Backward: logits now hold d(loss)/d(logits).
      bwd(mm({ a: nf, transA: true, b: logits, c: gHead, m: E, k: N, n: V1 }));
      bwd(mm({ a: logits, b: lmHead.buffer, transB: true, c: dN, m: N, k: V1, n: E }));
    } else {
      const head = classifierHead(ctx, { normed: nf, dNormed: dN, lossSum: this.lossSum, batch: B, seq: T, dim: E, numLabels: weights.score!.numLabels });
      this.classifier = head;
      const name = 'score.weight';
      trained.push({ name, param: head.score, grad: head.scoreGrad, count: head.numLabels * E, decays: decaysByName(name), shape: [head.numLabels, E], transposed: false });
      this.forward.push(...head.forward);
      this.backward.push(...head.backward);
    }

    // Backward through ln_f and the blocks.
    const dh = f32('d hidden', N * E);
    const dF = f32('d fc', N * I);
    const dM = f32('d merged', N * E);
    const dqkv = f32('d qkv', N * 3 * E);
    const stats = f32('attention stats', N * H * 2);
    bwd(normBackwardOp(ctx, { x, gain: weights.lnF, dy: dN, dx: dh, rows: N, dim: E, eps, accumulate: false }));
    for (let i = L - 1; i >= 0; i--) {
      const w = weights.layers[i];
      const s = saved[i];
      const g = layerGrads[i];
      // With resid dropout a c_proj gets the stream's gradient through its forward mask (in a buffer free at that
      // point: dM before the attention's backward fills it, dN between the norms' backwards); the stream keeps dh.
      const dropped = (into: GPUBuffer, site: number): GPUBuffer => {
        if (!(drop.resid > 0)) return dh;
        bwd(keyed(dropoutIntoOp(ctx, { x: dh, y: into, count: N * E, ...key(drop.resid, site) })));
        return into;
      };
      const dMlp = dropped(dM, dropoutSite.mlpOutput(i));
      bwd(mm({ a: s.act, transA: true, b: dMlp, c: g.mlpW, m: I, k: N, n: E }));
      bwd(columnSumOp(ctx, { x: dMlp, out: g.mlpB, rows: N, cols: E }));
      bwd(mm({ a: dMlp, b: w.mlpProjW.buffer, transB: true, c: dF, m: N, k: E, n: I }));
      bwd(quickGeluBackwardOp(ctx, { x: s.f, grad: dF, count: N * I }));
      bwd(mm({ a: s.n2, transA: true, b: dF, c: g.fcW, m: E, k: N, n: I }));
      bwd(columnSumOp(ctx, { x: dF, out: g.fcB, rows: N, cols: I }));
      bwd(mm({ a: dF, b: w.fcW.buffer, transB: true, c: dN, m: N, k: I, n: E }));
      bwd(normBackwardOp(ctx, { x: s.h1, gain: w.ln2, dy: dN, dx: dh, rows: N, dim: E, eps, accumulate: true }));
      const dProj = dropped(dN, dropoutSite.attentionOutput(i));
      bwd(mm({ a: s.merged, transA: true, b: dProj, c: g.projW, m: E, k: N, n: E }));
      bwd(columnSumOp(ctx, { x: dProj, out: g.projB, rows: N, cols: E }));
      bwd(mm({ a: dProj, b: w.attnProjW.buffer, transB: true, c: dM, m: N, k: E, n: E }));
      const attention = bwd(attentionBackwardOp(ctx, { qkv: s.qkv, outputs: s.merged, dOut: dM, stats, dqkv, batch: B, seq: T, heads: H, headDim: D, scale: s.scale, dropout: attentionKey(i) }));
      if (drop.attn > 0) keyed(attention);
      bwd(mm({ a: s.n1, transA: true, b: dqkv, c: g.attnW, m: E, k: N, n: 3 * E }));
      bwd(columnSumOp(ctx, { x: dqkv, out: g.attnB, rows: N, cols: 3 * E }));
      bwd(mm({ a: dqkv, b: w.attnW.buffer, transB: true, c: dN, m: N, k: 3 * E, n: E }));
      bwd(normBackwardOp(ctx, { x: s.x, gain: w.ln1, dy: dN, dx: dh, rows: N, dim: E, eps, accumulate: true }));
    }
    if (drop.embd > 0) bwd(keyed(dropoutOp(ctx, { x: dh, count: N * E, ...key(drop.embd, dropoutSite.embeddings) })));
    bwd(embeddingBackwardOp(ctx, { grad: dh, starts: this.startsBuffer, rowsOf: this.rowsOfBuffer, dwte: gWte, dwpe: gWpe, batch: B, seq: T, dim: E, vocab: V }));

    this.optimizer = new AdamW(ctx, trained, options);
  }

  /** Dispatches of one step: forward, backward, optimizer (the benchmark reports them per layer). */
  get dispatchCounts(): { forward: number; backward: number; optimizer: number } {
    return { forward: this.forward.length, backward: this.backward.length, optimizer: this.optimizer.dispatches };
  }

  /**
   * Writes one step's inputs: ids [B][T] (SOS first) and the labels, checked before anything is written: causal
   * [B][T] (label t + 1 is the target of position t), or a classifier's class indices [B]; −100 ignored. Returns how
   * many targets count toward the mean.
   */
  writeInputs(ids: readonly (readonly number[])[], labels: readonly (readonly number[])[] | readonly number[]): number {
    const { batchSize: B, seqLength: T } = this;
    const V = this.config.vocab_size;
    const counted = this.classifier
      ? this.classifier.writeLabels(labels as readonly number[])
      : this.writeCausalTargets(labels as readonly (readonly number[])[]);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) this.idsScratch[b * T + t] = ids[b][t];
    tokenRows(ids, V, this.rowIndex);
    const queue = this.ctx.device.queue;
    queue.writeBuffer(this.idsBuffer, 0, this.idsScratch);
    queue.writeBuffer(this.startsBuffer, 0, this.rowIndex.starts);
    queue.writeBuffer(this.rowsOfBuffer, 0, this.rowIndex.rowsOf);
    return counted;
  }

  /** The causal head's targets [B·T] from labels [B][T], and the loss's divisor; returns the counted targets. */
  private writeCausalTargets(labels: readonly (readonly number[])[]): number {
    const { batchSize: B, seqLength: T } = this;
    const V1 = this.config.vocab_size - 1;
    let counted = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const target = t + 1 < T ? labels[b][t + 1] : -100;
        if (target !== -100 && (!Number.isInteger(target) || target < 0 || target >= V1)) {
          throw badInput(`trainer.step: labels[${b}][${t + 1}] is ${target}; expected -100 (ignored) or a token the head predicts, 0..${V1 - 1}`);
        }
        this.targetsScratch[b * T + t] = target;
        if (target !== -100) counted++;
      }
    }
    this.ctx.device.queue.writeBuffer(this.targetsBuffer, 0, this.targetsScratch);
    this.crossEntropy!.setCounted(counted);
    return counted;
  }

  /** Records forward, backward and the AdamW update at `lr` into `pass` (after writeInputs). */
  encode(pass: GPUComputePassEncoder, lr: number): void {
    // The masks are keyed by the step about to run (AdamW's count + 1), so a resumed run drops what it would have.
    const step = this.optimizer.step + 1;
    for (const o of this.dropouts) o.setStep(step);
    for (const o of this.forward) o.encode(pass);
    for (const o of this.backward) o.encode(pass);
    this.optimizer.encode(pass, lr);
  }

  destroy(): void {
    for (const o of this.ops) o.destroy();
    this.classifier?.destroy();
    this.optimizer.destroy();
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
