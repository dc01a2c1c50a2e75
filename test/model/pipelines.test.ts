// A session's length is the KV cache's row stride: the kernels read it from the session's step uniform instead of
// compiling it in, so after the first length a sweep of generate lengths, session lengths and forward lengths
// (attention weights and head masks included) makes no pipeline, on each attention layout.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { PipelineCache } from '../../src/gpu/pipelines';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import { storageBuffer } from '../gpu/harness';

const tiny = loadModelFixture('tiny'); // n_positions 64, 4 heads of 16
const source = { config: tiny.configJson, weights: tiny.weightBytes };
const headMask = [
  [1, 0, 0.5, 1],
  [0, 1, 1, 2],
];

const TUNINGS: [string, Partial<KernelTuning>][] = [
  ['the adapter tuning', {}],
  ['workgroup attention (its scores in workgroup memory: one size for every length ≤ 256)', { attention: 'workgroup' }],
  ['unfused (kvAppend and split attention apart)', { fuse: false, attentionSplitKeys: 8 }],
];

describe('no pipeline per session length (tiny model)', () => {
  let device: GPUDevice;
  const count = () => PipelineCache.forDevice(device).pipelineCount;
  /** Runs every length; after the first, each must leave the pipeline count as it was. The first is the longest:
   *  a long cache may take kernels a short one never needs (split attention past attentionSplitKeys), made once. */
  async function sweep(lengths: number[], run: (n: number) => Promise<unknown>): Promise<void> {
    const before = count();
    await run(lengths[0]);
    const made = count();
    expect(made).toBeGreaterThanOrEqual(before);
    for (const n of lengths.slice(1)) {
      await run(n);
      expect(count(), `length ${n}`).toBe(made);
    }
  }
  beforeAll(async () => {
    device = await getTestDevice();
  });

  for (const [name, tuning] of TUNINGS) {
    it(`${name}: generate, sessions and forward of five lengths each compile only for the first`, async () => {
      const model = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning });
      try {
        // Session lengths 63, 3, 17, 30 and 45 (SOS, then the new tokens but the last).
        await sweep([63, 3, 17, 30, 45], (n) => model.generate({ batchSize: 2, temperature: 0, maxNewTokens: n }));
        await sweep([64, 5, 12, 33, 40], async (n) => {
          const session = model.createSession(2, { maxLength: n });
          try {
            await session.prefill(tiny.inputIds.map((r) => r.slice(0, Math.min(n - 1, 9))));
            await session.step([7, 300]);
          } finally {
            session.dispose();
          }
        });
        await sweep([64, 8, 13, 24, 40], (n) => model.forward(tiny.inputIds.map((r) => r.slice(0, n)), { outputAttentions: true, headMask }));
      } finally {
        model.dispose();
      }
    });
  }

  it('the count sees a new kernel variant (the sweeps above could fail)', async () => {
    const kernels = new Kernels(device);
    const before = count();
    const [E, H, P] = [32, 2, 8];
    const o = { step: kernels.createStepBuffer(P), qkv: storageBuffer(device, 3 * E * 4), nHead: H, dim: E, maxPositions: P };
    // A head count no model above has: new pipelines, counted once; the same shape again makes none.
    kernels.kvAppend({ ...o, kCache: storageBuffer(device, P * E * 4), vCache: storageBuffer(device, P * E * 4) });
    const made = count();
    expect(made).toBe(before + 1);
    kernels.kvAppend({ ...o, step: kernels.createStepBuffer(2 * P), maxPositions: 2 * P, kCache: storageBuffer(device, 2 * P * E * 4), vCache: storageBuffer(device, 2 * P * E * 4) });
    expect(count()).toBe(made);
    await kernels.ready();
    kernels.destroy();
  });

  it('an Op over a cache refuses a step buffer made for another length (the kernel would read the wrong stride)', () => {
    const kernels = new Kernels(device);
    const [E, H, P] = [16, 2, 8];
    const cache = () => storageBuffer(device, P * E * 4);
    const o = { qkv: storageBuffer(device, 3 * E * 4), kCache: cache(), vCache: cache(), out: storageBuffer(device, E * 4), nHead: H, dim: E, maxPositions: P, scale: 0.5 };
    expect(() => kernels.attention({ ...o, step: kernels.createStepBuffer(P + 1) })).toThrow(/step buffer was made for 9 positions; the cache holds 8/);
    expect(() => kernels.kvAppend({ ...o, step: kernels.createStepBuffer() })).toThrow(/step buffer was made for 0 positions; the cache holds 8/);
    const plain = device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM });
    expect(() => kernels.attentionWeights({ ...o, step: plain })).toThrow(/step buffer was not made by createStepBuffer/);
    const w = { buffer: storageBuffer(device, E * 3 * E * 4), dtype: 'f32' as const, rows: E, cols: 3 * E };
    const kvAppend = { kCache: o.kCache, vCache: o.vCache, nHead: H, maxPositions: P };
    expect(() => kernels.matmul({ step: kernels.createStepBuffer(4), x: storageBuffer(device, E * 4), w, out: o.qkv, kvAppend })).toThrow(/made for 4 positions/);
    expect(() => kernels.headScale({ step: kernels.createStepBuffer(), x: o.out, mask: storageBuffer(device, 16), layer: 0, nHead: H, width: 'positions' })).toThrow(
      /width 'positions' \(the step buffer's\) must be a positive integer, got 0/,
    );
    kernels.destroy();
  });
});
