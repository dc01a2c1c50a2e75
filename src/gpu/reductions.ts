// Per-row reductions the jobs need beside the forward: mean pooling of hidden states (shaders/mean_pool.wgsl)
// and the cross-entropy of logits against labels (shaders/cross-entropy.wgsl).
import { badInput } from '../errors';
import type { Op } from './types';
import { KernelOp, checkDistinct, checkPositiveInt, checkRows, rowCapacity, run, type KernelContext } from './context';
import meanPoolWgsl from '../../shaders/mean_pool.wgsl?raw';
import crossEntropyWgsl from '../../shaders/cross-entropy.wgsl?raw';

/** out[b] += Σ_i x[b * seq + i] (the caller zeroes out and divides by the token count). */
export function meanPoolSumOp(ctx: KernelContext, o: { step: GPUBuffer; x: GPUBuffer; out: GPUBuffer; dim: number }): Op {
  const label = `meanPoolSum[${o.dim}]`;
  checkPositiveInt(label, 'dim', o.dim);
  checkDistinct(label, { x: o.x, out: o.out });
  const maxRows = rowCapacity(label, 'x', o.x, o.dim * 4);
  const maxBatch = rowCapacity(label, 'out', o.out, o.dim * 4);
  const pipeline = ctx.pipeline('mean_pool.wgsl', meanPoolWgsl, null, 'meanPoolSum', { DIM: o.dim });
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.x, o.out]);
  const groupsX = Math.ceil(o.dim / 64);
  return new KernelOp(label, (pass, step) => {
    checkRows(label, step, maxRows);
    if (step.batch > maxBatch) throw badInput(`${label}: batch ${step.batch} but out holds ${maxBatch} rows`);
    run(pass, label, pipeline, bindGroup, groupsX, step.batch);
  });
}

/**
 * out[r] = -log softmax(logits[r])[targets[r]] in nats, per row of `vocab` logits; 0 where targets[r] < 0
 * (ignored). A target ≥ vocab gives NaN: callers check labels on the host first.
 */
export function crossEntropyOp(ctx: KernelContext, o: { step: GPUBuffer; logits: GPUBuffer; targets: GPUBuffer; out: GPUBuffer; vocab: number }): Op {
  const label = `crossEntropy[${o.vocab}]`;
  checkPositiveInt(label, 'vocab', o.vocab);
  checkDistinct(label, { logits: o.logits, targets: o.targets, out: o.out });
  const maxRows = Math.min(
    rowCapacity(label, 'logits', o.logits, o.vocab * 4),
    rowCapacity(label, 'targets', o.targets, 4),
    rowCapacity(label, 'out', o.out, 4),
  );
  const threads = 64;
  const pipeline = ctx.pipeline('cross-entropy.wgsl', crossEntropyWgsl, null, 'crossEntropy', { VOCAB: o.vocab, WG: threads });
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.logits, o.targets, o.out]);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    run(pass, label, pipeline, bindGroup, Math.ceil(rows / threads), 1);
  });
}
