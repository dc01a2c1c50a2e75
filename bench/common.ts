// Pieces shared by the benchmarks: random checkpoints of any shape and the decode-step timer.
import type { ImageGPT } from '../src/model/imagegpt';
import { parseImageGPTConfig, type ImageGPTConfig } from '../src/model/config';
import { writeSafetensors } from '../src/safetensors';
import { randomWeights } from '../scripts/random';

/** Tensor shapes in the checkpoint's layout ([in, out] for Conv1D weights). */
export function shapeOf(c: ImageGPTConfig, name: string): number[] {
  const E = c.n_embd;
  const I = c.n_inner;
  if (name === 'transformer.wte.weight') return [c.vocab_size, E];
  if (name === 'transformer.wpe.weight') return [c.n_positions, E];
  if (name === 'lm_head.weight') return [c.vocab_size - 1, E];
  if (name.endsWith('c_attn.weight')) return [E, 3 * E];
  if (name.endsWith('c_attn.bias')) return [3 * E];
  if (name.endsWith('attn.c_proj.weight')) return [E, E];
  if (name.endsWith('c_fc.weight')) return [E, I];
  if (name.endsWith('c_fc.bias')) return [I];
  if (name.endsWith('mlp.c_proj.weight')) return [I, E];
  return [E];
}

/** A random checkpoint (HF names, f32 safetensors bytes) for a config. */
export function randomCheckpoint(configJson: Record<string, unknown>): { config: ImageGPTConfig; weights: Uint8Array } {
  const config = parseImageGPTConfig(configJson);
  const w = randomWeights(config, 1234, 0.02);
  const tensors = [...w].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: shapeOf(config, name), data }));
  return { config, weights: writeSafetensors(tensors) };
}

/**
 * Milliseconds per decode step (forward of one token per sequence + head), each step its own submit, as
 * generation runs. The cache's contents do not change the cost, so it starts at `position` without a prefill.
 */
export async function decodeStepMs(model: ImageGPT, batch: number, position: number, steps: number): Promise<number> {
  const session = model.createSession(batch, { maxLength: Math.min(model.config.n_positions, position + steps + 2) });
  try {
    session.advance(position);
    const runSteps = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const step = session.writeStepOnly(1);
        const enc = model.device.createCommandEncoder();
        session.forwardPlan.encode(enc, step, { head: true });
        model.device.queue.submit([enc.finish()]);
        session.advance(1);
      }
      await model.device.queue.onSubmittedWorkDone();
    };
    await runSteps(2); // warm-up
    const t0 = performance.now();
    await runSteps(steps);
    return (performance.now() - t0) / steps;
  } finally {
    session.dispose();
  }
}

