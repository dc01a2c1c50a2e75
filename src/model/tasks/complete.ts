// complete(): keep the first rows of an image (one count, or one per sample) and generate the rest, all samples in
// one batch (generate's planner keeps each at its true positions), with per-sample progress as pixels.
import { describeValue } from '../../json';
import { checkOptionKeys } from '../../options';
import { badInput } from '../../errors';
import type { Rgb } from '../../processor/image';
import { checkHostBytes, checkSessionFits } from '../limits';
import { checkPositiveInteger } from '../inputs';
import { GENERATE_OPTIONS, planGenerate, type GenerateOptions } from './generate-plan';
import { checkHasHead, runGenerate } from './generate';
import { checkProcessorMatches, encodeWith, type CompletionProcessor } from './processor';
import type { TaskContext } from './context';

/** One generated image row of one sample, as complete's onRow gives it. */
export interface CompletionRow {
  /** Which sample (0..samples-1). */
  sample: number;
  /** Which image row (token row), from that sample's first generated row. */
  row: number;
  /** The row's tokens, Int32Array [width]. */
  tokens: Int32Array;
  /** The row's RGBA pixels through the processor's palette: [width × 4] (one pixel per token). */
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

export interface CompleteOptions extends Omit<GenerateOptions, 'prompt' | 'batchSize' | 'maxNewTokens' | 'onRow'> {
  /**
   * Image rows (of tokens) kept from the input; the rest is generated. An array gives each sample its own count
   * (samples defaults to its length); all samples complete in one batch, each equal to completing it alone (greedy).
   */
  keepRows: number | number[];
  /** Completions to make, as one batch. Default 1, or keepRows' length. */
  samples?: number;
  /** Turns the input image into tokens and the completions back into pixels. */
  processor: CompletionProcessor;
  /** The [r, g, b] an RGBA input is composited onto; `null` drops alpha. Default: the processor's (white for the
   * shipped models, from their preprocessor_config.json). */
  background?: Rgb | null;
  /**
   * One call per generated image row of each sample (rows kept from the input are not reported), in row order; the
   * samples' calls for one image row come together, whatever rows each kept.
   */
  onRow?: (p: CompletionRow) => void;
}

/** One completed image: RGBA pixels (usable as ImageData) and its tokens. */
export interface Completion {
  /** Its own ArrayBuffer, so `new ImageData(c.data, c.width, c.height)` type-checks (TypeScript ≥ 5.7). */
  data: Uint8ClampedArray<ArrayBuffer>;
  width: number;
  height: number;
  tokens: Int32Array;
}

export const COMPLETE_OPTIONS: readonly string[] = ['keepRows', 'samples', 'processor', 'background', 'onRow', ...GENERATE_OPTIONS.filter((k) => !['prompt', 'batchSize', 'maxNewTokens', 'onRow'].includes(k))];

/** The processor's decode of `tokens` as `size`, checked: the caller's processor may give anything back. */
function decodeChecked(processor: CompletionProcessor, tokens: Int32Array, size: { height: number; width: number }): Omit<Completion, 'tokens'> {
  const img: unknown = processor.decode(tokens, size);
  const { data, width, height } = (img ?? {}) as Partial<Completion>;
  if (!(data instanceof Uint8ClampedArray) || typeof width !== 'number' || typeof height !== 'number') {
    throw badInput(`complete: processor.decode(tokens) must give { data: Uint8ClampedArray, width, height }, got ${describeValue(img)}`);
  }
  return { data, width, height };
}

export async function complete(ctx: TaskContext, input: unknown, options: CompleteOptions): Promise<Completion[]> {
  const { config } = ctx;
  if (typeof options !== 'object' || options === null) throw badInput('complete: options { keepRows, processor, … } are required');
  checkOptionKeys('complete', options, COMPLETE_OPTIONS);
  const { keepRows: keepOption, samples: samplesOption, processor, background, onRow, ...generateOptions } = options;
  const samples = samplesOption ?? (Array.isArray(keepOption) ? keepOption.length : 1);
  if (typeof processor?.encode !== 'function' || typeof processor?.decode !== 'function') {
    throw badInput('complete: options.processor (an ImageGPTImageProcessor, with encode and decode) is required');
  }
  checkProcessorMatches(config, processor, 'complete');
  if (onRow !== undefined && typeof onRow !== 'function') throw badInput(`complete: onRow must be a function, got ${typeof onRow}`);
  const P = config.n_positions;
  const width = options.width ?? Math.round(Math.sqrt(P));
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || P % width !== 0) {
    throw badInput(`complete: width must be an integer that divides n_positions (${P}), got ${describeValue(width)}`);
  }
  const height = P / width;
  checkPositiveInteger('complete', 'samples', samples);
  const keepList: unknown[] = Array.isArray(keepOption) ? keepOption : [keepOption];
  if (Array.isArray(keepOption) && keepList.length !== samples) {
    throw badInput(`complete: keepRows holds ${keepList.length} counts but samples is ${samples}; give one count per sample`);
  }
  keepList.forEach((k, i) => {
    // Keeping all `height` rows would generate nothing: refused rather than a silent no-op.
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= height) {
      const which = Array.isArray(keepOption) ? `keepRows[${i}]` : 'keepRows';
      throw badInput(`complete: ${which} must be an integer in 0..${height - 1} (the image is ${height} token rows high; at least one row is generated), got ${describeValue(k)}`);
    }
  });
  // Sizes first: the prompt rows below are made per sample. The cache holds SOS and each image but its last token.
  checkSessionFits(config, ctx.budget.limits, { batchSize: samples, maxLength: P, dtype: ctx.budget.dtype, tuning: ctx.budget.tuning }, 'complete');
  checkHostBytes('complete', samples * P * 4 * 2);
  let tokens: ArrayLike<number>;
  if (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number')) tokens = input as number[];
  else if (input instanceof Int32Array) tokens = input;
  else {
    // The caller's processor may give anything back: checked, not indexed blindly.
    const rows: unknown = encodeWith(processor, input, background, 'complete');
    if (!Array.isArray(rows) || rows.length !== 1 || !Array.isArray(rows[0])) {
      throw badInput(`complete: processor.encode(image) must give inputIds of one row of tokens, got ${describeValue(rows)}`);
    }
    tokens = rows[0] as number[];
  }
  if (tokens.length !== width * height) {
    throw badInput(`complete: the image has ${describeValue(tokens.length)} tokens, the model expects ${width}×${height} = ${width * height}`);
  }
  const all = Array.from(tokens);
  const keepRows = Array.isArray(keepOption) ? keepOption : new Array<number>(samples).fill(keepOption);
  // generate's onRow gives every sample's tokens of an image row; each sample reports only the rows it generates.
  const perSample = onRow
    ? ({ row, tokens: rowTokens }: { row: number; tokens: Int32Array }) => {
        keepRows.forEach((k, sample) => {
          if (row < k) return;
          const t = rowTokens.slice(sample * width, (sample + 1) * width);
          onRow({ sample, row, tokens: t, pixels: decodeChecked(processor, t, { height: 1, width }).data });
        });
      }
    : undefined;
  checkHasHead(ctx, 'complete');
  // The result has n_positions columns: every sample's whole image (default maxNewTokens fills it).
  const plan = planGenerate(config, ctx.budget, { ...generateOptions, width, prompt: keepRows.map((k) => all.slice(0, k * width)), onRow: perSample }, 'complete');
  const out = await runGenerate(config, ctx.device, ctx.sampler(), ctx.sessions, plan);
  return keepRows.map((_, i) => {
    const t = out.slice(i * P, (i + 1) * P);
    return { ...decodeChecked(processor, t, { height, width }), tokens: t };
  });
}
