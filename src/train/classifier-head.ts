// The training step's head for ImageGPTForImageClassification: logits = score(mean over T of ln_f's output), no
// bias, cross-entropy over class indices (−100 ignored, the mean over the counted rows, as torch's
// CrossEntropyLoss), and the backward through the score and the mean pool into ln_f's output. The pool's kernels are
// shaders/train_pool.wgsl; the products and the loss reuse the training matmul and cross-entropy. score.weight is
// trained on the GPU from a copy the trainer uploads; its buffers are made here, once.
import type { KernelContext } from '../gpu/context';
import { checkDistinct, checkSize, run } from '../gpu/context';
import { badInput } from '../errors';
import { describeValue } from '../json';
import trainPoolWgsl from '../../shaders/train_pool.wgsl?raw';
import { columnSumOp, crossEntropyBackwardOp, sizesUniform, trainMatmulOp, type CrossEntropyBackwardOp, type TrainOp } from './kernels';

function positive(label: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw badInput(`${label}: ${what} must be a positive integer, got ${v}`);
}

/** pooled [batch, dim] = the mean over each sequence's `seq` rows of x [batch · seq, dim]. */
export function poolForwardOp(ctx: KernelContext, o: { x: GPUBuffer; pooled: GPUBuffer; batch: number; seq: number; dim: number }): TrainOp {
  const label = `poolForward[${o.batch}×${o.seq}×${o.dim}]`;
  for (const d of ['batch', 'seq', 'dim'] as const) positive(label, d, o[d]);
  if (o.batch > 65535) throw badInput(`${label}: batch must be at most 65535 (workgroups per dimension)`);
  checkDistinct(label, { x: o.x, pooled: o.pooled });
  checkSize(label, 'x', o.x, o.batch * o.seq * o.dim * 4);
  checkSize(label, 'pooled', o.pooled, o.batch * o.dim * 4);
  const pipeline = ctx.composed('train_pool.wgsl', [trainPoolWgsl], 'poolForward', {});
  const uniform = sizesUniform(ctx, label, [o.batch, o.seq, o.dim, 0]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.pooled]);
  return { label, encode: (pass) => run(pass, label, pipeline, group, Math.ceil(o.dim / 64), o.batch), destroy: () => uniform.destroy() };
}

/** dx [batch · seq, dim] = dpooled[b] / seq at every position of sequence b: the mean pool's backward. */
export function poolBackwardOp(ctx: KernelContext, o: { dPooled: GPUBuffer; dx: GPUBuffer; batch: number; seq: number; dim: number }): TrainOp {
  const label = `poolBackward[${o.batch}×${o.seq}×${o.dim}]`;
  for (const d of ['batch', 'seq', 'dim'] as const) positive(label, d, o[d]);
  if (o.batch > 65535 || o.seq > 65535) throw badInput(`${label}: batch and seq must each be at most 65535 (workgroups per dimension)`);
  checkDistinct(label, { dPooled: o.dPooled, dx: o.dx });
  checkSize(label, 'dPooled', o.dPooled, o.batch * o.dim * 4);
  checkSize(label, 'dx', o.dx, o.batch * o.seq * o.dim * 4);
  const pipeline = ctx.composed('train_pool.wgsl', [trainPoolWgsl], 'poolBackward', {});
  const uniform = sizesUniform(ctx, label, [o.batch, o.seq, o.dim, 0]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.dPooled, o.dx]);
  return {
    label,
    encode: (pass) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(o.dim / 64), o.seq, o.batch);
    },
    destroy: () => uniform.destroy(),
  };
}

/** The classifier head of a training graph: its ops in step order, its trained score and the buffers the trainer reads. */
export interface ClassifierHead {
  readonly numLabels: number;
  /** score.weight [numLabels, dim] (HF layout) on the GPU: trained in place; the trainer uploads the model's copy. */
  readonly score: GPUBuffer;
  /** Its gradient [numLabels, dim]. */
  readonly scoreGrad: GPUBuffer;
  /** The step's logits [batch, numLabels], kept for the caller (the loss turns its own copy into the gradient). */
  readonly logits: GPUBuffer;
  /** Forward: pool, score (twice: kept, and for the loss), cross-entropy, the loss's sum into `lossSum`. */
  readonly forward: readonly TrainOp[];
  /** Backward: score's gradient, the pooled state's, and the pool's backward into `dNormed`. */
  readonly backward: readonly TrainOp[];
  /** Checks and writes the class labels [batch] (−100 ignored); returns how many count toward the mean. */
  writeLabels(labels: readonly number[]): number;
  /** Bytes of every buffer the head makes (for the trainer's size check before making any). */
  readonly gpuBytes: number;
  destroy(): void;
}

/** Bytes classifierHead makes for these sizes (checked before anything is made). */
export function classifierHeadBytes(batch: number, dim: number, numLabels: number): number {
  return 4 * (2 * numLabels * dim + 2 * batch * dim + 2 * batch * numLabels + 2 * batch);
}

export function classifierHead(
  ctx: KernelContext,
  o: { normed: GPUBuffer; dNormed: GPUBuffer; lossSum: GPUBuffer; batch: number; seq: number; dim: number; numLabels: number },
): ClassifierHead {
  const { batch: B, seq: T, dim: E, numLabels: C } = o;
  positive('classifier head', 'numLabels', C);
  const device = ctx.device;
  const owned: GPUBuffer[] = [];
  const ops: TrainOp[] = [];
  const f32 = (label: string, floats: number): GPUBuffer => {
    const b = device.createBuffer({ label, size: Math.max(16, floats * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    owned.push(b);
    return b;
  };
  const score = f32('score.weight', C * E);
  const scoreGrad = f32('grad score.weight', C * E);
  const pooled = f32('pooled', B * E);
  const dPooled = f32('d pooled', B * E);
  const logits = f32('class logits', B * C);
  const dLogits = f32('d class logits', B * C);
  const targets = f32('class targets', B);
  const lossRows = f32('class loss rows', B);
  const keep = <T extends TrainOp>(op: T): T => {
    ops.push(op);
    return op;
  };
  const crossEntropy: CrossEntropyBackwardOp = crossEntropyBackwardOp(ctx, { logits: dLogits, targets, loss: lossRows, rows: B, vocab: C });
  const forward = [
    poolForwardOp(ctx, { x: o.normed, pooled, batch: B, seq: T, dim: E }),
    trainMatmulOp(ctx, { a: pooled, b: score, transB: true, c: logits, m: B, k: E, n: C }),
    trainMatmulOp(ctx, { a: pooled, b: score, transB: true, c: dLogits, m: B, k: E, n: C }),
    crossEntropy,
    columnSumOp(ctx, { x: lossRows, out: o.lossSum, rows: B, cols: 1 }),
  ].map(keep);
  const backward = [
    // dScore [C, E] = dLogitsᵀ · pooled; dPooled [B, E] = dLogits · score.
    trainMatmulOp(ctx, { a: dLogits, transA: true, b: pooled, c: scoreGrad, m: C, k: B, n: E }),
    trainMatmulOp(ctx, { a: dLogits, b: score, c: dPooled, m: B, k: C, n: E }),
    poolBackwardOp(ctx, { dPooled, dx: o.dNormed, batch: B, seq: T, dim: E }),
  ].map(keep);
  const scratch = new Int32Array(B);
  return {
    numLabels: C,
    score,
    scoreGrad,
    logits,
    forward,
    backward,
    gpuBytes: classifierHeadBytes(B, E, C),
    writeLabels(labels: readonly number[]): number {
      let counted = 0;
      for (let b = 0; b < B; b++) {
        const label = labels[b];
        if (label !== -100 && (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= C)) {
          throw badInput(`trainer.step: labels[${b}] is ${describeValue(label)}; expected a class index in 0..${C - 1} (numLabels ${C}) or -100 (ignored)`);
        }
        scratch[b] = label;
        if (label !== -100) counted++;
      }
      device.queue.writeBuffer(targets, 0, scratch);
      crossEntropy.setCounted(counted);
      return counted;
    },
    destroy(): void {
      for (const op of ops) op.destroy();
      for (const b of owned) b.destroy();
      owned.length = 0;
    },
  };
}
