// One decode step (one new token per sequence, forward + head) of an imagegpt-small-shaped model
// (E 512, 8 heads, 2 layers, random weights) near the start of the cache vs near position 1000,
// batch 1 and 8, with the split-K attention on and off, alternated in the same run.
// Run: node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/attention-decode.ts [--layers N] [--rounds N]
import { ImageGPT } from '../src/model/imagegpt';
import type { KernelTuning } from '../src/gpu/kernels';
import { requestImageGptDevice } from '../src/gpu/device';
import { nodeGpu } from '../scripts/node-webgpu';
import { decodeStepMs, randomCheckpoint } from './common';
import { loadWithTuning } from './gpu-profile';

export async function main(args: string[]): Promise<number> {
  const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const layers = option('--layers', 2);
  const rounds = option('--rounds', 1);
  const { device } = await requestImageGptDevice(nodeGpu(), { maxBufferBytes: 256 << 20, maxBindingBytes: 256 << 20 });
  const configJson = { model_type: 'imagegpt', n_embd: 512, n_head: 8, n_layer: layers, n_positions: 1024, vocab_size: 513 };
  const { weights } = randomCheckpoint(configJson);
  const variants: [string, Partial<KernelTuning>][] = [
    ['per query (no split)', { attentionMaxSplits: 1 }],
    ['split-K', {}],
  ];
  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, tuning] of variants) {
      const model = await loadWithTuning((src, o) => ImageGPT.fromPretrained(src, o), { config: configJson, weights }, { device, dtype: 'f32', tuning });
      try {
        for (const batch of [1, 8]) {
          for (const position of [10, 1000]) {
            const key = `${batch}/${position}/${name}`;
            best.set(key, Math.min(best.get(key) ?? Infinity, await decodeStepMs(model, batch, position, 6)));
          }
        }
      } finally {
        model.dispose();
      }
    }
  }
  for (const batch of [1, 8]) {
    for (const [name] of variants) {
      const near = best.get(`${batch}/10/${name}`) ?? NaN;
      const far = best.get(`${batch}/1000/${name}`) ?? NaN;
      console.log(`batch ${batch} ${name}: pos 10 ${near.toFixed(1)} ms, pos 1000 ${far.toFixed(1)} ms (×${(far / near).toFixed(2)})`);
    }
  }
  device.destroy();
  return 0;
}
