// Inverted dropout with a seeded counter-based mask (shaders/dropout.wgsl, the mask from dropout-mask.ts): the
// forward and the backward dispatch the same key on the activation and on its gradient, and the mask comes out the
// same without being stored. Reproducible: (seed, site, step, element) decide every kept value. Off (no dispatch)
// when p = 0.
import type { KernelContext } from '../gpu/context';
import { checkDistinct, checkSize, run } from '../gpu/context';
import { badInput } from '../errors';
import dropoutMaskWgsl from '../../shaders/dropout_mask.wgsl?raw';
import dropoutWgsl from '../../shaders/dropout.wgsl?raw';
import { shader } from '../gpu/pipelines';
import { sizesUniform, type TrainOp } from './kernels';
import { dropoutStepWriter, dropoutWords, type DropoutKey } from './dropout-mask';

export { dropoutHash, dropoutThreshold, type DropoutKey } from './dropout-mask';

export interface DropoutOp extends TrainOp {
  /** Sets the step whose mask the next encode uses (the forward's and the backward's op must agree). */
  setStep(step: number): void;
}

const PARTS = [shader('dropout_mask.wgsl', dropoutMaskWgsl), shader('dropout.wgsl', dropoutWgsl)];

/** The uniform [count, seed, site, step, threshold, scale] after checking count and the key. */
function dropoutUniform(ctx: KernelContext, label: string, count: number, key: DropoutKey): GPUBuffer {
  if (!Number.isInteger(count) || count < 1) throw badInput(`${label}: count must be a positive integer, got ${count}`);
  const words = dropoutWords(label, key);
  // Word 3 (the step) is rewritten by setStep; word 5 is the f32 scale.
  return sizesUniform(ctx, label, [count, ...words, 0, 0], [5]);
}

function steppedOp(ctx: KernelContext, label: string, uniform: GPUBuffer, encode: (pass: GPUComputePassEncoder) => void): DropoutOp {
  return { label, encode, setStep: dropoutStepWriter(ctx, label, uniform, 12), destroy: () => uniform.destroy() };
}

/**
 * Dropout of `count` f32 values of `x`, in place, with probability `p` (0 ≤ p < 1); with `residual`, x ← dropout(x) +
 * residual (a c_proj output dropped before its residual add). `site` tells apart the places.
 */
export function dropoutOp(ctx: KernelContext, o: { x: GPUBuffer; residual?: GPUBuffer; count: number } & DropoutKey): DropoutOp {
  const label = `dropout[${o.count}, p ${o.p}, site ${o.site}]`;
  const uniform = dropoutUniform(ctx, label, o.count, o);
  checkSize(label, 'x', o.x, o.count * 4);
  if (o.residual) {
    checkDistinct(label, { residual: o.residual, x: o.x });
    checkSize(label, 'residual', o.residual, o.count * 4);
  }
  const pipeline = ctx.composed('dropout.wgsl', PARTS, 'dropout', { ADD_RESIDUAL: o.residual ? 1 : 0 });
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.residual ?? ctx.dummyBuffer()]);
  const groups = Math.min(Math.ceil(o.count / 256), 4096);
  // At p = 0 dropout alone changes nothing; the residual add still has to happen.
  return steppedOp(ctx, label, uniform, (pass) => {
    if (o.p > 0 || o.residual) run(pass, label, pipeline, group, groups, 1);
  });
}

/**
 * y = dropout(x), out of place, over `count` f32 values: the residual stream's gradient dropped on its way back into
 * a c_proj (the same key as the forward's op gives the same mask), the stream keeping the undropped one.
 */
export function dropoutIntoOp(ctx: KernelContext, o: { x: GPUBuffer; y: GPUBuffer; count: number } & DropoutKey): DropoutOp {
  const label = `dropoutInto[${o.count}, p ${o.p}, site ${o.site}]`;
  const uniform = dropoutUniform(ctx, label, o.count, o);
  checkDistinct(label, { x: o.x, y: o.y });
  checkSize(label, 'x', o.x, o.count * 4);
  checkSize(label, 'y', o.y, o.count * 4);
  const pipeline = ctx.composed('dropout.wgsl', PARTS, 'dropoutInto', {});
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, null, o.y]);
  const groups = Math.min(Math.ceil(o.count / 256), 4096);
  // Always dispatched: y must be written even at p = 0 (it is then a copy).
  return steppedOp(ctx, label, uniform, (pass) => run(pass, label, pipeline, group, groups, 1));
}
