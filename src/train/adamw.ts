// AdamW on the GPU: global-norm gradient clipping (shaders/grad_norm.wgsl) then torch's AdamW update per tensor
// (shaders/adamw.wgsl), recorded into the training step's one compute pass. Buffers and bind groups are made once,
// here; a step only writes the 32-byte uniform of its learning rate and bias corrections.
import type { KernelContext } from '../gpu/context';
import { checkDistinct, run } from '../gpu/context';
import { badInput } from '../errors';
import gradNormWgsl from '../../shaders/grad_norm.wgsl?raw';
import adamwWgsl from '../../shaders/adamw.wgsl?raw';

/** One trained tensor: its f32 weights (updated in place) and the f32 gradient the backward wrote. */
export interface TrainedTensor {
  name: string;
  param: GPUBuffer;
  grad: GPUBuffer;
  /** Elements (f32). */
  count: number;
  /** Weight decay applies (Hugging Face Trainer's grouping: not to biases or norm gains). */
  decays: boolean;
}

export interface AdamWOptions {
  /** β1, β2. Default [0.9, 0.999] (torch's). */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay of the decayed tensors. Default 0.01 (torch's). */
  weightDecay?: number;
  /** Clip the global gradient norm to this; 0 or Infinity: no clipping. Default 1 (Hugging Face Trainer's). */
  maxGradNorm?: number;
}

const WG = 256;
/** Workgroups per tensor for the update; larger tensors are strided over them. */
const MAX_GROUPS = 64;
/** The norm pass: threads per workgroup, and workgroups per tensor (each thread fills one partial slot). */
const NORM_WG = 64;
const MAX_NORM_GROUPS = 16;
const ADAM_BYTES = 32;
const TENSOR_BYTES = 16;

/** Hugging Face Trainer's grouping by name: biases and norm gains get no weight decay. */
export function decaysByName(name: string): boolean {
  return !name.includes('.bias') && !name.includes('ln_');
}

function checkFinite(what: string, v: number, min: number, max = Infinity): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) throw badInput(`AdamW: ${what} must be a number in [${min}, ${max}], got ${String(v)}`);
}

export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  private stepCount = 0;
  private readonly adam: GPUBuffer;
  private readonly partials: GPUBuffer;
  /** The squared global gradient norm of the last recorded step, f32 [1] (readable for reporting). */
  readonly normSquared: GPUBuffer;
  /** The first moment, then the second, per tensor, in the order given (saveState/loadState read and write them). */
  readonly moments: { m: GPUBuffer; v: GPUBuffer }[];
  private readonly owned: GPUBuffer[] = [];
  private readonly record: ((pass: GPUComputePassEncoder) => void)[] = [];
  private readonly adamScratch = new Float32Array(ADAM_BYTES / 4);

  constructor(
    private readonly ctx: KernelContext,
    readonly tensors: readonly TrainedTensor[],
    options: AdamWOptions = {},
  ) {
    const device = ctx.device;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.maxGradNorm = options.maxGradNorm ?? 1;
    if (!Array.isArray(this.betas) || this.betas.length !== 2) throw badInput(`AdamW: betas must be [β1, β2], got ${String(this.betas)}`);
    checkFinite('betas[0]', this.betas[0], 0, 0.999999);
    checkFinite('betas[1]', this.betas[1], 0, 0.999999);
    checkFinite('eps', this.eps, 0);
    checkFinite('weightDecay', this.weightDecay, 0, 1);
    checkFinite('maxGradNorm', this.maxGradNorm, 0);
    if (tensors.length === 0) throw badInput('AdamW: no tensors to train');
    const names = new Set<string>();
    for (const t of tensors) {
      if (names.has(t.name)) throw badInput(`AdamW: tensor ${t.name} is given twice`);
      names.add(t.name);
      if (!Number.isInteger(t.count) || t.count < 1) throw badInput(`AdamW: ${t.name} has ${t.count} elements, expected a positive integer`);
      for (const [what, b] of [['param', t.param], ['grad', t.grad]] as const) {
        if (b.size < t.count * 4) throw badInput(`AdamW: ${t.name}'s ${what} buffer holds ${b.size} bytes, expected ${t.count * 4} (f32)`);
      }
      checkDistinct(`AdamW ${t.name}`, { param: t.param, grad: t.grad });
    }

    const make = (label: string, size: number, usage: number): GPUBuffer => {
      const b = device.createBuffer({ label, size, usage });
      this.owned.push(b);
      return b;
    };
    const groups = tensors.map((t) => Math.min(MAX_GROUPS, Math.ceil(t.count / WG)));
    const normGroups = tensors.map((t) => Math.min(MAX_NORM_GROUPS, Math.ceil(t.count / NORM_WG)));
    const slots = normGroups.reduce((a, b) => a + b, 0) * NORM_WG;
    this.adam = make('adamw step', ADAM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.partials = make('grad norm partials', slots * 4, GPUBufferUsage.STORAGE);
    this.normSquared = make('grad norm squared', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    const state = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    // Fresh buffers are zero: both moments start at 0, as torch's.
    this.moments = tensors.map((t) => ({ m: make(`${t.name} adam m`, t.count * 4, state), v: make(`${t.name} adam v`, t.count * 4, state) }));

    const sumSquares = ctx.composed('grad_norm.wgsl', [gradNormWgsl], 'sumSquares', {});
    const sumPartials = ctx.composed('grad_norm.wgsl', [gradNormWgsl], 'sumPartials', {});
    const update = ctx.composed('adamw.wgsl', [adamwWgsl], 'adamw', {});
    const norms: ((pass: GPUComputePassEncoder) => void)[] = [];
    const updates: ((pass: GPUComputePassEncoder) => void)[] = [];
    let slot = 0;
    tensors.forEach((t, i) => {
      const uniform = make(`${t.name} adamw tensor`, TENSOR_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(uniform, 0, new Uint32Array([t.count, slot, t.decays ? 1 : 0, 0]));
      slot += normGroups[i] * NORM_WG;
      const normGroup = ctx.bindGroup(`sumSquares ${t.name}`, sumSquares, [null, uniform, t.grad, this.partials]);
      const updateGroup = ctx.bindGroup(`adamw ${t.name}`, update, [null, this.adam, uniform, t.param, t.grad, this.moments[i].m, this.moments[i].v, this.normSquared]);
      norms.push((pass) => run(pass, `sumSquares ${t.name}`, sumSquares, normGroup, normGroups[i], 1));
      updates.push((pass) => run(pass, `adamw ${t.name}`, update, updateGroup, groups[i], 1));
    });
    const all = make('adamw all slots', TENSOR_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(all, 0, new Uint32Array([0, slots, 0, 0]));
    const totalGroup = ctx.bindGroup('sumPartials', sumPartials, [null, all, null, this.partials, this.normSquared]);
    this.record = [...norms, (pass) => run(pass, 'sumPartials', sumPartials, totalGroup, 1, 1), ...updates];
  }

  /** Steps taken (torch's `state['step']`): the next update is step `step + 1`. */
  get step(): number {
    return this.stepCount;
  }

  /** Sets the step count (restoring saved state; the moments are restored through `moments`). */
  set step(n: number) {
    if (!Number.isInteger(n) || n < 0) throw badInput(`AdamW: step must be an integer ≥ 0, got ${n}`);
    this.stepCount = n;
  }

  /** Dispatches per recorded update (for the benchmark's count). */
  get dispatches(): number {
    return this.record.length;
  }

  /**
   * Records clipping and one update of every tensor into `pass`, at learning rate `lr`, after the backward wrote the
   * gradients (same pass: WebGPU orders dispatches that share buffers). Writes this step's uniform now: call it
   * once per submitted step, in submit order.
   */
  encode(pass: GPUComputePassEncoder, lr: number): void {
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw badInput(`AdamW: learning rate must be a finite number ≥ 0, got ${String(lr)}`);
    const t = this.stepCount + 1;
    const [b1, b2] = this.betas;
    const a = this.adamScratch;
    a[0] = lr / (1 - b1 ** t);
    a[1] = 1 - lr * this.weightDecay;
    a[2] = b1;
    a[3] = b2;
    a[4] = Math.sqrt(1 - b2 ** t);
    a[5] = this.eps;
    a[6] = Number.isFinite(this.maxGradNorm) ? this.maxGradNorm : 0;
    this.ctx.device.queue.writeBuffer(this.adam, 0, a);
    for (const record of this.record) record(pass);
    this.stepCount = t;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
