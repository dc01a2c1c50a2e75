// ImageGPT's layer norm without mean-centering or bias (shaders/rms_norm.wgsl; with `subgroups`, the workgroup
// layout's sum from shaders/rms_norm_subgroups.wgsl).
import { badInput } from '../errors';
import type { Op } from './types';
import { shader } from './pipelines';
import { KernelOp, checkDistinct, checkPositiveInt, checkRows, checkSize, rowCapacity, run, type KernelContext } from './context';
import rmsNormWgsl from '../../shaders/rms_norm.wgsl?raw';
import rmsNormSubgroupsWgsl from '../../shaders/rms_norm_subgroups.wgsl?raw';

/** The entry point rmsNorm runs: a thread per row, a workgroup per row, or a workgroup per row summing with subgroups. */
export function rmsNormEntry(ctx: Pick<KernelContext, 'tuning' | 'useSubgroups'>): 'rmsNormPerThread' | 'rmsNorm' | 'rmsNormSubgroups' {
  if (ctx.tuning.norm === 'thread') return 'rmsNormPerThread';
  return ctx.useSubgroups ? 'rmsNormSubgroups' : 'rmsNorm';
}

/** out = x / sqrt(mean(x²) + eps) * weight, per row: no mean-centering, no bias. */
export function rmsNormOp(ctx: KernelContext, o: { step: GPUBuffer; x: GPUBuffer; weight: GPUBuffer; out: GPUBuffer; dim: number; eps: number }): Op {
  const label = `rmsNorm[${o.dim}]`;
  checkPositiveInt(label, 'dim', o.dim);
  if (!(o.eps > 0) || !Number.isFinite(o.eps)) throw badInput(`${label}: eps must be a positive number, got ${o.eps}`);
  checkDistinct(label, { x: o.x, out: o.out });
  checkSize(label, 'weight', o.weight, o.dim * 4);
  const maxRows = Math.min(rowCapacity(label, 'x', o.x, o.dim * 4), rowCapacity(label, 'out', o.out, o.dim * 4));
  const entry = rmsNormEntry(ctx);
  const perThread = entry === 'rmsNormPerThread';
  const constants = { DIM: o.dim, EPS: o.eps, WG: ctx.tuning.normThreads };
  const pipeline =
    entry === 'rmsNormSubgroups'
      ? ctx.composed('rms_norm.wgsl/subgroups', [shader('rms_norm.wgsl', rmsNormWgsl), shader('rms_norm_subgroups.wgsl', rmsNormSubgroupsWgsl)], entry, constants, ['subgroups'])
      : ctx.pipeline('rms_norm.wgsl', rmsNormWgsl, null, entry, constants);
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.x, o.weight, o.out]);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    run(pass, label, pipeline, bindGroup, perThread ? Math.ceil(rows / ctx.tuning.normThreads) : rows, 1);
  });
}
