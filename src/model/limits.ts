// What the model's buffers need of a device's limits, computed from the config alone: the one source
// of the sizes a session allocates (session.ts makes its buffers from sessionSizes), of the limits
// fromPretrained requests, and of the "largest batch that fits" in errors.
import { ImageGPTError, badInput } from '../errors';
import { DEFAULT_TUNINGS, type KernelTuning } from '../gpu/tuning';
import { splitAttentionScratchBytes } from '../gpu/attention';
import { STEP_BYTES } from '../gpu/context';
import type { WeightDType } from '../gpu/types';
import type { ImageGPTConfig } from './config';
import { logitsWidth } from './config';
import { expectedTensorShapes } from './weights';
import { describeValue } from '../json';

/** Batch of `features` over many inputs (and the batch the default device limits are requested for). */
export const DEFAULT_BATCH_SIZE = 32;
/** Rows (batch × tokens) one prefill submit computes, unless a session asks otherwise. */
export const DEFAULT_MAX_ROWS = 1024;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension: kernels dispatch one workgroup row per activation row. */
export const MAX_ROWS_PER_DISPATCH = 65535;
/** The most bytes one result array on the CPU may take (2 GiB: beyond it engines fail or the tab dies). */
export const MAX_HOST_BYTES = 2 ** 31;

/** The two limits the model's buffers depend on (a GPUSupportedLimits has both). */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** A session's shape; optional parts default as createSession does. */
export interface LimitUse {
  batchSize: number;
  maxLength: number;
  /** Prefill rows per submit; default min(DEFAULT_MAX_ROWS, batchSize × maxLength), at least batchSize. */
  maxRows?: number;
  /** Weight storage; default 'f32' (the larger). */
  dtype?: WeightDType;
  /** The kernels' tuning (split-attention scratch); default: the larger need of the default tunings. */
  tuning?: Pick<KernelTuning, 'attentionSplitKeys' | 'attentionMaxSplits' | 'attentionSplitMaxSeq'> & Partial<Pick<KernelTuning, 'decodeAttention'>>;
}

/** Bytes of each buffer a session of this shape makes (rounded as created: multiples of 16, at least 16). */
export interface SessionSizes {
  batchSize: number;
  maxLength: number;
  maxRows: number;
  /** i32 [maxRows] */
  ids: number;
  /** f32 [maxRows, E]: hidden, normed and attnOut each */
  hidden: number;
  /** f32 [maxRows, 3E] */
  qkv: number;
  /** f32 [maxRows, n_inner] */
  mlp: number;
  /** f32 [maxRows, V-1] */
  logits: number;
  /** f32 [batch, E]: one per hidden state (n_layer + 1) */
  pooled: number;
  /** f32 [batch, maxLength, E]: one K and one V per layer */
  kv: number;
  /** Split-K attention scratch, one per layer (0: none) */
  splitScratch: number;
  /** generate's token history, i32 [batch, maxLength + 1] */
  history: number;
  /** The largest MAP_READ staging buffer a call makes: every pooled layer (features) or last logits */
  staging: number;
  /** Every GPU byte of the session (staging and generate's history included) */
  total: number;
}

/** Buffers are made in multiples of 16 bytes, at least 16 (WebGPU binds in 16-byte steps). */
export function bufferBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/**
 * createSession's maxRows: the caller's value, checked (an integer ≥ batchSize: a prefill chunk holds at
 * least one token per sequence; at most MAX_ROWS_PER_DISPATCH), or the default. More rows than
 * batchSize × maxLength are never used, so the buffers are made for no more than that.
 */
export function resolveMaxRows(batchSize: number, maxLength: number, maxRows: unknown, what = 'createSession'): number {
  if (maxRows === undefined) return Math.max(batchSize, Math.min(DEFAULT_MAX_ROWS, batchSize * maxLength));
  if (typeof maxRows !== 'number' || !Number.isInteger(maxRows) || maxRows < batchSize || maxRows > MAX_ROWS_PER_DISPATCH) {
    throw badInput(
      `${what}: maxRows must be an integer in ${batchSize}..${MAX_ROWS_PER_DISPATCH} (at least one row per sequence of the batch), got ${describeValue(maxRows)}`,
    );
  }
  return Math.min(maxRows, batchSize * maxLength);
}

/** The sizes of every buffer a session of this shape makes. Shapes are assumed valid (see checkSessionFits). */
export function sessionSizes(config: ImageGPTConfig, use: LimitUse): SessionSizes {
  const { batchSize: B, maxLength } = use;
  const { n_embd: E, n_inner: I, n_layer: L, n_head: H } = config;
  const V1 = logitsWidth(config);
  const maxRows = resolveMaxRows(B, maxLength, use.maxRows);
  const tunings = use.tuning ? [use.tuning] : DEFAULT_TUNINGS;
  const splitScratch = Math.max(
    ...tunings.map((t) => splitAttentionScratchBytes(t, { maxRows, batch: B, maxPositions: maxLength, nHead: H, headDim: E / H })),
  );
  const s = {
    ids: bufferBytes(maxRows * 4),
    hidden: bufferBytes(maxRows * E * 4),
    qkv: bufferBytes(maxRows * 3 * E * 4),
    mlp: bufferBytes(maxRows * I * 4),
    logits: bufferBytes(maxRows * V1 * 4),
    pooled: bufferBytes(B * E * 4),
    kv: bufferBytes(B * maxLength * E * 4),
    splitScratch,
    history: bufferBytes(B * (maxLength + 1) * 4),
    staging: bufferBytes(Math.max((L + 1) * B * E * 4, B * V1 * 4)),
  };
  const total =
    STEP_BYTES + s.ids + 3 * s.hidden + s.qkv + s.mlp + s.logits + (L + 1) * s.pooled + L * (2 * s.kv + s.splitScratch) + s.history + s.staging;
  return { batchSize: B, maxLength, maxRows, ...s, total };
}

/** The largest weight buffer (weights are bound as storage). */
function largestWeightBytes(config: ImageGPTConfig, dtype: WeightDType): number {
  let largest = bufferBytes(config.n_embd * logitsWidth(config) * (dtype === 'f16' ? 2 : 4)); // lm_head, transposed
  for (const shape of expectedTensorShapes(config).values()) {
    const elements = shape.reduce((a, b) => a * b, 1);
    largest = Math.max(largest, bufferBytes(elements * (shape.length === 2 && dtype === 'f16' ? 2 : 4)));
  }
  return largest;
}

/** The largest storage buffer of the session, with its name (for errors). */
function largestSessionBinding(s: SessionSizes): { name: string; bytes: number } {
  const named: [string, number][] = [
    ['kCache/vCache [batch, maxLength, n_embd] f32', s.kv],
    ['mlp [maxRows, n_inner] f32', s.mlp],
    ['qkv [maxRows, 3 n_embd] f32', s.qkv],
    ['logits [maxRows, vocab_size-1] f32', s.logits],
    ['hidden [maxRows, n_embd] f32', s.hidden],
    ['split attention scratch', s.splitScratch],
    ['history [batch, maxLength+1] i32', s.history],
  ];
  let largest = { name: named[0][0], bytes: named[0][1] };
  for (const [name, bytes] of named) if (bytes > largest.bytes) largest = { name, bytes };
  return largest;
}

/**
 * The largest buffer and the largest storage binding the weights and one session of this batch and
 * length need: the limits to request from an adapter.
 */
export function modelLimitNeeds(
  config: ImageGPTConfig,
  use: LimitUse,
): { maxBufferSize: number; maxStorageBufferBindingSize: number } {
  const s = sessionSizes(config, use);
  const binding = Math.max(largestWeightBytes(config, use.dtype ?? 'f32'), largestSessionBinding(s).bytes);
  return { maxBufferSize: Math.max(binding, s.staging), maxStorageBufferBindingSize: binding };
}

/** Why a session of this shape does not fit, or null where it does (the weights are not counted: they are loaded). */
function sessionMisfit(config: ImageGPTConfig, limits: BufferLimits, use: LimitUse): { limit: string; have: number; need: number; buffer: string } | null {
  const s = sessionSizes(config, use);
  const big = largestSessionBinding(s);
  if (big.bytes > limits.maxStorageBufferBindingSize) {
    return { limit: 'maxStorageBufferBindingSize', have: limits.maxStorageBufferBindingSize, need: big.bytes, buffer: big.name };
  }
  if (big.bytes > limits.maxBufferSize) return { limit: 'maxBufferSize', have: limits.maxBufferSize, need: big.bytes, buffer: big.name };
  if (s.staging > limits.maxBufferSize) return { limit: 'maxBufferSize', have: limits.maxBufferSize, need: s.staging, buffer: 'staging (readback)' };
  return null;
}

/**
 * The largest batch whose session of `maxLength` tokens (and the weights) fits these limits; 0 where
 * not even one sequence fits. At most MAX_ROWS_PER_DISPATCH (one workgroup per sequence).
 */
export function largestBatchThatFits(
  config: ImageGPTConfig,
  limits: BufferLimits,
  maxLength: number,
  use: Omit<LimitUse, 'batchSize' | 'maxLength' | 'maxRows'> = {},
): number {
  const weights = largestWeightBytes(config, use.dtype ?? 'f32');
  if (weights > limits.maxStorageBufferBindingSize || weights > limits.maxBufferSize) return 0;
  const fits = (B: number) => sessionMisfit(config, limits, { ...use, batchSize: B, maxLength }) === null;
  if (!fits(1)) return 0;
  let lo = 1; // fits
  let hi = MAX_ROWS_PER_DISPATCH + 1; // does not (or beyond the dispatch bound)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Throws, before anything is allocated, where a session of this shape exceeds the device's limits:
 * the Error names the limit, the buffer, the bytes needed and the largest batch that fits.
 */
export function checkSessionFits(config: ImageGPTConfig, limits: BufferLimits, use: LimitUse, what: string): void {
  const { batchSize: B, maxLength } = use;
  if (B > MAX_ROWS_PER_DISPATCH) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${what}: batch ${B} exceeds ${MAX_ROWS_PER_DISPATCH} sequences (one GPU workgroup per sequence, per dispatch dimension)`);
  }
  const misfit = sessionMisfit(config, limits, use);
  if (!misfit) return;
  const fit = largestBatchThatFits(config, limits, maxLength, { tuning: use.tuning, dtype: use.dtype });
  const hint =
    fit > 0
      ? `the largest batch that fits at maxLength ${maxLength} is ${fit}`
      : `not even batch 1 fits at maxLength ${maxLength}`;
  throw new ImageGPTError(
    'E_DEVICE_LIMIT',
    `${what}: batch ${B} × maxLength ${maxLength} needs ${misfit.need} bytes for ${misfit.buffer}, ` +
      `but the device's ${misfit.limit} is ${misfit.have}; ${hint} (or use a smaller maxLength/maxRows, or a device with a larger limit)`,
  );
}

/** Throws where a result array on the CPU would exceed MAX_HOST_BYTES (before allocating it). */
export function checkHostBytes(what: string, bytes: number): void {
  if (!(bytes <= MAX_HOST_BYTES)) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${what}: the result needs ${bytes} bytes of CPU memory, more than the ${MAX_HOST_BYTES} bytes (2 GiB) allowed for one call; ask for fewer inputs, tokens or layers per call`);
  }
}
