// Messages between the page (main.ts) and the model worker (worker.ts). Every request carries an id;
// the worker answers it with exactly one 'done' or 'error' (plus progress messages on the way).
import type { ErrorCode } from '../../src/index';

/** RGBA pixels, as in ImageData. */
export interface Pixels {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Where the worker gets a model; every kind goes straight to the library's fromPretrained. */
export type ModelSource =
  /** A shipped model served beside the page: a folder URL (absolute, ends in '/'). */
  | {
      kind: 'url';
      base: string;
      /** Keys the browser cache (shipped models change in development; a changed one must not come from a stale cache). */
      version: string;
    }
  /** A Hugging Face hub id ('openai/imagegpt-small'), main branch; `host` replaces https://huggingface.co (tests, mirrors). */
  | { kind: 'hub'; id: string; host: string | undefined }
  /** A model folder the user picked or dropped (File objects clone into the worker without copying). */
  | { kind: 'files'; files: File[] };

export interface ModelInfo {
  /** What the model is called: the shipped folder's name, the hub id, or the opened folder's name (saved probes name it). */
  name: string;
  imageSize: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  params: number;
  adapter: string;
  /** WebGPU runs on the CPU here (SwiftShader, lavapipe): training defaults are smaller. */
  onCpu: boolean;
  /** The weight bytes came from the browser's Cache Storage rather than the network. */
  fromCache: boolean;
}

export interface SamplingSettings {
  temperature: number;
  topK: number;
  seed: number;
}

export type Request =
  | { type: 'load'; id: number; source: ModelSource }
  | { type: 'encode'; id: number; image: Pixels }
  | {
      type: 'generate';
      id: number;
      /** The image's tokens, of which the first keepRows rows are kept; null: unconditional. */
      tokens: Int32Array | null;
      keepRows: number;
      /** Sample i keeps max(0, keepRows − i) rows; all samples still complete in one batch. */
      varyKeptRows?: boolean;
      samples: number;
      sampling: SamplingSettings;
      /** Run the style-tuned copy ("Teach it a style") instead of the loaded model. */
      tuned?: boolean;
    }
  | { type: 'stop'; id: number; /** The generate or load request to stop. */ target: number }
  | { type: 'features'; id: number; images: Pixels[]; labels: number[]; numClasses: number }
  /** Mean-pooled features of one hidden state (0..n_layer) for each image ("teach it your own classes"). */
  | { type: 'image-features'; id: number; images: Pixels[]; layer: number }
  /** Bits per token and per-pixel surprise of whole images, each given as its width×height tokens. */
  | { type: 'likelihood'; id: number; images: Int32Array[] }
  /** One image's attention for the query that predicts pixel `pixel`, every layer and head (SOS fed first). */
  | { type: 'attention'; id: number; tokens: Int32Array; pixel: number }
  | { type: 'clear-cache'; id: number }
  /**
   * "Teach it a style": fine-tunes an f32 copy of the loaded model (made on first use, from the same files) on
   * `images` for `steps` steps; Stop (a 'stop' of this id) ends it between steps, keeping what was learned.
   */
  | { type: 'style-train'; id: number; images: Pixels[]; settings: StyleSettings }
  /** Disposes the style-tuned copy (the loaded model is untouched). */
  | { type: 'style-reset'; id: number }
  /**
   * Own classes, fine-tuned: a classifier (forImageClassification of the loaded model) trained on the `train`
   * pictures with their class indices, then scored on the `test` ones; Stop ends the training between steps.
   */
  | { type: 'classifier-train'; id: number; images: Pixels[]; labels: number[]; names: string[]; train: number[]; test: number[]; settings: StyleSettings };

/** What each request's 'done' carries. */
export interface Results {
  load: ModelInfo;
  encode: { tokens: Int32Array; quantized: Pixels };
  /** `tokens`: each sample's width×height tokens (prompt and new), [samples × width·height]; empty when stopped. */
  generate: { images: Pixels[]; tokens: Int32Array; tokensPerSecond: number; stopped: boolean };
  stop: null;
  features: FeatureResults;
  /** `features`: [images.length, numFeatures] row-major. */
  'image-features': { features: Float32Array; numFeatures: number; layer: number };
  likelihood: LikelihoodResults;
  attention: AttentionResults;
  'clear-cache': { deleted: boolean };
  'style-train': StyleTrainResults;
  'style-reset': null;
  'classifier-train': ClassifierTrainResults;
}

export interface ClassifierTrainResults {
  /** The predicted class of each held-out picture, in the order of the request's `test`. */
  predictions: number[];
  steps: number;
  /** The cross-entropy of each step in bits (per picture, not per token). */
  loss: number[];
  stopped: boolean;
  seconds: number;
}

/** A fine-tuning run's settings (style-plan.ts gives the style's defaults for the adapter, classifier-plan.ts the classifier's). */
export interface StyleSettings {
  steps: number;
  batchSize: number;
  /** AdamW's learning rate (constant after a short warm-up). */
  lr: number;
  /** Seeds the order the images are drawn in. */
  seed: number;
}

export interface StyleTrainResults {
  /** Steps this run took (fewer than asked when stopped). */
  steps: number;
  /** Steps the tuned copy has had in all, over every run since it was made. */
  totalSteps: number;
  /** Bits per token of each step of this run (the training loss on its batch). */
  bitsPerToken: number[];
  stopped: boolean;
  seconds: number;
}

export interface FeatureResults {
  /** Per hidden state 0..n_layer: mean-pooled features [N, n_embd], row-major. */
  layers: Float32Array[];
  /** Per hidden state: the held-out prediction of every image (leave-one-out probes). */
  predictions: Int32Array[];
  accuracy: number[];
  /** The same leave-one-out probe on the model-resolution RGB pixels. */
  pixelAccuracy: number;
  /** Share of the most common class: what always guessing it scores. */
  majorityRate: number;
}

export interface LikelihoodResults {
  /** [N]: mean bits per token of each image. */
  bitsPerToken: Float32Array;
  /** [N, height, width]: bits of surprise of each pixel, -log2 p(token | the tokens before it). */
  surprise: Float32Array;
  width: number;
  height: number;
}

export interface AttentionResults {
  /** [nLayer, nHead, pixel + 1]: softmax weights of the query predicting `pixel`; key 0 = SOS, key 1 + p = pixel p. */
  weights: Float32Array;
  nLayer: number;
  nHead: number;
  pixel: number;
}

export type Progress =
  /**
   * The library's load progress: 'download' from the network, 'cached' from the cache or local files, 'upload' to the GPU.
   * A total is undefined while the size is unknown (a server that gzips the weights); 0 meant the same in older versions.
   */
  | { phase: 'download' | 'cached' | 'upload'; file: string; loaded: number; total: number | undefined; overall: { loaded: number; total: number | undefined } }
  | { phase: 'row'; row: number; rows: number; images: Pixels[]; tokensPerSecond: number }
  | { phase: 'features' | 'probe'; done: number; total: number }
  /** Likelihood: `done` of `total` images scored (the worker scores them a batch at a time). */
  | { phase: 'likelihood'; done: number; total: number }
  /** Style tuning: the f32 copy being made (its weights' bytes read and uploaded), before the first step. */
  | { phase: 'style-copy'; loaded: number; total: number | undefined }
  /** Style tuning: step `step` of `steps` done, its loss in bits per token. */
  | { phase: 'style-step'; step: number; steps: number; bitsPerToken: number; gradNorm: number }
  /** Own classes, fine-tuned: step `step` of `steps` done, its cross-entropy in bits. */
  | { phase: 'classifier-step'; step: number; steps: number; bits: number };

/** The name of the error a load answers when fetch itself failed (host unreachable, offline), not when a server answered. */
export const NETWORK_ERROR = 'NetworkError';

export type Reply =
  | { type: 'done'; id: number; result: Results[keyof Results] }
  /** `code` is the library's stable error code (ImageGPTError.code) when the error came from the library. */
  | { type: 'error'; id: number; message: string; name: string; code?: ErrorCode }
  | { type: 'progress'; id: number; progress: Progress };
