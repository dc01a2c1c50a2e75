// attentionWeights (HF output_attentions) over a KV cache: a prefill chunk, chunks on top of a cache, decode
// steps, on ragged shapes (odd head counts, rows not a multiple of the workgroup), against the CPU reference;
// zeros past each query's last key; the scale is the attention Op's own.
import { describe, it, expect, beforeAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { Kernels } from '../../src/gpu/kernels';
import type { StepShape } from '../../src/gpu/types';
import * as ref from '../reference/ops';
import { random, storageBuffer, readF32, kvCacheRig } from './harness';

const CASES = [
  { E: 64, H: 4, batch: 2, maxPositions: 80, threads: 64, seqs: [37, 1, 5, 1] },
  { E: 96, H: 3, batch: 3, maxPositions: 73, threads: 32, seqs: [1, 29, 2, 1, 13] },
  { E: 48, H: 3, batch: 1, maxPositions: 130, threads: 64, seqs: [70, 1, 59] },
];

describe('attentionWeights', () => {
  let device: GPUDevice;
  beforeAll(async () => {
    device = await getTestDevice();
  });

  for (const c of CASES) {
    it(`E ${c.E}, ${c.H} heads, batch ${c.batch}, ${c.maxPositions} positions, steps ${c.seqs.join('+')}: the reference's weights, 0 past the last key`, async () => {
      const kernels = new Kernels(device, { attentionThreads: c.threads });
      const step = kernels.createStepBuffer(c.maxPositions);
      const rand = random(c.E * 7 + c.H);
      const o = { nHead: c.H, dim: c.E, maxPositions: c.maxPositions };
      const scale = 1 / Math.sqrt(c.E / c.H) / 3; // as with scale_attn_by_inverse_layer_idx at layer 2
      const maxRows = c.batch * Math.max(...c.seqs);
      const { qkv, kCache, kRef, run } = kvCacheRig(device, kernels, step, o, c.batch, maxRows);
      const width = c.H * c.maxPositions;
      const out = storageBuffer(device, maxRows * width * 4);
      // Stale values in `out` must be overwritten, zeros included.
      device.queue.writeBuffer(out, 0, new Float32Array(maxRows * width).fill(7));
      const weights = kernels.attentionWeights({ step, qkv, kCache, out, ...o, scale });
      await kernels.ready();
      let past = 0;
      for (const seq of c.seqs) {
        const s: StepShape = { batch: c.batch, seq, past };
        const rows = c.batch * seq;
        const x = await run(s, rand, [weights]);
        const want = ref.attentionWeights(x, kRef, { ...o, scale }, s);
        const got = await readF32(device, out, rows * width);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(worst, JSON.stringify(s)).toBeLessThan(1e-5);
        for (let r = 0; r < rows; r++) {
          const keys = past + (r % seq) + 1;
          for (let h = 0; h < c.H; h++) {
            const row = got.subarray((r * c.H + h) * c.maxPositions, (r * c.H + h + 1) * c.maxPositions);
            expect(row.subarray(keys).every((v) => v === 0), `row ${r} head ${h}: zeros after ${keys} keys`).toBe(true);
            let sum = 0;
            for (const v of row) sum += v;
            expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
          }
        }
        past += seq;
      }
      kernels.destroy();
    });
  }

  it('refuses an out buffer too small for the step, and a bad scale', () => {
    const kernels = new Kernels(device);
    const [E, H, P] = [16, 2, 8];
    const step = kernels.createStepBuffer(P);
    const args = { step, qkv: storageBuffer(device, 4 * 3 * E * 4), kCache: storageBuffer(device, P * E * 4), nHead: H, dim: E, maxPositions: P, scale: 0.5 };
    const op = kernels.attentionWeights({ ...args, out: storageBuffer(device, 2 * H * P * 4) });
    const pass = device.createCommandEncoder().beginComputePass();
    expect(() => op.encode(pass, { batch: 1, seq: 3, past: 0 })).toThrow(/3 rows but out holds 2 rows of 2 × 8 weights/);
    pass.end();
    expect(() => kernels.attentionWeights({ ...args, out: storageBuffer(device, H * P * 4), scale: NaN })).toThrow(/scale must be finite/);
    kernels.destroy();
  });
});
