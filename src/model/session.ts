// A session: B sequences decoded in lockstep, with their KV cache and every scratch buffer made
// once, at creation. Prefill runs in chunks of at most `maxRows` rows (batch × tokens), so the
// activation memory does not grow with the prompt; decode steps reuse the same buffers.
import type { Kernels } from '../gpu/kernels';
import type { StepShape } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import { logitsWidth } from './config';
import { describeValue } from '../json';
import { checkOptionKeys } from '../options';
import { ForwardPlan, type ActivationBuffers, type EncodeOptions } from './forward';
import { bufferBytes, checkSessionFits, resolveMaxRows, sessionSizes } from './limits';
import type { ModelWeights } from './weights';
import { Readback, type StagedRead } from '../gpu/readback';
import { HF_INPUT_OPTIONS, HfInputBuffers, checkHeadMask, checkInputsEmbeds, idsOrPlaceholders, type HeadMask } from './hf-inputs';

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

/** The caller's signal stopped the work (generate's AbortError, told apart from the GPU's own aborts). */
export class AbortedError extends Error {
  constructor(what: string) {
    super(`${what}: aborted`);
    this.name = 'AbortError';
  }
}

/** What is known of one device's loss: one handler on `device.lost` per device, whatever number of models use it. */
interface DeviceLossState {
  info: GPUDeviceLostInfo | null;
  lost: Promise<GPUDeviceLostInfo>;
  /** Calls waiting briefly for a loss to be reported (explain); each removes itself when its wait ends. */
  waiters: Set<() => void>;
}

const lossStates = new WeakMap<GPUDevice, DeviceLossState>();

/**
 * The device's loss state, made on first use. A promise reaction cannot be removed, so a handler per model would
 * stay on the caller's device after dispose(); this one is shared and holds no model.
 */
function lossState(device: GPUDevice): DeviceLossState {
  let state = lossStates.get(device);
  if (!state) {
    const made: DeviceLossState = { info: null, lost: null as unknown as Promise<GPUDeviceLostInfo>, waiters: new Set() };
    made.lost = device.lost.then((info) => {
      made.info = info;
      for (const wake of made.waiters) wake();
      made.waiters.clear();
      return info;
    });
    lossStates.set(device, made);
    state = made;
  }
  return state;
}

/**
 * Watches a device for loss. A lost device fails pending GPU promises with bare errors (Dawn: an
 * AbortError with an empty message); explain() turns those into one Error saying what happened.
 */
export class DeviceWatch {
  private readonly state: DeviceLossState;

  constructor(device: GPUDevice) {
    this.state = lossState(device);
  }

  get lost(): Promise<GPUDeviceLostInfo> {
    return this.state.lost;
  }

  get isLost(): boolean {
    return this.state.info !== null;
  }

  /** Throws the loss Error once the device is lost. */
  check(): void {
    if (this.state.info) throw lostError(this.state.info);
  }

  /**
   * The Error to give the caller for a failure `e` of call `what`. GPU-side failures (not ours) wait
   * briefly for the loss to be reported, since the pending promises may reject before `device.lost` resolves.
   */
  async explain(what: string, e: unknown): Promise<Error> {
    const state = this.state;
    if (state.info) return lostError(state.info);
    if (e instanceof AbortedError) return e;
    const ours = e instanceof Error && e.name === 'Error' && e.message !== '';
    if (ours) return e;
    // Not Promise.race on `lost`: a reaction on a pending promise would stay until the device is lost.
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        state.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, LOSS_GRACE_MS);
      state.waiters.add(wake);
    });
    if (state.info) return lostError(state.info);
    if (e instanceof Error) return e;
    return new Error(`${what}: failed with a non-Error value: ${describeValue(e)}`);
  }
}

/** How long a GPU-side failure waits for device.lost (Dawn reports it within a few ms). */
const LOSS_GRACE_MS = 200;

function lostError(info: GPUDeviceLostInfo): Error {
  const why = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
  return new Error(`ImageGPT: the GPU device was lost (${why}); create a new model (on a new device)`);
}

const SESSION_OPTIONS = ['maxLength', 'maxRows'];

/** prefill / forward inputs beside the ids (HF attention_mask, position_ids), each shaped like the ids [B, T]. */
export interface RowInputs {
  /** 1 = attend, 0 = padding. The session's cache keeps each row's mask: later steps never attend masked keys. */
  attentionMask?: number[][];
  /** The wpe row of each token, 0..n_positions-1; default: the cache length + 0..T-1. */
  positionIds?: number[][];
  /** HF token_type_ids: ids 0..vocab_size-1 embedded through wte and added to the input embeddings. */
  tokenTypeIds?: number[][];
  /** HF head_mask: [n_head] (every layer) or [n_layer][n_head] factors multiplying each head's attention weights. */
  headMask?: HeadMask;
  /** HF inputs_embeds [B, T, n_embd], used instead of wte[ids] (forward and prefill then take null for the ids). */
  inputsEmbeds?: number[][][];
}

/** step's inputs: one value per sequence, like its tokens. */
export interface StepInputs {
  attentionMask?: number[];
  positionIds?: number[];
  tokenTypeIds?: number[];
  /** As prefill's: not per token. */
  headMask?: HeadMask;
}

export const ROW_INPUT_OPTIONS: readonly string[] = ['attentionMask', 'positionIds', ...HF_INPUT_OPTIONS];

/**
 * Checks attentionMask (0/1) and positionIds (integers in 0..n_positions-1) have the ids' shape [B, T]; before any
 * GPU work. Returns them (undefined where not given).
 */
export function checkRowInputs(what: string, o: RowInputs, B: number, T: number, config: ImageGPTConfig): RowInputs {
  const check = (key: 'attentionMask' | 'positionIds' | 'tokenTypeIds', ok: (v: unknown) => boolean, expected: string): number[][] | undefined => {
    const rows: unknown = o[key];
    if (rows === undefined) return undefined;
    const shape = `the shape of the ids [${B}, ${T}]`;
    if (!Array.isArray(rows) || rows.length !== B) {
      throw new Error(`${what}: ${key} must be ${B} rows (${shape}), got ${Array.isArray(rows) ? `${rows.length} rows` : describeValue(rows)}`);
    }
    rows.forEach((row: unknown, b) => {
      if (!Array.isArray(row) || row.length !== T) {
        throw new Error(`${what}: ${key}[${b}] must be ${T} values (${shape}), got ${Array.isArray(row) ? `${row.length} values` : describeValue(row)}`);
      }
      row.forEach((v: unknown, t) => {
        if (!ok(v)) throw new Error(`${what}: ${key}[${b}][${t}] = ${describeValue(v)}; expected ${expected}`);
      });
    });
    return rows as number[][];
  };
  const P = config.n_positions;
  const V = config.vocab_size;
  if (o.headMask !== undefined) checkHeadMask(what, o.headMask, config);
  if (o.inputsEmbeds !== undefined) checkInputsEmbeds(what, o.inputsEmbeds, config, B, T);
  return {
    attentionMask: check('attentionMask', (v) => v === 0 || v === 1, '0 (padding) or 1 (attend)'),
    positionIds: check('positionIds', (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < P, `an integer position in 0..${P - 1} (n_positions - 1)`),
    tokenTypeIds: check('tokenTypeIds', (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < V, `a token id in 0..${V - 1} (embedded through wte)`),
    headMask: o.headMask,
    inputsEmbeds: o.inputsEmbeds,
  };
}

/** Options must be an object of known keys: a misspelt key would otherwise be silently ignored. */
function checkSessionOptions(opts: unknown): void {
  checkOptionKeys('createSession', opts, SESSION_OPTIONS);
}

/** Throws unless `v` is a positive integer ("<what>: <name> must be a positive integer, got …"). */
export function checkPositiveInteger(what: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name} must be a positive integer, got ${describeValue(v)}`);
}

/** Checks row b's ids are integers in 0..vocab_size-1, naming the first bad one as what[b][t]. */
export function checkTokenIds(what: string, row: ArrayLike<number>, b: number, config: ImageGPTConfig): void {
  for (let t = 0; t < row.length; t++) {
    const id = row[t];
    if (!Number.isInteger(id) || id < 0 || id >= config.vocab_size) {
      throw new Error(`${what}[${b}][${t}] = ${describeValue(id)}: token ids must be integers in 0..${config.vocab_size - 1}`);
    }
  }
}

/** Validates a batch of token rows: equal lengths, integer ids in range. Before any GPU work. */
export function checkTokenRows(rows: unknown, config: ImageGPTConfig, what = 'inputIds'): number[][] {
  if (!Array.isArray(rows) || rows.length === 0) throw new Error(`${what}: expected a non-empty array of token rows (number[][])`);
  const T = Array.isArray(rows[0]) ? rows[0].length : -1;
  rows.forEach((row, b) => {
    if (!Array.isArray(row) && !ArrayBuffer.isView(row)) throw new Error(`${what}[${b}]: expected an array of token ids`);
    const r = row as ArrayLike<number>;
    if (r.length !== T) throw new Error(`${what}: ragged rows — row 0 has ${T} tokens, row ${b} has ${r.length}; all rows must have the same length`);
    checkTokenIds(what, r, b, config);
  });
  if (T === 0) throw new Error(`${what}: rows are empty; at least one token per row is needed`);
  return rows as number[][];
}

export class ImageGPTSession {
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

  /**
   * `longestCache` is for the library only: generate's batch of prompts of different lengths keeps their padding in
   * the cache too, so its cache is longer than n_positions (each row's position ids stay below n_positions).
   * @internal Users get sessions from `ImageGPT.createSession`, which owns the context.
   */
  constructor(private readonly ctx: SessionContext, batchSize: number, opts: SessionOptions = {}, longestCache = ctx.config.n_positions) {
    const { config, device } = ctx;
    checkSessionOptions(opts);
    checkPositiveInteger('createSession', 'batchSize', batchSize);
    const maxLength = opts.maxLength ?? config.n_positions;
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1 || maxLength > longestCache) {
      const limit = longestCache === config.n_positions ? `${config.n_positions} (n_positions)` : `${longestCache}`;
      throw new Error(`createSession: maxLength must be an integer in 1..${limit}, got ${describeValue(maxLength)}`);
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
        throw new Error(`ImageGPT session (batch ${batchSize}, maxLength ${maxLength}): the GPU ran out of memory making ${this.ownedBytes} bytes of buffers: ${oom.message}`);
      }
      if (error) throw new Error(`ImageGPT session: the GPU rejected the forward's setup: ${error.message}`);
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

  /** Tokens already in the KV cache (per sequence). */
  get length(): number {
    return this.past;
  }

  /** @internal GPU bytes this session owns (KV cache + activations + staging). */
  get gpuBytes(): number {
    return this.ownedBytes;
  }

  /** Drops the cached tokens (and their mask); the buffers stay for reuse. */
  reset(): void {
    // Moving the cache position under a running prefill or step would silently mix two sequences.
    if (this.running > 0) throw new Error('reset: a prefill or step of this session is still running; await it before reset()');
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
   * @internal
   */
  writeKeyMask(mask: ArrayLike<number>[], T: number): void {
    this.checkUsable();
    const B = this.batchSize;
    if (!this.masked && mask.every((row) => Array.prototype.every.call(row, (v: number) => v === 1))) return;
    if (!this.keyMaskHost) this.keyMaskHost = new Uint32Array(B * this.maxLength).fill(1);
    if (this.past + T > this.maxLength) {
      throw new Error(`session: ${this.past} cached + ${T} new tokens exceeds the session's maxLength ${this.maxLength}`);
    }
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) this.keyMaskHost[b * this.maxLength + this.past + t] = mask[b][t];
    this.keyMask ??= this.makeBuffer('keyMask', B * this.maxLength * 4);
    this.ctx.device.queue.writeBuffer(this.keyMask, 0, this.keyMaskHost);
    this.masked = true;
  }

  /** @internal Writes the position ids of one chunk (row b*seq + i = rows[b][from + i]); the caller passes `positions: true` to encode. */
  writePositions(rows: ArrayLike<number>[], from: number, seq: number): void {
    this.checkUsable();
    const B = this.batchSize;
    this.positions ??= this.makeBuffer('positionIds', this.maxRows * 4);
    this.positionsScratch ??= new Uint32Array(this.maxRows);
    for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.positionsScratch[b * seq + i] = rows[b][from + i];
    this.ctx.device.queue.writeBuffer(this.positions, 0, this.positionsScratch, 0, B * seq);
  }

  /** @internal The key mask and position buffers for ForwardPlan.encode: the mask once any bit was 0, positions when written for this step. */
  inputBuffers(withPositions: boolean): Pick<EncodeOptions, 'keyMask' | 'positions'> {
    return {
      keyMask: this.masked ? this.keyMask! : undefined,
      positions: withPositions ? this.positions! : undefined,
    };
  }

  /** @internal Buffers for generation and features built on top of a session. */
  get buffers(): Readonly<ActivationBuffers> {
    return this.buf;
  }

  /** @internal */
  get forwardPlan(): ForwardPlan {
    return this.plan;
  }

  private checkUsable(): void {
    this.ctx.watch?.check();
    if (this.disposed) throw new Error('ImageGPTSession: used after dispose()');
    if (this.ctx.closed?.()) throw new Error('ImageGPTSession: used after its model was disposed');
  }

  /**
   * Runs the public calls (prefill, step) one after another: two at once would share the cache position and the
   * staging buffer. A call that dispose() overtakes rejects with "disposed during <call>()"; the buffers are freed
   * once it has settled, never under its GPU work.
   */
  private serial<T>(what: string, call: () => Promise<T>): Promise<T> {
    const overtaken = (e?: unknown) => new Error(`ImageGPTSession: disposed during ${what}()`, e === undefined ? undefined : { cause: e });
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

  /** @internal Resolves once the session's pipelines and bind groups are known good; rejects naming the problem. */
  ready(): Promise<void> {
    return this.validated;
  }

  /**
   * The session's staging buffer, at least `bytes` large (reused across calls): record copies into it in a step's
   * encoder (`perChunk`, `onHidden`, …) and map() it after that submit (`afterSubmit`).
   * @internal
   */
  stage(bytes: number): StagedRead {
    this.checkUsable();
    return this.readback.stage(bytes);
  }

  /** @internal Writes the ids of one chunk (row b*seq + i) and the step shape at the current position. */
  writeChunk(rows: ArrayLike<number>[], from: number, seq: number): StepShape {
    const B = this.batchSize;
    for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.idsScratch[b * seq + i] = rows[b][from + i];
    this.ctx.device.queue.writeBuffer(this.buf.ids, 0, this.idsScratch.buffer, 0, B * seq * 4);
    return this.writeStepOnly(seq);
  }

  /** @internal Writes only the step shape: the ids are already on the GPU (written by the sampler). */
  writeStepOnly(seq: number): StepShape {
    this.checkUsable();
    if (this.past + seq > this.maxLength) {
      throw new Error(`session: ${this.past} cached + ${seq} new tokens exceeds the session's maxLength ${this.maxLength}`);
    }
    const step: StepShape = { batch: this.batchSize, seq, past: this.past };
    this.ctx.kernels.writeStep(this.buf.step, step);
    return step;
  }

  /** @internal Moves the cache position after a submitted step. */
  advance(seq: number): void {
    this.past += seq;
  }

  /** @internal Rows of one prefill chunk per sequence. */
  get chunkLength(): number {
    return Math.max(1, Math.floor(this.maxRows / this.batchSize));
  }

  /**
   * Runs `tokens` (B rows of equal length) through the model on top of the cache, in chunks.
   * `perChunk` records extra work after each chunk's forward (copies out) and is told the chunk's shape.
   * `inputs` (checked by the caller, shaped like `tokens`): the tokens' mask bits and position ids.
   * @internal
   */
  async run(
    tokens: ArrayLike<number>[],
    encodeOptions: (step: StepShape, isLast: boolean) => EncodeOptions,
    perChunk?: (encoder: GPUCommandEncoder, step: StepShape, from: number, isLast: boolean) => void,
    afterSubmit?: (step: StepShape, from: number, isLast: boolean) => Promise<void>,
    inputs: RowInputs = {},
  ): Promise<void> {
    try {
      await this.runChunks(tokens, encodeOptions, perChunk, afterSubmit, inputs);
    } catch (e) {
      throw this.ctx.watch ? await this.ctx.watch.explain('session', e) : e;
    }
  }

  private async runChunks(
    tokens: ArrayLike<number>[],
    encodeOptions: (step: StepShape, isLast: boolean) => EncodeOptions,
    perChunk?: (encoder: GPUCommandEncoder, step: StepShape, from: number, isLast: boolean) => void,
    afterSubmit?: (step: StepShape, from: number, isLast: boolean) => Promise<void>,
    inputs: RowInputs = {},
  ): Promise<void> {
    this.checkUsable();
    await this.validated;
    const T = tokens[0].length;
    if (tokens.length !== this.batchSize) throw new Error(`session: expected ${this.batchSize} rows (the session's batch size), got ${tokens.length}`);
    if (this.past + T > this.maxLength) {
      throw new Error(`session: ${this.past} cached + ${T} new tokens exceeds the session's maxLength ${this.maxLength}`);
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
      this.plan.encode(encoder, step, { ...encodeOptions(step, isLast), ...this.inputBuffers(inputs.positionIds !== undefined), ...hf });
      perChunk?.(encoder, step, from, isLast);
      this.ctx.device.queue.submit([encoder.finish()]);
      this.advance(seq);
      await afterSubmit?.(step, from, isLast);
    }
  }

  /**
   * Logits at the last prefix position for each row: Float32Array [B, vocab_size-1]. `attentionMask`,
   * `positionIds` and `tokenTypeIds` are shaped like `prefix` (HF semantics; the mask is kept with the cache for
   * later steps); `headMask` scales this call's heads; with `inputsEmbeds` ([B, T, n_embd]) prefix is null.
   */
  async prefill(prefix: number[][] | null, options: RowInputs = {}): Promise<Float32Array> {
    this.checkUsable();
    checkOptionKeys('prefill', options, ROW_INPUT_OPTIONS);
    // With inputsEmbeds (and no ids) the session runs placeholder ids that the embedding does not read.
    prefix = idsOrPlaceholders('prefill', prefix, options.inputsEmbeds, this.ctx.config);
    checkTokenRows(prefix, this.ctx.config, 'prefill');
    if (prefix.length !== this.batchSize) throw new Error(`prefill: expected ${this.batchSize} rows (the session's batch size), got ${prefix.length}`);
    const inputs = checkRowInputs('prefill', options, prefix.length, prefix[0].length, this.ctx.config);
    return this.lastLogits(prefix, inputs);
  }

  /**
   * One token per sequence; logits for the next position: Float32Array [B, vocab_size-1]. `attentionMask`,
   * `positionIds` and `tokenTypeIds` hold one value per sequence, like `tokens`; `headMask` is as prefill's.
   */
  async step(tokens: number[], options: StepInputs = {}): Promise<Float32Array> {
    this.checkUsable();
    checkOptionKeys('step', options, ROW_INPUT_OPTIONS.filter((k) => k !== 'inputsEmbeds'));
    if (!Array.isArray(tokens) || tokens.length !== this.batchSize) {
      throw new Error(`step: expected ${this.batchSize} tokens (one per sequence), got ${Array.isArray(tokens) ? tokens.length : typeof tokens}`);
    }
    checkTokenRows(tokens.map((t) => [t]), this.ctx.config, 'step');
    const column = (key: keyof StepInputs): number[][] | undefined => {
      const v: unknown = options[key];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || v.length !== this.batchSize) {
        throw new Error(`step: ${key} must hold ${this.batchSize} values (one per sequence, like the tokens), got ${Array.isArray(v) ? `${v.length} values` : describeValue(v)}`);
      }
      return v.map((x: unknown) => [x as number]);
    };
    const stepInputs = { attentionMask: column('attentionMask'), positionIds: column('positionIds'), tokenTypeIds: column('tokenTypeIds'), headMask: options.headMask };
    const inputs = checkRowInputs('step', stepInputs, this.batchSize, 1, this.ctx.config);
    return this.lastLogits(tokens.map((t) => [t]), inputs, 'step');
  }

  private lastLogits(rows: number[][], inputs: RowInputs, what = 'prefill'): Promise<Float32Array> {
    return this.serial(what, () => this.readLastLogits(rows, inputs));
  }

  private async readLastLogits(rows: number[][], inputs: RowInputs): Promise<Float32Array> {
    const B = this.batchSize;
    const V1 = logitsWidth(this.ctx.config);
    const rowBytes = V1 * 4;
    const staged = this.stage(B * rowBytes);
    let result: Float32Array | null = null;
    await this.run(
      rows,
      (_step, isLast) => ({ head: isLast }),
      (encoder, step, _from, isLast) => {
        if (!isLast) return;
        for (let b = 0; b < B; b++) {
          staged.copy(encoder, this.buf.logits, (b * step.seq + step.seq - 1) * rowBytes, b * rowBytes, rowBytes);
        }
      },
      async (_step, _from, isLast) => {
        if (isLast) result = new Float32Array(await staged.map(B * rowBytes));
      },
      inputs,
    );
    return result!;
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
