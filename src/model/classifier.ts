// ImageGPT.forImageClassification's parts: the classifier's config (class count and names), a fresh score head
// drawn as Hugging Face initialises one (normal, mean 0, std = initializer_range), and f32 copies of a model's body
// weights on the same device (from f32 or f16 weights), so the new model can be trained while the source stays
// as it was.
import { badInput, ImageGPTError } from '../errors';
import { describeValue, isJsonObject } from '../json';
import { checkOptionKeys } from '../options';
import { float16ArrayToFloat32 } from '../f16';
import { readBuffer } from '../gpu/readback';
import type { GpuMatrix } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import type { LayerWeights, ModelWeights } from './weights';

export interface ForImageClassificationOptions {
  /** Classes the head predicts (the score's rows). */
  numLabels: number;
  /** Class names by index (HF `id2label`); default `LABEL_0` … as Hugging Face names them. */
  id2label?: Record<number, string>;
  /** Seed of the score head's initial draw (default 0): the same seed gives the same head. */
  seed?: number;
}

/** HF's default std for new weights when the config has no initializer_range. */
const DEFAULT_INITIALIZER_RANGE = 0.02;
/** Class counts are bounded so the head and its logits stay small beside the body. */
const MAX_LABELS = 65536;

/** The classifier's config: the body's, with the class count and both label maps set. */
export function classifierConfig(config: ImageGPTConfig, options: ForImageClassificationOptions): ImageGPTConfig {
  const what = 'forImageClassification';
  if (typeof options !== 'object' || options === null) throw badInput(`${what}: options { numLabels } are required, got ${describeValue(options)}`);
  checkOptionKeys(what, options, ['numLabels', 'id2label', 'seed']);
  const C: unknown = options.numLabels;
  if (typeof C !== 'number' || !Number.isInteger(C) || C < 1 || C > MAX_LABELS) {
    throw badInput(`${what}: numLabels must be an integer in 1..${MAX_LABELS}, got ${describeValue(C)}`);
  }
  const seed: unknown = options.seed;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    throw badInput(`${what}: seed must be an integer in 0..${0xffffffff}, got ${describeValue(seed)}`);
  }
  const id2label: Record<number, string> = {};
  if (options.id2label === undefined) {
    for (let c = 0; c < C; c++) id2label[c] = `LABEL_${c}`;
  } else {
    const given: unknown = options.id2label;
    if (!isJsonObject(given)) throw badInput(`${what}: id2label must be an object of class index → name, got ${describeValue(given)}`);
    const keys = Object.keys(given);
    for (let c = 0; c < C; c++) {
      const name = (given as Record<string, unknown>)[String(c)];
      if (typeof name !== 'string') throw badInput(`${what}: id2label[${c}] must be a string (one name per class 0..${C - 1}), got ${describeValue(name)}`);
      id2label[c] = name;
    }
    if (keys.length !== C) throw badInput(`${what}: id2label has ${keys.length} entries; expected one per class 0..${C - 1} (numLabels ${C})`);
  }
  const label2id: Record<string, number> = {};
  for (let c = 0; c < C; c++) {
    if (Object.prototype.hasOwnProperty.call(label2id, id2label[c])) throw badInput(`${what}: id2label names ${describeValue(id2label[c])} twice; class names must differ`);
    label2id[id2label[c]] = c;
  }
  const { problem_type: _problem, id2label: _names, label2id: _ids, num_labels: _count, ...body } = config;
  return { ...body, num_labels: C, id2label, label2id };
}

/**
 * A 32-bit integer hash (xor-shift-multiply rounds with the constants of the "lowbias32" mixer): the generator below
 * draws its uniforms as hash(hash(seed) ^ counter), so value i depends only on (seed, i).
 */
function mix32(v: number): number {
  let h = v >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * `count` draws from normal(0, std), seeded: uniforms u = (hash(hash(seed) ^ i) + 0.5) / 2³², in (0, 1), paired by
 * Box–Muller (√(−2 ln u₁)·cos 2πu₂, then ·sin 2πu₂). Not torch's generator: the same seed gives the same head
 * here, not the head torch would draw.
 */
export function normalDraws(count: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  const key = mix32(seed);
  const uniform = (i: number) => (mix32((key ^ i) >>> 0) + 0.5) / 2 ** 32;
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform(i))) * std;
    const angle = 2 * Math.PI * uniform(i + 1);
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** A fresh score.weight [numLabels, n_embd] drawn as HF initialises it (std = initializer_range, default 0.02). */
export function initialScore(config: ImageGPTConfig, numLabels: number, seed: number): Float32Array {
  return normalDraws(numLabels * config.n_embd, config.initializer_range ?? DEFAULT_INITIALIZER_RANGE, seed);
}

/**
 * f32 copies of the body's weights (embeddings, blocks, ln_f) on the same device, with `score` as the head and no
 * lm_head. f32 sources are copied on the GPU; f16 ones are read back and widened (every f16 is an f32, exactly).
 */
export async function f32BodyCopy(device: GPUDevice, source: ModelWeights, score: { weight: Float32Array; numLabels: number }): Promise<ModelWeights> {
  const buffers: GPUBuffer[] = [];
  let gpuBytes = 0;
  const encoder = device.createCommandEncoder({ label: 'forImageClassification copy' });
  const widened: { target: GPUBuffer; source: GpuMatrix }[] = [];
  const make = (label: string, bytes: number): GPUBuffer => {
    const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
    if (bytes > limit) throw new ImageGPTError('E_DEVICE_LIMIT', `forImageClassification: ${label} needs a ${bytes}-byte f32 buffer; this device allows ${limit}`);
    const b = device.createBuffer({ label, size: Math.max(4, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    buffers.push(b);
    gpuBytes += b.size;
    return b;
  };
  const vector = (label: string, b: GPUBuffer): GPUBuffer => {
    const copy = make(label, b.size); // vectors are f32 whatever the load dtype
    encoder.copyBufferToBuffer(b, 0, copy, 0, b.size);
    return copy;
  };
  const matrix = (label: string, m: GpuMatrix): GpuMatrix => {
    const copy = make(label, m.rows * m.cols * 4);
    if (m.dtype === 'f32') encoder.copyBufferToBuffer(m.buffer, 0, copy, 0, m.rows * m.cols * 4);
    else widened.push({ target: copy, source: m });
    return { buffer: copy, dtype: 'f32', rows: m.rows, cols: m.cols };
  };
  try {
    const layers: LayerWeights[] = source.layers.map((w, i) => {
      const p = `classifier h.${i} `;
      return {
        ln1: vector(p + 'ln_1', w.ln1),
        attnW: matrix(p + 'c_attn.weight', w.attnW),
        attnB: vector(p + 'c_attn.bias', w.attnB),
        attnProjW: matrix(p + 'attn c_proj.weight', w.attnProjW),
        attnProjB: vector(p + 'attn c_proj.bias', w.attnProjB),
        ln2: vector(p + 'ln_2', w.ln2),
        fcW: matrix(p + 'c_fc.weight', w.fcW),
        fcB: vector(p + 'c_fc.bias', w.fcB),
        mlpProjW: matrix(p + 'mlp c_proj.weight', w.mlpProjW),
        mlpProjB: vector(p + 'mlp c_proj.bias', w.mlpProjB),
      };
    });
    const weights: ModelWeights = {
      dtype: 'f32',
      wte: matrix('classifier wte', source.wte),
      wpe: matrix('classifier wpe', source.wpe),
      layers,
      lnF: vector('classifier ln_f', source.lnF),
      lmHead: null,
      score,
      gpuBytes: 0,
      buffers,
    };
    device.queue.submit([encoder.finish()]);
    for (const { target, source: m } of widened) {
      const bits = new Uint16Array(await readBuffer(device, m.buffer, 0, m.rows * m.cols * 2));
      const wide = new Float32Array(bits.length);
      float16ArrayToFloat32(bits, wide);
      device.queue.writeBuffer(target, 0, wide);
    }
    weights.gpuBytes = gpuBytes;
    return weights;
  } catch (e) {
    for (const b of buffers) b.destroy();
    throw e;
  }
}
