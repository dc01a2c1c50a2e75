// ImageGPT on WebGPU: loading, the full forward, KV-cache sessions and pooled features.
import { Kernels, type KernelTuning } from '../gpu/kernels';
import type { WeightDType } from '../gpu/types';
import { logitsWidth, sosToken, type ImageGPTConfig } from './config';
import { causalTargets, classifierLoss, meanLoss, resolveProblemType } from './loss';
import type { Op } from '../gpu/types';
import {
  DeviceWatch,
  ImageGPTSession,
  ROW_INPUT_OPTIONS,
  checkPositiveInteger,
  checkRowInputs,
  checkTokenRows,
  type RowInputs,
  type SessionContext,
  type SessionOptions,
} from './session';
import { DEFAULT_BATCH_SIZE, checkHostBytes, checkSessionFits, largestBatchThatFits, resolveMaxRows } from './limits';
import type { ModelWeights } from './weights';
import { loadPretrained, type LoadOptions } from './load';
import type { PretrainedSource } from '../loading/index';
import { Sampler, samplerWorkgroupSizeFor } from '../gpu/sampler';
import { GENERATE_OPTIONS, checkGenerateOptions, generateOnGpu, type GenerateOptions } from './generate';
import { SessionCache } from './session-cache';
import { describeValue } from '../json';
import { checkOptionKeys } from '../options';
import { idsOrPlaceholders, type HeadMask } from './hf-inputs';
import { isByteList, type Rgb } from '../processor/image';

/** Where a model comes from (see PretrainedSource); kept under its old name. */
export type ModelSource = PretrainedSource;

export type { LoadOptions };

export interface ForwardOptions {
  /** Also return the hidden states (n_layer + 1 of them, HF semantics: [n_layer] is after ln_f). */
  outputHiddenStates?: boolean;
  /**
   * Causal LM: labels [B, T] shaped like inputIds (HF: logits at t are scored against labels[t + 1]); integers in
   * 0..vocab_size-2 (SOS is never a target) or -100 (ignored). Classifier: by problem type, class indices
   * number[] (single_label_classification), number[][] of 0..1 per class (multi_label_classification), or
   * values number[] / number[][] (regression).
   */
  labels?: number[][] | number[];
  /** Return the logits (default true). With false and labels, only the [B, T-1] losses are read back. */
  outputLogits?: boolean;
  /**
   * Also return each layer's attention weights (HF output_attentions): n_layer arrays [B, n_head, T, T]. Computed
   * on the GPU only when asked; for one query position of one image, attentionRow reads far less.
   */
  outputAttentions?: boolean;
  /**
   * HF attention_mask [B, T] shaped like inputIds: 1 = attend, 0 = padding (e.g. left padding). Masked keys get
   * finfo(f32).min added to their scores, so a query whose keys are all masked stays finite (HF's result: uniform
   * over its earlier keys and the unmasked later ones). Positions are not derived from it: see positionIds.
   */
  attentionMask?: number[][];
  /**
   * HF position_ids [B, T]: the position embedding row of each token, integers in 0..n_positions-1; default
   * 0..T-1. For a left-padded row, HF generate's rule gives each row the positions it would have alone:
   * cumsum(mask) - 1, with masked positions set to 1.
   */
  positionIds?: number[][];
  /** HF token_type_ids [B, T]: ids 0..vocab_size-1 embedded through wte and added to the input embeddings. */
  tokenTypeIds?: number[][];
  /**
   * HF head_mask: [n_head] (every layer) or [n_layer][n_head] finite factors multiplying each head's attention
   * weights after the softmax (0 silences a head); `attentions` are the scaled weights, as HF returns them.
   */
  headMask?: HeadMask;
  /** HF inputs_embeds [B, T, n_embd] (nested arrays), used instead of wte[ids]: then inputIds is null. */
  inputsEmbeds?: number[][][];
}

export interface ForwardOutput {
  /** Causal LM: [B, T, vocab_size-1]; classifier: [B, num_labels]. Absent with outputLogits: false. */
  logits: Float32Array;
  /** With labels: the mean loss in nats over the non-ignored labels (NaN when every label is -100). */
  loss?: number;
  /**
   * Causal LM with labels: [B, T-1] nats, -log p(labels[b][t+1] | inputIds[b][..t]); 0 where the label is -100
   * (as HF's reduction 'none').
   */
  tokenLoss?: Float32Array;
  /** Present with outputHiddenStates: n_layer + 1 arrays, each [B, T, n_embd]. */
  hiddenStates?: Float32Array[];
  /**
   * Present with outputAttentions: n_layer arrays, each [B, n_head, T, T]; [b, h, t, s] is how much query t attends
   * to key s: softmax(q·kᵀ · scale) after the causal mask (0 for s > t), each row summing to 1.
   */
  attentions?: Float32Array[];
}

/** forward's result: logits are typed as present unless outputLogits may be false. */
export type ForwardResult<O extends ForwardOptions> = 'outputLogits' extends keyof O
  ? O['outputLogits'] extends true | undefined
    ? ForwardOutput
    : Omit<ForwardOutput, 'logits'> & { logits?: Float32Array }
  : ForwardOutput;

export interface BitsPerTokenOptions {
  /** Turns image inputs into tokens (ImageGPTImageProcessor); without it inputs are token rows (no SOS). */
  processor?: Pick<CompletionProcessor, 'encode'>;
  /** With `processor`: the [r, g, b] RGBA images are composited onto; `null` drops alpha. Default: the
   * processor's (white for the shipped models, from their preprocessor_config.json). */
  background?: Rgb | null;
  /** Image width in tokens, for the surprise map; default round(√tokens), which must divide the token count. */
  width?: number;
  /** Inputs per GPU batch (default: the largest that fits, up to 32). */
  batchSize?: number;
  /** Called with 0 of N first, then after each GPU batch with the inputs scored so far. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/**
 * How surprising each image is to the model. Every token is predicted, the first one from SOS: the model is
 * fed SOS + tokens[0..N-2] (OpenAI's convention) and scored against tokens[0..N-1].
 */
export interface BitsPerToken {
  /** [N]: per image, the mean over its tokens of -log2 p(token | SOS, earlier tokens). */
  bitsPerToken: Float32Array;
  /** [N, height, width]: bits per pixel (token), in raster order. */
  surprise: Float32Array;
  width: number;
  height: number;
}

export interface FeatureOptions {
  /** Which hidden state to pool: 0 (embeddings) … n_layer (after ln_f). Default: the middle, floor(n_layer / 2). */
  layer?: number;
  /**
   * Pool the layer-normed hidden state, as the iGPT paper's linear probes do, instead of the raw one (HF's docs,
   * the default false): for layer l < n_layer, ImageGPT's norm (no centering) with block l's ln_1 gains — exactly
   * what that block's attention reads; layer n_layer is already ln_f's output and is pooled as it is.
   */
  normalize?: boolean;
}

/** What `complete` needs of an image processor (ImageGPTImageProcessor fits). */
export interface CompletionProcessor {
  encode(images: never, options?: { background?: Rgb | null }): { inputIds: number[][] };
  decode(tokens: ArrayLike<number>, size: { height: number; width: number }): { data: Uint8ClampedArray<ArrayBuffer>; width: number; height: number };
}

export interface CompleteOptions extends Omit<GenerateOptions, 'prompt' | 'batchSize' | 'maxNewTokens'> {
  /**
   * Image rows (of tokens) kept from the input; the rest is generated. An array gives each sample its own count
   * (samples defaults to its length); all samples complete in one batch, each equal to completing it alone (greedy).
   * With counts that differ, onRow and onTokens are refused (the samples' rows complete at different steps).
   */
  keepRows: number | number[];
  /** Completions to make, as one batch. Default 1, or keepRows' length. */
  samples?: number;
  /** Turns the input image into tokens and the completions back into pixels. */
  processor: CompletionProcessor;
  /** The [r, g, b] an RGBA input is composited onto; `null` drops alpha. Default: the processor's (white for the
   * shipped models, from their preprocessor_config.json). */
  background?: Rgb | null;
}

/** One completed image: RGBA pixels (usable as ImageData) and its tokens. */
export interface Completion {
  /** Its own ArrayBuffer, so `new ImageData(c.data, c.width, c.height)` type-checks (TypeScript ≥ 5.7). */
  data: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
  tokens: Int32Array;
}

export interface MultiFeatureOptions {
  /** Hidden states to pool: 0 (embeddings) … n_layer (after ln_f). */
  layers: number[];
  /** Pooling over the sequence: only 'mean'. */
  pool?: 'mean';
  /**
   * Pool the layer-normed hidden state, as the iGPT paper's linear probes do, instead of the raw one (HF's docs,
   * the default false): for layer l < n_layer, ImageGPT's norm (no centering) with block l's ln_1 gains — exactly
   * what that block's attention reads; layer n_layer is already ln_f's output and is pooled as it is.
   */
  normalize?: boolean;
  /** Inputs per GPU batch (default 32). */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (p: { done: number; total: number }) => void;
  /** Turns image inputs into tokens (ImageGPTImageProcessor); without it inputs are token rows. */
  processor?: Pick<CompletionProcessor, 'encode'>;
  /** With `processor`: the [r, g, b] RGBA images are composited onto; `null` drops alpha. Default: the processor's. */
  background?: Rgb | null;
}

const FORWARD_OPTIONS = ['outputHiddenStates', 'labels', 'outputLogits', 'outputAttentions', ...ROW_INPUT_OPTIONS];
const BITS_OPTIONS = ['processor', 'background', 'width', 'batchSize', 'onProgress'];
const FEATURE_OPTIONS = ['layer', 'layers', 'pool', 'normalize', 'batchSize', 'onProgress', 'processor', 'background'];
const COMPLETE_OPTIONS = ['keepRows', 'samples', 'processor', 'background', ...GENERATE_OPTIONS.filter((k) => k !== 'prompt' && k !== 'batchSize' && k !== 'maxNewTokens')];

/**
 * The optional GPU features the model's kernels use: each is true where the device has the feature and the tuning
 * allows it (`tuning.shaderF16`, `tuning.subgroups`); false means the portable path.
 */
export interface DeviceFeatures {
  /** `shader-f16`: f16 weights read as native f16 (arithmetic stays f32). */
  shaderF16: boolean;
  /** `subgroups`: subgroup sums in the layer norm's workgroup layout and the decode attention's merge (no matmul uses them). */
  subgroups: boolean;
}

/** GPU memory the model has allocated, beside what its weights take. */
export interface MemoryReport {
  weightBytes: number;
  sessionBytes: number;
  totalBytes: number;
  /** Of sessionBytes: the idle session generate/complete keep for their next call of the same shape (0 when none). */
  cachedSessionBytes: number;
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
  /** generate/complete's session kept between calls (see session-cache.ts for the policy). */
  private readonly sessionCache = new SessionCache(
    // Prompts of different lengths fill their images in one batch: padding + image is under 2 × n_positions.
    (batch, maxLength) => this.openSession(batch, { maxLength }, 2 * this.config.n_positions),
    () => this.disposed,
  );
  private sampler: Sampler | null = null;
  private readonly watch: DeviceWatch;
  /** Public calls in flight (and sessions' prefill/step): dispose() frees the GPU memory once they have settled. */
  private readonly pending = new Set<Promise<unknown>>();
  /** The device was requested by fromPretrained (not given by the caller): dispose() destroys it. */
  private readonly ownsDevice: boolean;

  private constructor(config: ImageGPTConfig, device: GPUDevice, weights: ModelWeights, kernels: Kernels, ownsDevice: boolean) {
    this.config = config;
    this.device = device;
    this.weights = weights;
    this.dtype = weights.dtype;
    this.kernels = kernels;
    this.ownsDevice = ownsDevice;
    this.watch = new DeviceWatch(device);
  }

  /** The kernels' launch choices: the adapter's defaults with the `tuning` load option over them. */
  get tuning(): Readonly<KernelTuning> {
    return this.kernels.tuning;
  }

  /** Which optional GPU features the kernels use on this device (see DeviceFeatures). */
  get deviceFeatures(): DeviceFeatures {
    return this.kernels.features;
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
    const { config, device, adapterInfo, tuning, weights } = await loadPretrained(source, options);
    // loadPretrained (model/load.ts) gives adapterInfo only for a device it requested itself.
    const ownsDevice = options.device === undefined && adapterInfo !== undefined;
    try {
      // The tuning was resolved and checked once, in model/load.ts (the adapter's defaults, then options.tuning).
      const kernels = new Kernels(device, tuning);
      return new ImageGPT(config, device, weights, kernels, ownsDevice);
    } catch (e) {
      for (const b of weights.buffers) b.destroy();
      if (ownsDevice) device.destroy();
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
      closed: () => this.disposed,
      hold: (call) => this.hold(call),
    };
  }

  /** Keeps `call` in `pending` until it settles. */
  private hold(call: Promise<unknown>): void {
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('ImageGPT: used after dispose()');
    this.watch.check();
  }

  /** A KV-cache session for `batchSize` sequences decoded in lockstep. Dispose it when done. */
  createSession(batchSize: number, options: SessionOptions = {}): ImageGPTSession {
    return this.openSession(batchSize, options, this.config.n_positions);
  }

  /** createSession with a cache of up to `longestCache` tokens (generate's ragged prompts keep their padding in it). */
  private openSession(batchSize: number, options: SessionOptions, longestCache: number): ImageGPTSession {
    this.checkUsable();
    // Any new session frees the idle cached one first, so the model never holds more than it did without the cache.
    this.sessionCache.evict();
    const s = new ImageGPTSession(this.context(), batchSize, options, longestCache);
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

  /**
   * Runs a public call; a failure caused by a lost device becomes one Error that says so. A call that dispose()
   * overtakes rejects with "disposed during <call>()" (what it got from the GPU, if anything, is the cause), and the
   * model's GPU memory is freed only once every such call has settled.
   */
  private guarded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const startedDisposed = this.disposed;
    const overtaken = (e?: unknown) => new Error(`ImageGPT: disposed during ${what}()`, e === undefined ? undefined : { cause: e });
    const call = (async () => {
      let value: T;
      try {
        value = await run();
      } catch (e) {
        if (this.disposed && !startedDisposed) throw overtaken(e);
        throw await this.watch.explain(what, e);
      }
      if (this.disposed) throw overtaken();
      return value;
    })();
    this.hold(call);
    return call;
  }

  /**
   * The full forward (no cache kept): logits [B, T, V-1] (a classifier: [B, num_labels]), and as asked the hidden
   * states, and with labels the loss (and for the causal LM the per-token loss, computed on the GPU).
   */
  forward<O extends ForwardOptions = Record<never, never>>(inputIds: number[][] | null, options?: O): Promise<ForwardResult<O>> {
    return this.guarded('forward', () => this.runForward(inputIds, options === undefined ? {} : options)) as Promise<ForwardResult<O>>;
  }

  private async runForward(inputIds: number[][] | null, options: ForwardOptions): Promise<Partial<ForwardOutput>> {
    this.checkUsable();
    checkOptionKeys('forward', options, FORWARD_OPTIONS);
    for (const key of ['outputHiddenStates', 'outputLogits', 'outputAttentions'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'boolean') {
        throw new Error(`forward: ${key} must be true or false, got ${describeValue(options[key])}`);
      }
    }
    if (options.outputLogits === false && options.labels === undefined && !options.outputHiddenStates && !options.outputAttentions) {
      throw new Error('forward: outputLogits: false with no labels, outputHiddenStates or outputAttentions asks for nothing; ask for at least one output');
    }
    // With inputsEmbeds (HF: exactly one of the two) the ids are placeholders the embedding does not read.
    inputIds = idsOrPlaceholders('forward', inputIds, options.inputsEmbeds, this.config);
    checkTokenRows(inputIds, this.config, 'forward: inputIds');
    this.checkLength(inputIds, 'forward');
    const inputs = checkRowInputs('forward', options, inputIds.length, inputIds[0].length, this.config);
    if (this.weights.score && !this.weights.lmHead) return this.runClassifierForward(inputIds, options, inputs);
    if (!this.weights.lmHead) throw new Error('forward: this checkpoint has no lm_head.weight (nor score.weight): use features()');
    const B = inputIds.length;
    const T = inputIds[0].length;
    const wantLogits = options.outputLogits ?? true;
    const targets = options.labels !== undefined ? causalTargets(options.labels, B, T, this.config) : null;
    const nHidden = options.outputHiddenStates ? this.config.n_layer + 1 : 0;
    const attentions = options.outputAttentions ?? false;
    const run = await this.runRows('forward', inputIds, { logits: wantLogits, hidden: nHidden, targets, attentions }, inputs);
    const out: Partial<ForwardOutput> = {};
    if (run.logits) out.logits = run.logits;
    if (targets && run.nats) {
      out.loss = meanLoss(run.nats, targets);
      const tokenLoss = new Float32Array(B * (T - 1));
      for (let b = 0; b < B; b++) tokenLoss.set(run.nats.subarray(b * T, b * T + T - 1), b * (T - 1));
      out.tokenLoss = tokenLoss;
    }
    if (run.hiddenStates) out.hiddenStates = run.hiddenStates;
    if (run.attentions) out.attentions = run.attentions;
    return out;
  }

  /** ImageGPTForImageClassification's forward: score(mean over T of the last hidden state), and its loss. */
  private async runClassifierForward(inputIds: number[][], options: ForwardOptions, inputs: RowInputs): Promise<Partial<ForwardOutput>> {
    const score = this.weights.score!;
    const B = inputIds.length;
    const C = score.numLabels;
    const problem = options.labels !== undefined ? resolveProblemType(this.config.problem_type, C, options.labels) : null;
    // Labels are checked before any GPU work (the loss of zero logits is thrown away).
    if (problem) classifierLoss(new Float32Array(B * C), B, C, options.labels, problem);
    const out: Partial<ForwardOutput> = {};
    let logits: Float32Array;
    if (options.outputHiddenStates || options.outputAttentions || Object.values(inputs).some((v) => v !== undefined)) {
      const attentions = options.outputAttentions ?? false;
      const run = await this.runRows('forward', inputIds, { logits: false, hidden: this.config.n_layer + 1, targets: null, attentions }, inputs);
      if (options.outputHiddenStates) out.hiddenStates = run.hiddenStates!;
      if (run.attentions) out.attentions = run.attentions;
      logits = this.score(meanOverTokens(run.hiddenStates![this.config.n_layer], B, this.config.n_embd));
    } else {
      logits = await this.classify(inputIds);
    }
    if (options.outputLogits ?? true) out.logits = logits;
    if (problem) out.loss = classifierLoss(logits, B, C, options.labels, problem);
    return out;
  }

  /**
   * One full pass over token rows reading back what is asked: logits [B, T, V-1], hidden states, and with
   * `targets` ([B, T], -100 = none) the cross-entropy of each position's logits against its target (nats,
   * [B, T], 0 where none), computed on the GPU from the logits of each chunk.
   */
  private async runRows(
    what: string,
    inputIds: ArrayLike<number>[],
    want: { logits: boolean; hidden: number; targets: Int32Array | null; attentions?: boolean },
    inputs: RowInputs = {},
  ): Promise<{ logits?: Float32Array; hiddenStates?: Float32Array[]; nats?: Float32Array; attentions?: Float32Array[] }> {
    const B = inputIds.length;
    const T = inputIds[0].length;
    const { n_embd: E, n_head: H, n_layer: L } = this.config;
    const V1 = logitsWidth(this.config);
    const nHidden = want.hidden;
    // Attention weights: per row, n_layer × [H, T] floats (keys up to the session's maxLength, T).
    const nAttention = want.attentions ? L : 0;
    const attentionRow = H * T;
    const perRow = (want.logits ? V1 : 0) + nHidden * E + (want.targets ? 1 : 0) + nAttention * attentionRow;
    if (perRow === 0) return {};
    checkHostBytes(what, B * T * perRow * 4);
    // One chunk's readback (every output of its rows) must fit one buffer: fewer rows per chunk if not.
    const rowBytes = perRow * 4;
    const stagingRows = Math.floor(this.device.limits.maxBufferSize / rowBytes);
    if (stagingRows < B) {
      throw new Error(`${what}: reading back one token of ${B} rows needs ${B * rowBytes} bytes, more than the device's maxBufferSize ${this.device.limits.maxBufferSize}; use fewer rows per call`);
    }
    let maxRows = Math.min(resolveMaxRows(B, T, undefined), stagingRows);
    if (nAttention) {
      // One layer's weights of a chunk live in one storage binding: fewer rows per chunk if they would not fit.
      const bindingRows = Math.floor(this.device.limits.maxStorageBufferBindingSize / (attentionRow * 4));
      if (bindingRows < B) {
        throw new Error(`${what}: the attention weights of one token of ${B} rows need ${B * attentionRow * 4} bytes, more than the device's maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize}; use fewer rows per call`);
      }
      maxRows = Math.min(maxRows, bindingRows);
    }
    this.checkBatchFits(what, B, T, maxRows);
    const logits = want.logits ? new Float32Array(B * T * V1) : undefined;
    const hiddenStates = nHidden ? Array.from({ length: nHidden }, () => new Float32Array(B * T * E)) : undefined;
    const nats = want.targets ? new Float32Array(B * T) : undefined;
    const attentions = nAttention ? Array.from({ length: nAttention }, () => new Float32Array(B * H * T * T)) : undefined;
    const session = this.createSession(B, { maxLength: T, maxRows });
    const scratch: GPUBuffer[] = [];
    try {
      const rowsMax = session.maxRows;
      // Staging layout per chunk (floats): logits [rows, V1], then each hidden state [rows, E], then nats [rows].
      const hiddenAt = want.logits ? rowsMax * V1 : 0;
      const natsAt = hiddenAt + nHidden * rowsMax * E;
      // Then each layer's attention weights [rows, H, T].
      const attentionAt = natsAt + (want.targets ? rowsMax : 0);
      let attentionOut: GPUBuffer | undefined;
      if (nAttention) {
        attentionOut = this.device.createBuffer({ label: 'attention weights', size: rowsMax * attentionRow * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
        scratch.push(attentionOut);
      }
      const staged = session.stage(rowsMax * rowBytes);
      let lossOp: Op | null = null;
      let chunkTargets: GPUBuffer | null = null;
      let chunkNats: GPUBuffer | null = null;
      const chunkScratch = new Int32Array(rowsMax);
      if (want.targets) {
        const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
        chunkTargets = this.device.createBuffer({ label: 'loss targets', size: rowsMax * 4, usage });
        chunkNats = this.device.createBuffer({ label: 'loss nats', size: rowsMax * 4, usage });
        scratch.push(chunkTargets, chunkNats);
        lossOp = this.kernels.crossEntropy({ step: session.buffers.step, logits: session.buffers.logits, targets: chunkTargets, out: chunkNats, vocab: V1 });
      }
      await session.run(
        inputIds,
        (step) => ({
          head: want.logits || lossOp !== null,
          onHidden: nHidden
            ? (k, buffer, encoder) => staged.copy(encoder, buffer, 0, (hiddenAt + k * rowsMax * E) * 4, step.batch * step.seq * E * 4)
            : undefined,
          extra: lossOp ? [lossOp] : undefined,
          attentionOut,
          onAttention: nAttention
            ? (layer, buffer, encoder) => staged.copy(encoder, buffer, 0, (attentionAt + layer * rowsMax * attentionRow) * 4, step.batch * step.seq * attentionRow * 4)
            : undefined,
        }),
        (encoder, step, from) => {
          const rows = step.batch * step.seq;
          if (want.logits) staged.copy(encoder, session.buffers.logits, 0, 0, rows * V1 * 4);
          if (want.targets && chunkTargets && chunkNats) {
            // Written before this chunk's submit (queue order), read by the loss op recorded above.
            for (let b = 0; b < B; b++) for (let i = 0; i < step.seq; i++) chunkScratch[b * step.seq + i] = want.targets[b * T + from + i];
            this.device.queue.writeBuffer(chunkTargets, 0, chunkScratch, 0, rows);
            staged.copy(encoder, chunkNats, 0, natsAt * 4, rows * 4);
          }
        },
        async (step, from) => {
          const data = new Float32Array(await staged.map(rowsMax * rowBytes));
          for (let b = 0; b < B; b++) {
            for (let i = 0; i < step.seq; i++) {
              const r = b * step.seq + i;
              const t = from + i;
              logits?.set(data.subarray(r * V1, (r + 1) * V1), (b * T + t) * V1);
              for (let k = 0; k < nHidden; k++) {
                const o = hiddenAt + k * rowsMax * E;
                hiddenStates![k].set(data.subarray(o + r * E, o + (r + 1) * E), (b * T + t) * E);
              }
              if (nats) nats[b * T + t] = data[natsAt + r];
              for (let k = 0; k < nAttention; k++) {
                for (let h = 0; h < H; h++) {
                  const o = attentionAt + k * rowsMax * attentionRow + (r * H + h) * T;
                  attentions![k].set(data.subarray(o, o + T), ((b * H + h) * T + t) * T);
                }
              }
            }
          }
        },
        inputs,
      );
    } finally {
      for (const b of scratch) b.destroy();
      session.dispose();
    }
    return { logits, hiddenStates, nats, attentions };
  }

  /**
   * One query position's attention weights in every layer and head, for one image: Float32Array
   * [n_layer, n_head, position + 1], where [l, h, s] is how much token `position` attends to token s (each
   * [l, h] row sums to 1). Only inputIds[0..position] are run (causal), and only that row is computed and read
   * back: far less than forward's outputAttentions ([T, T] per layer and head) when one position is wanted.
   */
  attentionRow(inputIds: number[], position: number): Promise<Float32Array> {
    return this.guarded('attentionRow', () => this.runAttentionRow(inputIds, position));
  }

  private async runAttentionRow(inputIds: number[], position: number): Promise<Float32Array> {
    this.checkUsable();
    if (!Array.isArray(inputIds)) throw new Error(`attentionRow: inputIds must be one image's token ids (number[]), got ${describeValue(inputIds)}`);
    checkTokenRows([inputIds], this.config, 'attentionRow');
    this.checkLength([inputIds], 'attentionRow');
    const T = inputIds.length;
    if (typeof position !== 'number' || !Number.isInteger(position) || position < 0 || position >= T) {
      throw new Error(`attentionRow: position must be an integer in 0..${T - 1} (a token of inputIds), got ${describeValue(position)}`);
    }
    const { n_head: H, n_layer: L } = this.config;
    const W = position + 1;
    this.checkBatchFits('attentionRow', 1, W);
    const rowBytes = H * W * 4;
    const session = this.createSession(1, { maxLength: W });
    const out = this.device.createBuffer({ label: 'attention row', size: rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    try {
      const staged = session.stage(L * rowBytes);
      // The tokens before `position` only fill the cache; the query at `position` is a step of its own.
      if (position > 0) await session.run([inputIds.slice(0, position)], () => ({}));
      let result: Float32Array | null = null;
      await session.run(
        [inputIds.slice(position, W)],
        () => ({
          attentionOut: out,
          onAttention: (layer, buffer, encoder) => staged.copy(encoder, buffer, 0, layer * rowBytes, rowBytes),
        }),
        undefined,
        async () => {
          result = new Float32Array(await staged.map(L * rowBytes));
        },
      );
      return result!;
    } finally {
      out.destroy();
      session.dispose();
    }
  }

  /**
   * Bits per token of each image and its per-pixel surprise map, on the GPU. Each image's tokens are scored
   * with SOS first (see BitsPerToken). Inputs are images (with `processor`) or token rows without SOS.
   */
  bitsPerToken(inputs: unknown[], options: BitsPerTokenOptions = {}): Promise<BitsPerToken> {
    return this.guarded('bitsPerToken', () => this.runBitsPerToken(inputs, options));
  }

  private async runBitsPerToken(inputs: unknown[], options: BitsPerTokenOptions): Promise<BitsPerToken> {
    this.checkUsable();
    checkOptionKeys('bitsPerToken', options, BITS_OPTIONS);
    if (!this.weights.lmHead) throw new Error('bitsPerToken: this checkpoint has no lm_head.weight (a classification checkpoint)');
    let ids: number[][];
    if (options.processor !== undefined) {
      if (typeof options.processor?.encode !== 'function') throw new Error('bitsPerToken: processor must have an encode(images) method (an ImageGPTImageProcessor)');
      if (!Array.isArray(inputs) || inputs.length === 0) throw new Error('bitsPerToken: expected a non-empty array of images');
      ids = encodeWith(options.processor, inputs, options.background, 'bitsPerToken');
    } else {
      ids = inputs as number[][];
    }
    checkTokenRows(ids, this.config, 'bitsPerToken');
    this.checkLength(ids, 'bitsPerToken');
    const N = ids.length;
    const T = ids[0].length;
    const width = options.width ?? Math.round(Math.sqrt(T));
    if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || T % width !== 0) {
      throw new Error(`bitsPerToken: width must be an integer that divides the ${T} tokens per image, got ${describeValue(width)}`);
    }
    const batchSize = options.batchSize;
    if (batchSize !== undefined) checkPositiveInteger('bitsPerToken', 'batchSize', batchSize);
    const { onProgress } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new Error(`bitsPerToken: onProgress must be a function, got ${typeof onProgress}`);
    const sos = sosToken(this.config);
    // Every token is a target: SOS is fed first, so the image's last token is never an input.
    const targets = new Int32Array(N * T);
    ids.forEach((row, b) => {
      for (let t = 0; t < T; t++) {
        if (row[t] === sos) throw new Error(`bitsPerToken: inputs[${b}][${t}] is SOS (${sos}); give image tokens only (SOS is prepended here)`);
        targets[b * T + t] = row[t];
      }
    });
    const fits = largestBatchThatFits(this.config, this.device.limits, T, { dtype: this.dtype, tuning: this.kernels.tuning });
    const batch = Math.min(N, batchSize ?? Math.max(1, Math.min(DEFAULT_BATCH_SIZE, fits)));
    checkHostBytes('bitsPerToken', N * T * 4 * 2);
    const surprise = new Float32Array(N * T);
    const bitsPerToken = new Float32Array(N);
    onProgress?.({ done: 0, total: N });
    for (let start = 0; start < N; start += batch) {
      const count = Math.min(batch, N - start);
      const rows = ids.slice(start, start + count).map((row) => [sos, ...row.slice(0, T - 1)]);
      const { nats } = await this.runRows('bitsPerToken', rows, { logits: false, hidden: 0, targets: targets.subarray(start * T, (start + count) * T) });
      for (let b = 0; b < count; b++) {
        let sum = 0;
        for (let t = 0; t < T; t++) {
          const bits = nats![b * T + t] / Math.LN2;
          surprise[(start + b) * T + t] = bits;
          sum += bits;
        }
        bitsPerToken[start + b] = sum / T;
      }
      onProgress?.({ done: start + count, total: N });
    }
    return { bitsPerToken, surprise, width, height: T / width };
  }

  /**
   * Mean over T of hidden state `layer`: Float32Array [B, n_embd], without reading other layers back.
   * With `layers`, several at once for many inputs in GPU batches: Map<layer, Float32Array [N, n_embd]>.
   * Inputs are token rows, or images when `processor` is given.
   */
  // The multi-layer form first: its required `layers` tells them apart before the callbacks are typed.
  features(inputs: unknown[], options: MultiFeatureOptions): Promise<Map<number, Float32Array>>;
  features(inputs: number[][], options?: FeatureOptions): Promise<Float32Array>;
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
    const normalize: unknown = options.normalize ?? false;
    if (typeof normalize !== 'boolean') throw new Error(`features: normalize must be true or false, got ${describeValue(normalize)}`);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new Error(`features: onProgress must be a function, got ${typeof o.onProgress}`);
    if (o.batchSize !== undefined) checkPositiveInteger('features', 'batchSize', o.batchSize);
    let ids: number[][];
    if (o.processor !== undefined) {
      if (typeof o.processor?.encode !== 'function') throw new Error('features: processor must have an encode(images) method (an ImageGPTImageProcessor)');
      if (!Array.isArray(inputs)) throw new Error('features: expected an array of images');
      ids = inputs.length === 0 ? [] : encodeWith(o.processor, inputs, o.background, 'features');
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
      const staged = session.stage(bytes * layers.length);
      for (let start = 0; start < N; start += batch) {
        const count = Math.min(batch, N - start);
        // A short last batch is padded by repeating its last row; those outputs are dropped.
        const rows = Array.from({ length: batch }, (_, b) => ids[start + Math.min(b, count - 1)]);
        session.reset();
        for (const l of layers) this.device.queue.writeBuffer(session.buffers.pooled[l], 0, zeros);
        await session.run(
          rows,
          () => ({ stopAt: deepest, poolHidden: layers, poolNormed: normalize }),
          (encoder, _step, _from, isLast) => {
            if (isLast) layers.forEach((l, i) => staged.copy(encoder, session.buffers.pooled[l], 0, i * bytes, bytes));
          },
          async (_step, _from, isLast) => {
            if (!isLast) return;
            const data = new Float32Array(await staged.map(bytes * layers.length));
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
  classify(inputIds: number[][]): Promise<Float32Array> {
    return this.guarded('classify', async () => {
      this.checkUsable();
      const score = this.weights.score;
      if (!score) throw new Error('classify: this checkpoint has no score.weight (not an ImageGPTForImageClassification checkpoint)');
      // The inputs are checked here so that errors name classify, not the features call below.
      checkTokenRows(inputIds, this.config, 'classify');
      this.checkLength(inputIds, 'classify');
      return this.score(await this.features(inputIds, { layer: this.config.n_layer }));
    });
  }

  /** score(pooled): pooled [B, n_embd] → logits [B, num_labels]. */
  private score(pooled: Float32Array): Float32Array {
    const score = this.weights.score!;
    const E = this.config.n_embd;
    const B = pooled.length / E;
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
    return this.guarded('generate', () => this.runGenerate(options, 'generate'));
  }

  /** generate's work; `what` is the public call (generate or complete) that errors name. */
  private async runGenerate(options: GenerateOptions, what: string): Promise<Int32Array> {
    this.checkUsable();
    if (!this.weights.lmHead) throw new Error(`${what}: this checkpoint has no lm_head.weight (a classification checkpoint)`);
    const checkBatch = (batch: number, maxLength: number) => this.checkBatchFits(what, batch, maxLength);
    checkGenerateOptions(this.config, options, checkBatch, what);
    const info = this.device.adapterInfo as GPUAdapterInfo | undefined;
    this.sampler ??= new Sampler(this.device, info ? { workgroupSize: samplerWorkgroupSizeFor(info) } : {});
    return generateOnGpu(this.config, this.device, this.sampler, this.sessionCache, options, checkBatch, what);
  }

  /**
   * Completes the lower rows of an image: keeps its first `keepRows` token rows (one count, or one per sample) and
   * samples the rest, `samples` times, in one batch. The input is an image (through `processor`) or its tokens.
   */
  complete(input: unknown, options: CompleteOptions): Promise<Completion[]> {
    return this.guarded('complete', () => this.runComplete(input, options));
  }

  private async runComplete(input: unknown, options: CompleteOptions): Promise<Completion[]> {
    this.checkUsable();
    if (typeof options !== 'object' || options === null) throw new Error('complete: options { keepRows, processor, … } are required');
    checkOptionKeys('complete', options, COMPLETE_OPTIONS);
    const { keepRows: keepOption, samples: samplesOption, processor, background, ...sampling } = options;
    const samples = samplesOption ?? (Array.isArray(keepOption) ? keepOption.length : 1);
    if (typeof processor?.encode !== 'function' || typeof processor?.decode !== 'function') {
      throw new Error('complete: options.processor (an ImageGPTImageProcessor, with encode and decode) is required');
    }
    const P = this.config.n_positions;
    const width = options.width ?? Math.round(Math.sqrt(P));
    if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || P % width !== 0) {
      throw new Error(`complete: width must be an integer that divides n_positions (${P}), got ${describeValue(width)}`);
    }
    const height = P / width;
    checkPositiveInteger('complete', 'samples', samples);
    const keepList: unknown[] = Array.isArray(keepOption) ? keepOption : [keepOption];
    if (Array.isArray(keepOption) && keepList.length !== samples) {
      throw new Error(`complete: keepRows holds ${keepList.length} counts but samples is ${samples}; give one count per sample`);
    }
    keepList.forEach((k, i) => {
      // Keeping all `height` rows would generate nothing: refused rather than a silent no-op.
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= height) {
        const which = Array.isArray(keepOption) ? `keepRows[${i}]` : 'keepRows';
        throw new Error(`complete: ${which} must be an integer in 0..${height - 1} (the image is ${height} token rows high; at least one row is generated), got ${describeValue(k)}`);
      }
    });
    // Samples per distinct count, in first-seen order.
    const counts = new Map<number, number>();
    if (Array.isArray(keepOption)) for (const k of keepOption) counts.set(k, (counts.get(k) ?? 0) + 1);
    else counts.set(keepOption, samples);
    if (counts.size > 1 && (options.onRow !== undefined || options.onTokens !== undefined)) {
      throw new Error('complete: onRow and onTokens need one keepRows for every sample (samples keeping different rows complete their image rows at different steps)');
    }
    // Sizes first: the prompt rows below are made per sample. The cache holds SOS, the padding before shorter
    // prompts and each image but its last token: P + (most − fewest kept rows) × width.
    const kept = [...counts.keys()];
    const [most, fewest] = [Math.max(...kept), Math.min(...kept)];
    this.checkBatchFits('complete', samples, P + (most - fewest) * width);
    checkHostBytes('complete', samples * P * 4 * 2);
    let tokens: ArrayLike<number>;
    if (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number')) tokens = input as number[];
    else if (input instanceof Int32Array) tokens = input;
    else {
      // The caller's processor may give anything back: checked, not indexed blindly.
      const rows: unknown = encodeWith(processor, input, background, 'complete');
      if (!Array.isArray(rows) || rows.length !== 1 || !Array.isArray(rows[0])) {
        throw new Error(`complete: processor.encode(image) must give inputIds of one row of tokens, got ${describeValue(rows)}`);
      }
      tokens = rows[0] as number[];
    }
    if (tokens.length !== width * height) {
      throw new Error(`complete: the image has ${describeValue(tokens.length)} tokens, the model expects ${width}×${height} = ${width * height}`);
    }
    const all = Array.from(tokens);
    const completed: Int32Array[] = new Array<Int32Array>(samples);
    // One batch: generate fills each row's image; row i's image starts after (most − its kept rows) × width pads.
    const keepRows = Array.isArray(keepOption) ? keepOption : new Array<number>(samples).fill(keepOption);
    const out = await this.runGenerate({ ...sampling, width, prompt: keepRows.map((k) => all.slice(0, k * width)) }, 'complete');
    const total = out.length / samples;
    keepRows.forEach((k, i) => {
      const start = i * total + (most - k) * width;
      completed[i] = out.slice(start, start + P);
    });
    return completed.map((t) => {
      const img: unknown = processor.decode(t, { height, width });
      const { data, width: w, height: h } = (img ?? {}) as Partial<Completion>;
      if (!(data instanceof Uint8ClampedArray) || typeof w !== 'number' || typeof h !== 'number') {
        throw new Error(`complete: processor.decode(tokens) must give { data: Uint8ClampedArray, width, height }, got ${describeValue(img)}`);
      }
      return { data, width: w, height: h, tokens: t };
    });
  }

  /** GPU memory allocated by the model and its live sessions (generate/complete's cached one included). */
  memory(): MemoryReport {
    const cachedSessionBytes = this.sessionCache.bytes;
    return { weightBytes: this.weights.gpuBytes, sessionBytes: this.sessionBytes, totalBytes: this.weights.gpuBytes + this.sessionBytes, cachedSessionBytes };
  }

  /**
   * Frees every GPU buffer the model and its sessions made, and destroys the device if fromPretrained requested it
   * (a device the caller passed stays theirs, with nothing of the model left on it). Calls in flight reject with
   * "disposed during <call>()"; the memory is freed once they have settled, so no GPU work runs on freed buffers.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Sessions (the caller's and those of calls in flight) see `closed` and stop; they are freed in release().
    if (this.pending.size === 0) this.release();
    else void Promise.all([...this.pending]).then(() => this.release());
  }

  private release(): void {
    this.sessionCache.evict();
    for (const s of [...this.sessions]) s.dispose();
    for (const b of this.weights.buffers) b.destroy();
    this.kernels.destroy();
    this.sampler = null;
    if (this.ownsDevice) this.device.destroy();
  }
}

/**
 * Images to token rows through the caller's processor; `background` is passed only when given, so the
 * processor's own default applies otherwise.
 */
function encodeWith(processor: Pick<CompletionProcessor, 'encode'>, images: unknown, background: Rgb | null | undefined, method: string): number[][] {
  if (background !== undefined && background !== null && !isByteList(background, 3)) {
    throw new Error(`${method}: background must be [r, g, b] with integers 0..255, or null; got ${describeValue(background)}`);
  }
  return (background === undefined ? processor.encode(images as never) : processor.encode(images as never, { background })).inputIds;
}

/** Mean over the T tokens of each of B sequences: hidden [B, T, E] → [B, E] (the classifier's pooling). */
function meanOverTokens(hidden: Float32Array, B: number, E: number): Float32Array {
  const T = hidden.length / (B * E);
  const pooled = new Float32Array(B * E);
  for (let b = 0; b < B; b++) {
    for (let e = 0; e < E; e++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += hidden[(b * T + t) * E + e];
      pooled[b * E + e] = sum / T;
    }
  }
  return pooled;
}
