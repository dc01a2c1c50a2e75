// ImageGPTConfig: the Hugging Face `config.json` of an ImageGPT checkpoint, with HF's field
// names and defaults (transformers' ImageGPTConfig), validated for what this runtime supports.

import { badInput, badFile } from '../errors';
import { MAX_SAMPLE_VOCAB } from '../gpu/sampler';
import { clip, describeValue, isJsonObject } from '../json';

/** The fields of an HF ImageGPT `config.json` that this runtime reads (others are ignored). */
export interface ImageGPTConfigJSON {
  vocab_size?: number;
  n_positions?: number;
  n_embd?: number;
  n_layer?: number;
  n_head?: number;
  n_inner?: number | null;
  activation_function?: string;
  layer_norm_epsilon?: number;
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  reorder_and_upcast_attn?: boolean;
  tie_word_embeddings?: boolean;
  model_type?: string;
  id2label?: Record<string, string>;
  problem_type?: ProblemType | null;
  /** Training-only fields: type-checked, not used at inference (the pdrops are the trainer's dropout). */
  resid_pdrop?: number;
  embd_pdrop?: number;
  attn_pdrop?: number;
  initializer_range?: number;
  use_cache?: boolean;
  [key: string]: unknown;
}

/** A validated ImageGPT configuration (HF field names, defaults filled in). */
export interface ImageGPTConfig {
  /** 513 for ImageGPT: 512 color clusters + SOS. */
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** Width of the MLP's hidden layer (HF: `n_inner`, null = 4 × n_embd). Even. */
  n_inner: number;
  activation_function: 'quick_gelu';
  layer_norm_epsilon: number;
  scale_attn_weights: boolean;
  scale_attn_by_inverse_layer_idx: boolean;
  reorder_and_upcast_attn: boolean;
  /**
   * Dropout probabilities in training (HF's, 0.1 when config.json leaves them out; inference never drops): the
   * attention block's and the MLP's output before each residual add, the embeddings' output, the attention
   * probabilities. createTrainer applies them unless told `dropout: false`.
   */
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  /** Labels of a classification checkpoint (ImageGPTForImageClassification), by class index. */
  id2label?: Record<number, string>;
  /** How a classification checkpoint's loss is computed (HF `problem_type`); unset: chosen from num_labels and the labels. */
  problem_type?: ProblemType;
  /** The classifier's class count, set by ImageGPT.forImageClassification (a loaded checkpoint's comes from score.weight). */
  num_labels?: number;
  /** Class index by label (HF `label2id`), as config.json gives it or forImageClassification sets it. */
  label2id?: Record<string, number>;
  /** The std of the normal a new weight is drawn from (HF `initializer_range`, 0.02 when unset): forImageClassification's score head. */
  initializer_range?: number;
}

/** HF's classification problem types (the loss of ImageGPTForImageClassification). */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';
export const PROBLEM_TYPES: readonly ProblemType[] = ['regression', 'single_label_classification', 'multi_label_classification'];

/** HF's ImageGPTConfig defaults (imagegpt-small shapes). */
export const IMAGEGPT_DEFAULTS = {
  vocab_size: 513,
  n_positions: 1024,
  n_embd: 512,
  n_layer: 24,
  n_head: 8,
  activation_function: 'quick_gelu',
  layer_norm_epsilon: 1e-5,
  scale_attn_weights: true,
  scale_attn_by_inverse_layer_idx: false,
  reorder_and_upcast_attn: false,
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
} as const;

/**
 * The largest any integer dimension may be. WGSL indexes buffers with u32, so the product of any two
 * dimensions (rows × width) must stay below 2^32; 65536 keeps it there (ImageGPT-large: 6144).
 */
export const MAX_CONFIG_DIMENSION = 65536;
/** The attention kernel for GPUs runs head size / 4 threads per workgroup; WebGPU guarantees 256. */
export const MAX_HEAD_SIZE = 4 * 256;
/** The sampler draws from at most MAX_SAMPLE_VOCAB logits; the vocabulary adds SOS. */
export const MAX_VOCAB_SIZE = MAX_SAMPLE_VOCAB + 1;
/** The smallest positive normal float32: the norm kernel gets eps as f32, and GPUs flush subnormals to 0. */
const MIN_F32_NORMAL = 2 ** -126;

type Fail = (problem: string) => never;

function field(json: Record<string, unknown>, key: string): unknown {
  // Own properties only: "constructor" or "toString" must not come from Object.prototype.
  return Object.prototype.hasOwnProperty.call(json, key) ? json[key] : undefined;
}

/** The field, or `fallback` when it is absent. A null is kept (and refused by the type check): HF never writes one. */
function fieldOr(json: Record<string, unknown>, key: string, fallback: unknown): unknown {
  const v = field(json, key);
  return v === undefined ? fallback : v;
}

function integerField(json: Record<string, unknown>, key: string, fallback: number, fail: Fail): number {
  const v = fieldOr(json, key, fallback);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_CONFIG_DIMENSION) {
    fail(`"${key}" must be an integer in 1..${MAX_CONFIG_DIMENSION}, got ${describeValue(v)}`);
  }
  return v;
}

function booleanField(json: Record<string, unknown>, key: string, fallback: boolean, fail: Fail): boolean {
  const v = fieldOr(json, key, fallback);
  if (typeof v !== 'boolean') fail(`"${key}" must be true or false, got ${describeValue(v)}`);
  return v;
}

/**
 * Reads and validates an HF ImageGPT `config.json` object; `source` (a file name or URL) is named in errors.
 * Every field this runtime reads has its type checked, and every constraint of the kernels is checked here,
 * so a config the runtime cannot run fails before anything is downloaded or allocated. Device limits (buffer
 * sizes, workgroup memory for long sequences) depend on the GPU and are checked when the device is made.
 */
export function parseImageGPTConfig(json: unknown, source = 'config.json'): ImageGPTConfig {
  const fail: Fail = (problem) => {
    throw badFile(`ImageGPT config (${clip(source)}): ${problem}`);
  };
  if (!isJsonObject(json)) fail(`expected a JSON object, got ${describeValue(json)}`);
  const j = json as Record<string, unknown>;
  const modelType = field(j, 'model_type');
  if (modelType !== undefined && modelType !== 'imagegpt') {
    fail(`"model_type" is ${describeValue(modelType)}, expected "imagegpt"`);
  }
  const d = IMAGEGPT_DEFAULTS;

  const vocab_size = integerField(j, 'vocab_size', d.vocab_size, fail);
  if (vocab_size < 3 || vocab_size > MAX_VOCAB_SIZE) {
    fail(`"vocab_size" is ${vocab_size}: expected 3..${MAX_VOCAB_SIZE} (color clusters + SOS; the sampler draws from at most ${MAX_SAMPLE_VOCAB})`);
  }
  if (vocab_size % 2 === 0) {
    fail(`"vocab_size" is ${vocab_size}: it must be odd, since the head's vocab_size − 1 columns are read in pairs (ImageGPT: 513)`);
  }
  const n_positions = integerField(j, 'n_positions', d.n_positions, fail);
  const n_layer = integerField(j, 'n_layer', d.n_layer, fail);
  const n_embd = integerField(j, 'n_embd', d.n_embd, fail);
  const n_head = integerField(j, 'n_head', d.n_head, fail);
  if (n_embd % n_head !== 0) fail(`"n_embd" (${n_embd}) must be divisible by n_head (${n_head})`);
  const headSize = n_embd / n_head;
  if (headSize % 4 !== 0) {
    fail(`head size n_embd / n_head = ${n_embd} / ${n_head} = ${headSize} must be a multiple of 4 (the attention kernels read vec4)`);
  }
  if (headSize > MAX_HEAD_SIZE) {
    fail(`head size n_embd / n_head = ${headSize} is above ${MAX_HEAD_SIZE} (the attention kernel runs head size / 4 threads per workgroup; WebGPU guarantees 256)`);
  }
  const innerField = field(j, 'n_inner');
  const n_inner = innerField === null || innerField === undefined ? 4 * n_embd : integerField(j, 'n_inner', 4 * n_embd, fail);
  if (n_inner % 2 !== 0) fail(`"n_inner" is ${n_inner}: it must be even (the MLP's weight columns are read in pairs)`);

  const activation = fieldOr(j, 'activation_function', d.activation_function);
  if (activation !== 'quick_gelu') {
    fail(`"activation_function" ${describeValue(activation)} is not supported; ImageGPT uses "quick_gelu"`);
  }
  const eps = fieldOr(j, 'layer_norm_epsilon', d.layer_norm_epsilon);
  if (typeof eps !== 'number' || !Number.isFinite(Math.fround(eps)) || Math.fround(eps) < MIN_F32_NORMAL) {
    fail(`"layer_norm_epsilon" must be a positive number that is a normal float32 (${MIN_F32_NORMAL} up to 3.4e38), got ${describeValue(eps)}`);
  }
  if (booleanField(j, 'tie_word_embeddings', false, fail)) {
    fail('"tie_word_embeddings" is true, but ImageGPT has an untied head (lm_head) that does not predict SOS');
  }
  if (booleanField(j, 'add_cross_attention', false, fail)) {
    fail('"add_cross_attention" is true: cross-attention layers are not supported');
  }
  checkIgnoredFields(j, fail);

  let id2label: Record<number, string> | undefined;
  const labels = field(j, 'id2label');
  if (labels !== undefined && labels !== null) {
    if (!isJsonObject(labels)) fail(`"id2label" must be an object of class index → label, got ${describeValue(labels)}`);
    id2label = {};
    for (const [k, v] of Object.entries(labels)) {
      if (!/^(0|[1-9][0-9]{0,8})$/.test(k)) fail(`"id2label" key ${describeValue(k)} is not a class index (0, 1, 2, …)`);
      if (typeof v !== 'string') fail(`"id2label" label of class ${k} must be a string, got ${describeValue(v)}`);
      id2label[Number(k)] = v;
    }
  }
  // HF writes null for "unset"; any other value must be one of its three names.
  const problemType = field(j, 'problem_type');
  if (problemType !== undefined && problemType !== null && !PROBLEM_TYPES.includes(problemType as ProblemType)) {
    fail(`"problem_type" must be one of ${PROBLEM_TYPES.map((t) => `"${t}"`).join(', ')} or null, got ${describeValue(problemType)}`);
  }
  return {
    vocab_size,
    n_positions,
    n_embd,
    n_layer,
    n_head,
    n_inner,
    activation_function: 'quick_gelu',
    layer_norm_epsilon: eps,
    scale_attn_weights: booleanField(j, 'scale_attn_weights', d.scale_attn_weights, fail),
    scale_attn_by_inverse_layer_idx: booleanField(j, 'scale_attn_by_inverse_layer_idx', d.scale_attn_by_inverse_layer_idx, fail),
    reorder_and_upcast_attn: booleanField(j, 'reorder_and_upcast_attn', d.reorder_and_upcast_attn, fail),
    // Type-checked (0..1) in checkIgnoredFields.
    resid_pdrop: fieldOr(j, 'resid_pdrop', d.resid_pdrop) as number,
    embd_pdrop: fieldOr(j, 'embd_pdrop', d.embd_pdrop) as number,
    attn_pdrop: fieldOr(j, 'attn_pdrop', d.attn_pdrop) as number,
    ...(id2label ? { id2label } : {}),
    ...(typeof problemType === 'string' ? { problem_type: problemType as ProblemType } : {}),
    // Type-checked in checkIgnoredFields; kept for forImageClassification (its head's init) and a classifier's labels.
    ...(typeof field(j, 'initializer_range') === 'number' ? { initializer_range: field(j, 'initializer_range') as number } : {}),
    ...(isJsonObject(field(j, 'label2id')) ? { label2id: { ...(field(j, 'label2id') as Record<string, number>) } } : {}),
  };
}

/**
 * Fields HF's ImageGPTConfig (and PretrainedConfig, as hub configs carry them) defines that inference does not use:
 * dropout, initialisation, cache and bookkeeping. They are ignored, but a value of the wrong type is still an error
 * (a config with `"resid_pdrop": "3"` is broken, whatever reads it).
 */
function checkIgnoredFields(j: Record<string, unknown>, fail: Fail): void {
  const probability = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  const nullableInteger = (v: unknown) => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
  const nullableString = (v: unknown) => v === null || typeof v === 'string';
  const checks: [string, (v: unknown) => boolean, string][] = [
    ['resid_pdrop', probability, 'a dropout probability in 0..1'],
    ['embd_pdrop', probability, 'a dropout probability in 0..1'],
    ['attn_pdrop', probability, 'a dropout probability in 0..1'],
    ['initializer_range', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a finite number ≥ 0'],
    ['use_cache', (v) => typeof v === 'boolean', 'true or false'],
    ['architectures', (v) => v === null || (Array.isArray(v) && v.every((a) => typeof a === 'string')), 'an array of class names (strings) or null'],
    ['torch_dtype', nullableString, 'a string (e.g. "float32") or null'],
    ['transformers_version', (v) => typeof v === 'string', 'a version string'],
    ['bos_token_id', nullableInteger, 'a token id (an integer ≥ 0) or null'],
    ['eos_token_id', nullableInteger, 'a token id (an integer ≥ 0) or null'],
    ['pad_token_id', nullableInteger, 'a token id (an integer ≥ 0) or null'],
    [
      'label2id',
      (v) => v === null || (isJsonObject(v) && Object.values(v).every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0)),
      'an object of label → class index or null',
    ],
  ];
  for (const [key, ok, expected] of checks) {
    const v = field(j, key);
    if (v !== undefined && !ok(v)) fail(`"${key}" must be ${expected}, got ${describeValue(v)}`);
  }
}

/** Helpers take a parsed config (model.config): anything else is an Error naming the helper, not a TypeError. */
function checkConfigArgument(what: string, config: unknown): ImageGPTConfig {
  const vocab = isJsonObject(config) ? (config as { vocab_size?: unknown }).vocab_size : undefined;
  if (typeof vocab !== 'number' || !Number.isInteger(vocab) || vocab < 2) {
    throw badInput(`${what}: expected an ImageGPTConfig (model.config, or parseImageGPTConfig's result) with an integer vocab_size ≥ 2, got ${describeValue(config)}`);
  }
  return config as ImageGPTConfig;
}

/** Width of the logits: the head never predicts SOS (the last id). */
export function logitsWidth(config: ImageGPTConfig): number {
  return checkConfigArgument('logitsWidth', config).vocab_size - 1;
}

/** The start-of-sequence token: the last id of the vocabulary (512 for ImageGPT). */
export function sosToken(config: ImageGPTConfig): number {
  return checkConfigArgument('sosToken', config).vocab_size - 1;
}
