// What every kernel family shares: the device, its tuning, the device's one pipeline cache, bind-group
// creation checked like pipelines, and the few small buffers Ops share (no-bias placeholder, attention
// scales, split-attention scratch of live Ops). Plus the Op wrapper and the argument checks.
import { badInput, ImageGPTError } from '../errors';
import type { GpuMatrix, Op, StepShape, WeightDType } from './types';
import { PipelineCache, assembleSource, shader, type EntryPoint, type KernelFamily, type KernelName, type PipelineConstants, type ShaderFile, type ShaderSource } from './pipelines';
import { checkTuning, mergeTuning, tuningFor, type KernelTuning } from './tuning';
import stepWgsl from '../../shaders/step.wgsl?raw';
import weightsF32Wgsl from '../../shaders/weights_f32.wgsl?raw';
import weightsF16Wgsl from '../../shaders/weights_f16.wgsl?raw';

const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** WGSL extensions a kernel variant may enable (each needs the device feature of the same purpose). */
export type WgslExtension = 'f16' | 'subgroups';

const STEP = shader('step.wgsl', stepWgsl);
const WEIGHTS_F32 = shader('weights_f32.wgsl', weightsF32Wgsl);
const WEIGHTS_F16 = shader('weights_f16.wgsl', weightsF16Wgsl);

/** A kernel's WGSL: its `enable` directives first (WGSL wants them before any declaration), then step.wgsl, then
 *  the parts (snippets and the kernel's files) in order. */
export function kernelSource(parts: readonly ShaderFile[], enables: readonly WgslExtension[] = []): ShaderSource {
  const directives = enables.map((e) => `enable ${e};`).join('\n');
  return assembleSource([...(enables.length > 0 ? [{ name: '(enable directives)', code: directives }] : []), STEP, ...parts]);
}

export type Dispatch = (pass: GPUComputePassEncoder, step: StepShape) => void;

/** Bytes of a step uniform (step.wgsl): the StepShape, written per submit, then the cache's positions. */
export const STEP_BYTES = 32;

/** The cache positions each step buffer was made for (its Ops check theirs against it). */
const stepPositions = new WeakMap<GPUBuffer, number>();

/** A step uniform for Ops whose caches hold `maxPositions` per sequence (0: Ops without a cache). The positions
 *  are the caches' row stride, read from here rather than compiled in, so one pipeline serves every session
 *  length; written once now, while writeStep rewrites only the StepShape before it. */
export function createStepBuffer(device: GPUDevice, maxPositions: number): GPUBuffer {
  if (!Number.isInteger(maxPositions) || maxPositions < 0 || maxPositions >= 2 ** 31) {
    throw badInput(`createStepBuffer: maxPositions must be an integer ≥ 0, got ${maxPositions}`);
  }
  const step = device.createBuffer({ label: 'step', size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint32Array(step.getMappedRange())[4] = maxPositions;
  step.unmap();
  stepPositions.set(step, maxPositions);
  return step;
}

/** The cache positions `step` was made for; undefined for a buffer createStepBuffer did not make. */
export function positionsOf(step: GPUBuffer): number | undefined {
  return stepPositions.get(step);
}

/** An Op over a cache of `maxPositions` reads that stride from its step buffer: they must agree. */
export function checkStepPositions(label: string, step: GPUBuffer, maxPositions: number): void {
  const made = stepPositions.get(step);
  if (made !== maxPositions) {
    const was = made === undefined ? 'was not made by createStepBuffer' : `was made for ${made} positions`;
    throw badInput(`${label}: the step buffer ${was}; the cache holds ${maxPositions} (createStepBuffer(${maxPositions}))`);
  }
}

export class KernelOp implements Op {
  constructor(
    readonly label: string,
    private readonly record: Dispatch,
    private readonly release: () => void = () => {},
  ) {}

  encode(pass: GPUComputePassEncoder, step: StepShape): void {
    this.record(pass, step);
  }

  destroy(): void {
    this.release();
  }
}

export class KernelContext {
  readonly tuning: KernelTuning;
  private readonly pipelines: PipelineCache;
  private noBias: GPUBuffer | null = null;
  private readonly scaleBuffers = new Map<number, GPUBuffer>();
  /** The optional device features a kernel may use: asked for by the tuning and offered by the device. */
  readonly useShaderF16: boolean;
  readonly useSubgroups: boolean;
  /** Scratch buffers of live Ops (split attention), freed by destroy(). */
  readonly scratch = new Set<GPUBuffer>();

  constructor(
    readonly device: GPUDevice,
    tuning?: Partial<KernelTuning>,
  ) {
    this.tuning = mergeTuning(tuningFor(device.adapterInfo), tuning);
    this.pipelines = PipelineCache.forDevice(device);
    checkTuning(this.tuning, device.limits);
    this.useShaderF16 = this.tuning.shaderF16 && device.features.has('shader-f16');
    this.useSubgroups = this.tuning.subgroups && device.features.has('subgroups');
  }

  ready(): Promise<void> {
    return this.pipelines.ready();
  }

  destroy(): void {
    this.noBias?.destroy();
    this.noBias = null;
    for (const params of this.scaleBuffers.values()) params.destroy();
    this.scaleBuffers.clear();
    for (const scratch of this.scratch) scratch.destroy();
    this.scratch.clear();
  }

  /** The pipeline of `entryPoint` in shaders/`file` (a kernel family of one file; `source` its text), with step.wgsl
   *  and, for a weight dtype, its weight-reading snippet prepended. */
  pipeline<F extends KernelFamily>(file: F, source: string, dtype: WeightDType | null, entryPoint: EntryPoint<F>, constants: PipelineConstants): GPUComputePipeline {
    const kernel: KernelName<F> = dtype ? `${file}/${dtype}` : file;
    const snippets = dtype === null ? [] : [dtype === 'f16' ? WEIGHTS_F16 : WEIGHTS_F32];
    return this.composed(kernel, [...snippets, shader(file, source)], entryPoint, constants);
  }

  /** The pipeline of `entryPoint` in kernelSource(parts, enables); `kernel` names this variant in the device's
   *  one cache and in errors (e.g. `matmul.wgsl/f16-native+norm`). A part given as bare text (no file name) is
   *  named after the kernel family in errors. */
  composed<F extends KernelFamily>(
    kernel: KernelName<F>,
    parts: readonly (ShaderFile | string)[],
    entryPoint: EntryPoint<F>,
    constants: PipelineConstants,
    enables: readonly WgslExtension[] = [],
  ): GPUComputePipeline {
    const family = kernel.split('/')[0];
    const named = parts.map((p) => (typeof p === 'string' ? shader(family, p) : p));
    return this.pipelines.get(kernel, kernelSource(named, enables), entryPoint, constants);
  }

  /** Buffer i at binding i (or a range of one: a per-layer row of a table); null for a binding the entry point
   *  does not use. */
  bindGroup(label: string, pipeline: GPUComputePipeline, buffers: (GPUBuffer | GPUBufferBinding | null)[]): GPUBindGroup {
    return this.pipelines.checked(`the bind group of ${label}`, () =>
      this.device.createBindGroup({
        label,
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.flatMap((b, binding) => (b ? [{ binding, resource: 'buffer' in b ? b : { buffer: b } }] : [])),
      }),
    );
  }

  /** One small uniform per distinct scale (at most one per layer), shared by every session's Ops. */
  attentionParams(scale: number): GPUBuffer {
    let params = this.scaleBuffers.get(scale);
    if (!params) {
      params = this.device.createBuffer({ label: `attention scale ${scale}`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(params, 0, new Float32Array([scale, 0, 0, 0]));
      this.scaleBuffers.set(scale, params);
    }
    return params;
  }

  /** A small storage buffer bound where a kernel declares a binding this pipeline never reads (no bias, no mask). */
  dummyBuffer(): GPUBuffer {
    this.noBias ??= this.device.createBuffer({ label: 'no bias', size: 16, usage: GPUBufferUsage.STORAGE });
    return this.noBias;
  }
}

export function run(
  pass: GPUComputePassEncoder,
  label: string,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  x: number,
  y: number,
): void {
  if (x === 0 || y === 0) return;
  if (x > MAX_WORKGROUPS_PER_DIMENSION || y > MAX_WORKGROUPS_PER_DIMENSION) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${label}: ${x}×${y} workgroups exceed ${MAX_WORKGROUPS_PER_DIMENSION} per dimension`);
  }
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y);
}

export function checkStep(step: StepShape): void {
  const ok = (v: number, min: number) => Number.isInteger(v) && v >= min && v < 2 ** 31;
  if (!ok(step.batch, 1) || !ok(step.seq, 1) || !ok(step.past, 0)) {
    throw badInput(
      `step: batch ${step.batch}, seq ${step.seq}, past ${step.past}; expected integers batch ≥ 1, seq ≥ 1, past ≥ 0`,
    );
  }
}

export function checkRows(label: string, step: StepShape, maxRows: number): number {
  const rows = step.batch * step.seq;
  if (rows > maxRows) throw badInput(`${label}: step has ${rows} rows (batch ${step.batch} × seq ${step.seq}) but its buffers hold ${maxRows}`);
  return rows;
}

export function checkPositiveInt(label: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw badInput(`${label}: ${what} must be a positive integer, got ${v}`);
}

export function checkSize(label: string, what: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) throw badInput(`${label}: ${what} holds ${buffer.size} bytes, expected at least ${bytes}`);
}

/** How many rows of `rowBytes` the buffer holds (at least one, or an Error). */
export function rowCapacity(label: string, what: string, buffer: GPUBuffer, rowBytes: number): number {
  checkSize(label, what, buffer, rowBytes);
  return Math.floor(buffer.size / rowBytes);
}

export function checkMatrix(label: string, what: string, m: GpuMatrix): void {
  checkPositiveInt(label, `${what}.rows`, m.rows);
  checkPositiveInt(label, `${what}.cols`, m.cols);
  if (m.cols % 2 !== 0) throw badInput(`${label}: ${what} has ${m.cols} columns; kernels read weight columns in pairs, expected an even count`);
  if (m.dtype !== 'f32' && m.dtype !== 'f16') throw badInput(`${label}: ${what} dtype '${String(m.dtype)}', expected 'f32' or 'f16'`);
  checkSize(label, `${what} [${m.rows}, ${m.cols}] ${m.dtype}`, m.buffer, m.rows * m.cols * (m.dtype === 'f16' ? 2 : 4));
}

/** WebGPU forbids binding one buffer both writable and readable in a dispatch. */
export function checkDistinct(label: string, buffers: Record<string, GPUBuffer>): void {
  const names = Object.keys(buffers);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      if (buffers[names[i]] === buffers[names[j]]) throw badInput(`${label}: ${names[i]} and ${names[j]} must be different buffers`);
    }
  }
}
