// Inverted dropout with a seeded counter-based mask (shaders/dropout.wgsl): the forward and the backward dispatch
// the same op on the activation and on its gradient, and the mask comes out the same without being stored.
// Reproducible: (seed, site, step, element) decide every kept value. Off (no dispatch) when p = 0.
import type { KernelContext } from '../gpu/context';
import { checkSize, run } from '../gpu/context';
import { badInput } from '../errors';
import dropoutWgsl from '../../shaders/dropout.wgsl?raw';
import { sizesUniform, type TrainOp } from './kernels';


export interface DropoutOp extends TrainOp {
  /** Sets the step whose mask the next encode uses (the forward's and the backward's op must agree). */
  setStep(step: number): void;
}

/** The mask hash as the kernel computes it (tests; the kernel is the one that runs). */
export function dropoutHash(seed: number, site: number, step: number, i: number): number {
  const mix = (v: number): number => {
    let h = v >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x7feb352d) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0x846ca68b) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };
  return mix((mix((mix((mix(seed) ^ site) >>> 0) ^ step) >>> 0) ^ i) >>> 0);
}

/** The kernel's threshold for probability p: an element is kept when its hash is ≥ this. */
export function dropoutThreshold(p: number): number {
  return Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
}

/** Dropout of `count` f32 values of `x`, in place, with probability `p` (0 ≤ p < 1). `site` tells apart the places. */
export function dropoutOp(ctx: KernelContext, o: { x: GPUBuffer; count: number; p: number; seed: number; site: number }): DropoutOp {
  const label = `dropout[${o.count}, p ${o.p}, site ${o.site}]`;
  if (!Number.isInteger(o.count) || o.count < 1) throw badInput(`${label}: count must be a positive integer, got ${o.count}`);
  if (typeof o.p !== 'number' || !(o.p >= 0 && o.p < 1)) throw badInput(`${label}: p must be a number in [0, 1), got ${String(o.p)}`);
  for (const k of ['seed', 'site'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0 || o[k] >= 2 ** 32) throw badInput(`${label}: ${k} must be an integer in [0, 2³²), got ${o[k]}`);
  }
  checkSize(label, 'x', o.x, o.count * 4);
  // Word 3 (the step) is rewritten by setStep; word 5 is the f32 scale.
  const uniform = sizesUniform(ctx, label, [o.count, o.seed, o.site, 0, dropoutThreshold(o.p), 1 / (1 - o.p), 0, 0], [5]);
  const pipeline = ctx.composed('dropout.wgsl', [dropoutWgsl], 'dropout', {});
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x]);
  const step = new Uint32Array(1);
  const groups = Math.min(Math.ceil(o.count / 256), 4096);
  return {
    label,
    encode: (pass) => {
      if (o.p > 0) run(pass, label, pipeline, group, groups, 1);
    },
    setStep(n: number) {
      if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw badInput(`${label}: step must be an integer in [0, 2³²), got ${n}`);
      step[0] = n;
      ctx.device.queue.writeBuffer(uniform, 12, step);
    },
    destroy: () => uniform.destroy(),
  };
}
