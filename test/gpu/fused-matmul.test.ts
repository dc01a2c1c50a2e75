// The matmul's fused prologue (RMS norm) and epilogue (K/V cache append) in every kernel path, against the CPU
// reference (norm then product) and against the separate kvAppend kernel (bit for bit).
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import type { Op, StepShape, WeightDType } from '../../src/gpu/types';
import { KernelContext, STEP_BYTES } from '../../src/gpu/context';
import { matmulSource, weightReading } from '../../src/gpu/matmul';
import weightsF32Wgsl from '../../shaders/weights_f32.wgsl?raw';
import weightsF16NativeWgsl from '../../shaders/weights_f16_native.wgsl?raw';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, weightMatrix, readF32, runStep, relativeError, MATMUL_PATHS, matmulCase, type MatmulShape } from './harness';

// Ragged on purpose: K and N are not multiples of any tile; N % 4 = 0 takes the vec4 matvec, N % 4 = 2 the pair one.
const SHAPES: MatmulShape[] = [
  { K: 37, N: 18, bias: true, activation: 'none', accumulate: false },
  { K: 45, N: 100, bias: true, activation: 'quick_gelu', accumulate: false },
  { K: 70, N: 36, bias: false, activation: 'none', accumulate: true },
];
const ROWS = [1, 2, 3, 7, 33];
const MAX_ROWS = Math.max(...ROWS);
const EPS = 1e-5;

describe('matmul with the RMS norm folded in', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  for (const [variant, tuning] of MATMUL_PATHS) {
    for (const dtype of ['f32', 'f16'] as WeightDType[]) {
      it(`${variant}, ${dtype}: equals rmsNorm then matmul on the CPU`, async () => {
        const kernels = new Kernels(device, tuning === 'naive' ? {} : tuning);
        const step = kernels.createStepBuffer();
        const rand = random(101 + (dtype === 'f16' ? 1 : 0));
        for (const s of SHAPES) {
          // An offset and a spread, so a wrong scale (or a centred norm) shows.
          const x = randomArray(rand, MAX_ROWS * s.K).map((v) => 3 * v + 0.7);
          const gain = randomArray(rand, s.K, 2);
          const norm = { weight: storageBuffer(device, gain), eps: EPS };
          const { op, out, start, seen, bias } = matmulCase(device, kernels, step, tuning, rand, s, x, MAX_ROWS, dtype, norm);
          await kernels.ready();
          for (const rows of ROWS) {
            device.queue.writeBuffer(out, 0, start);
            await runStep(device, kernels, step, { batch: 1, seq: rows, past: 0 }, [op]);
            const normed = Float32Array.from(ref.rmsNorm(x.subarray(0, rows * s.K), gain, s.K, EPS));
            const want = ref.matmul(normed, seen, s.K, s.N, { bias, activation: s.activation, accumulateInto: s.accumulate ? start : undefined });
            const err = relativeError(await readF32(device, out, rows * s.N), want);
            expect(err, `${variant} ${dtype} K=${s.K} N=${s.N} rows=${rows}`).toBeLessThan(2e-5);
          }
        }
      });
    }
  }

  it('gives the numbers of the separate rmsNorm + matmul ops (f32 within 1e-5, every decode and prefill row count)', async () => {
    const kernels = new Kernels(device);
    const step = kernels.createStepBuffer();
    const rand = random(7);
    const [K, N] = [96, 288];
    const x = storageBuffer(device, randomArray(rand, MAX_ROWS * K).map((v) => 2 * v - 0.3));
    const gain = storageBuffer(device, randomArray(rand, K, 1.5));
    const w = weightMatrix(device, randomArray(rand, K * N, 0.1), K, N, 'f32');
    const bias = storageBuffer(device, randomArray(rand, N));
    const normed = storageBuffer(device, MAX_ROWS * K * 4);
    const [separate, fused] = [storageBuffer(device, MAX_ROWS * N * 4), storageBuffer(device, MAX_ROWS * N * 4)];
    const ops = [
      kernels.rmsNorm({ step, x, weight: gain, out: normed, dim: K, eps: EPS }),
      kernels.matmul({ step, x: normed, w: w.matrix, bias, out: separate }),
      kernels.matmul({ step, x, w: w.matrix, bias, out: fused, norm: { weight: gain, eps: EPS } }),
    ];
    await kernels.ready();
    for (const rows of ROWS) {
      await runStep(device, kernels, step, { batch: rows, seq: 1, past: 0 }, ops);
      const err = relativeError(await readF32(device, fused, rows * N), await readF32(device, separate, rows * N));
      expect(err, `rows ${rows}`).toBeLessThan(1e-5);
    }
  });

  it('rejects a norm weight shorter than K and a bad eps', () => {
    const kernels = new Kernels(device);
    const step = kernels.createStepBuffer();
    const x = storageBuffer(device, 4 * 16 * 4);
    const out = storageBuffer(device, 4 * 8 * 4);
    const w = { buffer: storageBuffer(device, 16 * 8 * 4), dtype: 'f32' as const, rows: 16, cols: 8 };
    expect(() => kernels.matmul({ step, x, w, out, norm: { weight: storageBuffer(device, 8 * 4), eps: 1e-5 } })).toThrow(/norm\.weight \(dim = K = 16\) holds 32 bytes, expected at least 64/);
    expect(() => kernels.matmul({ step, x, w, out, norm: { weight: storageBuffer(device, 16 * 4), eps: 0 } })).toThrow(/norm\.eps must be a positive number/);
  });
});

describe('qkv matmul with the K/V append in its epilogue', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  const [E, H, maxPositions, cacheBatch] = [24, 3, 12, 3];
  const cacheFloats = cacheBatch * maxPositions * E;
  const steps: StepShape[] = [
    { batch: 1, seq: 1, past: 0 },
    { batch: 3, seq: 1, past: 7 },
    { batch: 2, seq: 5, past: 2 },
    { batch: 3, seq: 4, past: 8 },
  ];

  for (const [variant, tuning] of MATMUL_PATHS.filter(([, t]) => t !== 'naive') as [string, Partial<KernelTuning>][]) {
    for (const dtype of ['f32', 'f16'] as WeightDType[]) {
      it(`${variant}, ${dtype}: writes exactly what kvAppend copies, and every column to out`, async () => {
        const kernels = new Kernels(device, tuning);
        const step = kernels.createStepBuffer(maxPositions);
        const rand = random(55 + (dtype === 'f16' ? 1 : 0));
        const maxRows = 12;
        const x = randomArray(rand, maxRows * E).map((v) => v + 0.2);
        const gain = randomArray(rand, E, 1.2);
        const w = weightMatrix(device, randomArray(rand, E * 3 * E, 0.3), E, 3 * E, dtype);
        const bias = randomArray(rand, 3 * E, 0.3);
        // Caches start full of sentinels: what the step does not own must stay as it was.
        const sentinel = randomArray(rand, cacheFloats, 9);
        const qkv = storageBuffer(device, maxRows * 3 * E * 4);
        const [kFused, vFused, kSeparate, vSeparate] = [0, 1, 2, 3].map(() => storageBuffer(device, sentinel));
        const fused = kernels.matmul({
          step,
          x: storageBuffer(device, x),
          w: w.matrix,
          bias: storageBuffer(device, bias),
          out: qkv,
          norm: { weight: storageBuffer(device, gain), eps: EPS },
          kvAppend: { kCache: kFused, vCache: vFused, nHead: H, maxPositions },
        });
        const append = kernels.kvAppend({ step, qkv, kCache: kSeparate, vCache: vSeparate, nHead: H, dim: E, maxPositions });
        await kernels.ready();
        for (const s of steps) {
          const rows = s.batch * s.seq;
          await runStep(device, kernels, step, s, [fused, append]);
          const got = await readF32(device, qkv, rows * 3 * E);
          const normed = Float32Array.from(ref.rmsNorm(x.subarray(0, rows * E), gain, E, EPS));
          expect(relativeError(got, ref.matmul(normed, w.seen, E, 3 * E, { bias })), JSON.stringify(s)).toBeLessThan(2e-5);
          expect(await readF32(device, kFused, cacheFloats), `K ${JSON.stringify(s)}`).toEqual(await readF32(device, kSeparate, cacheFloats));
          expect(await readF32(device, vFused, cacheFloats), `V ${JSON.stringify(s)}`).toEqual(await readF32(device, vSeparate, cacheFloats));
        }
        // And the separate kernel did what the CPU reference does (so the comparison above has a yardstick).
        const wantK = sentinel.slice();
        const wantV = sentinel.slice();
        const last = steps[steps.length - 1];
        const lastQkv = await readF32(device, qkv, last.batch * last.seq * 3 * E);
        ref.kvAppend(lastQkv, wantK, wantV, { nHead: H, dim: E, maxPositions }, last);
        const gotK = await readF32(device, kFused, cacheFloats);
        const gotV = await readF32(device, vFused, cacheFloats);
        for (const b of [0, 1, 2]) {
          for (const p of [8, 9, 10, 11]) {
            for (const h of [0, 1, 2]) {
              const slot = ((b * H + h) * maxPositions + p) * (E / H);
              expect(gotK.subarray(slot, slot + E / H)).toEqual(wantK.subarray(slot, slot + E / H));
              expect(gotV.subarray(slot, slot + E / H)).toEqual(wantV.subarray(slot, slot + E / H));
            }
          }
        }
      });
    }
  }

  it('checks the cache like kvAppend does: N = 3E, heads, positions, batch, no activation', () => {
    const kernels = new Kernels(device);
    const step = kernels.createStepBuffer(maxPositions);
    const x = storageBuffer(device, 4 * E * 4);
    const out = storageBuffer(device, 4 * 3 * E * 4);
    const w = { buffer: storageBuffer(device, E * 3 * E * 4), dtype: 'f32' as const, rows: E, cols: 3 * E };
    const kCache = storageBuffer(device, 2 * maxPositions * E * 4);
    const vCache = storageBuffer(device, 2 * maxPositions * E * 4);
    const kv = { kCache, vCache, nHead: H, maxPositions };
    expect(() => kernels.matmul({ step, x, w, out, kvAppend: kv, activation: 'quick_gelu' })).toThrow(/no activation and no accumulate/);
    expect(() => kernels.matmul({ step, x, w, out, kvAppend: { ...kv, nHead: 5 } })).toThrow(/E = 24 is not a multiple of nHead 5/);
    const w2 = { buffer: storageBuffer(device, E * 50 * 4), dtype: 'f32' as const, rows: E, cols: 50 };
    expect(() => kernels.matmul({ step, x, w: w2, out, kvAppend: kv })).toThrow(/needs N = 3E \(q \| k \| v\), got N = 50/);
    expect(() => kernels.matmul({ step, x, w, out, kvAppend: { ...kv, kCache: storageBuffer(device, 16) } })).toThrow(/kvAppend\.kCache holds 16 bytes/);
    const op = kernels.matmul({ step, x, w, out, kvAppend: kv });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    expect(() => op.encode(pass, { batch: 1, seq: 2, past: maxPositions - 1 })).toThrow(/positions up to 13 exceed the cache's maxPositions 12/);
    expect(() => op.encode(pass, { batch: 3, seq: 1, past: 0 })).toThrow(/batch 3 but the cache holds 2 sequences/);
    pass.end();
    encoder.finish();
  });
});

describe('reading f16 weights: native (shader-f16) or unpacked', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  it('falls back to unpack2x16float without the shader-f16 feature, and where the tuning turns it off', () => {
    // Dawn on SwiftShader offers no shader-f16: asking for it must not pick the native variant.
    expect(device.features.has('shader-f16')).toBe(false);
    for (const shaderF16 of [true, false]) {
      const ctx = new KernelContext(device, { shaderF16 });
      expect(ctx.useShaderF16).toBe(false);
      expect(weightReading(ctx, 'f16')).toBe('f16');
      const kernels = new Kernels(device, { shaderF16, decodeMaxRows: 1, prefill: 'registers' }); // the tile kernel pinned, not the adapter's
      const w = { buffer: storageBuffer(device, 8 * 12 * 2), dtype: 'f16' as const, rows: 8, cols: 12 };
      const op = kernels.matmul({ step: kernels.createStepBuffer(), x: storageBuffer(device, 4 * 8 * 4), w, out: storageBuffer(device, 4 * 12 * 4) });
      expect(pipelinesOf(op, [{ batch: 1, seq: 1, past: 0 }, { batch: 4, seq: 1, past: 0 }])).toEqual([
        expect.stringMatching(/^matmul\.wgsl\/f16 \(matvecQuads/),
        expect.stringMatching(/^matmul\.wgsl\/f16 \(matmulRegisters/),
      ]);
    }
    // Where the device has it and the tuning allows it, f16 weights are read natively; f32 weights never are.
    const withFeature = { useShaderF16: true } as KernelContext;
    expect(weightReading(withFeature, 'f16')).toBe('f16-native');
    expect(weightReading(withFeature, 'f32')).toBe('f32');
    expect(matmulSource('f16-native', true, false).startsWith('enable f16;\n')).toBe(true);
    expect(matmulSource('f16', true, false)).not.toMatch(/enable f16/);
  });

  // SwiftShader cannot compile f16, so the native snippet is checked with its element type spelled f32: the same
  // aliases, the same conversions, type-checked by Dawn and run in every entry point against the CPU.
  it('the native snippet with f16 spelled f32 compiles and computes the product in every kernel', async () => {
    const asF32 = weightsF16NativeWgsl.replaceAll('f16', 'f32');
    expect(asF32).not.toBe(weightsF16NativeWgsl);
    const source = matmulSource('f32', true, false).replace(weightsF32Wgsl, asF32);
    expect(source).toContain(asF32);
    const module = device.createShaderModule({ code: source });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
    expect(errors.map((m) => m.message)).toEqual([]);
    const rand = random(77);
    const [K, N, rows] = [37, 44, 5];
    const x = randomArray(rand, rows * K);
    const gain = randomArray(rand, K, 1.5);
    const wValues = randomArray(rand, K * N, 0.3);
    const buffers = [
      device.createBuffer({ size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
      storageBuffer(device, x),
      storageBuffer(device, wValues),
      storageBuffer(device, 16),
      storageBuffer(device, rows * N * 4),
      storageBuffer(device, gain),
    ];
    device.queue.writeBuffer(buffers[0], 0, new Uint32Array([1, rows, 0, rows]));
    const want = ref.matmul(Float32Array.from(ref.rmsNorm(x, gain, K, EPS)), wValues, K, N);
    const entries: [string, number][] = [['matvecQuads', Math.ceil(N / 4 / 16)], ['matvec', Math.ceil(N / 8 / 16)], ['matmulRegisters', Math.ceil(N / 4 / 16)], ['matmulNaive', Math.ceil(N / 64)]];
    for (const [entryPoint, groupsX] of entries) {
      device.pushErrorScope('validation');
      const pipeline = device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint, constants: { K, N, NORM_EPS: EPS, MV_THREADS: 16, TILE_X: 16, TILE_Y: 2 } },
      });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(groupsX, entryPoint.startsWith('matvec') || entryPoint === 'matmulNaive' ? rows : Math.ceil(rows / 8));
      pass.end();
      device.queue.submit([encoder.finish()]);
      expect(await device.popErrorScope()).toBeNull();
      expect(relativeError(await readF32(device, buffers[4], rows * N), want), entryPoint).toBeLessThan(2e-5);
    }
  });
});

/** The pipeline labels an op sets for these steps (a stand-in pass: nothing runs). */
function pipelinesOf(op: Op, steps: StepShape[]): string[] {
  const labels: string[] = [];
  const pass = {
    setPipeline: (p: GPUComputePipeline) => labels.push(p.label),
    setBindGroup: () => {},
    dispatchWorkgroups: () => {},
  } as unknown as GPUComputePassEncoder;
  for (const step of steps) op.encode(pass, step);
  return labels;
}
