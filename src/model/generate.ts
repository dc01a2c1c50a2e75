// Generation with the loop on the GPU: each step records the forward of the newest token and the
// sampler, which writes the sampled token where the next step's embedding reads it. The CPU only
// records commands (one submit per token) and reads tokens back once per image row, through a Readback
// ring of staging buffers so the GPU never waits on mapAsync.
import type { Sampler } from '../gpu/sampler';
import { Readback, type StagedRead } from '../gpu/readback';
import type { ImageGPTConfig } from './config';
import { logitsWidth, sosToken } from './config';
import { kernelSampling, resolveSampling, SAMPLING_OPTIONS, type SamplingOptions } from './sampling';
import type { SessionLease } from './session-cache';
import { AbortedError, checkPositiveInteger, checkTokenIds } from './session';
import { checkOptionKeys } from '../options';
import { bufferBytes, checkHostBytes } from './limits';
import { describeValue } from '../json';

export interface GenerateOptions extends SamplingOptions {
  /** Number of samples; inferred from `prompt` when given. Default 1. */
  batchSize?: number;
  /**
   * Given image tokens per sample (HF-style: no SOS), e.g. the kept rows of an image. Rows may differ in length:
   * they are left-padded inside with HF generate's rule (attention mask 0 on the padding, position ids
   * cumsum(mask) - 1), so each row's tokens are those it would get alone; the result's rows are then left-padded
   * with PROMPT_PAD. onRow needs rows of one length. Without maxNewTokens every row fills its image (see maxNewTokens).
   */
  prompt?: number[][];
  /**
   * Feed SOS before the prompt, as the original ImageGPT (and HF's completion example) does. Default true.
   * With false the prompt is fed exactly as given (it must then be non-empty).
   */
  sos?: boolean;
  /**
   * Default: fill the image (n_positions − prompt length). With prompt rows of different lengths the default fills
   * every row's image in one batch: the result is [B, longest + n_positions − shortest], row b holding its image
   * (n_positions tokens) after longest − its length PROMPT_PADs and PROMPT_PAD after it. A given maxNewTokens is the
   * same for every row (longest + maxNewTokens ≤ n_positions).
   */
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

/** What generate's result holds before a shorter prompt row (rows are left-padded to the longest prompt). */
export const PROMPT_PAD = -1;

/** The token fed (and masked out) where a shorter prompt row is padded: any valid id would do. */
const PAD_TOKEN = 0;

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

interface RowRead {
  staged: StagedRead;
  from: number; // first generated token (index among the new tokens)
  count: number; // tokens per sample
  done: Promise<void>;
}

interface Plan {
  B: number;
  prompt: number[][];
  /** The longest prompt row's length; shorter rows are left-padded to it. */
  promptLen: number;
  /** Padding before each row (promptLen − its length); all 0 for a prompt of one length. */
  pads: number[];
  maxNew: number;
  useSos: boolean;
  width: number;
}

/**
 * Checks a batch of B sequences whose session holds `maxLength` tokens fits the device, before
 * anything of that size is allocated (the model's limits check; throws naming the limit).
 */
export type BatchCheck = (batchSize: number, maxLength: number) => void;

function plan(config: ImageGPTConfig, o: GenerateOptions, checkBatch: BatchCheck | undefined, what: string): Plan {
  checkOptionKeys(what, o, GENERATE_OPTIONS);
  checkOptionTypes(o, what);
  const useSos = o.sos ?? true;
  const P = config.n_positions;
  const sos = sosToken(config);
  let B: number;
  let promptLen = 0;
  if (o.prompt !== undefined) {
    const prompt: unknown = o.prompt;
    if (!Array.isArray(prompt) || prompt.length === 0) throw new Error(`${what}: prompt must be a non-empty array of token rows`);
    if (o.batchSize !== undefined && o.batchSize !== prompt.length) {
      throw new Error(`${what}: batchSize ${describeValue(o.batchSize)} does not match the prompt's ${prompt.length} rows`);
    }
    prompt.forEach((r: unknown, b) => {
      if (!Array.isArray(r)) throw new Error(`${what}: prompt[${b}] must be an array of image tokens, got ${describeValue(r)}`);
    });
    promptLen = (prompt as unknown[][]).reduce((m, r) => Math.max(m, r.length), 0);
    B = prompt.length;
  } else {
    B = o.batchSize ?? 1;
    checkPositiveInteger(what, 'batchSize', B);
  }
  // Without a prompt every row is empty (B is not checked yet: nothing of its size is made here).
  const lengths = o.prompt !== undefined ? o.prompt.map((r) => r.length) : null;
  const shortest = lengths ? lengths.reduce((m, n) => Math.min(m, n), promptLen) : 0;
  if (!useSos && shortest === 0) {
    const empty = lengths ? lengths.indexOf(0) : 0;
    throw new Error(`${what}: with sos: false every prompt row must hold at least one token (row ${empty} is empty)`);
  }
  if (shortest < promptLen && o.onRow !== undefined) {
    throw new Error(`${what}: onRow needs prompt rows of one length (these are ${shortest} to ${promptLen} tokens, so their image rows complete at different steps); use onTokens`);
  }
  if (promptLen > P) throw new Error(`${what}: prompt of ${promptLen} tokens is longer than n_positions (${P})`);
  // Ragged rows by default fill each row's image: the shortest row decides the number of steps.
  const maxNew = o.maxNewTokens ?? P - shortest;
  // Nothing to generate is refused rather than answered with the prompt alone (a silent no-op).
  if (typeof maxNew !== 'number' || !Number.isInteger(maxNew) || maxNew < 1) {
    if (o.maxNewTokens === undefined) {
      throw new Error(`${what}: every prompt row already holds n_positions (${P}) tokens, so there is nothing left to generate; give a shorter prompt`);
    }
    throw new Error(`${what}: maxNewTokens must be an integer ≥ 1 (the tokens to generate), got ${describeValue(maxNew)}`);
  }
  if (o.maxNewTokens !== undefined && promptLen + maxNew > P) throw new Error(`${what}: prompt (${promptLen}) + maxNewTokens (${maxNew}) exceeds n_positions (${P})`);
  const width = o.width ?? Math.round(Math.sqrt(P));
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > P) {
    throw new Error(`${what}: width must be an integer in 1..${P} (n_positions), got ${describeValue(width)}`);
  }
  // Sizes before anything of their size is made (the rows below, the result, the GPU session).
  if (maxNew > 0) checkBatch?.(B, (useSos ? 1 : 0) + promptLen + maxNew - 1);
  checkHostBytes(what, B * (promptLen + maxNew) * 4);
  let prompt: number[][];
  if (o.prompt !== undefined) {
    prompt = o.prompt;
    // Rows of any lengths (checkTokenRows wants one length): the same message per bad id.
    prompt.forEach((row, b) => checkTokenIds(`${what}: prompt`, row, b, config));
    if (useSos && prompt.some((r) => r.includes(sos))) {
      throw new Error(`${what}: the prompt must hold image tokens 0..${sos - 1}; SOS (${sos}) is fed by generate itself (option sos)`);
    }
  } else {
    prompt = Array.from({ length: B }, () => []);
  }
  const pads = lengths ? lengths.map((n) => promptLen - n) : new Array<number>(B).fill(0);
  return { B, prompt, promptLen, pads, maxNew, useSos, width };
}

/**
 * Checks generate's options without running anything (clear errors before any GPU work). `what` is the public
 * call they were given to (complete passes its own name), and starts every message.
 */
export function checkGenerateOptions(config: ImageGPTConfig, o: GenerateOptions, checkBatch?: BatchCheck, what = 'generate'): void {
  if (typeof o !== 'object' || o === null) throw new Error(`${what}: options must be an object, got ${o === null ? 'null' : typeof o}`);
  plan(config, o, checkBatch, what);
  resolveSampling(o, what);
}

/**
 * Runs generation on a session taken from `sessions` and given back when the run ends: kept, with the run's buffers,
 * after a finished run; kept without them after an aborted one; freed after a failed one.
 * Returns Int32Array [B, prompt + new] image tokens (no SOS).
 */
export async function generateOnGpu(
  config: ImageGPTConfig,
  device: GPUDevice,
  sampler: Sampler,
  sessions: SessionLease,
  options: GenerateOptions,
  checkBatch?: BatchCheck,
  what = 'generate',
): Promise<Int32Array> {
  const stats = options.stats;
  const { B, prompt, promptLen, pads, maxNew, useSos, width } = plan(config, options, checkBatch, what);
  const sampling = kernelSampling(resolveSampling(options, what));
  const total = promptLen + maxNew;
  const out = new Int32Array(B * total);
  for (let b = 0; b < B; b++) {
    out.fill(PROMPT_PAD, b * total, b * total + pads[b]);
    out.set(prompt[b], b * total + pads[b]);
  }
  const signal = options.signal;
  const abortError = () => new AbortedError(what);
  if (signal?.aborted) throw abortError();

  // Image token j sits at position j + offset (offset 1 with SOS first). The last new token is never fed.
  const offset = useSos ? 1 : 0;
  const fed = prompt.map((r, b) => [...new Array<number>(pads[b]).fill(PAD_TOKEN), ...(useSos ? [sosToken(config), ...r] : r)]);
  const fedLen = fed[0].length;
  // Rows of different lengths: HF generate's mask and position ids (cumsum(mask) - 1, padding at 1).
  const padded = pads.some((p) => p > 0);
  const mask = fed.map((r, b) => r.map((_, t) => (t < pads[b] ? 0 : 1)));
  // A row whose image is full before the last step keeps computing (its tokens are discarded, its KV cache is its
  // own), at a position clamped to the last wpe row: only rows still filling their image read what they make.
  const P = config.n_positions;
  const position = (p: number) => Math.min(p, P - 1);
  const positions = fed.map((r, b) => r.map((_, t) => (t < pads[b] ? 1 : position(t - pads[b]))));
  // Column where row b's image ends in the result (past it: PROMPT_PAD); ≥ total unless rows fill their images.
  const imageEnd = pads.map((p) => p + P);
  const lease = sessions.take(B, fedLen + maxNew - 1);
  const session = lease.session;
  // A run that finished or was aborted by its signal leaves the session for reuse: its queued GPU work runs before
  // the next call's (one queue) and the next call starts from an empty cache. Any other failure frees it.
  let outcome: 'finished' | 'aborted' | 'failed' = 'failed';
  const historyLength = fedLen + maxNew;
  const readbacksInFlight: Promise<void>[] = [];
  const count = (k: keyof GenerateStats) => {
    if (stats) stats[k]++;
  };
  try {
    await session.ready();
    // Made once per session shape and kept with it (the lease frees them), so a same-shape call makes nothing. The
    // history's length and the sampler op's bindings follow from the session's shape; the ring from the row width.
    const history = lease.keep('history', '', () => device.createBuffer({ label: 'history', size: bufferBytes(B * historyLength * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }));
    const params = lease.keep('params', '', () => sampler.createParamsBuffer());
    sampler.writeParams(params, sampling);
    const buf = session.buffers;
    const sample = lease.keep('sample', '', () => sampler.sample({ step: buf.step, params, logits: buf.logits, vocab: logitsWidth(config), nextIds: buf.ids, history, historyLength }));
    // Made now at a row's size: nothing is made per step (the last read may be shorter, never longer).
    const ring = lease.keep('ring', `${width}`, () => new Readback(device, { label: 'tokens', slots: RING, bytes: B * width * 4 }));
    /** Row reads in flight, oldest first: at most RING (one per staging buffer). */
    const readbacks: RowRead[] = [];
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

    // Copies new tokens [from, from + n) of every sample to the ring's next staging buffer, in the step's encoder.
    const recordReadback = async (encoder: GPUCommandEncoder, from: number, n: number): Promise<RowRead> => {
      // The oldest read holds the buffer staged next: wait until its tokens are delivered (and it is unmapped).
      if (readbacks.length === RING) await readbacks.shift()!.done;
      const staged = ring.stage(B * n * 4);
      for (let b = 0; b < B; b++) staged.copy(encoder, history, (b * historyLength + promptLen + from + offset) * 4, b * n * 4, n * 4);
      return { staged, from, count: n, done: Promise.resolve() };
    };
    const startMap = (r: RowRead) => {
      const bytes = B * r.count * 4;
      count('readbacks');
      r.done = r.staged.map(bytes).then((data) => {
        const tokens = new Int32Array(data);
        for (let b = 0; b < B; b++) {
          out.set(tokens.subarray(b * r.count, (b + 1) * r.count), b * total + promptLen + r.from);
          const from = Math.max(imageEnd[b], promptLen + r.from);
          if (from < promptLen + r.from + r.count) out.fill(PROMPT_PAD, b * total + from, b * total + promptLen + r.from + r.count);
        }
        deliver(r.from + r.count);
      });
      // Awaited later; a rejection meanwhile (device lost, a throwing callback) must not go unhandled.
      r.done.catch(() => {});
      readbacks.push(r);
      readbacksInFlight.push(r.done);
    };

    const inFlight: Promise<unknown>[] = [];
    let generated = 0; // new tokens sampled so far (by submitted work)
    let unread = 0; // of which not yet queued for readback
    const submitStep = async (encoder: GPUCommandEncoder, seq: number) => {
      generated++;
      unread++;
      const index = promptLen + generated - 1;
      let r: RowRead | null = null;
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
    if (padded) session.writeKeyMask(mask, fedLen);
    const chunk = session.chunkLength;
    for (let from = 0; from < fedLen; from += chunk) {
      const seq = Math.min(chunk, fedLen - from);
      const isLast = from + seq === fedLen;
      const step = session.writeChunk(fed, from, seq);
      if (padded) session.writePositions(positions, from, seq);
      const encoder = device.createCommandEncoder();
      session.forwardPlan.encode(encoder, step, { head: isLast, extra: isLast ? [sample] : [], ...session.inputBuffers(padded) });
      if (isLast) {
        count('steps');
        await submitStep(encoder, seq);
      } else {
        device.queue.submit([encoder.finish()]);
        count('submits');
        session.advance(seq);
      }
    }
    // Decode: the sampler already wrote each sequence's newest token into the ids buffer. The same encode
    // options and position rows every step (nothing made per token).
    const decodeOptions = { head: true, extra: [sample], ...session.inputBuffers(padded) };
    const decodePositions = pads.map(() => [0]);
    while (generated < maxNew) {
      if (signal?.aborted) throw abortError();
      const step = session.writeStepOnly(1);
      if (padded) {
        // A padded row's position is its cache position less its padding.
        pads.forEach((p, b) => (decodePositions[b][0] = position(step.past - p)));
        session.writePositions(decodePositions, 0, 1);
      }
      const encoder = device.createCommandEncoder();
      session.forwardPlan.encode(encoder, step, decodeOptions);
      count('steps');
      await submitStep(encoder, 1);
    }
    await Promise.all(readbacks.map((r) => r.done));
    if (signal?.aborted) throw abortError();
    outcome = 'finished';
    return out;
  } catch (e) {
    if (e instanceof AbortedError) outcome = 'aborted';
    throw e;
  } finally {
    // Submitted work still completes after destroy(); a pending map just rejects (ignored: we are leaving).
    for (const p of readbacksInFlight) p.catch(() => {});
    sessions.give(lease, outcome);
  }
}
