// decodeAttention 'oneDispatch' (shaders/attention-decode.wgsl) against the CPU reference: head
// sizes 4, 12 and 64 (4 and 12 on lavapipe: see shapesFor), 1, 3 and 8 heads, batch 1 and 3, steps of 1 and 3 new tokens ending at positions 1 … 1000
// (key quads that fill the threads exactly, one more, one fewer), with and without a key mask (fully masked
// queries included), the merge through workgroup memory and through subgroups; then what it dispatches.
import { describe, it, expect, beforeAll } from 'vitest';
import { createNodeDevice, getTestDevice, trackBuffers } from '../helpers/gpu';
import { Kernels, type KernelTuning } from '../../src/gpu/kernels';
import { splitAttentionScratchBytes } from '../../src/gpu/attention';
import { GPU_TUNING, SWIFTSHADER_TUNING } from '../../src/gpu/tuning';
import type { StepShape } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, randomArray, storageBuffer, readF32, runStep, relativeError, recordingPass, attentionDispatches } from './harness';

const POSITIONS = [1, 3, 63, 64, 65, 1000];
const SHAPES: { D: number; H: number; batch: number }[] = [
  { D: 4, H: 1, batch: 3 },
  { D: 12, H: 3, batch: 1 },
  { D: 12, H: 3, batch: 3 },
  { D: 64, H: 8, batch: 1 },
  { D: 64, H: 8, batch: 3 },
  { D: 64, H: 1, batch: 3 },
];
const MAX_POSITIONS = 1000;

/**
 * Mesa's lavapipe (llvmpipe) compiles attentionDecode with LLVM at its first dispatch, in a time that grows steeply
 * with the head size. One variant (4 threads, workgroup merge), cold, CPU seconds of the whole process at load ~24 on
 * this 2-core machine: head size 8: 1.9 s (masked 3.3 s), 16: 5.7 s (9.1 s), 32: 20 s (24 s); 64: its first dispatch
 * took 445 s of wall time unmasked. This file makes a variant per head count, thread count, merge and mask: 24 at
 * head size 64, about half an hour of CPU by that growth, which is why its masked cases (the larger variants) did not
 * finish in the time earlier runs gave them. No kernel fault: they pass on lavapipe
 * (the masked 4-thread case did, in 356 s), and nothing in the kernel reads out of bounds or waits at a barrier
 * outside uniform control flow; the head size is the trip count of the channel loops over the register accumulator (a
 * pipeline constant, so most likely unrolled: not verified in lavapipe's output). On lavapipe the shapes keep head sizes 4 and 12 (one quad per head, an odd number of
 * quads: the merge's edge cases), with the 8-wide subgroup merge and every mask case.
 */
function shapesFor(device: GPUDevice): { D: number; H: number; batch: number }[] {
  const info = device.adapterInfo;
  const llvmpipe = /llvmpipe/i.test(`${info.device} ${info.description}`);
  return llvmpipe ? SHAPES.filter((s) => s.D <= 12) : SHAPES;
}

/** Sequence b's key mask: 0 random keys masked (key 0 kept), 1 only key 63 and keys ≥ 900 allowed (queries before
 *  63 and steps up to 900 see no allowed key: fully masked, with key 63 a later allowed key of the step past 62),
 *  2 every third key masked. */
function keyMask(batch: number, rand: () => number): Uint32Array {
  const mask = new Uint32Array(batch * MAX_POSITIONS);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < MAX_POSITIONS; j++) {
      const allowed = b % 3 === 0 ? j === 0 || rand() > 0.3 : b % 3 === 1 ? j === 63 || j >= 900 : j % 3 !== 1;
      mask[b * MAX_POSITIONS + j] = allowed ? 1 : 0;
    }
  }
  return mask;
}

describe('one-dispatch decode attention', () => {
  let device: GPUDevice;
  let subgroupDevice: GPUDevice | null = null;
  beforeAll(async () => {
    device = await getTestDevice();
    const withSubgroups = await createNodeDevice({ optionalFeatures: ['subgroups'] });
    subgroupDevice = withSubgroups.features.includes('subgroups') ? withSubgroups.device : null;
  });

  async function checkShapes(dev: GPUDevice, tuning: Partial<KernelTuning>, masked: boolean, expectMerge: 'subgroups' | 'workgroup'): Promise<void> {
    for (const { D, H, batch } of shapesFor(dev)) {
      // attentionSplitKeys 1: the decode kernel serves every step of ≤ 4 new tokens over more than one position
      // (a single position goes to the per-query kernel; the step of 3 at position 3 has a query of one key).
      const kernels = new Kernels(dev, { fuse: true, attentionSplitMaxSeq: 4, attentionSplitKeys: 1, attentionMaxSplits: 32, ...tuning });
      const E = D * H;
      const rand = random(D * 31 + H * 7 + batch);
      const o = { nHead: H, dim: E, maxPositions: MAX_POSITIONS };
      const scale = 1 / Math.sqrt(D);
      const cacheFloats = batch * MAX_POSITIONS * E;
      const kRef = randomArray(rand, cacheFloats, 2);
      const vRef = randomArray(rand, cacheFloats, 2);
      const step = kernels.createStepBuffer(MAX_POSITIONS);
      const kCache = storageBuffer(dev, kRef);
      const vCache = storageBuffer(dev, vRef);
      const qkv = storageBuffer(dev, batch * 3 * 3 * E * 4);
      const out = storageBuffer(dev, batch * 3 * E * 4);
      const mask = masked ? keyMask(batch, rand) : null;
      const maskBuffer = mask ? storageBuffer(dev, new Int32Array(mask.buffer)) : undefined;
      const attend = kernels.attention({ step, qkv, kCache, vCache, out, ...o, scale, keyMask: maskBuffer });
      await kernels.ready();
      const { pass, pipelines } = recordingPass();
      attend.encode(pass, { batch, seq: 1, past: 4 });
      expect(pipelines).toEqual([expect.stringContaining(`attention-decode.wgsl/${expectMerge}`)]);
      for (const positions of POSITIONS) {
        for (const seq of positions >= 3 ? [1, 3] : [1]) {
          const s: StepShape = { batch, seq, past: positions - seq };
          const x = randomArray(rand, batch * seq * 3 * E, 2);
          dev.queue.writeBuffer(qkv, 0, x);
          await runStep(dev, kernels, step, s, [attend]);
          const want = mask ? ref.maskedAttention(x, kRef, vRef, { ...o, scale }, s, mask) : ref.attention(x, kRef, vRef, { ...o, scale }, s);
          const got = await readF32(dev, out, batch * seq * E);
          expect(relativeError(got, want), `D ${D}, H ${H}, ${JSON.stringify(s)}`).toBeLessThan(2e-5);
        }
      }
      for (const b of [step, kCache, vCache, qkv, out, maskBuffer]) b?.destroy();
      kernels.destroy();
    }
  }

  for (const masked of [false, true]) {
    const what = masked ? 'masked (fully masked queries included)' : 'unmasked';
    for (const threads of [4, 16, 1]) {
      it(`${what}, ${threads} threads, merged through workgroup memory`, async () => {
        await checkShapes(device, { attentionDecodeThreads: threads, subgroups: false }, masked, 'workgroup');
      });
    }
    for (const threads of [4, 2]) {
      it(`${what}, ${threads} threads, merged with subgroup operations (the device offers them)`, async () => {
        expect(subgroupDevice, 'SwiftShader offers subgroups').not.toBeNull();
        await checkShapes(subgroupDevice!, { attentionDecodeThreads: threads, subgroups: true }, masked, 'subgroups');
      });
    }
    it(`${what}, twice the subgroup size in threads (two subgroups: workgroup memory)`, async () => {
      const subgroupSize = subgroupDevice!.adapterInfo.subgroupMinSize ?? 0;
      expect(subgroupSize, 'the adapter reports its subgroup size').toBeGreaterThan(0);
      const twoSubgroups = 2 * subgroupSize; // SwiftShader 8, lavapipe 16
      await checkShapes(subgroupDevice!, { attentionDecodeThreads: twoSubgroups, subgroups: true }, masked, 'workgroup');
    });
  }

  it('a decode step is one dispatch (a workgroup per head and row), masked or not; longer steps one per-query dispatch; fuse false as before', () => {
    const [E, H, P, batch] = [64, 4, 100, 2];
    const make = (tuning: Partial<KernelTuning>, masked: boolean) => {
      const kernels = new Kernels(device, { attention: 'thread', attentionThreads: 32, attentionSplitKeys: 16, attentionMaxSplits: 4, attentionSplitMaxSeq: 3, ...tuning });
      return attentionDispatches(device, kernels, { E, H, P, batch }, masked);
    };
    const units = batch * H;
    for (const masked of [false, true]) {
      const fused = make({ fuse: true }, masked);
      for (const past of [16, 40, 98]) expect(fused({ batch, seq: 1, past })).toEqual([[H, batch]]);
      expect(fused({ batch, seq: 3, past: 37 })).toEqual([[H, batch * 3]]);
      // Up to attentionSplitKeys (16) positions: the per-query kernel, as split-K leaves them.
      for (const past of [0, 15]) expect(fused({ batch, seq: 1, past })).toEqual([[Math.ceil(units / 32), 1]]);
      expect(fused({ batch, seq: 4, past: 60 })).toEqual([[Math.ceil((units * 4) / 32), 1]]);
      // Today's path: split-K's partials and combine, plus the fully-masked-rows pass with a mask.
      const unfused = make({ fuse: false }, masked);
      const maskedRows = masked ? [[Math.ceil((units * (E / H / 4)) / 32), 1]] : [];
      expect(unfused({ batch, seq: 1, past: 16 })).toEqual([[1, 2], [Math.ceil((units * 4) / 32), 1], ...maskedRows]);
      expect(unfused({ batch, seq: 1, past: 10 })).toEqual([[Math.ceil(units / 32), 1], ...maskedRows]);
    }
    // attentionMaxSplits 1 turns split-K off in both paths: the per-query kernel serves decode steps.
    expect(make({ fuse: true, attentionMaxSplits: 1 }, false)({ batch, seq: 1, past: 50 })).toEqual([[Math.ceil(units / 32), 1]]);
  });

  it('the fused path makes no split scratch (limits count none), the unfused one does', () => {
    const shape = { maxRows: 8, batch: 8, maxPositions: 1024, nHead: 8, headDim: 64 };
    for (const t of [SWIFTSHADER_TUNING, GPU_TUNING]) {
      expect(splitAttentionScratchBytes({ ...t, decodeAttention: 'oneDispatch' }, shape)).toBe(0);
      expect(splitAttentionScratchBytes({ ...t, decodeAttention: 'splitK' }, shape)).toBeGreaterThan(0);
    }
    const [E, H, P] = [64, 4, 100];
    const made = (fuse: boolean) => {
      const kernels = new Kernels(device, { fuse });
      const args = {
        step: kernels.createStepBuffer(P),
        qkv: storageBuffer(device, 4 * 3 * E * 4),
        kCache: storageBuffer(device, P * E * 4),
        vCache: storageBuffer(device, P * E * 4),
        out: storageBuffer(device, 4 * E * 4),
        nHead: H,
        dim: E,
        maxPositions: P,
        scale: 0.25,
      };
      kernels.attention(args); // the first makes the shared scale uniform
      const tracked = trackBuffers(device);
      const op = kernels.attention(args);
      const created = tracked.created();
      tracked.restore();
      op.destroy?.();
      kernels.destroy();
      return created;
    };
    expect(made(true)).toBe(0);
    expect(made(false)).toBe(1);
  });
});
