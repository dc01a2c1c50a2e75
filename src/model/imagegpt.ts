// ImageGPT on WebGPU: loading, the full forward, KV-cache sessions and pooled features.
import { Kernels } from '../gpu/kernels';
import type { WeightDType } from '../gpu/types';
import { logitsWidth, type ImageGPTConfig } from './config';
import { DeviceWatch, ImageGPTSession, checkOptionKeys, checkTokenRows, type SessionContext, type SessionOptions } from './session';
import { DEFAULT_BATCH_SIZE, checkHostBytes, checkSessionFits, largestBatchThatFits, resolveMaxRows } from './limits';
import type { ModelWeights } from './weights';
import { loadPretrained, type LoadOptions } from '../loading/index';
import type { PretrainedSource } from '../loading/types';
import { Sampler, samplerWorkgroupSizeFor } from '../gpu/sampler';
import { GENERATE_OPTIONS, checkGenerateOptions, generateOnGpu, type GenerateOptions } from './generate';
import { describeValue } from '../json';

/** Where a model comes from (see PretrainedSource); kept under its old name. */
export type ModelSource = PretrainedSource;

export type { LoadOptions };

export interface ForwardOptions {
  /** Also return the hidden states (n_layer + 1 of them, HF semantics: [n_layer] is after ln_f). */
  outputHiddenStates?: boolean;
}

export interface ForwardOutput {
  /** [B, T, vocab_size-1] */
  logits: Float32Array;
  /** Present with outputHiddenStates: n_layer + 1 arrays, each [B, T, n_embd]. */
  hiddenStates?: Float32Array[];
}

export interface FeatureOptions {
  /** Which hidden state to pool: 0 (embeddings) … n_layer (after ln_f). Default: the middle, floor(n_layer / 2). */
  layer?: number;
}

/** What `complete` needs of an image processor (ImageGPTImageProcessor fits). */
export interface CompletionProcessor {
  encode(images: never): { inputIds: number[][] };
  decode(tokens: ArrayLike<number>, size: { height: number; width: number }): { data: Uint8ClampedArray; width: number; height: number };
}

export interface CompleteOptions extends Omit<GenerateOptions, 'prompt' | 'batchSize' | 'maxNewTokens'> {
  /** Image rows (of tokens) kept from the input; the rest is generated. */
  keepRows: number;
  /** Completions to make, as one batch. Default 1. */
  samples?: number;
  /** Turns the input image into tokens and the completions back into pixels. */
  processor: CompletionProcessor;
}

/** One completed image: RGBA pixels (usable as ImageData) and its tokens. */
export interface Completion {
  data: Uint8ClampedArray;
  width: number;
  height: number;
  tokens: Int32Array;
}

export interface MultiFeatureOptions {
  /** Hidden states to pool: 0 (embeddings) … n_layer (after ln_f). */
  layers: number[];
  /** Pooling over the sequence: only 'mean'. */
  pool?: 'mean';
  /** Inputs per GPU batch (default 32). */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (p: { done: number; total: number }) => void;
  /** Turns image inputs into tokens (ImageGPTImageProcessor); without it inputs are token rows. */
  processor?: Pick<CompletionProcessor, 'encode'>;
}

const FEATURE_OPTIONS = ['layer', 'layers', 'pool', 'batchSize', 'onProgress', 'processor'];
const COMPLETE_OPTIONS = ['keepRows', 'samples', 'processor', ...GENERATE_OPTIONS.filter((k) => k !== 'prompt' && k !== 'batchSize' && k !== 'maxNewTokens')];

/** GPU memory the model has allocated, beside what its weights take. */
export interface MemoryReport {
  weightBytes: number;
  sessionBytes: number;
  totalBytes: number;
}

export class ImageGPT {
  readonly config: ImageGPTConfig;
  readonly device: GPUDevice;
  readonly dtype: WeightDType;
  /** @internal */ readonly kernels: Kernels;
  /** @internal */ readonly weights: ModelWeights;
  private sessionBytes = 0;
  private disposed = false;
  private readonly sessions = new Set<ImageGPTSession>();
  /** GPU resources of running calls (generate's history, ring, params, sampler op), freed by dispose() too. */
  private readonly resources = new Set<{ destroy(): void }>();
  private sampler: Sampler | null = null;
  private readonly watch: DeviceWatch;

  private constructor(config: ImageGPTConfig, device: GPUDevice, weights: ModelWeights, kernels: Kernels) {
    this.config = config;
    this.device = device;
    this.weights = weights;
    this.dtype = weights.dtype;
    this.kernels = kernels;
    this.watch = new DeviceWatch(device);
  }

  /** Resolves when the model's device is lost; the model is unusable then (make a new one on a new device). */
  get lost(): Promise<GPUDeviceLostInfo> {
    return this.watch.lost;
  }

  /** True once the device is lost: every call then throws "the GPU device was lost". */
  get isLost(): boolean {
    return this.watch.isLost;
  }

  /**
   * Loads an HF ImageGPT checkpoint from a hub id, a base URL, `{ config, weights }` or local files: config.json,
   * then the weights (model.safetensors, sharded safetensors, pytorch_model.bin or sharded .bin) streamed to the GPU.
   */
  static async fromPretrained(source: ModelSource, options: LoadOptions = {}): Promise<ImageGPT> {
    const { config, device, adapterInfo, weights } = await loadPretrained(source, options);
    try {
      // Tile shapes per adapter; browsers without device.adapterInfo still get the right ones this way.
      const kernels = new Kernels(device, adapterInfo ? Kernels.tuningFor(adapterInfo) : undefined);
      return new ImageGPT(config, device, weights, kernels);
    } catch (e) {
      for (const b of weights.buffers) b.destroy();
      throw e;
    }
  }

  private context(): SessionContext {
    return {
      device: this.device,
      kernels: this.kernels,
      config: this.config,
      weights: this.weights,
      track: (bytes) => {
        this.sessionBytes += bytes;
      },
      watch: this.watch,
    };
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('ImageGPT: used after dispose()');
    this.watch.check();
  }

  /** A KV-cache session for `batchSize` sequences decoded in lockstep. Dispose it when done. */
  createSession(batchSize: number, options: SessionOptions = {}): ImageGPTSession {
    this.checkUsable();
    const s = new ImageGPTSession(this.context(), batchSize, options);
    this.sessions.add(s);
    const dispose = s.dispose.bind(s);
    s.dispose = () => {
      dispose();
      this.sessions.delete(s);
    };
    return s;
  }

  private checkLength(rows: number[][], what: string): void {
    if (rows[0].length > this.config.n_positions) {
      throw new Error(`${what}: ${rows[0].length} tokens per row exceeds n_positions (${this.config.n_positions})`);
    }
  }

  /** Fails before allocating where a session of this shape exceeds the device's limits (naming the largest batch that fits). */
  private checkBatchFits(what: string, batchSize: number, maxLength: number, maxRows?: number): void {
    const use = { batchSize, maxLength, maxRows, dtype: this.dtype, tuning: this.kernels.tuning };
    checkSessionFits(this.config, this.device.limits, use, what);
  }

  /** Runs a public call; a failure caused by a lost device becomes one Error that says so. */
  private async guarded<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw await this.watch.explain(what, e);
    }
  }

  /** The full forward (no cache kept): logits [B, T, V-1] and optionally every hidden state. */
  forward(inputIds: number[][], options: ForwardOptions = {}): Promise<ForwardOutput> {
    return this.guarded('forward', () => this.runForward(inputIds, options));
  }

  private async runForward(inputIds: number[][], options: ForwardOptions): Promise<ForwardOutput> {
    this.checkUsable();
    checkOptionKeys('forward', options, ['outputHiddenStates']);
    if (options.outputHiddenStates !== undefined && typeof options.outputHiddenStates !== 'boolean') {
      throw new Error(`forward: outputHiddenStates must be true or false, got ${describeValue(options.outputHiddenStates)}`);
    }
    checkTokenRows(inputIds, this.config);
    this.checkLength(inputIds, 'forward');
    if (!this.weights.lmHead) throw new Error('forward: this checkpoint has no lm_head.weight (a classification checkpoint): use features() or classify()');
    const B = inputIds.length;
    const T = inputIds[0].length;
    const { n_embd: E, n_layer: L } = this.config;
    const V1 = logitsWidth(this.config);
    const nHidden = options.outputHiddenStates ? L + 1 : 0;
    checkHostBytes('forward', B * T * (V1 + nHidden * E) * 4);
    // One chunk's readback (logits and every hidden state of its rows) must fit one buffer: fewer rows per chunk if not.
    const rowBytes = (V1 + nHidden * E) * 4;
    const stagingRows = Math.floor(this.device.limits.maxBufferSize / rowBytes);
    if (stagingRows < B) {
      throw new Error(`forward: reading back one token of ${B} rows needs ${B * rowBytes} bytes, more than the device's maxBufferSize ${this.device.limits.maxBufferSize}; use fewer rows per call`);
    }
    const maxRows = Math.min(resolveMaxRows(B, T, undefined), stagingRows);
    this.checkBatchFits('forward', B, T, maxRows);
    const logits = new Float32Array(B * T * V1);
    const hiddenStates = Array.from({ length: nHidden }, () => new Float32Array(B * T * E));
    const session = this.createSession(B, { maxLength: T, maxRows });
    try {
      const rowsMax = session.maxRows;
      // Staging layout per chunk: logits [rows, V1], then each hidden state [rows, E].
      const staging = session.stagingBuffer(rowsMax * rowBytes);
      await session.run(
        inputIds,
        (step) => ({
          head: true,
          onHidden: nHidden
            ? (k, buffer, encoder) => {
                const o = (rowsMax * V1 + k * rowsMax * E) * 4;
                encoder.copyBufferToBuffer(buffer, 0, staging, o, step.batch * step.seq * E * 4);
              }
            : undefined,
        }),
        (encoder, step) => encoder.copyBufferToBuffer(session.buffers.logits, 0, staging, 0, step.batch * step.seq * V1 * 4),
        async (step, from) => {
          const data = new Float32Array(await session.readStaging(rowsMax * rowBytes));
          for (let b = 0; b < B; b++) {
            for (let i = 0; i < step.seq; i++) {
              const r = b * step.seq + i;
              const t = from + i;
              logits.set(data.subarray(r * V1, (r + 1) * V1), (b * T + t) * V1);
              for (let k = 0; k < nHidden; k++) {
                const o = rowsMax * V1 + k * rowsMax * E;
                hiddenStates[k].set(data.subarray(o + r * E, o + (r + 1) * E), (b * T + t) * E);
              }
            }
          }
        },
      );
    } finally {
      session.dispose();
    }
    return nHidden ? { logits, hiddenStates } : { logits };
  }

  /**
   * Mean over T of hidden state `layer`: Float32Array [B, n_embd], without reading other layers back.
   * With `layers`, several at once for many inputs in GPU batches: Map<layer, Float32Array [N, n_embd]>.
   * Inputs are token rows, or images when `processor` is given.
   */
  features(inputs: number[][], options?: FeatureOptions): Promise<Float32Array>;
  features(inputs: unknown[], options: MultiFeatureOptions): Promise<Map<number, Float32Array>>;
  features(inputs: unknown[], options: FeatureOptions | MultiFeatureOptions = {}): Promise<Float32Array | Map<number, Float32Array>> {
    return this.guarded('features', () => this.runFeatures(inputs, options));
  }

  private async runFeatures(inputs: unknown[], options: FeatureOptions | MultiFeatureOptions): Promise<Float32Array | Map<number, Float32Array>> {
    this.checkUsable();
    checkOptionKeys('features', options, FEATURE_OPTIONS);
    const L = this.config.n_layer;
    const multi = 'layers' in options && options.layers !== undefined;
    if (multi && 'layer' in options && options.layer !== undefined) throw new Error('features: give layer or layers, not both');
    const layers: unknown = multi ? (options as MultiFeatureOptions).layers : [(options as FeatureOptions).layer ?? Math.floor(L / 2)];
    if (!Array.isArray(layers) || layers.length === 0) throw new Error('features: layers must be a non-empty array of layer indices');
    for (const layer of layers) {
      if (!Number.isInteger(layer) || layer < 0 || layer > L) {
        throw new Error(`features: layer must be an integer in 0..${L} (0 = embeddings, ${L} = after ln_f), got ${describeValue(layer)}`);
      }
    }
    if (new Set(layers).size !== layers.length) throw new Error(`features: layers ${describeValue(layers)} repeat a layer`);
    const o = options as MultiFeatureOptions;
    if (o.pool !== undefined && o.pool !== 'mean') throw new Error(`features: pool must be 'mean', got ${describeValue(o.pool)}`);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new Error(`features: onProgress must be a function, got ${typeof o.onProgress}`);
    if (o.batchSize !== undefined && (typeof o.batchSize !== 'number' || !Number.isInteger(o.batchSize) || o.batchSize < 1)) {
      throw new Error(`features: batchSize must be a positive integer, got ${describeValue(o.batchSize)}`);
    }
    let ids: number[][];
    if (o.processor !== undefined) {
      if (typeof o.processor?.encode !== 'function') throw new Error('features: processor must have an encode(images) method (an ImageGPTImageProcessor)');
      if (!Array.isArray(inputs)) throw new Error('features: expected an array of images');
      ids = inputs.length === 0 ? [] : o.processor.encode(inputs as never).inputIds;
    } else {
      ids = inputs as number[][];
    }
    checkTokenRows(ids, this.config, 'features');
    this.checkLength(ids, 'features');
    const N = ids.length;
    const T = ids[0].length;
    const E = this.config.n_embd;
    // The default batch is ours to pick: the largest that fits this device, up to DEFAULT_BATCH_SIZE.
    const fits = largestBatchThatFits(this.config, this.device.limits, T, { dtype: this.dtype, tuning: this.kernels.tuning });
    const batch = Math.min(N, o.batchSize ?? Math.max(1, Math.min(DEFAULT_BATCH_SIZE, fits)));
    this.checkBatchFits('features', batch, T);
    checkHostBytes('features', layers.length * N * E * 4);
    const deepest = Math.max(...layers);
    const result = new Map<number, Float32Array>(layers.map((l) => [l, new Float32Array(N * E)]));
    const session = this.createSession(batch, { maxLength: T });
    try {
      const zeros = new Float32Array(batch * E);
      const bytes = batch * E * 4;
      const staging = session.stagingBuffer(bytes * layers.length);
      for (let start = 0; start < N; start += batch) {
        const count = Math.min(batch, N - start);
        // A short last batch is padded by repeating its last row; those outputs are dropped.
        const rows = Array.from({ length: batch }, (_, b) => ids[start + Math.min(b, count - 1)]);
        session.reset();
        for (const l of layers) this.device.queue.writeBuffer(session.buffers.pooled[l], 0, zeros);
        await session.run(
          rows,
          () => ({ stopAt: deepest, poolHidden: layers }),
          (encoder, _step, _from, isLast) => {
            if (isLast) layers.forEach((l, i) => encoder.copyBufferToBuffer(session.buffers.pooled[l], 0, staging, i * bytes, bytes));
          },
          async (_step, _from, isLast) => {
            if (!isLast) return;
            const data = new Float32Array(await session.readStaging(bytes * layers.length));
            layers.forEach((l, i) => {
              const dst = result.get(l)!;
              for (let j = 0; j < count * E; j++) dst[start * E + j] = data[i * batch * E + j] / T;
            });
          },
        );
        o.onProgress?.({ done: start + count, total: N });
      }
    } finally {
      session.dispose();
    }
    return multi ? result : result.get(layers[0])!;
  }

  /**
   * ImageGPTForImageClassification: score(mean over T of hiddenStates[n_layer]) for a checkpoint with
   * `score.weight`. Returns logits [B, num_labels]; labels are in `config.id2label`.
   */
  async classify(inputIds: number[][]): Promise<Float32Array> {
    this.checkUsable();
    const score = this.weights.score;
    if (!score) throw new Error('classify: this checkpoint has no score.weight (not an ImageGPTForImageClassification checkpoint)');
    const E = this.config.n_embd;
    const pooled = await this.features(inputIds, { layer: this.config.n_layer });
    const B = inputIds.length;
    const C = score.numLabels;
    const logits = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (let e = 0; e < E; e++) sum += pooled[b * E + e] * score.weight[c * E + e];
        logits[b * C + c] = sum;
      }
    }
    return logits;
  }

  /**
   * Generates image tokens with sampling on the GPU: Int32Array [B, prompt + new] (no SOS).
   * Starts from SOS, then the prompt's tokens (HF-style, no SOS) if given.
   */
  generate(options: GenerateOptions = {}): Promise<Int32Array> {
    return this.guarded('generate', async () => {
      this.checkUsable();
      if (!this.weights.lmHead) throw new Error('generate: this checkpoint has no lm_head.weight (a classification checkpoint)');
      const checkBatch = (batch: number, maxLength: number) => this.checkBatchFits('generate', batch, maxLength);
      checkGenerateOptions(this.config, options, checkBatch);
      const info = this.device.adapterInfo as GPUAdapterInfo | undefined;
      this.sampler ??= new Sampler(this.device, info ? { workgroupSize: samplerWorkgroupSizeFor(info) } : {});
      const makeSession = (batch: number, maxLength: number) => this.createSession(batch, { maxLength });
      return generateOnGpu(this.config, this.device, this.sampler, makeSession, options, this.resources, checkBatch);
    });
  }

  /**
   * Completes the lower rows of an image: keeps its first `keepRows` token rows and samples the rest,
   * `samples` times in one batch. The input is an image (through `processor`) or its tokens.
   */
  complete(input: unknown, options: CompleteOptions): Promise<Completion[]> {
    return this.guarded('complete', () => this.runComplete(input, options));
  }

  private async runComplete(input: unknown, options: CompleteOptions): Promise<Completion[]> {
    this.checkUsable();
    if (typeof options !== 'object' || options === null) throw new Error('complete: options { keepRows, processor, … } are required');
    checkOptionKeys('complete', options, COMPLETE_OPTIONS);
    const { keepRows, samples = 1, processor, ...sampling } = options;
    if (typeof processor?.encode !== 'function' || typeof processor?.decode !== 'function') {
      throw new Error('complete: options.processor (an ImageGPTImageProcessor, with encode and decode) is required');
    }
    const P = this.config.n_positions;
    const width = options.width ?? Math.round(Math.sqrt(P));
    if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || P % width !== 0) {
      throw new Error(`complete: width must be an integer that divides n_positions (${P}), got ${describeValue(width)}`);
    }
    const height = P / width;
    if (typeof keepRows !== 'number' || !Number.isInteger(keepRows) || keepRows < 0 || keepRows > height) {
      throw new Error(`complete: keepRows must be an integer in 0..${height}, got ${describeValue(keepRows)}`);
    }
    if (typeof samples !== 'number' || !Number.isInteger(samples) || samples < 1) {
      throw new Error(`complete: samples must be a positive integer, got ${describeValue(samples)}`);
    }
    // Sizes first: the prompt rows below are made per sample.
    if (keepRows < height) this.checkBatchFits('complete', samples, P);
    checkHostBytes('complete', samples * P * 4 * 2);
    let tokens: ArrayLike<number>;
    if (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number')) tokens = input as number[];
    else if (input instanceof Int32Array) tokens = input;
    else tokens = processor.encode(input as never).inputIds[0];
    if (tokens.length !== width * height) {
      throw new Error(`complete: the image has ${describeValue(tokens.length)} tokens, the model expects ${width}×${height} = ${width * height}`);
    }
    const kept = Array.from(tokens).slice(0, keepRows * width);
    const out = await this.generate({ ...sampling, width, prompt: Array.from({ length: samples }, () => kept.slice()) });
    return Array.from({ length: samples }, (_, b) => {
      const t = out.slice(b * P, (b + 1) * P);
      const img = processor.decode(t, { height, width });
      return { data: img.data, width: img.width, height: img.height, tokens: t };
    });
  }

  /** GPU memory allocated by the model and its live sessions. */
  memory(): MemoryReport {
    return { weightBytes: this.weights.gpuBytes, sessionBytes: this.sessionBytes, totalBytes: this.weights.gpuBytes + this.sessionBytes };
  }

  /** Frees every GPU buffer the model and its sessions made. The device stays (it may be the caller's). */
  dispose(): void {
    if (this.disposed) return;
    for (const s of [...this.sessions]) s.dispose();
    for (const r of this.resources) r.destroy();
    this.resources.clear();
    for (const b of this.weights.buffers) b.destroy();
    this.kernels.destroy();
    this.disposed = true;
  }
}
