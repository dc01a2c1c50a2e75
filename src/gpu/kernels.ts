// The kernels of the ImageGPT forward as Ops, one entry per op family (each family's module sits beside
// its .wgsl: embed.ts, norm.ts, matmul.ts, attention.ts, reductions.ts). Pipelines are made once per
// device and distinct (kernel, weight dtype, model dims) in the device's pipeline cache (a session's length is
// read from the step uniform, so a new length compiles nothing); each Op makes its bind group once; encode()
// only sets pipeline + bind group and dispatches, sized by the step's rows.
import type { GpuMatrix, Op, StepShape } from './types';
import { KernelContext, checkStep, createStepBuffer } from './context';
import { tuningFor, type KernelTuning } from './tuning';
import { embedOp } from './embed';
import { rmsNormOp } from './norm';
import { matmulOp, naiveMatmulOp, type MatmulArgs } from './matmul';
import { attentionOp, attentionWeightsOp, headScaleOp, kvAppendOp } from './attention';
import { crossEntropyOp, meanPoolSumOp } from './reductions';

export type { KernelTuning } from './tuning';
export type { MatmulArgs } from './matmul';

type Args<F> = F extends (ctx: KernelContext, o: infer A) => Op ? A : never;

export class Kernels {
  readonly tuning: KernelTuning;
  private readonly ctx: KernelContext;
  private readonly stepScratch = new Uint32Array(4);

  constructor(
    readonly device: GPUDevice,
    tuning?: Partial<KernelTuning>,
  ) {
    this.ctx = new KernelContext(device, tuning);
    this.tuning = this.ctx.tuning;
  }

  /** Which optional device features the kernels use: offered by the device and allowed by the tuning. */
  get features(): { shaderF16: boolean; subgroups: boolean } {
    return { shaderF16: this.ctx.useShaderF16, subgroups: this.ctx.useSubgroups };
  }

  /** The tuning a device of this adapter gets by default. */
  static tuningFor(info: GPUAdapterInfo | undefined): KernelTuning {
    return tuningFor(info);
  }

  /** Resolves once every pipeline and bind group made so far is valid; otherwise rejects naming the kernel.
   *  (WebGPU reports these asynchronously: call it once after creating the Ops.) */
  ready(): Promise<void> {
    return this.ctx.ready();
  }

  /** Frees the few small buffers Kernels owns (Ops made from it must not be used afterwards). */
  destroy(): void {
    this.ctx.destroy();
  }

  /** A uniform buffer holding a StepShape (written before each submit) and the capacity of the caches its Ops
   *  read, `maxPositions` per sequence (written once, here; 0 for Ops without a cache). One per session. */
  createStepBuffer(maxPositions = 0): GPUBuffer {
    return createStepBuffer(this.device, maxPositions);
  }

  writeStep(stepBuffer: GPUBuffer, step: StepShape): void {
    checkStep(step);
    const s = this.stepScratch;
    s[0] = step.batch;
    s[1] = step.seq;
    s[2] = step.past;
    s[3] = step.batch * step.seq;
    this.device.queue.writeBuffer(stepBuffer, 0, s); // the first 16 bytes: the positions after them stay
  }

  embed(o: Args<typeof embedOp>): Op {
    return embedOp(this.ctx, o);
  }

  rmsNorm(o: Args<typeof rmsNormOp>): Op {
    return rmsNormOp(this.ctx, o);
  }

  matmul(o: MatmulArgs): Op {
    return matmulOp(this.ctx, o);
  }

  naiveMatmul(o: MatmulArgs): Op {
    return naiveMatmulOp(this.ctx, o);
  }

  kvAppend(o: Args<typeof kvAppendOp>): Op {
    return kvAppendOp(this.ctx, o);
  }

  attention(o: Args<typeof attentionOp>): Op {
    return attentionOp(this.ctx, o);
  }

  attentionWeights(o: Args<typeof attentionWeightsOp>): Op {
    return attentionWeightsOp(this.ctx, o);
  }

  headScale(o: Args<typeof headScaleOp>): Op {
    return headScaleOp(this.ctx, o);
  }

  meanPoolSum(o: Args<typeof meanPoolSumOp>): Op {
    return meanPoolSumOp(this.ctx, o);
  }

  crossEntropy(o: Args<typeof crossEntropyOp>): Op {
    return crossEntropyOp(this.ctx, o);
  }
}

export type { GpuMatrix };
