// ImageGPTConfig: the Hugging Face `config.json` of an ImageGPT checkpoint, with HF's field
// names and defaults (transformers' ImageGPTConfig), validated for what this runtime supports.

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
  /** Width of the MLP's hidden layer (HF: `n_inner`, null = 4 × n_embd). */
  n_inner: number;
  activation_function: 'quick_gelu';
  layer_norm_epsilon: number;
  scale_attn_weights: boolean;
  scale_attn_by_inverse_layer_idx: boolean;
  reorder_and_upcast_attn: boolean;
  /** Labels of a classification checkpoint (ImageGPTForImageClassification), by class index. */
  id2label?: Record<number, string>;
}

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
} as const;

function positiveInt(json: ImageGPTConfigJSON, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`ImageGPT config: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(json: ImageGPTConfigJSON, key: string, fallback: boolean): boolean {
  const v = json[key] ?? fallback;
  if (typeof v !== 'boolean') throw new Error(`ImageGPT config: "${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads and validates an HF ImageGPT `config.json` object. Throws on anything this runtime cannot run. */
export function parseImageGPTConfig(json: unknown): ImageGPTConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`ImageGPT config: expected a JSON object (config.json), got ${json === null ? 'null' : typeof json}`);
  }
  const j = json as ImageGPTConfigJSON;
  if (j.model_type !== undefined && j.model_type !== 'imagegpt') {
    throw new Error(`ImageGPT config: model_type is "${String(j.model_type)}", expected "imagegpt"`);
  }
  const d = IMAGEGPT_DEFAULTS;
  const n_embd = positiveInt(j, 'n_embd', d.n_embd);
  const n_head = positiveInt(j, 'n_head', d.n_head);
  if (n_embd % n_head !== 0) {
    throw new Error(`ImageGPT config: n_embd (${n_embd}) must be divisible by n_head (${n_head})`);
  }
  const vocab_size = positiveInt(j, 'vocab_size', d.vocab_size);
  if (vocab_size < 2) throw new Error(`ImageGPT config: vocab_size must be ≥ 2 (clusters + SOS), got ${vocab_size}`);
  const n_inner = j.n_inner === null || j.n_inner === undefined ? 4 * n_embd : positiveInt(j, 'n_inner', 4 * n_embd);
  const activation = j.activation_function ?? d.activation_function;
  if (activation !== 'quick_gelu') {
    throw new Error(
      `ImageGPT config: activation_function "${String(activation)}" is not supported; ImageGPT uses "quick_gelu"`,
    );
  }
  const eps = j.layer_norm_epsilon ?? d.layer_norm_epsilon;
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new Error(`ImageGPT config: layer_norm_epsilon must be a finite number ≥ 0, got ${JSON.stringify(eps)}`);
  }
  if (j.tie_word_embeddings === true) {
    throw new Error('ImageGPT config: tie_word_embeddings is true, but ImageGPT has an untied 512-wide head (lm_head)');
  }
  let id2label: Record<number, string> | undefined;
  if (j.id2label !== undefined) {
    if (typeof j.id2label !== 'object' || j.id2label === null) throw new Error('ImageGPT config: id2label must be an object');
    id2label = {};
    for (const [k, v] of Object.entries(j.id2label)) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0) throw new Error(`ImageGPT config: id2label key "${k}" is not a class index`);
      id2label[i] = String(v);
    }
  }
  return {
    vocab_size,
    n_positions: positiveInt(j, 'n_positions', d.n_positions),
    n_embd,
    n_layer: positiveInt(j, 'n_layer', d.n_layer),
    n_head,
    n_inner,
    activation_function: 'quick_gelu',
    layer_norm_epsilon: eps,
    scale_attn_weights: bool(j, 'scale_attn_weights', d.scale_attn_weights),
    scale_attn_by_inverse_layer_idx: bool(j, 'scale_attn_by_inverse_layer_idx', d.scale_attn_by_inverse_layer_idx),
    reorder_and_upcast_attn: bool(j, 'reorder_and_upcast_attn', d.reorder_and_upcast_attn),
    ...(id2label ? { id2label } : {}),
  };
}

/** Width of the logits: the head never predicts SOS (the last id). */
export function logitsWidth(config: ImageGPTConfig): number {
  return config.vocab_size - 1;
}

/** The start-of-sequence token: the last id of the vocabulary (512 for ImageGPT). */
export function sosToken(config: ImageGPTConfig): number {
  return config.vocab_size - 1;
}
