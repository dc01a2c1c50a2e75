// generate's one planner: checks the options once and turns per-row prompts into what the GPU run needs. Rows of
// different lengths need no padding: every row keeps its true positions (image token j at cache position j + SOS
// offset), the common prefix (the shortest row's tokens) is prefilled, and the decode steps feed a row still inside
// its own prompt its next prompt token (the sampler keeps the given token, see shaders/sample.wgsl) instead of a
// sampled one. So no cache is longer than n_positions, no position is clamped, and every row's image rows complete at
// the same step.
import type { ImageGPTConfig } from '../config';
import { sosToken } from '../config';
import type { KernelTuning } from '../../gpu/kernels';
import type { WeightDType } from '../../gpu/types';
import { kernelSampling, resolveSampling, SAMPLING_OPTIONS, type SamplingOptions } from '../sampling';
import { checkPositiveInteger, checkTokenIds } from '../inputs';
import { checkOptionKeys } from '../../options';
import { checkHostBytes, checkSessionFits } from '../limits';
import { describeValue } from '../../json';
import { badInput } from '../../errors';

export interface GenerateOptions extends SamplingOptions {
  /** Number of samples; inferred from `prompt` when given. Default 1. */
  batchSize?: number;
  /**
   * Given image tokens per sample (HF-style: no SOS), e.g. the kept rows of an image. Rows may differ in length:
   * each row keeps its true positions and gets the tokens it would get alone (greedy); no padding anywhere.
   */
  prompt?: number[][];
  /**
   * Feed SOS before the prompt, as the original ImageGPT (and HF's completion example) does. Default true.
   * With false the prompt is fed exactly as given (it must then be non-empty).
   */
  sos?: boolean;
  /**
   * New tokens after the longest prompt row; every row's result has the same length, longest + maxNewTokens, so a
   * shorter row gets the difference more. Default: fill the image (the result is [B, n_positions]).
   */
  maxNewTokens?: number;
  /** Image width in tokens, for onRow; default √n_positions (ImageGPT images are square). */
  width?: number;
  /** Stop within one step; the model stays usable; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Every step's tokens [B], in order: step g is column shortest + g of the result (a row still inside its prompt
   * gives its prompt token there); delivered when the image row holding them is read back.
   */
  onTokens?: (p: { step: number; tokens: Int32Array }) => void;
  /** One call per image row completed by the run: that row's tokens of every sample, [B, width]. */
  onRow?: (p: { row: number; tokens: Int32Array }) => void;
  /** Filled with counts of submits, readbacks and steps (benchmarks, tests). */
  stats?: GenerateStats;
}

/** What a generate() run did, for benchmarks and tests. */
export interface GenerateStats {
  submits: number;
  readbacks: number;
  steps: number;
}

/** Every option generate() reads; any other key is refused (a misspelt option would be ignored). */
export const GENERATE_OPTIONS: readonly string[] = [...SAMPLING_OPTIONS, 'batchSize', 'prompt', 'sos', 'maxNewTokens', 'width', 'signal', 'onTokens', 'onRow', 'stats'];

/** What a batch must fit: the device's limits with the model's weights' dtype and kernel tuning. */
export interface DeviceBudget {
  limits: GPUSupportedLimits;
  dtype: WeightDType;
  tuning: KernelTuning;
}

/** A generate run, checked and resolved: everything the GPU loop (generate.ts) consumes. */
export interface GeneratePlan {
  /** The public call errors name (generate or complete). */
  what: string;
  batch: number;
  /** Result columns per row (prompt + new), the same for every row. */
  columns: number;
  /** The prompt length every row has: the prefix prefilled in chunks. */
  shortest: number;
  /** Fed first: [B, offset + shortest] (SOS then the common prefix). */
  prefix: number[][];
  /** 1 with SOS fed first, else 0: image token j sits at cache position (and history index) j + offset. */
  offset: number;
  /** Sampler steps: columns − shortest (the last chunk of the prefill is the first). */
  steps: number;
  /** The KV cache the run needs: offset + columns − 1 (the last new token is never fed) ≤ n_positions. */
  cacheLength: number;
  /** i32 [B, historyLength] written once before the run: each row's prompt at its positions (the sampler keeps it). */
  history: Int32Array<ArrayBuffer>;
  historyLength: number;
  /** u32 [B]: history indices below it are given (offset + that row's prompt length). */
  promptEnds: Uint32Array<ArrayBuffer>;
  /** The result, prompts already in place: Int32Array [B, columns]. */
  out: Int32Array;
  width: number;
  sampling: Required<SamplingOptions>;
  signal?: AbortSignal;
  onTokens?: GenerateOptions['onTokens'];
  onRow?: GenerateOptions['onRow'];
  stats?: GenerateStats;
}

/** Types of the options that are not numbers (those are checked where they are used). */
function checkOptionTypes(o: GenerateOptions, what: string): void {
  if (o.sos !== undefined && typeof o.sos !== 'boolean') throw badInput(`${what}: sos must be true or false, got ${describeValue(o.sos)}`);
  for (const key of ['onTokens', 'onRow'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') throw badInput(`${what}: ${key} must be a function, got ${typeof o[key]}`);
  }
  const signal: unknown = o.signal;
  if (signal !== undefined) {
    const isSignal = typeof AbortSignal !== 'undefined' ? signal instanceof AbortSignal : typeof (signal as AbortSignal)?.aborted === 'boolean';
    if (!isSignal) throw badInput(`${what}: signal must be an AbortSignal, got ${signal === null ? 'null' : typeof signal}`);
  }
  const stats: unknown = o.stats;
  if (stats !== undefined) {
    const s = stats as Record<string, unknown>;
    if (typeof stats !== 'object' || stats === null || !['submits', 'readbacks', 'steps'].every((k) => typeof s[k] === 'number')) {
      throw badInput(`${what}: stats must be an object { submits, readbacks, steps } of numbers (it is filled in)`);
    }
  }
}

/**
 * Checks generate's options (before any GPU work, once) and plans the run. `what` is the public call they were given
 * to (complete passes its own name) and starts every message; the batch is checked against `budget`.
 */
export function planGenerate(config: ImageGPTConfig, budget: DeviceBudget, options: GenerateOptions, what = 'generate'): GeneratePlan {
  const o: unknown = options;
  if (typeof o !== 'object' || o === null) throw badInput(`${what}: options must be an object, got ${o === null ? 'null' : typeof o}`);
  checkOptionKeys(what, options, GENERATE_OPTIONS);
  checkOptionTypes(options, what);
  const useSos = options.sos ?? true;
  const P = config.n_positions;
  const sos = sosToken(config);
  let B: number;
  let longest = 0;
  if (options.prompt !== undefined) {
    const prompt: unknown = options.prompt;
    if (!Array.isArray(prompt) || prompt.length === 0) throw badInput(`${what}: prompt must be a non-empty array of token rows`);
    if (options.batchSize !== undefined && options.batchSize !== prompt.length) {
      throw badInput(`${what}: batchSize ${describeValue(options.batchSize)} does not match the prompt's ${prompt.length} rows`);
    }
    prompt.forEach((r: unknown, b) => {
      if (!Array.isArray(r)) throw badInput(`${what}: prompt[${b}] must be an array of image tokens, got ${describeValue(r)}`);
    });
    longest = (prompt as unknown[][]).reduce((m, r) => Math.max(m, r.length), 0);
    B = prompt.length;
  } else {
    B = options.batchSize ?? 1;
    checkPositiveInteger(what, 'batchSize', B);
  }
  // Without a prompt every row is empty (B is not checked yet: nothing of its size is made here).
  const lengths = options.prompt !== undefined ? options.prompt.map((r) => r.length) : null;
  const shortest = lengths ? lengths.reduce((m, n) => Math.min(m, n), longest) : 0;
  if (!useSos && shortest === 0) {
    throw badInput(`${what}: with sos: false every prompt row must hold at least one token (row ${lengths ? lengths.indexOf(0) : 0} is empty)`);
  }
  if (longest > P) throw badInput(`${what}: prompt of ${longest} tokens is longer than n_positions (${P})`);
  // Nothing to generate is refused rather than answered with the prompt alone (a silent no-op).
  if (options.maxNewTokens === undefined && shortest === P) {
    throw badInput(`${what}: every prompt row already holds n_positions (${P}) tokens, so there is nothing left to generate; give a shorter prompt`);
  }
  const maxNew: unknown = options.maxNewTokens ?? P - longest;
  if (options.maxNewTokens !== undefined && (typeof maxNew !== 'number' || !Number.isInteger(maxNew) || maxNew < 1)) {
    throw badInput(`${what}: maxNewTokens must be an integer ≥ 1 (the tokens to generate), got ${describeValue(maxNew)}`);
  }
  const columns = longest + (maxNew as number);
  if (columns > P) throw badInput(`${what}: prompt (${longest}) + maxNewTokens (${describeValue(maxNew)}) exceeds n_positions (${P})`);
  const width = options.width ?? Math.round(Math.sqrt(P));
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > P) {
    throw badInput(`${what}: width must be an integer in 1..${P} (n_positions), got ${describeValue(width)}`);
  }
  const offset = useSos ? 1 : 0;
  const cacheLength = offset + columns - 1;
  // Sizes before anything of their size is made (the rows below, the result, the GPU session).
  checkSessionFits(config, budget.limits, { batchSize: B, maxLength: cacheLength, dtype: budget.dtype, tuning: budget.tuning }, what);
  checkHostBytes(what, B * columns * 4);
  const prompt = options.prompt ?? Array.from({ length: B }, () => []);
  // Rows of any lengths (checkTokenRows wants one length): the same message per bad id.
  prompt.forEach((row, b) => checkTokenIds(`${what}: prompt`, row, b, config));
  if (useSos && prompt.some((r) => r.includes(sos))) {
    throw badInput(`${what}: the prompt must hold image tokens 0..${sos - 1}; SOS (${sos}) is fed by generate itself (option sos)`);
  }
  const sampling = resolveSampling(options, what);

  const historyLength = offset + columns;
  const history = new Int32Array(B * historyLength);
  const promptEnds = new Uint32Array(B);
  const out = new Int32Array(B * columns);
  prompt.forEach((row, b) => {
    if (useSos) history[b * historyLength] = sos;
    history.set(row, b * historyLength + offset);
    promptEnds[b] = offset + row.length;
    out.set(row, b * columns);
  });
  const prefix = prompt.map((row) => (useSos ? [sos, ...row.slice(0, shortest)] : row.slice(0, shortest)));
  return {
    what,
    batch: B,
    columns,
    shortest,
    prefix,
    offset,
    steps: columns - shortest,
    cacheLength,
    history,
    historyLength,
    promptEnds,
    out,
    width,
    sampling: kernelSampling(sampling),
    signal: options.signal,
    onTokens: options.onTokens,
    onRow: options.onRow,
    stats: options.stats,
  };
}
