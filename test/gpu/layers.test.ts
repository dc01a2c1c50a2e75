// embed, rmsNorm and meanPoolSum against the CPU reference.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createNodeDevice, getTestDevice } from '../helpers/gpu';
import { Kernels } from '../../src/gpu/kernels';
import { KernelContext } from '../../src/gpu/context';
import { rmsNormEntry } from '../../src/gpu/norm';
import type { StepShape, WeightDType } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, weightMatrix, readF32, runStep, relativeError } from './harness';

describe('embed, rmsNorm, meanPoolSum', () => {
  let device: GPUDevice;
  let kernels: Kernels;
  let step: GPUBuffer;
  beforeAll(async () => {
    device = await getTestDevice();
    kernels = new Kernels(device);
    step = kernels.createStepBuffer();
  });

  for (const dtype of ['f32', 'f16'] as WeightDType[]) {
    it(`embed adds token and position embeddings (${dtype}), past > 0, batch > 1`, async () => {
      const rand = random(dtype === 'f16' ? 11 : 12);
      const [V, P, E] = [13, 40, 70];
      const wte = weightMatrix(device, randomArray(rand, V * E), V, E, dtype);
      const wpe = weightMatrix(device, randomArray(rand, P * E), P, E, dtype);
      const maxRows = 24;
      const idsBuffer = storageBuffer(device, maxRows * 4);
      const out = storageBuffer(device, maxRows * E * 4);
      const op = kernels.embed({ step, ids: idsBuffer, wte: wte.matrix, wpe: wpe.matrix, out });
      await kernels.ready();
      const steps: StepShape[] = [
        { batch: 1, seq: 1, past: 0 },
        { batch: 3, seq: 8, past: 0 },
        { batch: 4, seq: 1, past: 39 },
        { batch: 2, seq: 5, past: 17 },
      ];
      for (const s of steps) {
        const ids = Int32Array.from({ length: s.batch * s.seq }, () => Math.floor(rand() * V));
        device.queue.writeBuffer(idsBuffer, 0, ids);
        await runStep(device, kernels, step, s, [op]);
        const got = await readF32(device, out, ids.length * E);
        expect(relativeError(got, ref.embed(ids, wte.seen, wpe.seen, E, s)), JSON.stringify(s)).toBeLessThan(1e-6);
      }
    });
  }

  it('embed turns an out-of-range id into NaN, not another token', async () => {
    const E = 4;
    const wte = weightMatrix(device, new Float32Array(3 * E).fill(1), 3, E, 'f32');
    const wpe = weightMatrix(device, new Float32Array(2 * E).fill(1), 2, E, 'f32');
    const ids = storageBuffer(device, Int32Array.from([2, 3, -1]));
    const out = storageBuffer(device, 3 * E * 4);
    const op = kernels.embed({ step, ids, wte: wte.matrix, wpe: wpe.matrix, out });
    await runStep(device, kernels, step, { batch: 3, seq: 1, past: 0 }, [op]);
    const got = await readF32(device, out, 3 * E);
    expect(Array.from(got.subarray(0, E))).toEqual([2, 2, 2, 2]);
    expect(got.subarray(E).every(Number.isNaN)).toBe(true);
  });

  for (const [dim, norm] of [[64, 'thread'], [96, 'workgroup'], [37, 'thread'], [37, 'workgroup'], [600, 'thread'], [600, 'workgroup']] as const) {
    it(`rmsNorm divides by the root mean square (no centering), dim ${dim}, ${norm} per row`, async () => {
      const kernels = new Kernels(device, { norm });
      const rand = random(dim);
      const rows = 37;
      // An offset that mean-centering would remove: a centred ("variance") norm fails here.
      const x = randomArray(rand, rows * dim).map((v) => v * 3 + 1.5);
      const weight = randomArray(rand, dim, 2);
      const out = storageBuffer(device, rows * dim * 4);
      const op = kernels.rmsNorm({ step, x: storageBuffer(device, x), weight: storageBuffer(device, weight), out, dim, eps: 1e-5 });
      await kernels.ready();
      for (const rowsNow of [1, rows]) {
        await runStep(device, kernels, step, { batch: 1, seq: rowsNow, past: 3 }, [op]);
        const got = await readF32(device, out, rowsNow * dim);
        expect(relativeError(got, ref.rmsNorm(x.subarray(0, rowsNow * dim), weight, dim, 1e-5))).toBeLessThan(1e-5);
      }
    });
  }

  it('meanPoolSum adds each sequence’s rows onto out, over several chunks', async () => {
    const rand = random(5);
    const dim = 96;
    const [batch, seq] = [3, 7];
    const out = storageBuffer(device, batch * dim * 4);
    const xBuffer = storageBuffer(device, batch * seq * dim * 4);
    const op = kernels.meanPoolSum({ step, x: xBuffer, out, dim });
    await kernels.ready();
    let want: Float64Array = new Float64Array(batch * dim);
    for (const s of [{ batch, seq, past: 0 }, { batch, seq: 1, past: seq }]) {
      const x = randomArray(rand, s.batch * s.seq * dim);
      device.queue.writeBuffer(xBuffer, 0, x);
      await runStep(device, kernels, step, s, [op]);
      want = ref.meanPoolSum(x, Float32Array.from(want), dim, s);
    }
    expect(relativeError(await readF32(device, out, batch * dim), want)).toBeLessThan(1e-6);
  });
});

describe('rmsNorm summing with subgroups', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    // Dawn on SwiftShader offers `subgroups`; the shared test device does not ask for it.
    device = (await createNodeDevice({ optionalFeatures: ['subgroups' as GPUFeatureName] })).device;
  });
  afterAll(async () => {
    await device.queue.onSubmittedWorkDone();
    device.destroy();
  });

  it('is chosen only where the device has the feature, the tuning allows it and a workgroup sums a row', async () => {
    expect(device.features.has('subgroups')).toBe(true);
    expect(rmsNormEntry(new KernelContext(device, { norm: 'workgroup', subgroups: true }))).toBe('rmsNormSubgroups');
    expect(rmsNormEntry(new KernelContext(device, { norm: 'workgroup', subgroups: false }))).toBe('rmsNorm');
    expect(rmsNormEntry(new KernelContext(device, { norm: 'thread', subgroups: true }))).toBe('rmsNormPerThread');
    const plain = await getTestDevice();
    if (!plain.features.has('subgroups')) expect(rmsNormEntry(new KernelContext(plain, { norm: 'workgroup', subgroups: true }))).toBe('rmsNorm');
  });

  for (const [dim, threads] of [[37, 1], [37, 64], [600, 8], [600, 256], [96, 128]] as const) {
    it(`gives the tree's numbers, dim ${dim}, ${threads} threads per row`, async () => {
      const rand = random(dim + threads);
      const rows = 9;
      const x = randomArray(rand, rows * dim).map((v) => v * 3 + 1.5);
      const weight = randomArray(rand, dim, 2);
      const xBuffer = storageBuffer(device, x);
      const weightBuffer = storageBuffer(device, weight);
      const got: Float32Array[] = [];
      for (const subgroups of [true, false]) {
        const kernels = new Kernels(device, { norm: 'workgroup', normThreads: threads, subgroups });
        const step = kernels.createStepBuffer();
        const out = storageBuffer(device, rows * dim * 4);
        const op = kernels.rmsNorm({ step, x: xBuffer, weight: weightBuffer, out, dim, eps: 1e-5 });
        await kernels.ready();
        await runStep(device, kernels, step, { batch: rows, seq: 1, past: 0 }, [op]);
        got.push(await readF32(device, out, rows * dim));
      }
      const want = ref.rmsNorm(x, weight, dim, 1e-5);
      expect(relativeError(got[0], want), 'subgroups').toBeLessThan(1e-5);
      expect(relativeError(got[1], want), 'tree').toBeLessThan(1e-5);
      expect(relativeError(got[0], got[1])).toBeLessThan(1e-6);
    });
  }
});
