// How the model sees given images: bitsPerToken (each image's surprise, per token and on average) and attentionRow
// (one query position's attention weights in every layer and head).
import { sosToken } from '../config';
import { describeValue } from '../../json';
import { checkOptionKeys } from '../../options';
import { ImageGPTError, badInput } from '../../errors';
import { DEFAULT_BATCH_SIZE, checkHostBytes, largestBatchThatFits } from '../limits';
import { checkLength, checkPositiveInteger, checkTokenRows } from '../inputs';
import { checkBatchFits, type TaskContext } from './context';
import { checkProcessorMatches, encodeWith, type EncodingProcessor } from './processor';
import { runRows } from './forward';
import type { Rgb } from '../../processor/image';

export interface BitsPerTokenOptions {
  /** Turns image inputs into tokens (ImageGPTImageProcessor); without it inputs are token rows (no SOS). */
  processor?: EncodingProcessor;
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

const BITS_OPTIONS = ['processor', 'background', 'width', 'batchSize', 'onProgress'];

/** attentionRow's work (see ImageGPT.attentionRow). */
export async function runAttentionRow(ctx: TaskContext, inputIds: number[], position: number): Promise<Float32Array> {
    if (!Array.isArray(inputIds)) throw badInput(`attentionRow: inputIds must be one image's token ids (number[]), got ${describeValue(inputIds)}`);
  checkTokenRows([inputIds], ctx.config, 'attentionRow');
  checkLength(ctx.config, [inputIds], 'attentionRow');
  const T = inputIds.length;
  if (typeof position !== 'number' || !Number.isInteger(position) || position < 0 || position >= T) {
    throw badInput(`attentionRow: position must be an integer in 0..${T - 1} (a token of inputIds), got ${describeValue(position)}`);
  }
  const { n_head: H, n_layer: L } = ctx.config;
  const W = position + 1;
  checkBatchFits(ctx, 'attentionRow', 1, W);
  const rowBytes = H * W * 4;
  const session = ctx.openRunner(1, { maxLength: W });
  const out = ctx.device.createBuffer({ label: 'attention row', size: rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  try {
    const staged = session.stage(L * rowBytes);
    // The tokens before `position` only fill the cache; the query at `position` is a step of its own.
    if (position > 0) await session.run([inputIds.slice(0, position)], { encode: () => ({}) });
    let result: Float32Array | null = null;
    await session.run(
      [inputIds.slice(position, W)],
      {
        encode: () => ({
          attentionOut: out,
          onAttention: (layer, buffer, encoder) => staged.copy(encoder, buffer, 0, layer * rowBytes, rowBytes),
        }),
        afterSubmit: async () => {
          result = new Float32Array(await staged.map(L * rowBytes));
        },
      },
    );
    return result!;
  } finally {
    out.destroy();
    session.dispose();
  }
}

/** bitsPerToken's work (see ImageGPT.bitsPerToken). */
export async function runBitsPerToken(ctx: TaskContext, inputs: unknown[], options: BitsPerTokenOptions): Promise<BitsPerToken> {
    checkOptionKeys('bitsPerToken', options, BITS_OPTIONS);
  if (!ctx.weights.lmHead) throw new ImageGPTError('E_UNSUPPORTED', 'bitsPerToken: this checkpoint has no lm_head.weight (a classification checkpoint)');
  let ids: number[][];
  if (options.processor !== undefined) {
    if (typeof options.processor?.encode !== 'function') throw badInput('bitsPerToken: processor must have an encode(images) method (an ImageGPTImageProcessor)');
    checkProcessorMatches(ctx.config, options.processor, 'bitsPerToken');
    if (!Array.isArray(inputs) || inputs.length === 0) throw badInput('bitsPerToken: expected a non-empty array of images');
    ids = encodeWith(options.processor, inputs, options.background, 'bitsPerToken');
  } else {
    ids = inputs as number[][];
  }
  checkTokenRows(ids, ctx.config, 'bitsPerToken');
  checkLength(ctx.config, ids, 'bitsPerToken');
  const N = ids.length;
  const T = ids[0].length;
  const width = options.width ?? Math.round(Math.sqrt(T));
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || T % width !== 0) {
    throw badInput(`bitsPerToken: width must be an integer that divides the ${T} tokens per image, got ${describeValue(width)}`);
  }
  const batchSize = options.batchSize;
  if (batchSize !== undefined) checkPositiveInteger('bitsPerToken', 'batchSize', batchSize);
  const { onProgress } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw badInput(`bitsPerToken: onProgress must be a function, got ${typeof onProgress}`);
  const sos = sosToken(ctx.config);
  // Every token is a target: SOS is fed first, so the image's last token is never an input.
  const targets = new Int32Array(N * T);
  ids.forEach((row, b) => {
    for (let t = 0; t < T; t++) {
      if (row[t] === sos) throw badInput(`bitsPerToken: inputs[${b}][${t}] is SOS (${sos}); give image tokens only (SOS is prepended here)`);
      targets[b * T + t] = row[t];
    }
  });
  const fits = largestBatchThatFits(ctx.config, ctx.device.limits, T, { dtype: ctx.dtype, tuning: ctx.kernels.tuning });
  const batch = Math.min(N, batchSize ?? Math.max(1, Math.min(DEFAULT_BATCH_SIZE, fits)));
  checkHostBytes('bitsPerToken', N * T * 4 * 2);
  const surprise = new Float32Array(N * T);
  const bitsPerToken = new Float32Array(N);
  onProgress?.({ done: 0, total: N });
  for (let start = 0; start < N; start += batch) {
    const count = Math.min(batch, N - start);
    const rows = ids.slice(start, start + count).map((row) => [sos, ...row.slice(0, T - 1)]);
    const { nats } = await runRows(ctx, 'bitsPerToken', rows, { logits: false, hidden: 0, targets: targets.subarray(start * T, (start + count) * T) });
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
