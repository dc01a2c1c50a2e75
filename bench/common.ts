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

/** The middle value (the upper one of an even count): robust to one run disturbed by other work. */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** A kernel bench's two flags: `--shape NAME` (one of `shapes`' keys, or `all`) and `--reps N` (default 3). */
export function kernelBenchArgs<S>(args: string[], shapes: Record<string, S>): { shapes: S[]; reps: number } {
  const value = (flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const shape = value('--shape') ?? 'all';
  if (shape !== 'all' && !(shape in shapes)) throw new Error(`--shape must be ${Object.keys(shapes).join(', ')} or all, got ${shape}`);
  const reps = Number(value('--reps') ?? 3);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${value('--reps')}`);
  return { shapes: shape === 'all' ? Object.values(shapes) : [shapes[shape]], reps };
}

/** Storage buffers filled with a fixed pattern in [−0.5, 0.5) (inputs whose values do not matter to a timing), all
 *  destroyed by destroyAll. */
export function patternBuffers(device: GPUDevice): { buffer: (floats: number) => GPUBuffer; destroyAll: () => void } {
  const made: GPUBuffer[] = [];
  return {
    buffer: (floats) => {
      const b = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(b, 0, Float32Array.from({ length: floats }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
      made.push(b);
      return b;
    },
    destroyAll: () => made.splice(0).forEach((b) => b.destroy()),
  };
}

/** Wall-clock ms of one compute pass that `encode` fills, from encoding to onSubmittedWorkDone. */
export async function timeOnePass(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void): Promise<number> {
  const t0 = performance.now();
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  encode(pass);
  pass.end();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}
