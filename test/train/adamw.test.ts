// AdamW on the GPU (grad_norm.wgsl + adamw.wgsl) against the float64 CPU reference (itself checked against torch),
// on ragged tensor sizes: one element, under and over one workgroup, more elements than 64 workgroups cover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice, trackBuffers } from '../helpers/gpu';
import { KernelContext } from '../../src/gpu/context';
import { AdamW, decaysByName, type TrainedTensor } from '../../src/train/adamw';
import { ReferenceAdamW, decays } from '../reference/train';
import { errorCode } from '../../src/errors';
import { random, randomArray, readF32, relativeError, storageBuffer } from '../gpu/harness';

const SIZES: [string, number][] = [
  ['a.weight', 1],
  ['a.bias', 255],
  ['b.weight', 257],
  ['h.0.ln_1.bias', 1000], // no decay by name (bias), whatever its layer
  ['c.weight', 64 * 256 + 3], // strided: more than 64 workgroups' worth
];

describe('AdamW on the GPU', () => {
  let device: GPUDevice;
  let ctx: KernelContext;
  beforeAll(async () => {
    device = await getTestDevice();
    ctx = new KernelContext(device);
  });
  afterAll(() => ctx.destroy());

  it('groups decay by name as the reference (and Hugging Face Trainer) does', () => {
    for (const name of ['transformer.wte.weight', 'transformer.h.3.attn.c_attn.bias', 'transformer.h.0.ln_1.weight', 'lm_head.weight', 'score.weight']) {
      expect(decaysByName(name), name).toBe(decays(name));
    }
  });

  it('matches the reference over steps with clipping on and off, a learning rate per step, and makes nothing per step', async () => {
    const rand = random(11);
    const params = SIZES.map(([, n]) => randomArray(rand, n, 1));
    const paramBuffers = params.map((p) => storageBuffer(device, p));
    const gradBuffers = SIZES.map(([, n]) => storageBuffer(device, n * 4));
    const tensors: TrainedTensor[] = SIZES.map(([name, count], i) => ({ name, count, param: paramBuffers[i], grad: gradBuffers[i], decays: decaysByName(name) }));
    const options = { betas: [0.9, 0.95] as [number, number], eps: 1e-8, weightDecay: 0.1, maxGradNorm: 2 };
    const adamw = new AdamW(ctx, tensors, options);
    await ctx.ready();

    const reference = new ReferenceAdamW();
    const refWeights = new Map(SIZES.map(([name], i) => [name, Float64Array.from(params[i])]));
    const tracker = trackBuffers(device);
    // Gradient scales: a large norm (clipped), a small one (not clipped), then large again.
    const steps = [
      { lr: 1e-3, scale: 1 },
      { lr: 3e-3, scale: 1e-3 },
      { lr: 5e-4, scale: 0.5 },
    ];
    try {
      for (const { lr, scale } of steps) {
        const grads = SIZES.map(([, n]) => randomArray(rand, n, scale));
        grads.forEach((g, i) => device.queue.writeBuffer(gradBuffers[i], 0, g));
        const made = tracker.created();
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        adamw.encode(pass, lr);
        pass.end();
        device.queue.submit([encoder.finish()]);
        expect(tracker.created() - made, 'buffers made by a step').toBe(0);

        const total = reference.update(refWeights, new Map(SIZES.map(([name], i) => [name, Float64Array.from(grads[i])])), { lr, ...options });
        expect((total > options.maxGradNorm) === (scale > 0.1)).toBe(true); // the case is what it says
        const normSquared = (await readF32(device, adamw.normSquared, 1))[0];
        expect(Math.abs(Math.sqrt(normSquared) - total) / total).toBeLessThan(1e-5);
        for (let i = 0; i < SIZES.length; i++) {
          const got = await readF32(device, paramBuffers[i], SIZES[i][1]);
          expect(relativeError(got, refWeights.get(SIZES[i][0])!), `${SIZES[i][0]} at lr ${lr}`).toBeLessThan(2e-6);
        }
      }
    } finally {
      tracker.restore();
    }
    expect(adamw.step).toBe(3);
    // Both moments as the reference keeps them.
    for (let i = 0; i < SIZES.length; i++) {
      const [name, n] = SIZES[i];
      expect(relativeError(await readF32(device, adamw.moments[i].m, n), reference.m.get(name)!)).toBeLessThan(1e-5);
      expect(relativeError(await readF32(device, adamw.moments[i].v, n), reference.v.get(name)!)).toBeLessThan(1e-5);
    }
    adamw.destroy();
    for (const b of [...paramBuffers, ...gradBuffers]) b.destroy();
  });

  it('refuses bad options and tensors, naming them', () => {
    const p = storageBuffer(device, 16);
    const g = storageBuffer(device, 16);
    const t = { name: 'w.weight', param: p, grad: g, count: 4, decays: true };
    expect(() => new AdamW(ctx, [t], { betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => new AdamW(ctx, [t], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new AdamW(ctx, [{ ...t, count: 5 }])).toThrow(/w\.weight's param buffer holds 16 bytes, expected 20/);
    expect(() => new AdamW(ctx, [t, t])).toThrow(/given twice/);
    expect(() => new AdamW(ctx, [{ ...t, grad: p }])).toThrow(/must be different buffers/);
    let caught: unknown = null;
    try {
      new AdamW(ctx, []);
    } catch (e) {
      caught = e;
    }
    expect(errorCode(caught)).toBe('E_BAD_INPUT');
    p.destroy();
    g.destroy();
  });
});
