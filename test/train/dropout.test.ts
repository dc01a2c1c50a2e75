// Seeded dropout: the kernel's mask is the documented hash (so a run is reproducible from its seed), the forward
// and backward masks agree, about p of the values drop, kept values scale by 1/(1 − p), and p = 0 changes nothing.
// The out-of-place and residual-adding forms use the same mask, and the training attention drops its probabilities
// with it, forward and backward, as the reference does with the same multipliers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { KernelContext } from '../../src/gpu/context';
import { dropoutHash, dropoutIntoOp, dropoutOp, dropoutThreshold, type DropoutOp } from '../../src/train/dropout';
import { attentionBackwardOp, attentionForwardOp } from '../../src/train/kernels';
import { attentionBackward, attentionForward, dropoutMultipliers } from '../reference/train';
import { random, randomArray, readF32, relativeError, storageBuffer } from '../gpu/harness';

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

  const runOps = async (...ops: DropoutOp[]): Promise<void> => {
    await ctx.ready();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const o of ops) o.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
  };

  it('with a residual, x ← dropout(x) + residual in place; dropoutInto writes dropout(x) elsewhere, the same mask', async () => {
    const n = 1031;
    const rand = random(2);
    const x = randomArray(rand, n).map((v) => v + 2);
    const residual = randomArray(rand, n);
    const [p, seed, site, step] = [0.3, 99, 4, 17];
    const inPlace = storageBuffer(device, x);
    const into = storageBuffer(device, n * 4);
    const source = storageBuffer(device, x);
    const res = storageBuffer(device, residual);
    const added = dropoutOp(ctx, { x: inPlace, residual: res, count: n, p, seed, site });
    const copied = dropoutIntoOp(ctx, { x: source, y: into, count: n, p, seed, site });
    added.setStep(step);
    copied.setStep(step);
    await runOps(added, copied);
    const gotAdded = await readF32(device, inPlace, n);
    const gotInto = await readF32(device, into, n);
    const scale = Math.fround(1 / (1 - p));
    for (let i = 0; i < n; i++) {
      const kept = dropoutHash(seed, site, step, i) >= dropoutThreshold(p) ? Math.fround(x[i] * scale) : 0;
      expect(gotInto[i]).toBe(kept);
      expect(gotAdded[i]).toBe(Math.fround(kept + residual[i]));
    }
    expect(await readF32(device, source, n)).toEqual(x); // dropoutInto leaves its input alone
    // At p = 0 the residual add still happens, and dropoutInto is a copy.
    const zero = dropoutOp(ctx, { x: inPlace, residual: res, count: n, p: 0, seed, site });
    const zeroInto = dropoutIntoOp(ctx, { x: source, y: into, count: n, p: 0, seed, site });
    await runOps(zero, zeroInto);
    expect(await readF32(device, inPlace, n)).toEqual(gotAdded.map((v, i) => Math.fround(v + residual[i])));
    expect(await readF32(device, into, n)).toEqual(x);
    for (const o of [added, copied, zero, zeroInto]) o.destroy();
    for (const b of [inPlace, into, source, res]) b.destroy();
  });

  for (const [batch, seq, heads, headDim, p] of [[2, 37, 3, 5, 0.25], [1, 70, 2, 16, 0.6]]) {
    // Both attention kernels: the CPU adapter's blocked one and the portable one a GPU gets (forced through the tuning).
    for (const prefill of ['registers', 'shared'] as const) {
      it(`training attention (${prefill}) drops its probabilities, forward and backward (batch ${batch} × ${seq}, ${heads} heads of ${headDim}, p ${p})`, async () => {
        const kernels = prefill === ctx.tuning.prefill ? ctx : new KernelContext(device, { prefill });
        const rand = random(seq * 7 + heads);
        const E = heads * headDim;
        const rows = batch * seq;
        const qkv = randomArray(rand, rows * 3 * E, 1.5);
        const dOut = randomArray(rand, rows * E);
        const sizes = { batch, seq, heads, headDim, scale: 1 / Math.sqrt(headDim) };
        const [seed, site, step] = [5, 7, 3];
        const mask = dropoutMultipliers(p, seed, site, step, batch * heads * seq * seq);
        const { p: probabilities, merged } = attentionForward(Float64Array.from(qkv), sizes, mask);
        const want = attentionBackward(Float64Array.from(qkv), probabilities, Float64Array.from(dOut), sizes, mask);
        const made = [storageBuffer(device, qkv), storageBuffer(device, rows * E * 4), storageBuffer(device, dOut), storageBuffer(device, rows * heads * 8), storageBuffer(device, rows * 3 * E * 4)];
        const [qkvBuffer, outputs, dOutBuffer, stats, dqkv] = made;
        const dropout = { p, seed, site };
        const forward = attentionForwardOp(kernels, { qkv: qkvBuffer, outputs, ...sizes, dropout });
        const backward = attentionBackwardOp(kernels, { qkv: qkvBuffer, outputs, dOut: dOutBuffer, stats, dqkv, ...sizes, dropout });
        forward.setStep(step);
        backward.setStep(step);
        await kernels.ready();
        await runOps(forward, backward);
        expect(relativeError(await readF32(device, outputs, rows * E), merged)).toBeLessThan(1e-5);
        expect(relativeError(await readF32(device, dqkv, rows * 3 * E), want)).toBeLessThan(1e-5);
        // Another step's mask gives other outputs (the step reaches the kernel).
        forward.setStep(step + 1);
        await runOps(forward);
        expect(relativeError(await readF32(device, outputs, rows * E), merged)).toBeGreaterThan(1e-2);
        forward.destroy();
        backward.destroy();
        for (const b of made) b.destroy();
        if (kernels !== ctx) kernels.destroy();
      });
    }
  }

  it('refuses p outside [0, 1) and bad seeds, naming them', () => {
    const b = storageBuffer(device, 16);
    expect(() => dropoutOp(ctx, { x: b, count: 4, p: 1, seed: 0, site: 0 })).toThrow(/p must be a number in \[0, 1\), got 1/);
    expect(() => dropoutOp(ctx, { x: b, count: 4, p: 0.1, seed: -1, site: 0 })).toThrow(/seed must be an integer/);
    expect(() => dropoutOp(ctx, { x: b, count: 5, p: 0.1, seed: 0, site: 0 })).toThrow(/x holds 16 bytes, expected at least 20/);
    expect(() => dropoutIntoOp(ctx, { x: b, y: b, count: 4, p: 0.1, seed: 0, site: 0 })).toThrow(/x and y/);
    const sizes = { batch: 1, seq: 1, heads: 1, headDim: 4, scale: 1 };
    expect(() => attentionForwardOp(ctx, { qkv: storageBuffer(device, 48), outputs: storageBuffer(device, 16), ...sizes, dropout: { p: 1.5, seed: 0, site: 0 } })).toThrow(/attentionForward.* dropout: p must be a number in \[0, 1\), got 1\.5/);
    b.destroy();
  });
});
