// Pieces shared by the benchmarks: random checkpoints of any shape and the decode-step timer.
import type { ImageGPT } from '../src/model/imagegpt';
import { parseImageGPTConfig, type ImageGPTConfig } from '../src/model/config';
import { writeSafetensors } from '../src/safetensors';
import { randomWeights, seededRandom } from '../scripts/random';
import { float32ArrayToFloat16 } from '../src/f16';
import { decodeStepWallMs } from './gpu-profile';

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
 * A random checkpoint stored in F16, made fast enough for imagegpt-small's 76 M weights: each tensor is cut
 * from a pool of 2^18 seeded draws (std 0.02; norm weights 1 ± 0.1) at seeded offsets. Timing needs the
 * shapes and plausible magnitudes, not independent values.
 */
export function randomF16Checkpoint(configJson: Record<string, unknown>, seed = 1234): { config: ImageGPTConfig; weights: Uint8Array } {
  const config = parseImageGPTConfig(configJson);
  const rand = seededRandom(seed);
  const pool = (n: number, gen: () => number): Uint16Array => {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = gen(); // a plain loop: Float32Array.from(…, fn) is ~10× slower
    return float32ArrayToFloat16(values);
  };
  const weightPool = pool(1 << 18, () => (rand() * 2 - 1) * 0.035);
  const normPool = pool(1 << 12, () => 1 + (rand() * 2 - 1) * 0.1);
  const fill = (n: number, from: Uint16Array): Uint16Array => {
    const out = new Uint16Array(n);
    for (let at = 0; at < n; ) {
      const start = Math.floor(rand() * from.length);
      const len = Math.min(n - at, from.length - start);
      out.set(from.subarray(start, start + len), at);
      at += len;
    }
    return out;
  };
  const names = ['transformer.wte.weight', 'transformer.wpe.weight'];
  for (let i = 0; i < config.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    for (const n of ['ln_1.weight', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias', 'ln_2.weight', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']) names.push(p + n);
  }
  names.push('transformer.ln_f.weight', 'lm_head.weight');
  const tensors = names.map((name) => {
    const shape = shapeOf(config, name);
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, dtype: 'F16' as const, shape, data: fill(n, /ln_\d|ln_f/.test(name) ? normPool : weightPool) };
  });
  return { config, weights: writeSafetensors(tensors) };
}

/**
 * Milliseconds per decode step (forward of one token per sequence + head), each step its own submit, as
 * generation runs. The cache's contents do not change the cost, so it starts at `position` without a prefill.
 */
export async function decodeStepMs(model: ImageGPT, batch: number, position: number, steps: number): Promise<number> {
  const session = model.createSession(batch, { maxLength: Math.min(model.config.n_positions, position + steps + 2) });
  try {
    session.runner.advance(position);
    return await decodeStepWallMs(model.device, session, steps);
  } finally {
    session.dispose();
  }
}
