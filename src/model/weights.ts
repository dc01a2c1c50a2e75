// Loading: HF ImageGPT tensors (safetensors, HF names) onto the GPU, as f32 or f16 packed in u32.
import type { SafetensorsFile, SafetensorsTensor } from '../safetensors';
import { tensorToFloat32 } from '../safetensors';
import { float32ArrayToFloat16 } from '../f16';
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
const NON_WEIGHT = /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/;

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

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

function checkTensor(t: SafetensorsTensor | undefined, name: string, shape: number[]): SafetensorsTensor {
  if (!t) throw new Error(`ImageGPT weights: missing tensor "${name}" (expected shape [${shape.join(', ')}])`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`ImageGPT weights: tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  if (!FLOAT_DTYPES.has(t.dtype)) {
    throw new Error(`ImageGPT weights: tensor "${name}" has dtype ${t.dtype}, expected F32, F16 or BF16`);
  }
  return t;
}

/**
 * Checks names, shapes and dtypes against the config before anything is uploaded, so a bad file
 * fails without leaving half a model on the GPU.
 */
export function validateCheckpoint(config: ImageGPTConfig, file: SafetensorsFile): void {
  const expected = expectedTensorShapes(config);
  for (const [name, shape] of expected) checkTensor(file.tensors.get(name), name, shape);
  const head = file.tensors.get('lm_head.weight');
  const score = file.tensors.get('score.weight');
  if (head) checkTensor(head, 'lm_head.weight', [config.vocab_size - 1, config.n_embd]);
  if (score) {
    if (score.shape.length !== 2 || score.shape[1] !== config.n_embd) {
      throw new Error(`ImageGPT weights: tensor "score.weight" has shape [${score.shape.join(', ')}], expected [num_labels, ${config.n_embd}]`);
    }
    checkTensor(score, 'score.weight', score.shape);
  }
  if (!head && !score) {
    throw new Error(`ImageGPT weights: missing tensor "lm_head.weight" (expected shape [${config.vocab_size - 1}, ${config.n_embd}])`);
  }
  const unexpected = [...file.tensors.keys()].filter(
    (n) => !expected.has(n) && n !== 'lm_head.weight' && n !== 'score.weight' && !NON_WEIGHT.test(n),
  );
  if (unexpected.length > 0) {
    throw new Error(
      `ImageGPT weights: unexpected tensor(s) ${unexpected.slice(0, 5).map((n) => `"${n}"`).join(', ')}` +
        `${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''} — is this an ImageGPT checkpoint with n_layer = ${config.n_layer}?`,
    );
  }
}

/** Uploads a validated checkpoint. `onTensor` is called after each tensor (for progress). */
export function uploadWeights(
  device: GPUDevice,
  config: ImageGPTConfig,
  file: SafetensorsFile,
  dtype: WeightDType,
  onTensor?: (done: number, total: number) => void,
): ModelWeights {
  validateCheckpoint(config, file);
  const buffers: GPUBuffer[] = [];
  let gpuBytes = 0;
  const total = [...file.tensors.keys()].filter((n) => !NON_WEIGHT.test(n)).length;
  let done = 0;
  const tick = () => onTensor?.(++done, total);

  const upload = (label: string, bytes: ArrayBufferView): GPUBuffer => {
    const size = Math.ceil(bytes.byteLength / 4) * 4;
    const buffer = device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, bytes.buffer, bytes.byteOffset, size === bytes.byteLength ? size : bytes.byteLength);
    buffers.push(buffer);
    gpuBytes += size;
    return buffer;
  };
  const get = (name: string): SafetensorsTensor => file.tensors.get(name) as SafetensorsTensor;
  const vector = (name: string): GPUBuffer => {
    const b = upload(name, tensorToFloat32(get(name)));
    tick();
    return b;
  };
  const matrix = (name: string, values?: Float32Array, shape?: [number, number]): GpuMatrix => {
    const t = get(name);
    const [rows, cols] = shape ?? (t.shape as [number, number]);
    let bytes: ArrayBufferView;
    if (dtype === 'f16') {
      if (cols % 2 !== 0) throw new Error(`ImageGPT weights: "${name}" has an odd number of columns (${cols}); f16 packing needs pairs`);
      // Already f16 and not transposed: upload the file's bytes as they are.
      bytes = !values && t.dtype === 'F16' ? t.data : float32ArrayToFloat16(values ?? tensorToFloat32(t));
    } else {
      bytes = values ?? tensorToFloat32(t);
    }
    const m: GpuMatrix = { buffer: upload(name, bytes), dtype, rows, cols };
    tick();
    return m;
  };

  const wte = matrix('transformer.wte.weight');
  const wpe = matrix('transformer.wpe.weight');
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
  const lnF = vector('transformer.ln_f.weight');
  let lmHead: GpuMatrix | null = null;
  const head = file.tensors.get('lm_head.weight');
  if (head) {
    const E = config.n_embd;
    const V1 = config.vocab_size - 1;
    const src = tensorToFloat32(head); // [V-1, E]
    const transposed = new Float32Array(E * V1);
    for (let v = 0; v < V1; v++) for (let e = 0; e < E; e++) transposed[e * V1 + v] = src[v * E + e];
    lmHead = matrix('lm_head.weight', transposed, [E, V1]);
  }
  let score: ModelWeights['score'] = null;
  const scoreT = file.tensors.get('score.weight');
  if (scoreT) {
    score = { weight: tensorToFloat32(scoreT), numLabels: scoreT.shape[0] };
    tick();
  }
  return { dtype, wte, wpe, layers, lnF, lmHead, score, gpuBytes, buffers };
}
