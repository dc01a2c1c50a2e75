// Matrix products with fused bias, quick-GELU and residual add (shaders/matmul.wgsl): the matrix-vector
// kernel for decode, tiled kernels for prefill, a naive baseline.
import type { GpuMatrix, Op } from './types';
import type { PipelineConstants } from './pipelines';
import { KernelOp, checkDistinct, checkMatrix, checkRows, checkSize, rowCapacity, run, type KernelContext } from './context';
import matmulWgsl from '../../shaders/matmul.wgsl?raw';

export interface MatmulArgs {
  step: GPUBuffer;
  /** f32 [rows, K] */
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
}

/** out = act(x @ w + bias) (or out += …), choosing the matrix-vector kernel for few rows. */
export function matmulOp(ctx: KernelContext, o: MatmulArgs): Op {
  const m = matmulSetup(ctx, 'matmul', o);
  const t = ctx.tuning;
  const decode = ctx.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, t.matvecSplitK > 1 ? 'matvecSplitK' : 'matvec', {
    ...m.constants,
    MV_THREADS: t.matvecThreads,
    ...(t.matvecSplitK > 1 ? { MV_SPLIT: t.matvecSplitK } : {}),
  });
  const prefill =
    t.prefill === 'registers'
      ? ctx.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulRegisters', {
          ...m.constants,
          TILE_X: t.registerThreads[0],
          TILE_Y: t.registerThreads[1],
        })
      : ctx.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulShared', {
          ...m.constants,
          SH_X: t.sharedThreads[0],
          SH_Y: t.sharedThreads[1],
          SH_K: t.sharedDepth,
        });
  const decodeBindGroup = ctx.bindGroup(m.label, decode, m.bindings);
  const prefillBindGroup = ctx.bindGroup(m.label, prefill, m.bindings);
  const pairs = o.w.cols / 2;
  const decodeGroupsX = Math.ceil(pairs / (4 * t.matvecThreads));
  // Either prefill kernel covers 4 rows × 4 columns (2 pairs) per thread.
  const [threadsX, threadsY] = t.prefill === 'registers' ? t.registerThreads : t.sharedThreads;
  const prefillGroupsX = Math.ceil(pairs / (2 * threadsX));
  const prefillRowsPerGroup = 4 * threadsY;
  return new KernelOp(m.label, (pass, step) => {
    const rows = checkRows(m.label, step, m.maxRows);
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
  const pipeline = ctx.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulNaive', m.constants);
  const bindGroup = ctx.bindGroup(m.label, pipeline, m.bindings);
  const groupsX = Math.ceil(o.w.cols / 64);
  return new KernelOp(m.label, (pass, step) => {
    run(pass, m.label, pipeline, bindGroup, groupsX, checkRows(m.label, step, m.maxRows));
  });
}

function matmulSetup(ctx: KernelContext, kind: string, o: MatmulArgs) {
  const K = o.w.rows;
  const N = o.w.cols;
  const label = `${kind}[${K}x${N} ${o.w.dtype}${o.activation === 'quick_gelu' ? ' gelu' : ''}${o.accumulate ? ' +=' : ''}]`;
  checkMatrix(label, 'w', o.w);
  checkDistinct(label, { x: o.x, out: o.out });
  if (o.bias) checkSize(label, 'bias', o.bias, N * 4);
  if (o.activation !== undefined && o.activation !== 'none' && o.activation !== 'quick_gelu') {
    throw new Error(`${label}: unknown activation '${String(o.activation)}', expected 'none' or 'quick_gelu'`);
  }
  const maxRows = Math.min(rowCapacity(label, 'x', o.x, K * 4), rowCapacity(label, 'out', o.out, N * 4));
  const constants: PipelineConstants = {
    K,
    N,
    HAS_BIAS: o.bias ? 1 : 0,
    ACTIVATION: o.activation === 'quick_gelu' ? 1 : 0,
    ACCUMULATE: o.accumulate ? 1 : 0,
  };
  const bindings = [o.step, o.x, o.w.buffer, o.bias ?? ctx.dummyBuffer(), o.out];
  return { label, constants, bindings, maxRows };
}
