// ImageGPT on WebGPU: the façade. Construction (fromPretrained), sessions, memory and dispose live here; each task
// is a function in tasks/ given the model's parts (TaskContext): generate/complete, forward, features/classify,
// bitsPerToken/attentionRow. The façade checks the model is usable, runs the task guarded, and tracks its calls.
import { Kernels, type KernelTuning } from '../gpu/kernels';
import type { WeightDType } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import { DeviceWatch } from './device-watch';
import { Runner, type SessionContext, type SessionOptions } from './runner';
import { ImageGPTSession } from './session';
import type { ModelWeights } from './weights';
import { loadPretrained, type LoadOptions } from './load';
import { precompilePipelines } from './precompile';
import type { PretrainedSource } from '../loading/index';
import { Sampler, samplerWorkgroupSizeFor } from '../gpu/sampler';
import { SessionCache } from './session-cache';
import { ImageGPTError } from '../errors';
import { Trainer, type TrainerOptions } from '../train/trainer';
import type { TaskContext } from './tasks/context';
import { classifierConfig, f32BodyCopy, initialScore, type ForImageClassificationOptions } from './classifier';
import type { GenerateOptions } from './tasks/generate-plan';
import { generate } from './tasks/generate';
import { complete, type CompleteOptions, type Completion } from './tasks/complete';
import { runForward, type ForwardOptions, type ForwardResult } from './tasks/forward';
import { classify, runFeatures, type FeatureOptions, type MultiFeatureOptions } from './tasks/features';
import { runAttentionRow, runBitsPerToken, type BitsPerToken, type BitsPerTokenOptions } from './tasks/likelihood';

/** Where a model comes from (see PretrainedSource); kept under its old name. */
export type ModelSource = PretrainedSource;

export type { LoadOptions };

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
  /** Runners in use (users' sessions' and calls'), freed with the model. */
  private readonly runners = new Set<Runner>();
  /** Trainers made by createTrainer, disposed with the model (they write its weights). */
  private readonly trainers = new Set<Trainer>();
  /** generate/complete's session kept between calls (see session-cache.ts for the policy). */
  private readonly sessionCache = new SessionCache(
    (batch, maxLength) => this.openRunner(batch, { maxLength }),
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
    let model: ImageGPT;
    try {
      // The tuning was resolved and checked once, in model/load.ts (the adapter's defaults, then options.tuning).
      const kernels = new Kernels(device, tuning);
      model = new ImageGPT(config, device, weights, kernels, ownsDevice);
    } catch (e) {
      for (const b of weights.buffers) b.destroy();
      if (ownsDevice) device.destroy();
      throw e;
    }
    try {
      // Compiled now, asynchronously, so the first generate/complete/features/bitsPerToken compiles nothing.
      await precompilePipelines(device, { config, kernels: model.kernels, weights, sampler: model.samplerFor() });
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  /**
   * A new ImageGPTForImageClassification on `model`'s device: f32 copies of its body (embeddings, blocks, ln_f; from
   * f32 or f16 weights), no lm_head, and a fresh score.weight [numLabels, n_embd] drawn from normal(0,
   * initializer_range) with `seed` (see model/classifier.ts). Its config has num_labels, id2label and label2id set
   * (`JSON.stringify(classifier.config)` is its config.json). `model` is left as it was; the new model does not own
   * the device, so dispose it before a source model that requested its own device.
   */
  static async forImageClassification(model: ImageGPT, options: ForImageClassificationOptions): Promise<ImageGPT> {
    if (!(model instanceof ImageGPT)) throw new ImageGPTError('E_BAD_INPUT', 'forImageClassification: expected an ImageGPT model as the first argument');
    const config = classifierConfig(model.config, options);
    return model.run('forImageClassification', async () => {
      const score = { weight: initialScore(config, config.num_labels!, options.seed ?? 0), numLabels: config.num_labels! };
      const weights = await f32BodyCopy(model.device, model.weights, score);
      try {
        if (model.disposed) throw new ImageGPTError('E_DISPOSED', 'ImageGPT: disposed during forImageClassification()');
        return new ImageGPT(config, model.device, weights, new Kernels(model.device, model.tuning), false);
      } catch (e) {
        for (const b of weights.buffers) b.destroy();
        throw e;
      }
    });
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
    if (this.disposed) throw new ImageGPTError('E_DISPOSED', 'ImageGPT: used after dispose()');
    this.watch.check();
  }

  /** A KV-cache session for `batchSize` sequences decoded in lockstep. Dispose it when done. */
  createSession(batchSize: number, options: SessionOptions = {}): ImageGPTSession {
    return new ImageGPTSession(this.openRunner(batchSize, options));
  }

  /**
   * A trainer that fine-tunes this model's weights in place on the GPU (f32 weights): ImageGPTForCausalImageModeling,
   * `step(inputIds, { labels? })` → `{ loss, gradNorm }`, or a classifier (score.weight, e.g. from
   * forImageClassification), `step(inputIds, { labels: number[] })` → `{ loss, gradNorm, logits }`. Disposed with the
   * model. See README, "Fine-tuning".
   */
  createTrainer(options: TrainerOptions): Trainer {
    this.checkUsable();
    this.sessionCache.evict(); // training needs the memory more than an idle generate session does
    const trainer = new Trainer({ device: this.device, config: this.config, weights: this.weights }, options, () => this.trainers.delete(trainer));
    this.trainers.add(trainer);
    return trainer;
  }

  /** A runner for a session or one call, tracked until disposed. */
  private openRunner(batchSize: number, options: SessionOptions): Runner {
    this.checkUsable();
    // Any new runner frees the idle cached one first, so the model never holds more than it did without the cache.
    this.sessionCache.evict();
    const r = new Runner(this.context(), batchSize, options);
    this.runners.add(r);
    const dispose = r.dispose.bind(r);
    r.dispose = () => {
      dispose();
      this.runners.delete(r);
    };
    return r;
  }

  /** The model's parts as the tasks see them. */
  private task(): TaskContext {
    return {
      config: this.config,
      device: this.device,
      dtype: this.dtype,
      kernels: this.kernels,
      weights: this.weights,
      budget: { limits: this.device.limits, dtype: this.dtype, tuning: this.kernels.tuning },
      openRunner: (batchSize, options) => this.openRunner(batchSize, options),
      sessions: this.sessionCache,
      sampler: () => this.samplerFor(),
    };
  }

  /** The model's sampler (made on first use), with the workgroup size for this device's adapter. */
  private samplerFor(): Sampler {
    const info = this.device.adapterInfo as GPUAdapterInfo | undefined;
    this.sampler ??= new Sampler(this.device, info ? { workgroupSize: samplerWorkgroupSizeFor(info) } : {});
    return this.sampler;
  }

  /** Runs task `what` guarded, once the model is known usable. */
  private run<T>(what: string, task: (ctx: TaskContext) => Promise<T>): Promise<T> {
    return this.guarded(what, async () => {
      this.checkUsable();
      return task(this.task());
    });
  }

  /**
   * Runs a public call; a failure caused by a lost device becomes one Error that says so. A call that dispose()
   * overtakes rejects with "disposed during <call>()" (what it got from the GPU, if anything, is the cause), and the
   * model's GPU memory is freed only once every such call has settled.
   */
  private guarded<T>(what: string, run: () => Promise<T>): Promise<T> {
    const startedDisposed = this.disposed;
    const overtaken = (e?: unknown) => new ImageGPTError('E_DISPOSED', `ImageGPT: disposed during ${what}()`, e === undefined ? undefined : { cause: e });
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
    return this.run('forward', (ctx) => runForward(ctx, inputIds, options === undefined ? {} : options)) as Promise<ForwardResult<O>>;
  }

  /**
   * One query position's attention weights in every layer and head, for one image: Float32Array
   * [n_layer, n_head, position + 1], where [l, h, s] is how much token `position` attends to token s (each
   * [l, h] row sums to 1). Only inputIds[0..position] are run (causal), and only that row is computed and read
   * back: far less than forward's outputAttentions ([T, T] per layer and head) when one position is wanted.
   */
  attentionRow(inputIds: number[], position: number): Promise<Float32Array> {
    return this.run('attentionRow', (ctx) => runAttentionRow(ctx, inputIds, position));
  }

  /**
   * Bits per token of each image and its per-pixel surprise map, on the GPU. Each image's tokens are scored
   * with SOS first (see BitsPerToken). Inputs are images (with `processor`) or token rows without SOS.
   */
  bitsPerToken(inputs: unknown[], options: BitsPerTokenOptions = {}): Promise<BitsPerToken> {
    return this.run('bitsPerToken', (ctx) => runBitsPerToken(ctx, inputs, options));
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
    return this.run('features', (ctx) => runFeatures(ctx, inputs, options));
  }

  /**
   * ImageGPTForImageClassification: score(mean over T of hiddenStates[n_layer]) for a checkpoint with
   * `score.weight`. Returns logits [B, num_labels]; labels are in `config.id2label`.
   */
  classify(inputIds: number[][]): Promise<Float32Array> {
    return this.run('classify', (ctx) => classify(ctx, inputIds));
  }

  /**
   * Generates image tokens with sampling on the GPU: Int32Array [B, prompt + new] (no SOS).
   * Starts from SOS, then the prompt's tokens (HF-style, no SOS) if given.
   */
  generate(options: GenerateOptions = {}): Promise<Int32Array> {
    return this.run('generate', (ctx) => generate(ctx, options));
  }

  /**
   * Completes the lower rows of an image: keeps its first `keepRows` token rows (one count, or one per sample) and
   * samples the rest, `samples` times, in one batch. The input is an image (through `processor`) or its tokens.
   */
  complete(input: unknown, options: CompleteOptions): Promise<Completion[]> {
    return this.run('complete', (ctx) => complete(ctx, input, options));
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
    for (const r of [...this.runners]) r.dispose();
    for (const t of [...this.trainers]) t.dispose();
    for (const b of this.weights.buffers) b.destroy();
    this.kernels.destroy();
    this.sampler = null;
    if (this.ownsDevice) this.device.destroy();
  }
}
