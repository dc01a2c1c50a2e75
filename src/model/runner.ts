// The engine under every task and session: B sequences in lockstep, with their KV cache and every scratch buffer
// made once, at creation. It owns the only chunk loop: prefill in chunks of at most `maxRows` rows (batch × tokens),
// so the activation memory does not grow with the prompt, masked prefill (HF attention_mask / position_ids), and a
// last chunk submitted with extra ops (the sampler); decode steps reuse the same buffers. Internal: users get the
// thin ImageGPTSession (session.ts), the tasks (tasks/) a runner.
import type { Kernels } from '../gpu/kernels';
import type { StepShape } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import { describeValue } from '../json';
import { checkOptionKeys } from '../options';
import { ImageGPTError, badInput } from '../errors';
import { ForwardPlan, type ActivationBuffers, type EncodeOptions } from './forward';
import { bufferBytes, checkSessionFits, resolveMaxRows, sessionSizes } from './limits';
import type { ModelWeights } from './weights';
import { Readback, type StagedRead } from '../gpu/readback';
import { HfInputBuffers } from './hf-inputs';
import type { DeviceWatch } from './device-watch';
import { checkPositiveInteger, type RowInputs } from './inputs';

export interface SessionOptions {
  /** Longest sequence this session will hold (KV cache length); default n_positions. */
  maxLength?: number;
  /** Most rows (batch × tokens) computed in one submit while prefilling; default 1024. */
  maxRows?: number;
}

/** Everything a session needs from its model. */
export interface SessionContext {
  device: GPUDevice;
  kernels: Kernels;
  config: ImageGPTConfig;
  weights: ModelWeights;
  /** Called with each GPU buffer the session creates and frees, for the model's memory accounting. */
  track: (bytes: number) => void;
  /** The model's watch on its device: calls after a loss throw, GPU failures are explained. */
  watch?: DeviceWatch;
  /** True once the model is disposed: the session starts no more GPU work. */
  closed?: () => boolean;
  /** Told of each public call in flight, so the model frees its weights only after the call has settled. */
  hold?: (call: Promise<unknown>) => void;
}

const SESSION_OPTIONS = ['maxLength', 'maxRows'];

/** Options must be an object of known keys: a misspelt key would otherwise be silently ignored. */
function checkSessionOptions(opts: unknown): void {
  checkOptionKeys('createSession', opts, SESSION_OPTIONS);
}

/** What a caller adds to each chunk of `Runner.run`. */
export interface ChunkHooks {
  /** The forward's options for this chunk (the head, extra ops such as the sampler on the last chunk, readouts). */
  encode: (step: StepShape, isLast: boolean) => EncodeOptions;
  /** Records extra work in the chunk's encoder after its forward (copies out); may wait (for a free staging buffer). */
  beforeSubmit?: (encoder: GPUCommandEncoder, step: StepShape, from: number, isLast: boolean) => void | Promise<void>;
  /** Runs after the chunk's submit (reads results back). */
  afterSubmit?: (step: StepShape, from: number, isLast: boolean) => void | Promise<void>;
}

export class Runner {
  readonly batchSize: number;
  readonly maxLength: number;
  /** Most rows one submit computes. */
  readonly maxRows: number;
  private past = 0;
  private disposed = false;
  private readonly buf: ActivationBuffers;
  private readonly plan: ForwardPlan;
  private readonly owned: GPUBuffer[] = [];
  /** The session's one staging buffer for reading results back (made on first use, grown as needed). */
  private readonly readback: Readback;
  private readonly idsScratch: Int32Array;
  private ownedBytes = 0;
  private readonly validated: Promise<void>;
  /** Public calls queued or running (serial), the tail of their queue, and whether the buffers are freed. */
  private running = 0;
  private queue: Promise<void> = Promise.resolve();
  private released = false;
  /** The cache's key mask (u32 [B, maxLength], made when a mask is first given) and its host copy. */
  private keyMask: GPUBuffer | null = null;
  private keyMaskHost: Uint32Array<ArrayBuffer> | null = null;
  /** Whether any mask bit since the last reset is 0: then every step attends through the key mask. */
  private masked = false;
  /** Position ids of one chunk, u32 [maxRows] (made on first use). */
  private positions: GPUBuffer | null = null;
  private positionsScratch: Uint32Array<ArrayBuffer> | null = null;
  /** Token types, inputs embeds and head mask on the GPU (made when first given). */
  private hf: HfInputBuffers | null = null;

  /** @internal Made by the model (openRunner), which owns the context. */
  constructor(private readonly ctx: SessionContext, batchSize: number, opts: SessionOptions = {}) {
    const { config, device } = ctx;
    checkSessionOptions(opts);
    checkPositiveInteger('createSession', 'batchSize', batchSize);
    const maxLength = opts.maxLength ?? config.n_positions;
    // No cache is longer than n_positions: prompts of different lengths keep their true positions (tasks/generate-plan.ts).
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1 || maxLength > config.n_positions) {
      throw badInput(`createSession: maxLength must be an integer in 1..${config.n_positions} (n_positions), got ${describeValue(maxLength)}`);
    }
    const maxRows = resolveMaxRows(batchSize, maxLength, opts.maxRows);
    const use = { batchSize, maxLength, maxRows, dtype: ctx.weights.dtype, tuning: ctx.kernels.tuning };
    // Every size is checked against the device before the first buffer is made.
    checkSessionFits(config, device.limits, use, `createSession(${batchSize})`);
    const sizes = sessionSizes(config, use);
    this.batchSize = batchSize;
    this.maxLength = maxLength;
    this.maxRows = maxRows;

    const { n_layer: L } = config;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const own = (b: GPUBuffer): GPUBuffer => {
      this.owned.push(b);
      this.ownedBytes += b.size;
      return b;
    };
    const make = (label: string, bytes: number, usage = storage): GPUBuffer => own(device.createBuffer({ label, size: bytes, usage }));
    // Running out of GPU memory is reported asynchronously too; run() reports it.
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      this.buf = {
        step: own(ctx.kernels.createStepBuffer(maxLength)), // the cache length is read from here: no per-length compile
        ids: make('ids', sizes.ids),
        hidden: make('hidden', sizes.hidden),
        normed: make('normed', sizes.hidden),
        qkv: make('qkv', sizes.qkv),
        attnOut: make('attnOut', sizes.hidden),
        mlp: make('mlp', sizes.mlp),
        logits: make('logits', sizes.logits),
        pooled: Array.from({ length: L + 1 }, (_, k) => make(`pooled.${k}`, sizes.pooled)),
        kCache: Array.from({ length: L }, (_, i) => make(`kCache.${i}`, sizes.kv)),
        vCache: Array.from({ length: L }, (_, i) => make(`vCache.${i}`, sizes.kv)),
      };
      this.idsScratch = new Int32Array(maxRows);
      // Bind-group mistakes surface asynchronously in WebGPU; caught here, checked on first use.
      this.plan = new ForwardPlan(ctx.kernels, config, ctx.weights, this.buf, maxLength);
    } catch (e) {
      // Free what was made: a failed session must not hold GPU memory nobody can release.
      for (const b of this.owned) b.destroy();
      this.owned.length = 0;
      void device.popErrorScope().catch(() => null);
      void device.popErrorScope().catch(() => null);
      throw e;
    }
    const validation = device.popErrorScope();
    const memory = device.popErrorScope();
    this.validated = Promise.all([validation, memory, ctx.kernels.ready()]).then(([error, oom]) => {
      if (oom) {
        throw new ImageGPTError('E_DEVICE_LIMIT', `ImageGPT session (batch ${batchSize}, maxLength ${maxLength}): the GPU ran out of memory making ${this.ownedBytes} bytes of buffers: ${oom.message}`);
      }
      if (error) throw new ImageGPTError('E_INTERNAL', `ImageGPT session: the GPU rejected the forward's setup: ${error.message}`);
    });
    this.validated.catch(() => {}); // reported by run(), not as an unhandled rejection
    ctx.track(this.ownedBytes);
    this.readback = new Readback(device, {
      label: 'session',
      onAllocate: (delta) => {
        this.ownedBytes += delta;
        this.ctx.track(delta);
      },
    });
  }

  get config(): ImageGPTConfig {
    return this.ctx.config;
  }

  /** Tokens already in the KV cache (per sequence). */
  get length(): number {
    return this.past;
  }

  /** GPU bytes this session owns (KV cache + activations + staging). */
  get gpuBytes(): number {
    return this.ownedBytes;
  }

  /** Drops the cached tokens (and their mask); the buffers stay for reuse. */
  reset(): void {
    // Moving the cache position under a running prefill or step would silently mix two sequences.
    if (this.running > 0) throw new ImageGPTError('E_BUSY', 'reset: a prefill or step of this session is still running; await it before reset()');
    this.past = 0;
    this.masked = false;
    this.keyMaskHost?.fill(1);
  }

  /** A GPU buffer this session owns (freed by dispose, counted in gpuBytes). */
  private makeBuffer(label: string, bytes: number): GPUBuffer {
    const size = bufferBytes(bytes);
    const b = this.ctx.device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.owned.push(b);
    this.ownedBytes += size;
    this.ctx.track(size);
    return b;
  }

  /**
   * Records the mask bits of the next T tokens of each row (positions past … past+T-1) in the cache's key mask
   * and uploads it. A mask of all ones on an unmasked cache changes nothing (the plain kernels keep running).
   */
  private writeKeyMask(mask: ArrayLike<number>[], T: number): void {
    this.checkUsable();
    const B = this.batchSize;
    if (!this.masked && mask.every((row) => Array.prototype.every.call(row, (v: number) => v === 1))) return;
    if (!this.keyMaskHost) this.keyMaskHost = new Uint32Array(B * this.maxLength).fill(1);
    if (this.past + T > this.maxLength) {
      throw badInput(`session: ${this.past} cached + ${T} new tokens exceeds the session's maxLength ${this.maxLength}`);
    }
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) this.keyMaskHost[b * this.maxLength + this.past + t] = mask[b][t];
    this.keyMask ??= this.makeBuffer('keyMask', B * this.maxLength * 4);
    this.ctx.device.queue.writeBuffer(this.keyMask, 0, this.keyMaskHost);
    this.masked = true;
  }

  /** Writes the position ids of one chunk (row b*seq + i = rows[b][from + i]); the caller passes `positions: true` to encode. */
  private writePositions(rows: ArrayLike<number>[], from: number, seq: number): void {
    this.checkUsable();
    const B = this.batchSize;
    this.positions ??= this.makeBuffer('positionIds', this.maxRows * 4);
    this.positionsScratch ??= new Uint32Array(this.maxRows);
    for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.positionsScratch[b * seq + i] = rows[b][from + i];
    this.ctx.device.queue.writeBuffer(this.positions, 0, this.positionsScratch, 0, B * seq);
  }

  /** The key mask and position buffers for ForwardPlan.encode: the mask once any bit was 0, positions when written for this step. */
  private inputBuffers(withPositions: boolean): Pick<EncodeOptions, 'keyMask' | 'positions'> {
    return {
      keyMask: this.masked ? this.keyMask! : undefined,
      positions: withPositions ? this.positions! : undefined,
    };
  }

  /** The activation buffers, for the ops a task adds (the sampler reads the logits and writes the ids; features read the pooled sums). */
  get buffers(): Readonly<ActivationBuffers> {
    return this.buf;
  }

  /** The forward's recorded ops (benchmarks count and time them). */
  get forwardPlan(): ForwardPlan {
    return this.plan;
  }

  /** Throws where the session may not start GPU work: its device lost, it or its model disposed. */
  checkUsable(): void {
    this.ctx.watch?.check();
    if (this.disposed) throw new ImageGPTError('E_DISPOSED', 'ImageGPTSession: used after dispose()');
    if (this.ctx.closed?.()) throw new ImageGPTError('E_DISPOSED', 'ImageGPTSession: used after its model was disposed');
  }

  /**
   * Runs the public calls (prefill, step) one after another: two at once would share the cache position and the
   * staging buffer. A call that dispose() overtakes rejects with "disposed during <call>()"; the buffers are freed
   * once it has settled, never under its GPU work.
   */
  serial<T>(what: string, call: () => Promise<T>): Promise<T> {
    const overtaken = (e?: unknown) => new ImageGPTError('E_DISPOSED', `ImageGPTSession: disposed during ${what}()`, e === undefined ? undefined : { cause: e });
    this.running++;
    const result = this.queue.then(async () => {
      let value: T;
      try {
        this.checkUsable(); // the call before it may have failed the device, or dispose() come meanwhile
        value = await call();
      } catch (e) {
        if (this.disposed || this.ctx.closed?.()) throw overtaken(e);
        throw e;
      }
      if (this.disposed || this.ctx.closed?.()) throw overtaken();
      return value;
    });
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.queue = settled;
    this.ctx.hold?.(settled);
    void settled.then(() => {
      this.running--;
      if (this.disposed && this.running === 0) this.release();
    });
    return result;
  }

  /** Resolves once the session's pipelines and bind groups are known good; rejects naming the problem. */
  ready(): Promise<void> {
    return this.validated;
  }

  /**
   * The session's staging buffer, at least `bytes` large (reused across calls): record copies into it in a step's
   * encoder (`perChunk`, `onHidden`, …) and map() it after that submit (`afterSubmit`).
   */
  stage(bytes: number): StagedRead {
    this.checkUsable();
    return this.readback.stage(bytes);
  }

  /** Writes the ids of one chunk (row b*seq + i) and the step shape at the current position. */
  private writeChunk(rows: ArrayLike<number>[], from: number, seq: number): StepShape {
    const B = this.batchSize;
    for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.idsScratch[b * seq + i] = rows[b][from + i];
    this.ctx.device.queue.writeBuffer(this.buf.ids, 0, this.idsScratch.buffer, 0, B * seq * 4);
    return this.writeStepOnly(seq);
  }

  /** Writes only the step shape: the ids are already on the GPU (written by the sampler; benchmarks time bare steps). */
  writeStepOnly(seq: number): StepShape {
    this.checkUsable();
    if (this.past + seq > this.maxLength) {
      throw badInput(`session: ${this.past} cached + ${seq} new tokens exceeds the session's maxLength ${this.maxLength}`);
    }
    const step: StepShape = { batch: this.batchSize, seq, past: this.past };
    this.ctx.kernels.writeStep(this.buf.step, step);
    return step;
  }

  /** Rows of one prefill chunk per sequence. */
  get chunkLength(): number {
    return Math.max(1, Math.floor(this.maxRows / this.batchSize));
  }

  /** Moves the cache position after a step the caller submitted itself (benchmarks' bare steps). */
  advance(seq: number): void {
    this.past += seq;
  }

  /**
   * Runs `tokens` (B rows of equal length) through the model on top of the cache, in chunks: the only chunk loop.
   * `inputs` (checked by the caller, shaped like `tokens`): the tokens' mask bits, position ids and HF inputs.
   * Failures after a device loss become the loss's error.
   */
  async run(tokens: ArrayLike<number>[], hooks: ChunkHooks, inputs: RowInputs = {}): Promise<void> {
    try {
      await this.runChunks(tokens, hooks, inputs);
    } catch (e) {
      throw this.ctx.watch ? await this.ctx.watch.explain('session', e) : e;
    }
  }

  private async runChunks(tokens: ArrayLike<number>[], hooks: ChunkHooks, inputs: RowInputs): Promise<void> {
    this.checkUsable();
    await this.validated;
    const T = tokens[0].length;
    if (tokens.length !== this.batchSize) throw badInput(`session: expected ${this.batchSize} rows (the session's batch size), got ${tokens.length}`);
    if (this.past + T > this.maxLength) {
      throw badInput(`session: ${this.past} cached + ${T} new tokens exceeds the session's maxLength ${this.maxLength}`);
    }
    if (inputs.attentionMask) this.writeKeyMask(inputs.attentionMask, T);
    const chunk = this.chunkLength;
    for (let from = 0; from < T; from += chunk) {
      const seq = Math.min(chunk, T - from);
      const isLast = from + seq === T;
      const step = this.writeChunk(tokens, from, seq);
      if (inputs.positionIds) this.writePositions(inputs.positionIds, from, seq);
      const hfGiven = inputs.tokenTypeIds || inputs.inputsEmbeds || inputs.headMask;
      this.hf ??= hfGiven ? new HfInputBuffers(this.ctx.device, this.ctx.config, this.batchSize, this.maxRows, (l, b) => this.makeBuffer(l, b)) : null;
      const hf = hfGiven ? this.hf!.writeChunk(inputs, from, seq) : {};
      const encoder = this.ctx.device.createCommandEncoder();
      this.plan.encode(encoder, step, { ...hooks.encode(step, isLast), ...this.inputBuffers(inputs.positionIds !== undefined), ...hf });
      await hooks.beforeSubmit?.(encoder, step, from, isLast);
      this.ctx.device.queue.submit([encoder.finish()]);
      this.past += seq;
      await hooks.afterSubmit?.(step, from, isLast);
    }
  }

  /**
   * One decode step of one token per sequence whose ids are already on the GPU (the sampler wrote them), with the
   * same encode options every step (nothing made per token); `beforeSubmit` records extra copies in its encoder.
   */
  async decodeStep(options: EncodeOptions, beforeSubmit?: (encoder: GPUCommandEncoder) => void | Promise<void>): Promise<StepShape> {
    const step = this.writeStepOnly(1);
    const encoder = this.ctx.device.createCommandEncoder();
    this.plan.encode(encoder, step, options);
    await beforeSubmit?.(encoder);
    this.ctx.device.queue.submit([encoder.finish()]);
    this.past += 1;
    return step;
  }

  /** Frees the session's GPU buffers; a prefill or step in flight rejects, and the buffers go once it has settled. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.running === 0) this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.plan.destroy();
    this.readback.destroy(); // reports its bytes to ownedBytes and track first
    for (const b of this.owned) b.destroy();
    this.ctx.track(-this.ownedBytes);
    this.owned.length = 0;
  }
}
