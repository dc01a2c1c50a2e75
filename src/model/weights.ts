// The model's weights on the GPU (f32, or f16 packed in u32), and the weight spec that names every tensor
// an HF ImageGPT checkpoint holds: the generic uploader in src/loading follows the spec, and the model
// assembles its struct from the named tensors it hands back.
import { ImageGPTError } from '../errors';
import type { GpuMatrix, WeightDType } from '../gpu/types';
import type { GpuTensor, TensorSpec, UploadedTensors, WeightSpec } from '../loading/index';
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
  /**
   * score.weight [num_labels, E] of an ImageGPTForImageClassification checkpoint, kept on the CPU (classify reads it
   * here). A trainer trains a GPU copy and writes the trained values back into `weight` after every step.
   */
  score: { weight: Float32Array; numLabels: number } | null;
  /** Bytes of all weight buffers on the GPU. */
  gpuBytes: number;
  buffers: GPUBuffer[];
}

/** Checkpoint buffers that are not weights (the causal mask and its fill value). */
export const NON_WEIGHT = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

const LM_HEAD = 'lm_head.weight';
const SCORE = 'score.weight';

/**
 * Every tensor an ImageGPT checkpoint may hold, with its HF shape: matrices in the load's dtype, vectors in
 * f32, the LM head transposed (so it is an ordinary matmul), the classifier head on the CPU; one of the two
 * heads must be there.
 */
export function imageGptWeightSpec(config: ImageGPTConfig): WeightSpec {
  const { n_embd: E, n_inner: I, n_positions: P, vocab_size: V } = config;
  const matrix = (name: string, shape: number[]): TensorSpec => ({ name, shape, place: 'gpu', dtype: 'load' });
  const vector = (name: string, length: number): TensorSpec => ({ name, shape: [length], place: 'gpu', dtype: 'f32' });
  const tensors: TensorSpec[] = [matrix('transformer.wte.weight', [V, E]), matrix('transformer.wpe.weight', [P, E])];
  for (let i = 0; i < config.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    tensors.push(
      vector(p + 'ln_1.weight', E),
      matrix(p + 'attn.c_attn.weight', [E, 3 * E]),
      vector(p + 'attn.c_attn.bias', 3 * E),
      matrix(p + 'attn.c_proj.weight', [E, E]),
      vector(p + 'attn.c_proj.bias', E),
      vector(p + 'ln_2.weight', E),
      matrix(p + 'mlp.c_fc.weight', [E, I]),
      vector(p + 'mlp.c_fc.bias', I),
      matrix(p + 'mlp.c_proj.weight', [I, E]),
      vector(p + 'mlp.c_proj.bias', E),
    );
  }
  tensors.push(
    vector('transformer.ln_f.weight', E),
    { name: LM_HEAD, shape: [V - 1, E], place: 'gpu-transposed', dtype: 'load', optional: true },
    { name: SCORE, shape: ['num_labels', E], place: 'cpu', dtype: 'f32', optional: true },
  );
  return {
    what: 'ImageGPT weights',
    tensors,
    skip: NON_WEIGHT,
    oneOf: [[LM_HEAD, SCORE]],
    unexpectedHint: `is this an ImageGPT checkpoint with n_layer = ${config.n_layer}?`,
  };
}

/** Every weight tensor an ImageGPT checkpoint must hold, with its HF shape (the spec's required tensors). */
export function expectedTensorShapes(config: ImageGPTConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const t of imageGptWeightSpec(config).tensors) {
    if (!t.optional) m.set(t.name, t.shape.map(Number));
  }
  return m;
}

/** The model's struct from the tensors the uploader made by imageGptWeightSpec (which checked every name and shape). */
export function assembleWeights(config: ImageGPTConfig, dtype: WeightDType, uploaded: UploadedTensors): ModelWeights {
  const gpu = (name: string): GpuTensor => {
    const t = uploaded.gpu.get(name);
    if (!t) throw new ImageGPTError('E_INTERNAL', `ImageGPT weights: ${name} was not uploaded`); // the spec makes it required: a bug if reached
    return t;
  };
  const matrix = (name: string): GpuMatrix => {
    const t = gpu(name);
    return { buffer: t.buffer, dtype: t.dtype, rows: t.shape[0], cols: t.shape[1] };
  };
  const vector = (name: string): GPUBuffer => gpu(name).buffer;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    layers.push({
      ln1: vector(p + 'ln_1.weight'),
      attnW: matrix(p + 'attn.c_attn.weight'),
      attnB: vector(p + 'attn.c_attn.bias'),
      attnProjW: matrix(p + 'attn.c_proj.weight'),
      attnProjB: vector(p + 'attn.c_proj.bias'),
      ln2: vector(p + 'ln_2.weight'),
      fcW: matrix(p + 'mlp.c_fc.weight'),
      fcB: vector(p + 'mlp.c_fc.bias'),
      mlpProjW: matrix(p + 'mlp.c_proj.weight'),
      mlpProjB: vector(p + 'mlp.c_proj.bias'),
    });
  }
  const score = uploaded.cpu.get(SCORE);
  return {
    dtype,
    wte: matrix('transformer.wte.weight'),
    wpe: matrix('transformer.wpe.weight'),
    layers,
    lnF: vector('transformer.ln_f.weight'),
    lmHead: uploaded.gpu.has(LM_HEAD) ? matrix(LM_HEAD) : null,
    score: score ? { weight: score.data, numLabels: score.shape[0] } : null,
    gpuBytes: uploaded.gpuBytes,
    buffers: uploaded.buffers,
  };
}
