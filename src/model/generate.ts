// Generation with the loop on the GPU: each step records the forward of the newest token and the
// sampler, which writes the sampled token where the next step's embedding reads it. The CPU only
// records commands (one submit per token) and reads tokens back once per image row, through a small
// ring of staging buffers so the GPU never waits on mapAsync.
import type { Sampler } from '../gpu/sampler';
import type { ImageGPTConfig } from './config';
import { logitsWidth, sosToken } from './config';
import { resolveSampling, SAMPLING_OPTIONS, type SamplingOptions } from './sampling';
import type { ImageGPTSession } from './session';
import { AbortedError, checkOptionKeys, checkTokenRows } from './session';
import { checkHostBytes } from './limits';
import { describeValue } from '../json';

export interface GenerateOptions extends SamplingOptions {
  /** Number of samples; inferred from `prompt` when given. Default 1. */
  batchSize?: number;
  /** Given image tokens per sample (HF-style: no SOS), e.g. the kept rows of an image. */
  prompt?: number[][];
  /**
   * Feed SOS before the prompt, as the original ImageGPT (and HF's completion example) does. Default true.
   * With false the prompt is fed exactly as given (it must then be non-empty).
   */
  sos?: boolean;
  /** Default: fill the image (n_positions − prompt length). */
  maxNewTokens?: number;
  /** Image width in tokens, for onRow; default √n_positions (ImageGPT images are square). */
  width?: number;
  /** Stop within one step; the model stays usable; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Every step's newest tokens [B], in order; delivered when the row holding them is read back. */
  onTokens?: (p: { step: number; tokens: Int32Array }) => void;
  /** One call per completed image row: that row's tokens of every sample, [B, width]. */
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

/** Staging buffers for row readbacks. */
const RING = 3;
/**
 * The CPU may run at most MAX_IN_FLIGHT × CHECK_EVERY steps ahead of the GPU: that bounds the work an
 * abort leaves queued. Waiting on the GPU only every few steps matters where the wait spins the CPU
 * (Dawn in Node, SwiftShader) and would steal it from the GPU work itself.
 */
const CHECK_EVERY = 8;
const MAX_IN_FLIGHT = 2;

/** Every option generate() reads; any other key is refused (a misspelt option would be ignored). */
export const GENERATE_OPTIONS: readonly string[] = [
  ...SAMPLING_OPTIONS,
  'batchSize',
  'prompt',
  'sos',
  'maxNewTokens',
  'width',
  'signal',
  'onTokens',
  'onRow',
  'stats',
];

function abortError(): Error {
  return new AbortedError('generate');
}

/** Types of the options that are not numbers (those are checked where they are used). */
function checkOptionTypes(o: GenerateOptions, what: string): void {
  if (o.sos !== undefined && typeof o.sos !== 'boolean') throw new Error(`${what}: sos must be true or false, got ${describeValue(o.sos)}`);
  for (const key of ['onTokens', 'onRow'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') {
      throw new Error(`${what}: ${key} must be a function, got ${typeof o[key]}`);
    }
  }
  const signal: unknown = o.signal;
  if (signal !== undefined) {
    const isSignal = typeof AbortSignal !== 'undefined' ? signal instanceof AbortSignal : typeof (signal as AbortSignal)?.aborted === 'boolean';
    if (!isSignal) throw new Error(`${what}: signal must be an AbortSignal, got ${signal === null ? 'null' : typeof signal}`);
  }
  const stats: unknown = o.stats;
  if (stats !== undefined) {
    const s = stats as Record<string, unknown>;
    if (typeof stats !== 'object' || stats === null || !['submits', 'readbacks', 'steps'].every((k) => typeof s[k] === 'number')) {
      throw new Error(`${what}: stats must be an object { submits, readbacks, steps } of numbers (it is filled in)`);
    }
  }
}

interface Readback {
  slot: number;
  from: number; // first generated token (index among the new tokens)
  count: number; // tokens per sample
  done: Promise<void>;
}

interface Plan {
  B: number;
  prompt: number[][];
  promptLen: number;
  maxNew: number;
  useSos: boolean;
  width: number;
}

/**
 * Checks a batch of B sequences whose session holds `maxLength` tokens fits the device, before
 * anything of that size is allocated (the model's limits check; throws naming the limit).
 */
export type BatchCheck = (batchSize: number, maxLength: number) => void;

function plan(config: ImageGPTConfig, o: GenerateOptions, checkBatch?: BatchCheck): Plan {
  checkOptionKeys('generate', o, GENERATE_OPTIONS);
  checkOptionTypes(o, 'generate');
  const useSos = o.sos ?? true;
  const P = config.n_positions;
  const sos = sosToken(config);
  let B: number;
  let promptLen = 0;
  if (o.prompt !== undefined) {
    const prompt: unknown = o.prompt;
    if (!Array.isArray(prompt) || prompt.length === 0) throw new Error('generate: prompt must be a non-empty array of token rows');
    if (o.batchSize !== undefined && o.batchSize !== prompt.length) {
      throw new Error(`generate: batchSize ${describeValue(o.batchSize)} does not match the prompt's ${prompt.length} rows`);
    }
    promptLen = Array.isArray(prompt[0]) ? prompt[0].length : -1;
    if (prompt.some((r) => !Array.isArray(r) || r.length !== promptLen)) throw new Error('generate: prompt rows must be arrays of the same length (ragged prompt)');
    B = prompt.length;
  } else {
    B = o.batchSize ?? 1;
    if (typeof B !== 'number' || !Number.isInteger(B) || B < 1) throw new Error(`generate: batchSize must be a positive integer, got ${describeValue(B)}`);
  }
  if (!useSos && promptLen === 0) throw new Error('generate: with sos: false the prompt must hold at least one token');
  if (promptLen > P) throw new Error(`generate: prompt of ${promptLen} tokens is longer than n_positions (${P})`);
  const maxNew = o.maxNewTokens ?? P - promptLen;
  if (typeof maxNew !== 'number' || !Number.isInteger(maxNew) || maxNew < 0) {
    throw new Error(`generate: maxNewTokens must be an integer ≥ 0, got ${describeValue(maxNew)}`);
  }
  if (promptLen + maxNew > P) throw new Error(`generate: prompt (${promptLen}) + maxNewTokens (${maxNew}) exceeds n_positions (${P})`);
  const width = o.width ?? Math.round(Math.sqrt(P));
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > P) {
    throw new Error(`generate: width must be an integer in 1..${P} (n_positions), got ${describeValue(width)}`);
  }
  // Sizes before anything of their size is made (the rows below, the result, the GPU session).
  if (maxNew > 0) checkBatch?.(B, (useSos ? 1 : 0) + promptLen + maxNew - 1);
  checkHostBytes('generate', B * (promptLen + maxNew) * 4);
  let prompt: number[][];
  if (o.prompt !== undefined) {
    prompt = o.prompt;
    if (promptLen > 0) checkTokenRows(prompt, config, 'generate: prompt');
    if (useSos && prompt.some((r) => r.includes(sos))) {
      throw new Error(`generate: the prompt must hold image tokens 0..${sos - 1}; SOS (${sos}) is fed by generate itself (option sos)`);
    }
  } else {
    prompt = Array.from({ length: B }, () => []);
  }
  return { B, prompt, promptLen, maxNew, useSos, width };
}

/** Checks generate's options without running anything (clear errors before any GPU work). */
export function checkGenerateOptions(config: ImageGPTConfig, o: GenerateOptions, checkBatch?: BatchCheck): void {
  if (typeof o !== 'object' || o === null) throw new Error(`generate: options must be an object, got ${o === null ? 'null' : typeof o}`);
  plan(config, o, checkBatch);
  resolveSampling(o);
}

/**
 * Runs generation on a session made by `makeSession(batch, maxLength)` (disposed here).
 * Returns Int32Array [B, prompt + new] image tokens (no SOS).
 */
export async function generateOnGpu(
  config: ImageGPTConfig,
  device: GPUDevice,
  sampler: Sampler,
  makeSession: (batch: number, maxLength: number) => ImageGPTSession,
  options: GenerateOptions,
  /** The model's set of live GPU resources: what this run makes is in it until freed (model.dispose frees it too). */
  resources?: Set<{ destroy(): void }>,
  checkBatch?: BatchCheck,
): Promise<Int32Array> {
  const stats = options.stats;
  const { B, prompt, promptLen, maxNew, useSos, width } = plan(config, options, checkBatch);
  const sampling = resolveSampling(options);
  const total = promptLen + maxNew;
  const out = new Int32Array(B * total);
  for (let b = 0; b < B; b++) out.set(prompt[b], b * total);
  if (maxNew === 0) return out;
  const signal = options.signal;
  if (signal?.aborted) throw abortError();

  // Image token j sits at position j + offset (offset 1 with SOS first). The last new token is never fed.
  const offset = useSos ? 1 : 0;
  const fed = prompt.map((r) => (useSos ? [sosToken(config), ...r] : r));
  const fedLen = fed[0].length;
  const session = makeSession(B, fedLen + maxNew - 1);
  await session.ready().catch((e: unknown) => {
    session.dispose();
    throw e;
  });
  const historyLength = fedLen + maxNew;
  const made: { destroy(): void }[] = [];
  const own = <T extends { destroy(): void }>(r: T): T => {
    made.push(r);
    resources?.add(r);
    return r;
  };
  const readbacksInFlight: Promise<void>[] = [];
  const count = (k: keyof GenerateStats) => {
    if (stats) stats[k]++;
  };
  try {
    const history = own(device.createBuffer({ label: 'history', size: Math.ceil((B * historyLength * 4) / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }));
    const params = own(sampler.createParamsBuffer());
    sampler.writeParams(params, sampling);
    const buf = session.buffers;
    const sample = own(sampler.sample({ step: buf.step, params, logits: buf.logits, vocab: logitsWidth(config), nextIds: buf.ids, history, historyLength }));
    const ring = Array.from({ length: RING }, (_, i) =>
      own(device.createBuffer({ label: `tokens.ring.${i}`, size: Math.ceil((B * width * 4) / 16) * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })),
    );
    const readbacks: (Readback | null)[] = new Array(RING).fill(null);
    let nextSlot = 0;
    let delivered = 0;

    const deliver = (upTo: number) => {
      for (let g = delivered; g < upTo; g++) {
        if (options.onTokens) {
          const t = new Int32Array(B);
          for (let b = 0; b < B; b++) t[b] = out[b * total + promptLen + g];
          options.onTokens({ step: g, tokens: t });
        }
        const index = promptLen + g;
        if (options.onRow && (index + 1) % width === 0) {
          const row = (index + 1) / width - 1;
          const rowTokens = new Int32Array(B * width);
          for (let b = 0; b < B; b++) rowTokens.set(out.subarray(b * total + row * width, b * total + (row + 1) * width), b * width);
          options.onRow({ row, tokens: rowTokens });
        }
      }
      delivered = Math.max(delivered, upTo);
    };

    // Copies new tokens [from, from + n) of every sample to a ring slot, in the step's encoder.
    const recordReadback = async (encoder: GPUCommandEncoder, from: number, n: number): Promise<Readback> => {
      const slot = nextSlot;
      nextSlot = (nextSlot + 1) % RING;
      const prev = readbacks[slot];
      if (prev) await prev.done; // its tokens are delivered and the buffer unmapped
      for (let b = 0; b < B; b++) {
        encoder.copyBufferToBuffer(history, (b * historyLength + promptLen + from + offset) * 4, ring[slot], b * n * 4, n * 4);
      }
      return { slot, from, count: n, done: Promise.resolve() };
    };
    const startMap = (r: Readback) => {
      const staging = ring[r.slot];
      const bytes = B * r.count * 4;
      count('readbacks');
      r.done = staging.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
        const tokens = new Int32Array(staging.getMappedRange(0, bytes).slice(0));
        staging.unmap();
        for (let b = 0; b < B; b++) out.set(tokens.subarray(b * r.count, (b + 1) * r.count), b * total + promptLen + r.from);
        deliver(r.from + r.count);
      });
      // Awaited later; a rejection meanwhile (device lost, a throwing callback) must not go unhandled.
      r.done.catch(() => {});
      readbacks[r.slot] = r;
      readbacksInFlight.push(r.done);
    };

    const inFlight: Promise<unknown>[] = [];
    let generated = 0; // new tokens sampled so far (by submitted work)
    let unread = 0; // of which not yet queued for readback
    const submitStep = async (encoder: GPUCommandEncoder, seq: number) => {
      generated++;
      unread++;
      const index = promptLen + generated - 1;
      let r: Readback | null = null;
      if ((index + 1) % width === 0 || generated === maxNew) {
        r = await recordReadback(encoder, generated - unread, unread);
        unread = 0;
      }
      device.queue.submit([encoder.finish()]);
      count('submits');
      session.advance(seq);
      if (r) startMap(r);
      if (generated % CHECK_EVERY === 0) {
        const done = device.queue.onSubmittedWorkDone();
        done.catch(() => {}); // awaited below, or dropped when the run fails
        inFlight.push(done);
        if (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift();
      }
    };

    // Prefill (SOS + prompt) in chunks; the last chunk's last position gives the first new token.
    const chunk = session.chunkLength;
    for (let from = 0; from < fedLen; from += chunk) {
      const seq = Math.min(chunk, fedLen - from);
      const isLast = from + seq === fedLen;
      const step = session.writeChunk(fed, from, seq);
      const encoder = device.createCommandEncoder();
      session.forwardPlan.encode(encoder, step, { head: isLast, extra: isLast ? [sample] : [] });
      if (isLast) {
        count('steps');
        await submitStep(encoder, seq);
      } else {
        device.queue.submit([encoder.finish()]);
        count('submits');
        session.advance(seq);
      }
    }
    // Decode: the sampler already wrote each sequence's newest token into the ids buffer.
    while (generated < maxNew) {
      if (signal?.aborted) throw abortError();
      const step = session.writeStepOnly(1);
      const encoder = device.createCommandEncoder();
      session.forwardPlan.encode(encoder, step, { head: true, extra: [sample] });
      count('steps');
      await submitStep(encoder, 1);
    }
    await Promise.all(readbacks.map((r) => r?.done));
    if (signal?.aborted) throw abortError();
    return out;
  } finally {
    // Submitted work still completes after destroy(); a pending map just rejects (ignored: we are leaving).
    for (const p of readbacksInFlight) p.catch(() => {});
    session.dispose();
    for (const b of made) {
      b.destroy();
      resources?.delete(b);
    }
  }
}
