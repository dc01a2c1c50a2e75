// ImageGPT's layer norm without mean-centering or bias (shaders/rms_norm.wgsl; with `subgroups`, the workgroup
// layout's sum from shaders/rms_norm_subgroups.wgsl).
import type { Op } from './types';
import { PipelineCache } from './pipelines';
import { KernelOp, checkDistinct, checkPositiveInt, checkRows, checkSize, rowCapacity, run, type KernelContext } from './context';
import stepWgsl from '../../shaders/step.wgsl?raw';
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
  if (!(o.eps > 0) || !Number.isFinite(o.eps)) throw new Error(`${label}: eps must be a positive number, got ${o.eps}`);
  checkDistinct(label, { x: o.x, out: o.out });
  checkSize(label, 'weight', o.weight, o.dim * 4);
  const maxRows = Math.min(rowCapacity(label, 'x', o.x, o.dim * 4), rowCapacity(label, 'out', o.out, o.dim * 4));
  const entry = rmsNormEntry(ctx);
  const perThread = entry === 'rmsNormPerThread';
  const constants = { DIM: o.dim, EPS: o.eps, WG: ctx.tuning.normThreads };
  const pipeline =
    entry === 'rmsNormSubgroups'
      ? // `enable` must lead the module, so this variant's source is composed here (the device's one pipeline cache).
        PipelineCache.forDevice(ctx.device).get(
          'rms_norm.wgsl+subgroups',
          ['enable subgroups;', stepWgsl, rmsNormWgsl, rmsNormSubgroupsWgsl].join('\n'),
          entry,
          constants,
        )
      : ctx.pipeline('rms_norm.wgsl', rmsNormWgsl, null, entry, constants);
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.x, o.weight, o.out]);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    run(pass, label, pipeline, bindGroup, perThread ? Math.ceil(rows / ctx.tuning.normThreads) : rows, 1);
  });
}
