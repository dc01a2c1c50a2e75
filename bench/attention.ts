// Decode attention (one new token per sequence) at imagegpt-small's shape (E 512, 8 heads, cache
// 1024): milliseconds per attention call near the start of the cache vs near its end, batch 1 and 8,
// with the split-K path on and off (attentionMaxSplits 1), in the same run.
// Run: node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/attention.ts [--repeats N] [--rounds N] [--split-keys 32,64,…]
import { Kernels, type KernelTuning } from '../src/gpu/kernels';
import { requestImageGptDevice } from '../src/gpu/device';
import type { StepShape } from '../src/gpu/types';
import { nodeGpu } from '../scripts/node-webgpu';

const E = 512;
const H = 8;
const MAX_POSITIONS = 1024;

async function attentionMs(device: GPUDevice, tuning: Partial<KernelTuning>, batch: number, past: number, repeats: number): Promise<number> {
  const kernels = new Kernels(device, tuning);
  const buffer = (bytes: number) => device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const cacheBytes = batch * MAX_POSITIONS * E * 4;
  const kCache = buffer(cacheBytes);
  const vCache = buffer(cacheBytes);
  const qkv = buffer(batch * 3 * E * 4);
  const out = buffer(batch * E * 4);
  const fill = (b: GPUBuffer) => device.queue.writeBuffer(b, 0, Float32Array.from({ length: b.size / 4 }, () => Math.random() - 0.5));
  [kCache, vCache, qkv].forEach(fill);
  const step = kernels.createStepBuffer(MAX_POSITIONS);
  const op = kernels.attention({ step, qkv, kCache, vCache, out, nHead: H, dim: E, maxPositions: MAX_POSITIONS, scale: 1 / 8 });
  await kernels.ready();
  const shape: StepShape = { batch, seq: 1, past };
  kernels.writeStep(step, shape);
  const runAll = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      op.encode(pass, shape);
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
  };
  await runAll(2);
  const t0 = performance.now();
  await runAll(repeats);
  const ms = (performance.now() - t0) / repeats;
  [kCache, vCache, qkv, out, step].forEach((b) => b.destroy());
  kernels.destroy();
  return ms;
}

export async function main(args: string[]): Promise<number> {
  const gpu = nodeGpu();
  const { device } = await requestImageGptDevice(gpu, { maxBufferBytes: 64 << 20, maxBindingBytes: 64 << 20 });
  const at = args.indexOf('--repeats');
  const repeats = at >= 0 ? Number(args[at + 1]) : 10;
  const atRounds = args.indexOf('--rounds');
  const rounds = atRounds >= 0 ? Number(args[atRounds + 1]) : 3;
  // --split-keys 32,64: one split-K variant per chunk size (default: the adapter's tuning).
  const atKeys = args.indexOf('--split-keys');
  const tuned = new Kernels(device).tuning.attentionSplitKeys;
  const splitKeys = atKeys >= 0 ? args[atKeys + 1].split(',').map(Number) : [tuned];
  const variants: [string, Partial<KernelTuning>][] = [
    ['per query (no split)', { attentionMaxSplits: 1 }],
    ...splitKeys.map((keys): [string, Partial<KernelTuning>] => [`split-K (${keys} keys)`, { attentionSplitKeys: keys }]),
  ];
  // The machine is shared: alternate the variants for a few rounds and keep each one's fastest time.
  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const batch of [1, 8]) {
      for (const past of [10, 1000]) {
        for (const [name, tuning] of variants) {
          const key = `${batch}/${past}/${name}`;
          best.set(key, Math.min(best.get(key) ?? Infinity, await attentionMs(device, tuning, batch, past, repeats)));
        }
      }
    }
  }
  for (const batch of [1, 8]) {
    for (const [name] of variants) {
      const near = best.get(`${batch}/10/${name}`) ?? NaN;
      const far = best.get(`${batch}/1000/${name}`) ?? NaN;
      console.log(`batch ${batch} ${name}: pos 10 ${near.toFixed(2)} ms, pos 1000 ${far.toFixed(2)} ms (×${(far / near).toFixed(2)})`);
    }
  }
  device.destroy();
  return 0;
}
