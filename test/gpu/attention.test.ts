// kvAppend + attention over a KV cache: a prefill chunk, then chunks on top of a cache (past > 0,
// seq > 1), then decode steps (seq = 1), against the CPU reference.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import type { StepShape } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, readF32, runStep, relativeError } from './harness';

const CASES: { E: number; H: number; batch: number; maxPositions: number; tuning: Partial<KernelTuning> }[] = [
  { E: 64, H: 4, batch: 2, maxPositions: 80, tuning: { attention: 'thread', attentionThreads: 64 } },
  { E: 96, H: 3, batch: 3, maxPositions: 73, tuning: { attention: 'thread', attentionThreads: 32 } },
  { E: 96, H: 4, batch: 1, maxPositions: 300, tuning: { attention: 'thread', attentionThreads: 64 } },
  { E: 64, H: 4, batch: 2, maxPositions: 80, tuning: { attention: 'workgroup', attentionThreads: 64 } },
  { E: 96, H: 3, batch: 3, maxPositions: 73, tuning: { attention: 'workgroup', attentionThreads: 64 } },
  { E: 96, H: 4, batch: 1, maxPositions: 300, tuning: { attention: 'workgroup', attentionThreads: 128 } },
];

describe('kvAppend + attention', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  for (const c of CASES) {
    it(`${c.tuning.attention} per query, E ${c.E}, ${c.H} heads, batch ${c.batch}: prefill, chunks on a cache, decode`, async () => {
      const kernels = new Kernels(device, c.tuning);
      const step = kernels.createStepBuffer();
      const rand = random(c.E + c.H);
      const o = { nHead: c.H, dim: c.E, maxPositions: c.maxPositions };
      const scale = 1 / Math.sqrt(c.E / c.H);
      // Positions 0…69 then decode up to the cache's end: crosses the 64/128-thread blocks.
      const seqs = [70, 1, 1, 1];
      if (c.maxPositions > 200) seqs.splice(1, 0, 3, 120, 40);
      const maxRows = c.batch * Math.max(...seqs);
      const cacheFloats = c.batch * c.maxPositions * c.E;
      const kCache = storageBuffer(device, cacheFloats * 4);
      const vCache = storageBuffer(device, cacheFloats * 4);
      const qkv = storageBuffer(device, maxRows * 3 * c.E * 4);
      const out = storageBuffer(device, maxRows * c.E * 4);
      const append = kernels.kvAppend({ step, qkv, kCache, vCache, ...o });
      const attend = kernels.attention({ step, qkv, kCache, vCache, out, ...o, scale });
      await kernels.ready();
      const kRef = new Float32Array(cacheFloats);
      const vRef = new Float32Array(cacheFloats);
      let past = 0;
      for (const seq of seqs) {
        const s: StepShape = { batch: c.batch, seq, past };
        const rows = c.batch * seq;
        const x = randomArray(rand, rows * 3 * c.E, 2);
        device.queue.writeBuffer(qkv, 0, x);
        await runStep(device, kernels, step, s, [append, attend]);
        ref.kvAppend(x, kRef, vRef, o, s);
        const want = ref.attention(x, kRef, vRef, { ...o, scale }, s);
        const got = await readF32(device, out, rows * c.E);
        expect(relativeError(got, want), JSON.stringify(s)).toBeLessThan(2e-5);
        past += seq;
      }
      expect(relativeError(await readF32(device, kCache, cacheFloats), kRef)).toBe(0);
      expect(relativeError(await readF32(device, vCache, cacheFloats), vRef)).toBe(0);
    });
  }

  it('refuses a step past the cache, and head counts that do not divide dim', () => {
    const kernels = new Kernels(device);
    const step = kernels.createStepBuffer();
    const [E, H, P] = [12, 3, 8];
    const qkv = storageBuffer(device, 4 * 3 * E * 4);
    const cache = () => storageBuffer(device, P * E * 4);
    expect(() => kernels.kvAppend({ step, qkv, kCache: cache(), vCache: cache(), nHead: 5, dim: E, maxPositions: P })).toThrow(
      /dim 12 is not a multiple of nHead 5/,
    );
    const op = kernels.kvAppend({ step, qkv, kCache: cache(), vCache: cache(), nHead: H, dim: E, maxPositions: P });
    const pass = device.createCommandEncoder().beginComputePass();
    expect(() => op.encode(pass, { batch: 1, seq: 2, past: 7 })).toThrow(/positions up to 9 exceed the cache's maxPositions 8/);
    expect(() => op.encode(pass, { batch: 2, seq: 1, past: 0 })).toThrow(/batch 2 but the cache holds 1/);
    pass.end();
  });
});
