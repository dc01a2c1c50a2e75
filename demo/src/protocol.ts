// Messages between the page (main.ts) and the model worker (worker.ts). Every request carries an id;
// the worker answers it with exactly one 'done' or 'error' (plus progress messages on the way).

/** RGBA pixels, as in ImageData. */
export interface Pixels {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Where the worker gets a model. */
export type ModelSource =
  | {
      kind: 'url';
      /** Folder holding config.json and model.safetensors (absolute URL, ends in '/'). */
      base: string;
      /** Folder holding preprocessor_config.json (the hub keeps it on another revision). */
      preprocessorBase: string;
      /** Appended to each file's URL as the cache key's version (shipped models change in development). */
      version?: string;
    }
  | { kind: 'files'; config: unknown; preprocessor: unknown; weights: ArrayBuffer };

export interface ModelInfo {
  imageSize: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  params: number;
  adapter: string;
  /** The weight bytes came from the Cache Storage rather than the network. */
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
      samples: number;
      sampling: SamplingSettings;
    }
  | { type: 'stop'; id: number; /** The generate request to stop. */ target: number }
  | { type: 'features'; id: number; images: Pixels[]; labels: number[]; numClasses: number }
  | { type: 'clear-cache'; id: number };

/** What each request's 'done' carries. */
export interface Results {
  load: ModelInfo;
  encode: { tokens: Int32Array; quantized: Pixels };
  generate: { images: Pixels[]; tokensPerSecond: number; stopped: boolean };
  stop: null;
  features: FeatureResults;
  'clear-cache': { deleted: boolean };
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

export type Progress =
  | { phase: 'download' | 'upload'; loaded: number; total: number }
  | { phase: 'row'; row: number; rows: number; images: Pixels[]; tokensPerSecond: number }
  | { phase: 'features' | 'probe'; done: number; total: number };

export type Reply =
  | { type: 'done'; id: number; result: Results[keyof Results] }
  | { type: 'error'; id: number; message: string; name: string }
  | { type: 'progress'; id: number; progress: Progress };
