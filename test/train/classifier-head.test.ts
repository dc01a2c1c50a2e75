// The classifier head's kernels (src/train/classifier-head.ts, shaders/train_pool.wgsl) against small float64 CPU
// references written out here, on ragged shapes (dims not multiples of the 64-thread workgroups): the mean pool and
// its backward alone, then the whole head (pool, score, cross-entropy with a -100 row, the backward into ln_f's
// output) for its loss, logits, score gradient and input gradient.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { KernelContext } from '../../src/gpu/context';
import { classifierHead, poolBackwardOp, poolForwardOp } from '../../src/train/classifier-head';
import type { TrainOp } from '../../src/train/kernels';
import { random, randomArray, readF32, relativeError, storageBuffer } from '../gpu/harness';

/** pooled [B, E] = mean over each sequence's T rows of x [B·T, E]. */
function meanPool(x: ArrayLike<number>, B: number, T: number, E: number): Float64Array {
  const pooled = new Float64Array(B * E);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) pooled[b * E + e] += x[(b * T + t) * E + e] / T;
  return pooled;
}

describe('classifier head kernels', () => {
  let device: GPUDevice;
  let ctx: KernelContext;
  const made: GPUBuffer[] = [];
  /** A buffer holding `data`, or `data` zeroed f32s. */
  const buffer = (data: Float32Array | Int32Array | number): GPUBuffer => {
    const b = storageBuffer(device, typeof data === 'number' ? data * 4 : data);
    made.push(b);
    return b;
  };
  const runOps = (ops: readonly TrainOp[]) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const o of ops) o.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  beforeAll(async () => {
    device = await getTestDevice();
    ctx = new KernelContext(device);
  });
  afterAll(() => {
    for (const b of made) b.destroy();
    ctx.destroy();
  });

  for (const [B, T, E] of [[1, 1, 1], [3, 5, 70], [2, 33, 130]] as const) {
    it(`mean pool and its backward, ${B} sequences × ${T} positions × ${E}`, async () => {
      const rand = random(B * 100 + T * 10 + E);
      const x = randomArray(rand, B * T * E);
      const dPooled = randomArray(rand, B * E);
      const pooled = buffer(B * E);
      const dx = buffer(B * T * E);
      const forward = poolForwardOp(ctx, { x: buffer(x), pooled, batch: B, seq: T, dim: E });
      const backward = poolBackwardOp(ctx, { dPooled: buffer(dPooled), dx, batch: B, seq: T, dim: E });
      runOps([forward, backward]);
      expect(relativeError(await readF32(device, pooled, B * E), meanPool(x, B, T, E))).toBeLessThan(1e-6);
      const want = new Float64Array(B * T * E);
      for (let r = 0; r < B * T; r++) for (let e = 0; e < E; e++) want[r * E + e] = dPooled[Math.floor(r / T) * E + e] / T;
      expect(relativeError(await readF32(device, dx, B * T * E), want)).toBeLessThan(1e-6);
      forward.destroy();
      backward.destroy();
    });
  }

  it('the whole head: loss, logits, score gradient and ln_f-output gradient, a -100 row ignored', async () => {
    const [B, T, E, C] = [3, 7, 70, 5];
    const rand = random(20);
    const normed = randomArray(rand, B * T * E);
    const score = randomArray(rand, C * E, 0.5);
    const labels = [4, -100, 1];
    const dNormed = buffer(B * T * E);
    const lossSum = buffer(1);
    const head = classifierHead(ctx, { normed: buffer(normed), dNormed, lossSum, batch: B, seq: T, dim: E, numLabels: C });
    device.queue.writeBuffer(head.score, 0, score);
    expect(head.writeLabels(labels)).toBe(2);
    runOps([...head.forward, ...head.backward]);

    // Reference: logits = pooled · scoreᵀ; loss = mean over counted rows of −log softmax[target];
    // dlogits = (softmax − onehot) / counted; dscore = dlogitsᵀ · pooled; dnormed[b, t] = (dlogits · score)[b] / T.
    const pooled = meanPool(normed, B, T, E);
    const logits = new Float64Array(B * C);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let e = 0; e < E; e++) logits[b * C + c] += pooled[b * E + e] * score[c * E + e];
    let loss = 0;
    const dLogits = new Float64Array(B * C);
    labels.forEach((target, b) => {
      if (target === -100) return;
      const row = logits.subarray(b * C, (b + 1) * C);
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      loss += (Math.log(sum) + max - row[target]) / 2;
      for (let c = 0; c < C; c++) dLogits[b * C + c] = (Math.exp(row[c] - max) / sum - (c === target ? 1 : 0)) / 2;
    });
    const dScore = new Float64Array(C * E);
    const dNormedWant = new Float64Array(B * T * E);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        for (let e = 0; e < E; e++) {
          dScore[c * E + e] += dLogits[b * C + c] * pooled[b * E + e];
          for (let t = 0; t < T; t++) dNormedWant[(b * T + t) * E + e] += (dLogits[b * C + c] * score[c * E + e]) / T;
        }
      }
    }
    expect(relativeError(await readF32(device, head.logits, B * C), logits)).toBeLessThan(1e-5);
    expect(Math.abs((await readF32(device, lossSum, 1))[0] / 2 - loss) / loss).toBeLessThan(1e-5);
    expect(relativeError(await readF32(device, head.scoreGrad, C * E), dScore)).toBeLessThan(1e-5);
    expect(relativeError(await readF32(device, dNormed, B * T * E), dNormedWant)).toBeLessThan(1e-5);
    // The ignored row's pooled input gets no gradient at all.
    const ignored = (await readF32(device, dNormed, B * T * E)).subarray(T * E, 2 * T * E);
    expect(ignored.every((v) => v === 0)).toBe(true);
    expect(() => head.writeLabels([0, 5, 1])).toThrow(/labels\[1\] is 5; expected a class index in 0\.\.4 \(numLabels 5\) or -100 \(ignored\)/);
    head.destroy();
  });
});
