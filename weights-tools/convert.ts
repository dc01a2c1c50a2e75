// HF ImageGPT folder → browser-ready folder: model.safetensors (HF names, f16 or f32, mask buffers dropped),
// config.json and preprocessor_config.json (validated, copied byte for byte).
// Streams: the output header is written first, then each tensor is read, converted and written in turn.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { planSafetensors, tensorToFloat32, type SafetensorsDType, type SafetensorsTensorInfo } from '../src/safetensors';
import { float32ArrayToFloat16 } from '../src/f16';
import { parseImageGPTConfig, type ImageGPTConfig } from '../src/model/config';
import { imageGptWeightSpec, NON_WEIGHT } from '../src/model/weights';
import { elementCount, openCheckpoint, type Checkpoint, type CheckpointTensor } from './checkpoint';

export type OutputDType = 'f16' | 'f32';

export interface ConvertProgress {
  tensors: number;
  totalTensors: number;
  bytesWritten: number;
  totalBytes: number;
}

export interface ConvertOptions {
  dtype?: OutputDType;
  onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertReport {
  source: string;
  output: string;
  dtype: OutputDType;
  tensors: number;
  parameters: number;
  dropped: string[];
  bytes: number;
}

/** HF checkpoints carry each layer's causal mask and its fill value as buffers: not weights (the model's spec skips them). */
export const MASK_BUFFER = NON_WEIGHT;

const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F64', 'F32', 'F16', 'BF16']);

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The tensors to convert: every weight the config implies, with its shape, plus the head
 * (`lm_head.weight` [V-1, E], or `score.weight` [labels, E] for a classifier). Mask buffers are
 * dropped; anything else unexpected, missing or misshapen is an error.
 */
export function selectWeights(config: ImageGPTConfig, checkpoint: Checkpoint): { keep: CheckpointTensor[]; dropped: string[] } {
  // The model's weight spec names every tensor; its free dimension (the classifier's num_labels) is the config's label count.
  const spec = imageGptWeightSpec(config);
  const labels = config.id2label ? Object.keys(config.id2label).length : 0;
  const expected = new Map<string, number[]>();
  const optional = new Map<string, number[]>();
  for (const t of spec.tensors) {
    if (!t.optional) expected.set(t.name, t.shape.map(Number));
    else if (t.shape.every((d) => typeof d === 'number')) optional.set(t.name, t.shape.map(Number));
    else if (labels > 0) optional.set(t.name, t.shape.map((d) => (typeof d === 'number' ? d : labels)));
  }
  const keep: CheckpointTensor[] = [];
  const dropped: string[] = [];
  const where = checkpoint.path;
  for (const t of checkpoint.tensors) {
    if (spec.skip.test(t.name)) {
      dropped.push(t.name);
      continue;
    }
    const shape = expected.get(t.name) ?? optional.get(t.name);
    if (!shape) throw new Error(`${where}: unexpected tensor "${t.name}" ${JSON.stringify(t.shape)}: not part of an ImageGPT with this config.json`);
    if (!sameShape(t.shape, shape)) {
      throw new Error(`${where}: tensor "${t.name}" has shape [${t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) throw new Error(`${where}: tensor "${t.name}" has dtype ${t.dtype}, expected a float type (F32, F16, BF16, F64)`);
    keep.push(t);
  }
  const present = new Set(keep.map((t) => t.name));
  const missing = [...expected.keys()].filter((n) => !present.has(n));
  if (missing.length > 0) {
    throw new Error(`${where}: missing ${missing.length} tensor(s) config.json implies: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  if (!present.has('lm_head.weight') && !present.has('score.weight')) {
    throw new Error(`${where}: no head: expected "lm_head.weight" [${config.vocab_size - 1}, ${config.n_embd}]${labels > 0 ? ' or "score.weight"' : ''}`);
  }
  return { keep, dropped };
}

/** Checks an HF `preprocessor_config.json`: its color clusters must match the model's vocabulary. */
export function validatePreprocessorConfig(json: unknown, config: ImageGPTConfig, where: string): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${where}: expected a JSON object`);
  const clusters = (json as { clusters?: unknown }).clusters;
  if (!Array.isArray(clusters)) throw new Error(`${where}: "clusters" must be an array of [r, g, b] colors`);
  if (clusters.length !== config.vocab_size - 1) {
    throw new Error(`${where}: ${clusters.length} clusters, but config.json's vocab_size ${config.vocab_size} means ${config.vocab_size - 1} colors (+ SOS)`);
  }
  clusters.forEach((c: unknown, i) => {
    if (!Array.isArray(c) || c.length !== 3 || !c.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= -1 && v <= 1)) {
      throw new Error(`${where}: cluster ${i} is ${JSON.stringify(c)}, expected three numbers in [-1, 1]`);
    }
  });
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${path}: missing (an HF ImageGPT folder holds config.json, preprocessor_config.json and the weights)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** The weights file of an HF folder: model.safetensors if present, else pytorch_model.bin. */
export function findWeights(modelDir: string): string {
  for (const name of ['model.safetensors', 'pytorch_model.bin']) {
    if (existsSync(join(modelDir, name))) return join(modelDir, name);
  }
  if (existsSync(join(modelDir, 'pytorch_model.bin.index.json')) || existsSync(join(modelDir, 'model.safetensors.index.json'))) {
    throw new Error(`${modelDir}: sharded checkpoints (*.index.json) are not supported`);
  }
  throw new Error(`${modelDir}: no model.safetensors or pytorch_model.bin`);
}

/** Converts one tensor's bytes to the output dtype. f16 overflow is an error, never a silent Infinity. */
export function convertTensor(t: CheckpointTensor, bytes: Uint8Array, dtype: OutputDType): Uint8Array {
  const values = tensorToFloat32({ name: t.name, dtype: t.dtype, shape: t.shape, data: bytes });
  if (dtype === 'f32') return new Uint8Array(values.buffer);
  const half = float32ArrayToFloat16(values);
  for (let i = 0; i < half.length; i++) {
    if ((half[i] & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) {
      throw new Error(`tensor "${t.name}": value ${values[i]} at index ${i} is beyond float16's range (±65504); convert with --dtype f32`);
    }
  }
  return new Uint8Array(half.buffer);
}

/** Writes a safetensors file tensor by tensor at the plan's offsets; the file appears only when complete. */
export async function writeSafetensorsFile(
  path: string,
  entries: Array<{ name: string; dtype: SafetensorsDType; shape: number[] }>,
  metadata: Record<string, string>,
  produce: (info: SafetensorsTensorInfo, index: number) => Promise<Uint8Array>,
  onWritten?: (info: SafetensorsTensorInfo, index: number) => void,
): Promise<number> {
  const plan = planSafetensors(entries, metadata);
  const partial = `${path}.partial`;
  const file = await open(partial, 'w');
  try {
    await file.write(plan.header, 0, plan.header.length, 0);
    for (let i = 0; i < plan.tensors.length; i++) {
      const info = plan.tensors[i];
      const data = await produce(info, i);
      if (data.byteLength !== info.end - info.begin) {
        throw new Error(`tensor "${info.name}": ${data.byteLength} bytes produced, ${info.end - info.begin} planned`);
      }
      await file.write(data, 0, data.byteLength, plan.header.length + info.begin);
      onWritten?.(info, i);
    }
    await file.close();
  } catch (e) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw e;
  }
  await rename(partial, path);
  return plan.totalBytes;
}

export async function convertModel(modelDir: string, outDir: string, options: ConvertOptions = {}): Promise<ConvertReport> {
  const dtype = options.dtype ?? 'f16';
  const configPath = join(modelDir, 'config.json');
  const preprocessorPath = join(modelDir, 'preprocessor_config.json');
  const config = parseImageGPTConfig(await readJson(configPath));
  validatePreprocessorConfig(await readJson(preprocessorPath), config, preprocessorPath);
  const source = findWeights(modelDir);
  const checkpoint = await openCheckpoint(source);
  try {
    const { keep, dropped } = selectWeights(config, checkpoint);
    const outType: SafetensorsDType = dtype === 'f16' ? 'F16' : 'F32';
    const byName = new Map(keep.map((t) => [t.name, t]));
    await mkdir(outDir, { recursive: true });
    const totalData = keep.reduce((s, t) => s + elementCount(t.shape) * (dtype === 'f16' ? 2 : 4), 0);
    let written = 0;
    const bytes = await writeSafetensorsFile(
      join(outDir, 'model.safetensors'),
      keep.map((t) => ({ name: t.name, dtype: outType, shape: t.shape })),
      { format: 'pt' },
      async (info) => {
        const t = byName.get(info.name)!;
        return convertTensor(t, await t.read(), dtype);
      },
      (info, i) => {
        written += info.end - info.begin;
        options.onProgress?.({ tensors: i + 1, totalTensors: keep.length, bytesWritten: written, totalBytes: totalData });
      },
    );
    await copyFile(configPath, join(outDir, 'config.json'));
    await copyFile(preprocessorPath, join(outDir, 'preprocessor_config.json'));
    return {
      source,
      output: outDir,
      dtype,
      tensors: keep.length,
      parameters: keep.reduce((s, t) => s + elementCount(t.shape), 0),
      dropped,
      bytes,
    };
  } finally {
    await checkpoint.close();
  }
}
