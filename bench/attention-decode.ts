// One decode step (one new token per sequence, forward + head) of an imagegpt-small-shaped model
// (E 512, 8 heads, 2 layers, random weights) near the start of the cache vs near position 1000,
// batch 1 and 8, with the split-K attention on and off, alternated in the same run.
// Run: node scripts/with-webgpu.mjs node scripts/run-ts.mjs bench/attention-decode.ts [--layers N] [--rounds N]
import { create, globals } from 'webgpu';
import { ImageGPT } from '../src/model/imagegpt';
import { parseImageGPTConfig, type ImageGPTConfig } from '../src/model/config';
import { writeSafetensors } from '../src/safetensors';
import { Kernels, type KernelTuning } from '../src/gpu/kernels';
import { requestImageGptDevice } from '../src/gpu/device';
import { randomWeights } from '../test/reference/model';

/** Tensor shapes in the checkpoint's layout ([in, out] for Conv1D weights). */
function shapeOf(c: ImageGPTConfig, name: string): number[] {
  const [E, I] = [c.n_embd, c.n_inner];
  const shapes: [string, number[]][] = [
    ['transformer.wte.weight', [c.vocab_size, E]],
    ['transformer.wpe.weight', [c.n_positions, E]],
    ['lm_head.weight', [c.vocab_size - 1, E]],
    ['c_attn.weight', [E, 3 * E]],
    ['c_attn.bias', [3 * E]],
    ['attn.c_proj.weight', [E, E]],
    ['c_fc.weight', [E, I]],
    ['c_fc.bias', [I]],
    ['mlp.c_proj.weight', [I, E]],
  ];
  return shapes.find(([suffix]) => name.endsWith(suffix))?.[1] ?? [E];
}

async function decodeStepMs(model: ImageGPT, batch: number, position: number, steps: number): Promise<number> {
  const session = model.createSession(batch, { maxLength: position + steps + 2 });
  try {
    // The cache's contents do not change the cost: skip the prefill (minutes here) and start at `position`.
    session.advance(position);
    const runSteps = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const step = session.writeStepOnly(1);
        const encoder = model.device.createCommandEncoder();
        session.forwardPlan.encode(encoder, step, { head: true });
        model.device.queue.submit([encoder.finish()]);
        session.advance(1);
      }
      await model.device.queue.onSubmittedWorkDone();
    };
    await runSteps(2);
    const t0 = performance.now();
    await runSteps(steps);
    return (performance.now() - t0) / steps;
  } finally {
    session.dispose();
  }
}

export async function main(args: string[]): Promise<number> {
  const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const layers = option('--layers', 2);
  const rounds = option('--rounds', 1);
  Object.assign(globalThis, globals);
  const gpu = create([]) as unknown as GPU;
  const { device } = await requestImageGptDevice(gpu, { maxBufferBytes: 256 << 20, maxBindingBytes: 256 << 20 });
  const configJson = { model_type: 'imagegpt', n_embd: 512, n_head: 8, n_layer: layers, n_positions: 1024, vocab_size: 513 };
  const config = parseImageGPTConfig(configJson);
  const weights = writeSafetensors(
    [...randomWeights(config, 1234, 0.02)].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: shapeOf(config, name), data })),
  );
  // The model takes its tuning from Kernels.tuningFor: swap it per variant.
  const adapterTuning = Kernels.tuningFor.bind(Kernels);
  const variants: [string, Partial<KernelTuning>][] = [
    ['per query (no split)', { attentionMaxSplits: 1 }],
    ['split-K', {}],
  ];
  const best = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, tuning] of variants) {
      Kernels.tuningFor = (info) => ({ ...adapterTuning(info), ...tuning });
      const model = await ImageGPT.fromPretrained({ config: configJson, weights }, { device, dtype: 'f32' });
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
  Kernels.tuningFor = adapterTuning;
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
