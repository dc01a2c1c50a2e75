// The model's weights on the GPU (f32, or f16 packed in u32) and the tensors an HF ImageGPT checkpoint
// must hold; src/loading/upload.ts fills them from a checkpoint as its bytes arrive.
import type { GpuMatrix, WeightDType } from '../gpu/types';
import type { ImageGPTConfig } from './config';

export interface LayerWeights {
  ln1: GPUBuffer; // [E]
  attnW: GpuMatrix; // [E, 3E]
  attnB: GPUBuffer; // [3E]
  attnProjW: GpuMatrix; // [E, E]
  attnProjB: GPUBuffer; // [E]
  ln2: GPUBuffer; // [E]
  fcW: GpuMatrix; // [E, I]
  fcB: GPUBuffer; // [I]
  mlpProjW: GpuMatrix; // [I, E]
  mlpProjB: GPUBuffer; // [E]
}

export interface ModelWeights {
  dtype: WeightDType;
  wte: GpuMatrix; // [V, E]
  wpe: GpuMatrix; // [P, E]
  layers: LayerWeights[];
  lnF: GPUBuffer; // [E]
  /** lm_head.weight transposed to [E, V-1] so the head is an ordinary matmul; absent in classification checkpoints. */
  lmHead: GpuMatrix | null;
  /** score.weight [num_labels, E] of an ImageGPTForImageClassification checkpoint, kept on the CPU. */
  score: { weight: Float32Array; numLabels: number } | null;
  /** Bytes of all weight buffers on the GPU. */
  gpuBytes: number;
  buffers: GPUBuffer[];
}

/** Checkpoint buffers that are not weights (the causal mask and its fill value). */
export const NON_WEIGHT = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

/** Every weight tensor an ImageGPT checkpoint must hold, with its HF shape. */
export function expectedTensorShapes(config: ImageGPTConfig): Map<string, number[]> {
  const { n_embd: E, n_inner: I, n_positions: P, vocab_size: V } = config;
  const m = new Map<string, number[]>([
    ['transformer.wte.weight', [V, E]],
    ['transformer.wpe.weight', [P, E]],
  ]);
  for (let i = 0; i < config.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    m.set(p + 'ln_1.weight', [E]);
    m.set(p + 'attn.c_attn.weight', [E, 3 * E]);
    m.set(p + 'attn.c_attn.bias', [3 * E]);
    m.set(p + 'attn.c_proj.weight', [E, E]);
    m.set(p + 'attn.c_proj.bias', [E]);
    m.set(p + 'ln_2.weight', [E]);
    m.set(p + 'mlp.c_fc.weight', [E, I]);
    m.set(p + 'mlp.c_fc.bias', [I]);
    m.set(p + 'mlp.c_proj.weight', [I, E]);
    m.set(p + 'mlp.c_proj.bias', [E]);
  }
  m.set('transformer.ln_f.weight', [E]);
  return m;
}
