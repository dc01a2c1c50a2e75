// Matrix products with fused bias, quick-GELU and residual add (the matmul family: shaders/matmul.wgsl, shared, and
// its kernels by job), optionally with the RMS norm folded into the prologue and the K/V cache append into the
// epilogue: the matrix-vector kernels for decode (matmul_matvec.wgsl), tiled kernels for prefill (matmul_tiled.wgsl),
// a naive baseline (matmul_naive.wgsl).
import { badInput } from '../errors';
import type { GpuMatrix, Op, StepShape, WeightDType } from './types';
import { shader, type EntryPoint, type PipelineConstants, type ShaderFile } from './pipelines';
import { KernelOp, kernelSource, checkDistinct, checkMatrix, checkPositiveInt, checkRows, checkSize, checkStepPositions, rowCapacity, run, type KernelContext } from './context';
import weightsF32Wgsl from '../../shaders/weights_f32.wgsl?raw';
import weightsF16Wgsl from '../../shaders/weights_f16.wgsl?raw';
import weightsF16NativeWgsl from '../../shaders/weights_f16_native.wgsl?raw';
import normWgsl from '../../shaders/matmul_norm.wgsl?raw';
import noNormWgsl from '../../shaders/matmul_no_norm.wgsl?raw';
import kvWgsl from '../../shaders/matmul_kv.wgsl?raw';
import noKvWgsl from '../../shaders/matmul_no_kv.wgsl?raw';
import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import matmulMatvecWgsl from '../../shaders/matmul_matvec.wgsl?raw';
import matmulTiledWgsl from '../../shaders/matmul_tiled.wgsl?raw';
import matmulNaiveWgsl from '../../shaders/matmul_naive.wgsl?raw';

export interface MatmulArgs {
  step: GPUBuffer;
  /** f32 [rows, K] (with `norm`: the raw residual stream) */
  x: GPUBuffer;
  /** [K, N], N even */
  w: GpuMatrix;
  /** f32 [N] */
  bias?: GPUBuffer;
  /** f32 [rows, N] */
  out: GPUBuffer;
  activation?: 'none' | 'quick_gelu';
  /** out += act(x @ w + bias): the fused residual add, in place. */
  accumulate?: boolean;
  /** The RMS norm folded in: the product reads x / sqrt(mean(x²) + eps) · weight per row (weight f32 [K]). */
  norm?: { weight: GPUBuffer; eps: number };
  /**
   * The qkv product's K/V append (N = 3E): columns [E, 2E) also go to kCache[b, h, past + i, :] and [2E, 3E) to
   * vCache (layout [batch, nHead, maxPositions, E / nHead], row = b · seq + i), as kvAppend does; `out` still gets
   * every column. Needs no activation and no accumulate.
   */
  kvAppend?: { kCache: GPUBuffer; vCache: GPUBuffer; nHead: number; maxPositions: number };
}

/** Weights as the kernels read them: f32, f16 unpacked from u32 words, or f16 read natively (`shader-f16`). */
export type WeightReading = 'f32' | 'f16' | 'f16-native';

/** How `ctx` reads weights of `dtype`: natively as f16 only where the device has `shader-f16` and the tuning allows it. */
export function weightReading(ctx: KernelContext, dtype: WeightDType): WeightReading {
  return dtype === 'f16' && ctx.useShaderF16 ? 'f16-native' : dtype;
}

const WEIGHT_SNIPPETS: Record<WeightReading, ShaderFile> = {
  f32: shader('weights_f32.wgsl', weightsF32Wgsl),
  f16: shader('weights_f16.wgsl', weightsF16Wgsl),
  'f16-native': shader('weights_f16_native.wgsl', weightsF16NativeWgsl),
};
const NORM = shader('matmul_norm.wgsl', normWgsl);
const NO_NORM = shader('matmul_no_norm.wgsl', noNormWgsl);
const KV = shader('matmul_kv.wgsl', kvWgsl);
const NO_KV = shader('matmul_no_kv.wgsl', noKvWgsl);
/** The shared part, then the kernels by job: every variant's module holds every entry point (one compile each). */
const MATMUL_FILES = [
  shader('matmul.wgsl', matmulWgsl),
  shader('matmul_matvec.wgsl', matmulMatvecWgsl),
  shader('matmul_tiled.wgsl', matmulTiledWgsl),
  shader('matmul_naive.wgsl', matmulNaiveWgsl),
];

const matmulParts = (reading: WeightReading, norm: boolean, kv: boolean): ShaderFile[] => [
  WEIGHT_SNIPPETS[reading],
  norm ? NORM : NO_NORM,
  kv ? KV : NO_KV,
  ...MATMUL_FILES,
];

/** The WGSL text of the matmul family for one weight reading, with or without the norm prologue and the K/V epilogue. */
export function matmulSource(reading: WeightReading, norm: boolean, kv: boolean): string {
  return kernelSource(matmulParts(reading, norm, kv), reading === 'f16-native' ? ['f16'] : []).code;
}

function matmulPipeline(ctx: KernelContext, m: MatmulSetup, entryPoint: EntryPoint<'matmul.wgsl'>, constants: PipelineConstants): GPUComputePipeline {
  const kernel = `matmul.wgsl/${m.reading}${m.norm ? '+norm' : ''}${m.kv ? '+kv' : ''}` as const;
  const enables = m.reading === 'f16-native' ? (['f16'] as const) : [];
  return ctx.composed(kernel, matmulParts(m.reading, m.norm, m.kv), entryPoint, { ...m.constants, ...constants }, enables);
}

/** out = act(x @ w + bias) (or out += …), choosing the matrix-vector kernel for few rows. */
export function matmulOp(ctx: KernelContext, o: MatmulArgs): Op {
  const m = matmulSetup(ctx, 'matmul', o);
  const t = ctx.tuning;
  const N = o.w.cols;
  // Four columns per thread from one vec4 of weights where N allows; else four pairs (eight columns) per thread.
  const quads = N % 4 === 0;
  const splitK = t.matvecSplitK > 1;
  const decode = matmulPipeline(ctx, m, `${quads ? 'matvecQuads' : 'matvec'}${splitK ? 'SplitK' : ''}`, {
    MV_THREADS: t.matvecThreads,
    ...(splitK ? { MV_SPLIT: t.matvecSplitK } : {}),
  });
  const prefill =
    t.prefill === 'registers'
      ? matmulPipeline(ctx, m, 'matmulRegisters', { TILE_X: t.registerThreads[0], TILE_Y: t.registerThreads[1] })
      : matmulPipeline(ctx, m, 'matmulShared', { SH_X: t.sharedThreads[0], SH_Y: t.sharedThreads[1], SH_K: t.sharedDepth });
  const decodeBindGroup = ctx.bindGroup(m.label, decode, m.bindings);
  const prefillBindGroup = ctx.bindGroup(m.label, prefill, m.bindings);
  const pairs = N / 2;
  const decodeGroupsX = quads ? Math.ceil(N / 4 / t.matvecThreads) : Math.ceil(pairs / (4 * t.matvecThreads));
  // Either prefill kernel covers 4 rows × 4 columns (2 pairs) per thread.
  const [threadsX, threadsY] = t.prefill === 'registers' ? t.registerThreads : t.sharedThreads;
  const prefillGroupsX = Math.ceil(pairs / (2 * threadsX));
  const prefillRowsPerGroup = 4 * threadsY;
  return new KernelOp(m.label, (pass, step) => {
    const rows = m.checkStep(step);
    if (rows <= t.decodeMaxRows) {
      run(pass, m.label, decode, decodeBindGroup, decodeGroupsX, rows);
    } else {
      run(pass, m.label, prefill, prefillBindGroup, prefillGroupsX, Math.ceil(rows / prefillRowsPerGroup));
    }
  });
}

/** The same product with one thread per output and no tiling: the benchmark's baseline. */
export function naiveMatmulOp(ctx: KernelContext, o: MatmulArgs): Op {
  const m = matmulSetup(ctx, 'naiveMatmul', o);
  const pipeline = matmulPipeline(ctx, m, 'matmulNaive', {});
  const bindGroup = ctx.bindGroup(m.label, pipeline, m.bindings);
  const groupsX = Math.ceil(o.w.cols / 64);
  return new KernelOp(m.label, (pass, step) => {
    run(pass, m.label, pipeline, bindGroup, groupsX, m.checkStep(step));
  });
}

interface MatmulSetup {
  label: string;
  reading: WeightReading;
  norm: boolean;
  kv: boolean;
  constants: PipelineConstants;
  /** Bindings 0…7: step, x, w, bias, out, norm weight, K cache, V cache (null where the variant has none). */
  bindings: (GPUBuffer | null)[];
  /** The step's rows, once checked against the buffers (and the cache's positions and batch). */
  checkStep: (step: StepShape) => number;
}

function matmulSetup(ctx: KernelContext, kind: string, o: MatmulArgs): MatmulSetup {
  const K = o.w.rows;
  const N = o.w.cols;
  const extras = `${o.norm ? ' norm' : ''}${o.activation === 'quick_gelu' ? ' gelu' : ''}${o.accumulate ? ' +=' : ''}${o.kvAppend ? ' kv' : ''}`;
  const label = `${kind}[${K}x${N} ${o.w.dtype}${extras}]`;
  checkMatrix(label, 'w', o.w);
  checkDistinct(label, { x: o.x, out: o.out });
  if (o.bias) checkSize(label, 'bias', o.bias, N * 4);
  if (o.activation !== undefined && o.activation !== 'none' && o.activation !== 'quick_gelu') {
    throw badInput(`${label}: unknown activation '${String(o.activation)}', expected 'none' or 'quick_gelu'`);
  }
  if (o.norm) {
    if (!(o.norm.eps > 0) || !Number.isFinite(o.norm.eps)) throw badInput(`${label}: norm.eps must be a positive number, got ${o.norm.eps}`);
    // The norm runs over the product's inner dimension: its weight has K entries.
    checkSize(label, `norm.weight (dim = K = ${K})`, o.norm.weight, K * 4);
    checkDistinct(label, { 'norm.weight': o.norm.weight, out: o.out });
  }
  const maxRows = Math.min(rowCapacity(label, 'x', o.x, K * 4), rowCapacity(label, 'out', o.out, N * 4));
  let checkStep = (step: StepShape): number => checkRows(label, step, maxRows);
  const constants: PipelineConstants = {
    K,
    N,
    HAS_BIAS: o.bias ? 1 : 0,
    ACTIVATION: o.activation === 'quick_gelu' ? 1 : 0,
    ACCUMULATE: o.accumulate ? 1 : 0,
    ...(o.norm ? { NORM_EPS: o.norm.eps } : {}),
  };
  const bindings: (GPUBuffer | null)[] = [o.step, o.x, o.w.buffer, o.bias ?? ctx.dummyBuffer(), o.out, o.norm?.weight ?? null, null, null];
  const kv = o.kvAppend;
  if (kv) {
    if ((o.activation ?? 'none') !== 'none' || o.accumulate) throw badInput(`${label}: kvAppend stores the plain product: expected no activation and no accumulate`);
    checkPositiveInt(label, 'kvAppend.nHead', kv.nHead);
    checkPositiveInt(label, 'kvAppend.maxPositions', kv.maxPositions);
    checkStepPositions(label, o.step, kv.maxPositions);
    if (N % 3 !== 0) throw badInput(`${label}: kvAppend needs N = 3E (q | k | v), got N = ${N}`);
    const E = N / 3;
    if (E % kv.nHead !== 0) throw badInput(`${label}: kvAppend: E = ${E} is not a multiple of nHead ${kv.nHead}`);
    checkDistinct(label, { x: o.x, out: o.out, 'kvAppend.kCache': kv.kCache, 'kvAppend.vCache': kv.vCache });
    const sequenceBytes = kv.maxPositions * E * 4;
    const cacheBatch = Math.min(
      rowCapacity(label, 'kvAppend.kCache', kv.kCache, sequenceBytes),
      rowCapacity(label, 'kvAppend.vCache', kv.vCache, sequenceBytes),
    );
    const checkRowsOnly = checkStep;
    checkStep = (step) => {
      const rows = checkRowsOnly(step);
      if (step.past + step.seq > kv.maxPositions) {
        throw badInput(`${label}: positions up to ${step.past + step.seq} exceed the cache's maxPositions ${kv.maxPositions}`);
      }
      if (step.batch > cacheBatch) throw badInput(`${label}: batch ${step.batch} but the cache holds ${cacheBatch} sequences`);
      return rows;
    };
    constants.KV_HEADS = kv.nHead; // the cache's positions come from the step uniform
    bindings[6] = kv.kCache;
    bindings[7] = kv.vCache;
  }
  return { label, reading: weightReading(ctx, o.w.dtype), norm: o.norm !== undefined, kv: kv !== undefined, constants, bindings, checkStep };
}
