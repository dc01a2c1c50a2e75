// Small helpers for the kernel tests: buffers from arrays, one-step runs, and error measures.
import { expect } from 'vitest';
import type { GpuMatrix, Op, StepShape, WeightDType } from '../../src/gpu/types';
import type { Kernels, KernelTuning, MatmulArgs } from '../../src/gpu/kernels';
import { readBuffer } from '../../src/gpu/readback';
import { float32ArrayToFloat16, float16ArrayToFloat32 } from '../../src/f16';
import * as ref from '../reference/ops';

/** A deterministic generator, so a failing shape can be rerun. */
export { seededRandom as random } from '../helpers/random';

/** Uniform values in [-scale, scale). */
export function randomArray(rand: () => number, n: number, scale = 1): Float32Array<ArrayBuffer> {
  return Float32Array.from({ length: n }, () => (2 * rand() - 1) * scale);
}

export function storageBuffer(device: GPUDevice, data: Float32Array | Int32Array | Uint16Array | number): GPUBuffer {
  const bytes = typeof data === 'number' ? data : data.byteLength;
  const buffer = device.createBuffer({ size: Math.max(4, Math.ceil(bytes / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  if (typeof data !== 'number') device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

/** Uploads weights [rows, cols] as `dtype`; returns the matrix and the values the GPU will really see. */
export function weightMatrix(
  device: GPUDevice,
  values: Float32Array,
  rows: number,
  cols: number,
  dtype: WeightDType,
): { matrix: GpuMatrix; seen: Float32Array } {
  if (dtype === 'f32') return { matrix: { buffer: storageBuffer(device, values), dtype, rows, cols }, seen: values };
  const half = float32ArrayToFloat16(values);
  return { matrix: { buffer: storageBuffer(device, half), dtype, rows, cols }, seen: float16ArrayToFloat32(half) };
}

export async function readF32(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, buffer, 0, count * 4));
}

/** Writes the step, records the ops in one pass, submits; a WebGPU validation error fails the test. */
export async function runStep(device: GPUDevice, kernels: Kernels, stepBuffer: GPUBuffer, step: StepShape, ops: Op[]): Promise<void> {
  device.pushErrorScope('validation');
  kernels.writeStep(stepBuffer, step);
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  try {
    for (const op of ops) op.encode(pass, step);
  } finally {
    pass.end();
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`WebGPU: ${error.message}`);
  }
}

/** max |got - want| / max(max |want|, 1e-6): errors relative to the output's scale. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let scale = 1e-6;
  let worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst / scale;
}

/** Each matmul kernel path forced for every row count (decodeMaxRows 0: always tiled; 1000: always matvec). */
export const MATMUL_PATHS: [string, Partial<KernelTuning> | 'naive'][] = [
  ['matvec', { decodeMaxRows: 1000, matvecSplitK: 1, matvecThreads: 32 }],
  ['matvec, K split', { decodeMaxRows: 1000, matvecSplitK: 4, matvecThreads: 8 }],
  ['registers', { decodeMaxRows: 0, prefill: 'registers', registerThreads: [8, 8] }],
  ['shared', { decodeMaxRows: 0, prefill: 'shared', sharedThreads: [8, 4], sharedDepth: 8 }],
  ['naive', 'naive'],
];

/** One ragged matmul case of the kernel-path tests. */
export interface MatmulShape {
  K: number;
  N: number;
  bias: boolean;
  activation: 'none' | 'quick_gelu';
  accumulate: boolean;
}

/**
 * Draws weights [K, N] (as `dtype`), the bias if any and the output's start values [maxRows, N], in that order, and
 * makes the matmul op of `path` (MATMUL_PATHS) over x (plus `norm`, when given). `start` is what `out` holds at first:
 * rewrite it before each run when the case accumulates.
 */
export function matmulCase(
  device: GPUDevice,
  kernels: Kernels,
  step: GPUBuffer,
  path: Partial<KernelTuning> | 'naive',
  rand: () => number,
  s: MatmulShape,
  x: Float32Array,
  maxRows: number,
  dtype: WeightDType,
  norm?: MatmulArgs['norm'],
): { op: Op; out: GPUBuffer; start: Float32Array<ArrayBuffer>; seen: Float32Array; bias: Float32Array | undefined } {
  const w = weightMatrix(device, randomArray(rand, s.K * s.N, 1 / Math.sqrt(s.K)), s.K, s.N, dtype);
  const bias = s.bias ? randomArray(rand, s.N, 0.5) : undefined;
  const start = randomArray(rand, maxRows * s.N);
  const out = storageBuffer(device, start);
  const args: MatmulArgs = {
    step,
    x: storageBuffer(device, x),
    w: w.matrix,
    bias: bias && storageBuffer(device, bias),
    out,
    activation: s.activation,
    accumulate: s.accumulate,
    norm,
  };
  return { op: path === 'naive' ? kernels.naiveMatmul(args) : kernels.matmul(args), out, start, seen: w.seen, bias };
}

/** A pass that records the dispatches and the labels of the pipelines they run, and runs nothing. */
export function recordingPass(): { pass: GPUComputePassEncoder; dispatches: [number, number][]; pipelines: string[] } {
  const dispatches: [number, number][] = [];
  const pipelines: string[] = [];
  const pass = {
    setPipeline(p: GPUComputePipeline) {
      pipelines.push(p.label);
    },
    setBindGroup() {},
    dispatchWorkgroups(x: number, y = 1) {
      dispatches.push([x, y]);
    },
  } as unknown as GPUComputePassEncoder;
  return { pass, dispatches, pipelines };
}

/**
 * An attention op (E wide, H heads, P cache positions, `batch` sequences of ≤ 8 rows, with a key mask or not) on
 * unfilled buffers, and what it dispatches for a step: for the tests of dispatch counts, not numbers.
 */
export function attentionDispatches(
  device: GPUDevice,
  kernels: Kernels,
  d: { E: number; H: number; P: number; batch: number },
  masked = false,
): (step: StepShape) => [number, number][] {
  const op = kernels.attention({
    step: kernels.createStepBuffer(d.P),
    qkv: storageBuffer(device, d.batch * 8 * 3 * d.E * 4),
    kCache: storageBuffer(device, d.batch * d.P * d.E * 4),
    vCache: storageBuffer(device, d.batch * d.P * d.E * 4),
    out: storageBuffer(device, d.batch * 8 * d.E * 4),
    nHead: d.H,
    dim: d.E,
    maxPositions: d.P,
    scale: 0.25,
    keyMask: masked ? storageBuffer(device, d.batch * d.P * 4) : undefined,
  });
  return (step) => {
    const { pass, dispatches } = recordingPass();
    op.encode(pass, step);
    return dispatches;
  };
}

/**
 * A KV cache [batch, H, maxPositions, D] on the GPU (with a qkv buffer of maxRows rows) and its CPU twin kRef/vRef.
 * `run(s, rand, ops)` draws this step's qkv [rows, 3E] in [-2, 2), runs kvAppend then `ops`, appends the same rows
 * to the twin, and returns the qkv it drew.
 */
export function kvCacheRig(
  device: GPUDevice,
  kernels: Kernels,
  step: GPUBuffer,
  o: { nHead: number; dim: number; maxPositions: number },
  batch: number,
  maxRows: number,
): {
  qkv: GPUBuffer;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  kRef: Float32Array;
  vRef: Float32Array;
  run: (s: StepShape, rand: () => number, ops: Op[]) => Promise<Float32Array>;
} {
  const cacheFloats = batch * o.maxPositions * o.dim;
  const kCache = storageBuffer(device, cacheFloats * 4);
  const vCache = storageBuffer(device, cacheFloats * 4);
  const qkv = storageBuffer(device, maxRows * 3 * o.dim * 4);
  const append = kernels.kvAppend({ step, qkv, kCache, vCache, ...o });
  const kRef = new Float32Array(cacheFloats);
  const vRef = new Float32Array(cacheFloats);
  const run = async (s: StepShape, rand: () => number, ops: Op[]): Promise<Float32Array> => {
    const x = randomArray(rand, s.batch * s.seq * 3 * o.dim, 2);
    device.queue.writeBuffer(qkv, 0, x);
    await runStep(device, kernels, step, s, [append, ...ops]);
    ref.kvAppend(x, kRef, vRef, o, s);
    return x;
  };
  return { qkv, kCache, vCache, kRef, vRef, run };
}
