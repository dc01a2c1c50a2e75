// Seeded dropout: the kernel's mask is the documented hash (so a run is reproducible from its seed), the forward
// and backward masks agree, about p of the values drop, kept values scale by 1/(1 − p), and p = 0 changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { KernelContext } from '../../src/gpu/context';
import { dropoutHash, dropoutOp, dropoutThreshold } from '../../src/train/dropout';
import { random, randomArray, readF32, storageBuffer } from '../gpu/harness';

describe('dropout', () => {
  let device: GPUDevice;
  let ctx: KernelContext;
  beforeAll(async () => {
    device = await getTestDevice();
    ctx = new KernelContext(device);
  });
  afterAll(() => ctx.destroy());

  const apply = async (x: Float32Array, p: number, seed: number, site: number, step: number): Promise<Float32Array> => {
    const buffer = storageBuffer(device, x);
    const op = dropoutOp(ctx, { x: buffer, count: x.length, p, seed, site });
    op.setStep(step);
    await ctx.ready();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    op.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
    const out = await readF32(device, buffer, x.length);
    op.destroy();
    buffer.destroy();
    return out;
  };

  it('keeps exactly the elements whose hash clears p·2³², scaled by 1/(1 − p); the same numbers give the same mask', async () => {
    const n = 10_007;
    const x = randomArray(random(1), n).map((v) => v + 2); // no zeros: a dropped value is told apart
    const p = 0.1;
    const out = await apply(x, p, 1234, 7, 3);
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const kept = dropoutHash(1234, 7, 3, i) >= dropoutThreshold(p);
      expect(out[i]).toBe(kept ? Math.fround(x[i] * Math.fround(1 / (1 - p))) : 0);
      if (!kept) dropped++;
    }
    expect(Math.abs(dropped / n - p)).toBeLessThan(0.01);
    expect(await apply(x, p, 1234, 7, 3)).toEqual(out);
    // A gradient through the same op drops the same elements.
    const grad = await apply(new Float32Array(n).fill(1), p, 1234, 7, 3);
    for (let i = 0; i < n; i++) expect(grad[i] === 0).toBe(out[i] === 0);
  });

  it('another seed, site or step gives another mask; p = 0 changes nothing', async () => {
    const x = new Float32Array(4096).fill(1);
    const base = await apply(x, 0.5, 1, 2, 3);
    for (const [seed, site, step] of [[9, 2, 3], [1, 9, 3], [1, 2, 9]]) {
      const other = await apply(x, 0.5, seed, site, step);
      const same = other.filter((v, i) => (v === 0) === (base[i] === 0)).length;
      expect(same / x.length).toBeGreaterThan(0.4);
      expect(same / x.length).toBeLessThan(0.6); // independent masks agree about half the time at p = 0.5
    }
    expect(await apply(x, 0, 1, 2, 3)).toEqual(x);
  });

  it('refuses p outside [0, 1) and bad seeds, naming them', () => {
    const b = storageBuffer(device, 16);
    expect(() => dropoutOp(ctx, { x: b, count: 4, p: 1, seed: 0, site: 0 })).toThrow(/p must be a number in \[0, 1\), got 1/);
    expect(() => dropoutOp(ctx, { x: b, count: 4, p: 0.1, seed: -1, site: 0 })).toThrow(/seed must be an integer/);
    expect(() => dropoutOp(ctx, { x: b, count: 5, p: 0.1, seed: 0, site: 0 })).toThrow(/x holds 16 bytes, expected at least 20/);
    b.destroy();
  });
});
