// kvAppend + attention over a KV cache: a prefill chunk, then chunks on top of a cache (past > 0,
// seq > 1), then decode steps (seq = 1), against the CPU reference. The per-query kernels run with
// the split-K path off; the split path runs on its own cases with small chunks (ragged last chunk,
// empty chunks for the earlier queries of a seq > 1 step, the split cap reached).
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import type { StepShape } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, storageBuffer, readF32, relativeError, attentionDispatches, kvCacheRig } from './harness';

const NO_SPLIT = { attentionMaxSplits: 1 };
const CASES: { E: number; H: number; batch: number; maxPositions: number; tuning: Partial<KernelTuning> }[] = [
  { E: 64, H: 4, batch: 2, maxPositions: 80, tuning: { attention: 'thread', attentionThreads: 64, ...NO_SPLIT } },
  { E: 96, H: 3, batch: 3, maxPositions: 73, tuning: { attention: 'thread', attentionThreads: 32, ...NO_SPLIT } },
  { E: 96, H: 4, batch: 1, maxPositions: 300, tuning: { attention: 'thread', attentionThreads: 64, ...NO_SPLIT } },
  { E: 64, H: 4, batch: 2, maxPositions: 80, tuning: { attention: 'workgroup', attentionThreads: 64, ...NO_SPLIT } },
  { E: 96, H: 3, batch: 3, maxPositions: 73, tuning: { attention: 'workgroup', attentionThreads: 64, ...NO_SPLIT } },
  { E: 96, H: 4, batch: 1, maxPositions: 300, tuning: { attention: 'workgroup', attentionThreads: 128, ...NO_SPLIT } },
];

// Split-K: chunks of ~12 or ~8 keys; head sizes 16 and 32; steps of 1–3 new tokens on ragged pasts.
// fuse false (decodeAttention 'splitK'): the split path (the one-dispatch decode kernel: attention-decode.test.ts).
const SPLIT = (keys: number, maxSplits: number) => ({ attentionSplitKeys: keys, attentionMaxSplits: maxSplits, attentionSplitMaxSeq: 3, fuse: false });
const SPLIT_CASES: { E: number; H: number; batch: number; maxPositions: number; tuning: Partial<KernelTuning> }[] = [
  { E: 48, H: 3, batch: 3, maxPositions: 90, tuning: { attention: 'thread', attentionThreads: 32, ...SPLIT(12, 16) } },
  { E: 128, H: 4, batch: 2, maxPositions: 90, tuning: { attention: 'thread', attentionThreads: 64, ...SPLIT(8, 5) } },
  { E: 64, H: 4, batch: 1, maxPositions: 90, tuning: { attention: 'workgroup', attentionThreads: 64, ...SPLIT(12, 16) } },
];
// Past 23, seq 2 (25 positions): the first query sees 24 keys, so with 12-key splits (chunk 12) or
// 8-key splits (chunk 8) its last chunk is empty.
const SPLIT_SEQS = [13, 1, 2, 3, 1, 3, 2, 27, 1, 3, 2, 1];

describe('kvAppend + attention', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  async function checkAgainstReference(
    c: { E: number; H: number; batch: number; maxPositions: number; tuning: Partial<KernelTuning> },
    seqs: number[],
  ): Promise<void> {
    const kernels = new Kernels(device, c.tuning);
    const step = kernels.createStepBuffer(c.maxPositions);
    const rand = random(c.E + c.H);
    const o = { nHead: c.H, dim: c.E, maxPositions: c.maxPositions };
    const scale = 1 / Math.sqrt(c.E / c.H);
    const maxRows = c.batch * Math.max(...seqs);
    const cacheFloats = c.batch * c.maxPositions * c.E;
    const { qkv, kCache, vCache, kRef, vRef, run } = kvCacheRig(device, kernels, step, o, c.batch, maxRows);
    const out = storageBuffer(device, maxRows * c.E * 4);
    const attend = kernels.attention({ step, qkv, kCache, vCache, out, ...o, scale });
    await kernels.ready();
    let past = 0;
    for (const seq of seqs) {
      const s: StepShape = { batch: c.batch, seq, past };
      const rows = c.batch * seq;
      const x = await run(s, rand, [attend]);
      const want = ref.attention(x, kRef, vRef, { ...o, scale }, s);
      const got = await readF32(device, out, rows * c.E);
      expect(relativeError(got, want), JSON.stringify(s)).toBeLessThan(2e-5);
      past += seq;
    }
    expect(relativeError(await readF32(device, kCache, cacheFloats), kRef)).toBe(0);
    expect(relativeError(await readF32(device, vCache, cacheFloats), vRef)).toBe(0);
    kernels.destroy();
  }

  for (const c of CASES) {
    it(`${c.tuning.attention} per query, E ${c.E}, ${c.H} heads, batch ${c.batch}: prefill, chunks on a cache, decode`, async () => {
      // Positions 0…69 then decode up to the cache's end: crosses the 64/128-thread blocks.
      const seqs = [70, 1, 1, 1];
      if (c.maxPositions > 200) seqs.splice(1, 0, 3, 120, 40);
      await checkAgainstReference(c, seqs);
    });
  }

  for (const c of SPLIT_CASES) {
    it(`split over keys (${c.tuning.attentionSplitKeys} keys, ≤ ${c.tuning.attentionMaxSplits} splits, ${c.tuning.attention} tuning), E ${c.E}, ${c.H} heads, batch ${c.batch}`, async () => {
      await checkAgainstReference(c, SPLIT_SEQS);
    });
  }

  it('splits a few-token step into ⌈positions / splitKeys⌉ chunks (capped), and leaves longer steps to the per-query kernel', () => {
    const [E, H, P, batch] = [64, 4, 100, 2];
    const kernels = new Kernels(device, { attention: 'thread', attentionThreads: 32, ...SPLIT(16, 4) });
    const dispatched = attentionDispatches(device, kernels, { E, H, P, batch });
    const units = batch * H;
    // 16 positions: one chunk, the per-query kernel.
    expect(dispatched({ batch, seq: 1, past: 15 })).toEqual([[Math.ceil(units / 32), 1]]);
    // 17 and 40 positions: 2 and 3 chunks; partials, then the combine over D/4 channel quads.
    expect(dispatched({ batch, seq: 1, past: 16 })).toEqual([[1, 2], [Math.ceil((units * 4) / 32), 1]]);
    expect(dispatched({ batch, seq: 3, past: 37 })).toEqual([[1, 3], [Math.ceil((units * 3 * 4) / 32), 1]]);
    // 99 positions would be 7 chunks: capped at 4.
    expect(dispatched({ batch, seq: 1, past: 98 })).toEqual([[1, 4], [Math.ceil((units * 4) / 32), 1]]);
    // 4 new tokens exceed attentionSplitMaxSeq 3.
    expect(dispatched({ batch, seq: 4, past: 60 })).toEqual([[Math.ceil((units * 4) / 32), 1]]);
    kernels.destroy();
  });

  it('refuses a step past the cache, and head counts that do not divide dim', () => {
    const kernels = new Kernels(device);
    const [E, H, P] = [12, 3, 8];
    const step = kernels.createStepBuffer(P);
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
