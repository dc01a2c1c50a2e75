import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels } from '../../src/gpu/kernels';
import { isCpuAdapter } from '../../src/gpu/tuning';
import type { WeightDType } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, weightMatrix, readF32, runStep, relativeError, MATMUL_PATHS, matmulCase, type MatmulShape } from './harness';

// Ragged on purpose: K, N and rows are not multiples of any tile.
const SHAPES: MatmulShape[] = [
  { K: 37, N: 18, bias: true, activation: 'none', accumulate: false },
  { K: 64, N: 130, bias: true, activation: 'quick_gelu', accumulate: false },
  { K: 97, N: 66, bias: false, activation: 'quick_gelu', accumulate: true },
  // N % 4 = 0: the matvec reads whole vec4s of weights.
  { K: 45, N: 100, bias: true, activation: 'none', accumulate: true },
];
const ROWS = [1, 3, 8, 20, 37, 130];
const MAX_ROWS = Math.max(...ROWS);

describe('matmul', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  for (const [variant, tuning] of MATMUL_PATHS) {
    for (const dtype of ['f32', 'f16'] as WeightDType[]) {
      it(`${variant}, ${dtype} weights, matches the CPU on ragged shapes`, async () => {
        const kernels = new Kernels(device, tuning === 'naive' ? {} : tuning);
        const step = kernels.createStepBuffer();
        const rand = random(SHAPES.length * 7 + (dtype === 'f16' ? 1 : 0));
        for (const s of SHAPES) {
          const x = randomArray(rand, MAX_ROWS * s.K);
          const { op, out, start, seen, bias } = matmulCase(device, kernels, step, tuning, rand, s, x, MAX_ROWS, dtype);
          await kernels.ready();
          for (const rows of ROWS) {
            device.queue.writeBuffer(out, 0, start);
            await runStep(device, kernels, step, { batch: rows, seq: 1, past: 0 }, [op]);
            const got = await readF32(device, out, rows * s.N);
            const want = ref.matmul(x.subarray(0, rows * s.K), seen, s.K, s.N, {
              bias,
              activation: s.activation,
              accumulateInto: s.accumulate ? start : undefined,
            });
            const err = relativeError(got, want);
            expect(err, `${variant} ${dtype} K=${s.K} N=${s.N} rows=${rows}`).toBeLessThan(2e-5);
          }
        }
      });
    }
  }

  it('picks matvec for decode rows and the tiled kernel above decodeMaxRows, both correct', async () => {
    const kernels = new Kernels(device, { decodeMaxRows: 4 });
    const step = kernels.createStepBuffer();
    const rand = random(99);
    const K = 24;
    const N = 10;
    const x = randomArray(rand, 12 * K);
    const w = weightMatrix(device, randomArray(rand, K * N), K, N, 'f32');
    const out = storageBuffer(device, 12 * N * 4);
    const op = kernels.matmul({ step, x: storageBuffer(device, x), w: w.matrix, out });
    for (const [batch, seq] of [[4, 1], [2, 3], [3, 4]]) {
      await runStep(device, kernels, step, { batch, seq, past: 5 }, [op]);
      const rows = batch * seq;
      expect(relativeError(await readF32(device, out, rows * N), ref.matmul(x.subarray(0, rows * K), w.seen, K, N))).toBeLessThan(2e-5);
    }
  });

  it('runs correctly with the tuning chosen for real GPUs (shared-memory tiles, K-split matvec)', async () => {
    const gpuInfo = { vendor: 'nvidia', architecture: 'hopper', device: '', description: '' } as GPUAdapterInfo;
    const tuning = Kernels.tuningFor(gpuInfo);
    expect(tuning.prefill).toBe('shared');
    // This adapter's own: the CPU table's register tiles on SwiftShader or lavapipe, a GPU's shared tiles elsewhere.
    expect(Kernels.tuningFor(device.adapterInfo).prefill).toBe(isCpuAdapter(device.adapterInfo) ? 'registers' : 'shared');
    const kernels = new Kernels(device, tuning);
    const step = kernels.createStepBuffer();
    const rand = random(1234);
    const [K, N, maxRows] = [136, 196, 70];
    const x = randomArray(rand, maxRows * K);
    const w = weightMatrix(device, randomArray(rand, K * N, 0.1), K, N, 'f16');
    const bias = randomArray(rand, N);
    const out = storageBuffer(device, maxRows * N * 4);
    const op = kernels.matmul({ step, x: storageBuffer(device, x), w: w.matrix, bias: storageBuffer(device, bias), out, activation: 'quick_gelu' });
    await kernels.ready();
    for (const rows of [1, tuning.decodeMaxRows, maxRows]) {
      await runStep(device, kernels, step, { batch: 1, seq: rows, past: 0 }, [op]);
      const want = ref.matmul(x.subarray(0, rows * K), w.seen, K, N, { bias, activation: 'quick_gelu' });
      expect(relativeError(await readF32(device, out, rows * N), want), `rows ${rows}`).toBeLessThan(2e-5);
    }
  });

  it('rejects bad arguments with errors that name the problem', () => {
    const kernels = new Kernels(device);
    const step = kernels.createStepBuffer();
    const x = storageBuffer(device, 4 * 16 * 4);
    const out = storageBuffer(device, 4 * 8 * 4);
    const odd = { buffer: storageBuffer(device, 16 * 7 * 4), dtype: 'f16' as const, rows: 16, cols: 7 };
    expect(() => kernels.matmul({ step, x, w: odd, out })).toThrow(/7 columns.*even/);
    const small = { buffer: storageBuffer(device, 16), dtype: 'f32' as const, rows: 16, cols: 8 };
    expect(() => kernels.matmul({ step, x, w: small, out })).toThrow(/w \[16, 8\] f32 holds 16 bytes, expected at least 512/);
    const w = { buffer: storageBuffer(device, 16 * 8 * 4), dtype: 'f32' as const, rows: 16, cols: 8 };
    expect(() => kernels.matmul({ step, x, w, out: x })).toThrow(/x and out must be different/);
    expect(() => kernels.matmul({ step, x, w, out, bias: storageBuffer(device, 8) })).toThrow(/bias holds 8 bytes/);
    const op = kernels.matmul({ step, x, w, out });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    expect(() => op.encode(pass, { batch: 5, seq: 1, past: 0 })).toThrow(/5 rows .* hold 4/);
    pass.end();
    encoder.finish();
  });
});
