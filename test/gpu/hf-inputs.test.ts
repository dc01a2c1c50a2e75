// The kernels behind HF's optional inputs against the CPU reference: embed with token types and inputs embeds
// (f32 and f16 weights, with and without position ids), and the head-mask scale of one layer's row of the table.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels } from '../../src/gpu/kernels';
import { headMaskStride } from '../../src/gpu/attention';
import type { StepShape, WeightDType } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, weightMatrix, readF32, runStep, relativeError } from './harness';

describe('HF input kernels', () => {
  let device: GPUDevice;
  let kernels: Kernels;
  let step: GPUBuffer;
  beforeAll(async () => {
    device = await getTestDevice();
    kernels = new Kernels(device);
    step = kernels.createStepBuffer();
  });

  const steps: StepShape[] = [
    { batch: 1, seq: 1, past: 0 },
    { batch: 3, seq: 8, past: 0 },
    { batch: 2, seq: 5, past: 17 },
  ];

  for (const dtype of ['f32', 'f16'] as WeightDType[]) {
    for (const which of ['tokenTypes', 'inputsEmbeds', 'both'] as const) {
      it(`embed with ${which} (${dtype})`, async () => {
        const rand = random(which.length + (dtype === 'f16' ? 100 : 0));
        const [V, P, E] = [13, 40, 70];
        const wte = weightMatrix(device, randomArray(rand, V * E), V, E, dtype);
        const wpe = weightMatrix(device, randomArray(rand, P * E), P, E, dtype);
        const maxRows = 24;
        const idsBuffer = storageBuffer(device, maxRows * 4);
        const typesBuffer = storageBuffer(device, maxRows * 4);
        const embedsBuffer = storageBuffer(device, maxRows * E * 4);
        const out = storageBuffer(device, maxRows * E * 4);
        const withTypes = which !== 'inputsEmbeds';
        const withEmbeds = which !== 'tokenTypes';
        const op = kernels.embed({
          step, ids: idsBuffer, wte: wte.matrix, wpe: wpe.matrix, out,
          tokenTypes: withTypes ? typesBuffer : undefined,
          inputsEmbeds: withEmbeds ? embedsBuffer : undefined,
        });
        await kernels.ready();
        for (const s of steps) {
          const rows = s.batch * s.seq;
          // With inputsEmbeds the ids are not read: out-of-range ids must not turn the rows into NaN.
          const ids = Int32Array.from({ length: rows }, () => (withEmbeds ? -7 : Math.floor(rand() * V)));
          const tokenTypes = Int32Array.from({ length: rows }, () => Math.floor(rand() * V));
          const inputsEmbeds = randomArray(rand, rows * E);
          device.queue.writeBuffer(idsBuffer, 0, ids);
          device.queue.writeBuffer(typesBuffer, 0, tokenTypes);
          device.queue.writeBuffer(embedsBuffer, 0, inputsEmbeds);
          await runStep(device, kernels, step, s, [op]);
          const got = await readF32(device, out, rows * E);
          const want = ref.embedInputs(ids, wte.seen, wpe.seen, E, s, { tokenTypes: withTypes ? tokenTypes : undefined, inputsEmbeds: withEmbeds ? inputsEmbeds : undefined });
          expect(relativeError(got, want), JSON.stringify(s)).toBeLessThan(1e-6);
        }
      });
    }
  }

  it('embed turns an out-of-range token type into NaN', async () => {
    const E = 4;
    const wte = weightMatrix(device, new Float32Array(3 * E).fill(1), 3, E, 'f32');
    const wpe = weightMatrix(device, new Float32Array(2 * E).fill(1), 2, E, 'f32');
    const ids = storageBuffer(device, Int32Array.from([0, 1]));
    const tokenTypes = storageBuffer(device, Int32Array.from([2, 3]));
    const out = storageBuffer(device, 2 * E * 4);
    const op = kernels.embed({ step, ids, wte: wte.matrix, wpe: wpe.matrix, out, tokenTypes });
    await runStep(device, kernels, step, { batch: 2, seq: 1, past: 0 }, [op]);
    const got = await readF32(device, out, 2 * E);
    expect(Array.from(got.subarray(0, E))).toEqual([3, 3, 3, 3]);
    expect(got.subarray(E).every(Number.isNaN)).toBe(true);
  });

  it('headScale multiplies each head by its layer row of the table, this step rows only', async () => {
    const rand = random(5);
    const [L, H, W, maxRows] = [3, 5, 12, 10];
    const stride = headMaskStride(device.limits, H) / 4;
    const table = new Float32Array(L * stride).fill(NaN); // padding between rows is never read
    const masks = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => (h === l ? 0 : rand() * 2)));
    masks.forEach((m, l) => table.set(m, l * stride));
    const mask = storageBuffer(device, table);
    for (let layer = 0; layer < L; layer++) {
      const x = randomArray(rand, maxRows * H * W);
      const xBuffer = storageBuffer(device, x);
      const op = kernels.headScale({ step, x: xBuffer, mask, layer, nHead: H, width: W });
      const s = { batch: 2, seq: 3, past: 4 };
      await runStep(device, kernels, step, s, [op]);
      const got = await readF32(device, xBuffer, maxRows * H * W);
      const rows = s.batch * s.seq * H * W;
      expect(relativeError(got.subarray(0, rows), ref.headScale(x.subarray(0, rows), masks[layer], H, W))).toBeLessThan(1e-7);
      expect(Array.from(got.subarray(rows))).toEqual(Array.from(x.subarray(rows)));
    }
    expect(() => kernels.headScale({ step, x: storageBuffer(device, 64), mask, layer: L, nHead: H, width: W })).toThrow(/mask holds \d+ bytes, expected at least/);
  });
});
