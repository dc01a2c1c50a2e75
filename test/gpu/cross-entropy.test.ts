// crossEntropy (log-softmax + gather per row) against the CPU reference, on ragged shapes.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels } from '../../src/gpu/kernels';
import type { StepShape } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, readF32, runStep, relativeError } from './harness';

describe('crossEntropy', () => {
  let device: GPUDevice;
  let kernels: Kernels;
  let step: GPUBuffer;
  beforeAll(async () => {
    device = await getTestDevice();
    kernels = new Kernels(device);
    step = kernels.createStepBuffer();
  });

  for (const vocab of [512, 37, 1]) {
    it(`matches -log softmax[target] per row, vocab ${vocab}, ragged steps, ignored rows 0`, async () => {
      const rand = random(vocab + 7);
      const maxRows = 70;
      const logitsBuffer = storageBuffer(device, maxRows * vocab * 4);
      const targetsBuffer = storageBuffer(device, maxRows * 4);
      const out = storageBuffer(device, maxRows * 4);
      const op = kernels.crossEntropy({ step, logits: logitsBuffer, targets: targetsBuffer, out, vocab });
      await kernels.ready();
      const steps: StepShape[] = [
        { batch: 1, seq: 1, past: 0 },
        { batch: 3, seq: 23, past: 0 }, // 69 rows: more than one workgroup, not a multiple of 64
        { batch: 2, seq: 5, past: 9 },
        { batch: 7, seq: 10, past: 0 },
      ];
      for (const s of steps) {
        const rows = s.batch * s.seq;
        // Large offsets: a softmax without the max subtracted overflows f32 here.
        const logits = randomArray(rand, rows * vocab, 8).map((v, i) => v + (i % 3 === 0 ? 200 : -50));
        const targets = Int32Array.from({ length: rows }, (_, r) => (r % 5 === 2 ? -100 : Math.floor(rand() * vocab)));
        device.queue.writeBuffer(logitsBuffer, 0, logits);
        device.queue.writeBuffer(targetsBuffer, 0, targets);
        await runStep(device, kernels, step, s, [op]);
        const got = await readF32(device, out, rows);
        const want = ref.crossEntropy(logits, targets, vocab);
        expect(got.every(Number.isFinite), JSON.stringify(s)).toBe(true);
        expect(relativeError(got, want), JSON.stringify(s)).toBeLessThan(1e-5);
        targets.forEach((t, r) => {
          if (t < 0) expect(got[r]).toBe(0);
        });
      }
    });
  }

  it('a target out of range gives NaN for that row only', async () => {
    const vocab = 4;
    const logits = storageBuffer(device, Float32Array.from([0, 0, 0, 0, 1, 2, 3, 4]));
    const targets = storageBuffer(device, Int32Array.from([4, 3]));
    const out = storageBuffer(device, 8);
    const op = kernels.crossEntropy({ step, logits, targets, out, vocab });
    await runStep(device, kernels, step, { batch: 2, seq: 1, past: 0 }, [op]);
    const got = await readF32(device, out, 2);
    expect(Number.isNaN(got[0])).toBe(true);
    expect(got[1]).toBeCloseTo(ref.crossEntropy(Float32Array.from([1, 2, 3, 4]), Int32Array.from([3]), 4)[0], 5);
  });

  it('refuses buffers too small or shared', () => {
    const logits = storageBuffer(device, 16 * 4);
    const targets = storageBuffer(device, 16);
    expect(() => kernels.crossEntropy({ step, logits, targets, out: targets, vocab: 4 })).toThrow(/must be different buffers/);
    expect(() => kernels.crossEntropy({ step, logits, targets, out: storageBuffer(device, 16), vocab: 0 })).toThrow(/vocab must be a positive integer/);
  });
});
