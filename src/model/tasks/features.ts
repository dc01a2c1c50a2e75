// features(): mean-pooled hidden states of any layers (linear-probe features), in GPU batches; classify(): the
// classifier head over the last layer's pooled state.
import { describeValue } from '../../json';
import { checkOptionKeys } from '../../options';
import { ImageGPTError, badInput } from '../../errors';
import { DEFAULT_BATCH_SIZE, checkHostBytes, largestBatchThatFits } from '../limits';
import { checkLength, checkPositiveInteger, checkTokenRows } from '../inputs';
import { checkBatchFits, type TaskContext } from './context';
import { checkProcessorMatches, encodeWith, type EncodingProcessor } from './processor';
import type { Rgb } from '../../processor/image';

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
  processor?: EncodingProcessor;
  /** With `processor`: the [r, g, b] RGBA images are composited onto; `null` drops alpha. Default: the processor's. */
  background?: Rgb | null;
}

const FEATURE_OPTIONS = ['layer', 'layers', 'pool', 'normalize', 'batchSize', 'onProgress', 'processor', 'background'];

export async function runFeatures(ctx: TaskContext, inputs: unknown[], options: FeatureOptions | MultiFeatureOptions): Promise<Float32Array | Map<number, Float32Array>> {
    checkOptionKeys('features', options, FEATURE_OPTIONS);
  const L = ctx.config.n_layer;
  const multi = 'layers' in options && options.layers !== undefined;
  if (multi && 'layer' in options && options.layer !== undefined) throw badInput('features: give layer or layers, not both');
  const layers: unknown = multi ? (options as MultiFeatureOptions).layers : [(options as FeatureOptions).layer ?? Math.floor(L / 2)];
  if (!Array.isArray(layers) || layers.length === 0) throw badInput('features: layers must be a non-empty array of layer indices');
  for (const layer of layers) {
    if (!Number.isInteger(layer) || layer < 0 || layer > L) {
      throw badInput(`features: layer must be an integer in 0..${L} (0 = embeddings, ${L} = after ln_f), got ${describeValue(layer)}`);
    }
  }
  if (new Set(layers).size !== layers.length) throw badInput(`features: layers ${describeValue(layers)} repeat a layer`);
  const o = options as MultiFeatureOptions;
  if (o.pool !== undefined && o.pool !== 'mean') throw badInput(`features: pool must be 'mean', got ${describeValue(o.pool)}`);
  const normalize: unknown = options.normalize ?? false;
  if (typeof normalize !== 'boolean') throw badInput(`features: normalize must be true or false, got ${describeValue(normalize)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw badInput(`features: onProgress must be a function, got ${typeof o.onProgress}`);
  if (o.batchSize !== undefined) checkPositiveInteger('features', 'batchSize', o.batchSize);
  let ids: number[][];
  if (o.processor !== undefined) {
    if (typeof o.processor?.encode !== 'function') throw badInput('features: processor must have an encode(images) method (an ImageGPTImageProcessor)');
    checkProcessorMatches(ctx.config, o.processor, 'features');
    if (!Array.isArray(inputs)) throw badInput('features: expected an array of images');
    ids = inputs.length === 0 ? [] : encodeWith(o.processor, inputs, o.background, 'features');
  } else {
    ids = inputs as number[][];
  }
  checkTokenRows(ids, ctx.config, 'features');
  checkLength(ctx.config, ids, 'features');
  const N = ids.length;
  const T = ids[0].length;
  const E = ctx.config.n_embd;
  // The default batch is ours to pick: the largest that fits this device, up to DEFAULT_BATCH_SIZE.
  const fits = largestBatchThatFits(ctx.config, ctx.device.limits, T, { dtype: ctx.dtype, tuning: ctx.kernels.tuning });
  const batch = Math.min(N, o.batchSize ?? Math.max(1, Math.min(DEFAULT_BATCH_SIZE, fits)));
  checkBatchFits(ctx, 'features', batch, T);
  checkHostBytes('features', layers.length * N * E * 4);
  const deepest = Math.max(...layers);
  const result = new Map<number, Float32Array>(layers.map((l) => [l, new Float32Array(N * E)]));
  const session = ctx.openRunner(batch, { maxLength: T });
  try {
    const zeros = new Float32Array(batch * E);
    const bytes = batch * E * 4;
    const staged = session.stage(bytes * layers.length);
    for (let start = 0; start < N; start += batch) {
      const count = Math.min(batch, N - start);
      // A short last batch is padded by repeating its last row; those outputs are dropped.
      const rows = Array.from({ length: batch }, (_, b) => ids[start + Math.min(b, count - 1)]);
      session.reset();
      for (const l of layers) ctx.device.queue.writeBuffer(session.buffers.pooled[l], 0, zeros);
      await session.run(
        rows,
        {
        encode: () => ({ stopAt: deepest, poolHidden: layers, poolNormed: normalize }),
        beforeSubmit: (encoder, _step, _from, isLast) => {
          if (isLast) layers.forEach((l, i) => staged.copy(encoder, session.buffers.pooled[l], 0, i * bytes, bytes));
        },
        afterSubmit: async (_step, _from, isLast) => {
          if (!isLast) return;
          const data = new Float32Array(await staged.map(bytes * layers.length));
          layers.forEach((l, i) => {
            const dst = result.get(l)!;
            for (let j = 0; j < count * E; j++) dst[start * E + j] = data[i * batch * E + j] / T;
          });
        },
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
export async function classify(ctx: TaskContext, inputIds: number[][]): Promise<Float32Array> {
  const score = ctx.weights.score;
  if (!score) throw new ImageGPTError('E_UNSUPPORTED', 'classify: this checkpoint has no score.weight (not an ImageGPTForImageClassification checkpoint)');
  // The inputs are checked here so that errors name classify, not the features call below.
  checkTokenRows(inputIds, ctx.config, 'classify');
  checkLength(ctx.config, inputIds, 'classify');
  return scorePooled(ctx, await runFeatures(ctx, inputIds, { layer: ctx.config.n_layer }) as Float32Array);
}

/** score(pooled): pooled [B, n_embd] → logits [B, num_labels]. */
export function scorePooled(ctx: TaskContext, pooled: Float32Array): Float32Array {
  const score = ctx.weights.score!;
  const E = ctx.config.n_embd;
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
