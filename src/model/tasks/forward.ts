// forward(): the full pass (no cache kept), HF's ImageGPTForCausalImageModeling / ForImageClassification outputs —
// logits, hidden states, attentions, the loss — and runRows, the one pass over token rows that reads back what is
// asked (bitsPerToken uses it too).
import type { Op } from '../../gpu/types';
import { logitsWidth } from '../config';
import { causalTargets, classifierLoss, meanLoss, resolveProblemType } from '../loss';
import { ImageGPTError, badInput } from '../../errors';
import { describeValue } from '../../json';
import { checkOptionKeys } from '../../options';
import { checkHostBytes, resolveMaxRows } from '../limits';
import { idsOrPlaceholders, type HeadMask } from '../hf-inputs';
import { ROW_INPUT_OPTIONS, checkLength, checkRowInputs, checkTokenRows, type RowInputs } from '../inputs';
import { checkBatchFits, type TaskContext } from './context';
import { classify, scorePooled } from './features';

export interface ForwardOptions {
  /** Also return the hidden states (n_layer + 1 of them, HF semantics: [n_layer] is after ln_f). */
  outputHiddenStates?: boolean;
  /**
   * Causal LM: labels [B, T] shaped like inputIds (HF: logits at t are scored against labels[t + 1]); integers in
   * 0..vocab_size-2 (SOS is never a target) or -100 (ignored). Classifier: by problem type, class indices
   * number[] (single_label_classification), number[][] of 0..1 per class (multi_label_classification), or
   * values number[] / number[][] (regression).
   */
  labels?: number[][] | number[];
  /** Return the logits (default true). With false and labels, only the [B, T-1] losses are read back. */
  outputLogits?: boolean;
  /**
   * Also return each layer's attention weights (HF output_attentions): n_layer arrays [B, n_head, T, T]. Computed
   * on the GPU only when asked; for one query position of one image, attentionRow reads far less.
   */
  outputAttentions?: boolean;
  /**
   * HF attention_mask [B, T] shaped like inputIds: 1 = attend, 0 = padding (e.g. left padding). Masked keys get
   * finfo(f32).min added to their scores, so a query whose keys are all masked stays finite (HF's result: uniform
   * over its earlier keys and the unmasked later ones). Positions are not derived from it: see positionIds.
   */
  attentionMask?: number[][];
  /**
   * HF position_ids [B, T]: the position embedding row of each token, integers in 0..n_positions-1; default
   * 0..T-1. For a left-padded row, HF generate's rule gives each row the positions it would have alone:
   * cumsum(mask) - 1, with masked positions set to 1.
   */
  positionIds?: number[][];
  /** HF token_type_ids [B, T]: ids 0..vocab_size-1 embedded through wte and added to the input embeddings. */
  tokenTypeIds?: number[][];
  /**
   * HF head_mask: [n_head] (every layer) or [n_layer][n_head] finite factors multiplying each head's attention
   * weights after the softmax (0 silences a head); `attentions` are the scaled weights, as HF returns them.
   */
  headMask?: HeadMask;
  /** HF inputs_embeds [B, T, n_embd] (nested arrays), used instead of wte[ids]: then inputIds is null. */
  inputsEmbeds?: number[][][];
}

export interface ForwardOutput {
  /** Causal LM: [B, T, vocab_size-1]; classifier: [B, num_labels]. Absent with outputLogits: false. */
  logits: Float32Array;
  /** With labels: the mean loss in nats over the non-ignored labels (NaN when every label is -100). */
  loss?: number;
  /**
   * Causal LM with labels: [B, T-1] nats, -log p(labels[b][t+1] | inputIds[b][..t]); 0 where the label is -100
   * (as HF's reduction 'none').
   */
  tokenLoss?: Float32Array;
  /** Present with outputHiddenStates: n_layer + 1 arrays, each [B, T, n_embd]. */
  hiddenStates?: Float32Array[];
  /**
   * Present with outputAttentions: n_layer arrays, each [B, n_head, T, T]; [b, h, t, s] is how much query t attends
   * to key s: softmax(q·kᵀ · scale) after the causal mask (0 for s > t), each row summing to 1.
   */
  attentions?: Float32Array[];
}

/** forward's result: logits are typed as present unless outputLogits may be false. */
export type ForwardResult<O extends ForwardOptions> = 'outputLogits' extends keyof O
  ? O['outputLogits'] extends true | undefined
    ? ForwardOutput
    : Omit<ForwardOutput, 'logits'> & { logits?: Float32Array }
  : ForwardOutput;


const FORWARD_OPTIONS = ['outputHiddenStates', 'labels', 'outputLogits', 'outputAttentions', ...ROW_INPUT_OPTIONS];

/** forward's work (the façade checks the model is usable first). */
export async function runForward(ctx: TaskContext, inputIds: number[][] | null, options: ForwardOptions): Promise<Partial<ForwardOutput>> {
    checkOptionKeys('forward', options, FORWARD_OPTIONS);
  for (const key of ['outputHiddenStates', 'outputLogits', 'outputAttentions'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') {
      throw badInput(`forward: ${key} must be true or false, got ${describeValue(options[key])}`);
    }
  }
  if (options.outputLogits === false && options.labels === undefined && !options.outputHiddenStates && !options.outputAttentions) {
    throw badInput('forward: outputLogits: false with no labels, outputHiddenStates or outputAttentions asks for nothing; ask for at least one output');
  }
  // With inputsEmbeds (HF: exactly one of the two) the ids are placeholders the embedding does not read.
  inputIds = idsOrPlaceholders('forward', inputIds, options.inputsEmbeds, ctx.config);
  checkTokenRows(inputIds, ctx.config, 'forward: inputIds');
  checkLength(ctx.config, inputIds, 'forward');
  const inputs = checkRowInputs('forward', options, inputIds.length, inputIds[0].length, ctx.config);
  if (ctx.weights.score && !ctx.weights.lmHead) return runClassifierForward(ctx, inputIds, options, inputs);
  if (!ctx.weights.lmHead) throw new ImageGPTError('E_UNSUPPORTED', 'forward: this checkpoint has no lm_head.weight (nor score.weight): use features()');
  const B = inputIds.length;
  const T = inputIds[0].length;
  const wantLogits = options.outputLogits ?? true;
  const targets = options.labels !== undefined ? causalTargets(options.labels, B, T, ctx.config) : null;
  const nHidden = options.outputHiddenStates ? ctx.config.n_layer + 1 : 0;
  const attentions = options.outputAttentions ?? false;
  const run = await runRows(ctx, 'forward', inputIds, { logits: wantLogits, hidden: nHidden, targets, attentions }, inputs);
  const out: Partial<ForwardOutput> = {};
  if (run.logits) out.logits = run.logits;
  if (targets && run.nats) {
    out.loss = meanLoss(run.nats, targets);
    const tokenLoss = new Float32Array(B * (T - 1));
    for (let b = 0; b < B; b++) tokenLoss.set(run.nats.subarray(b * T, b * T + T - 1), b * (T - 1));
    out.tokenLoss = tokenLoss;
  }
  if (run.hiddenStates) out.hiddenStates = run.hiddenStates;
  if (run.attentions) out.attentions = run.attentions;
  return out;
}

/** ImageGPTForImageClassification's forward: score(mean over T of the last hidden state), and its loss. */
export async function runClassifierForward(ctx: TaskContext, inputIds: number[][], options: ForwardOptions, inputs: RowInputs): Promise<Partial<ForwardOutput>> {
  const score = ctx.weights.score!;
  const B = inputIds.length;
  const C = score.numLabels;
  const problem = options.labels !== undefined ? resolveProblemType(ctx.config.problem_type, C, options.labels) : null;
  // Labels are checked before any GPU work (the loss of zero logits is thrown away).
  if (problem) classifierLoss(new Float32Array(B * C), B, C, options.labels, problem);
  const out: Partial<ForwardOutput> = {};
  let logits: Float32Array;
  if (options.outputHiddenStates || options.outputAttentions || Object.values(inputs).some((v) => v !== undefined)) {
    const attentions = options.outputAttentions ?? false;
    const run = await runRows(ctx, 'forward', inputIds, { logits: false, hidden: ctx.config.n_layer + 1, targets: null, attentions }, inputs);
    if (options.outputHiddenStates) out.hiddenStates = run.hiddenStates!;
    if (run.attentions) out.attentions = run.attentions;
    logits = scorePooled(ctx, meanOverTokens(run.hiddenStates![ctx.config.n_layer], B, ctx.config.n_embd));
  } else {
    logits = await classify(ctx, inputIds);
  }
  if (options.outputLogits ?? true) out.logits = logits;
  if (problem) out.loss = classifierLoss(logits, B, C, options.labels, problem);
  return out;
}

/**
 * One full pass over token rows reading back what is asked: logits [B, T, V-1], hidden states, and with
 * `targets` ([B, T], -100 = none) the cross-entropy of each position's logits against its target (nats,
 * [B, T], 0 where none), computed on the GPU from the logits of each chunk.
 */
export async function runRows(ctx: TaskContext, 
  what: string,
  inputIds: ArrayLike<number>[],
  want: { logits: boolean; hidden: number; targets: Int32Array | null; attentions?: boolean },
  inputs: RowInputs = {},
): Promise<{ logits?: Float32Array; hiddenStates?: Float32Array[]; nats?: Float32Array; attentions?: Float32Array[] }> {
  const B = inputIds.length;
  const T = inputIds[0].length;
  const { n_embd: E, n_head: H, n_layer: L } = ctx.config;
  const V1 = logitsWidth(ctx.config);
  const nHidden = want.hidden;
  // Attention weights: per row, n_layer × [H, T] floats (keys up to the session's maxLength, T).
  const nAttention = want.attentions ? L : 0;
  const attentionRow = H * T;
  const perRow = (want.logits ? V1 : 0) + nHidden * E + (want.targets ? 1 : 0) + nAttention * attentionRow;
  if (perRow === 0) return {};
  checkHostBytes(what, B * T * perRow * 4);
  // One chunk's readback (every output of its rows) must fit one buffer: fewer rows per chunk if not.
  const rowBytes = perRow * 4;
  const stagingRows = Math.floor(ctx.device.limits.maxBufferSize / rowBytes);
  if (stagingRows < B) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${what}: reading back one token of ${B} rows needs ${B * rowBytes} bytes, more than the device's maxBufferSize ${ctx.device.limits.maxBufferSize}; use fewer rows per call`);
  }
  let maxRows = Math.min(resolveMaxRows(B, T, undefined), stagingRows);
  if (nAttention) {
    // One layer's weights of a chunk live in one storage binding: fewer rows per chunk if they would not fit.
    const bindingRows = Math.floor(ctx.device.limits.maxStorageBufferBindingSize / (attentionRow * 4));
    if (bindingRows < B) {
      throw new ImageGPTError('E_DEVICE_LIMIT', `${what}: the attention weights of one token of ${B} rows need ${B * attentionRow * 4} bytes, more than the device's maxStorageBufferBindingSize ${ctx.device.limits.maxStorageBufferBindingSize}; use fewer rows per call`);
    }
    maxRows = Math.min(maxRows, bindingRows);
  }
  checkBatchFits(ctx, what, B, T, maxRows);
  const logits = want.logits ? new Float32Array(B * T * V1) : undefined;
  const hiddenStates = nHidden ? Array.from({ length: nHidden }, () => new Float32Array(B * T * E)) : undefined;
  const nats = want.targets ? new Float32Array(B * T) : undefined;
  const attentions = nAttention ? Array.from({ length: nAttention }, () => new Float32Array(B * H * T * T)) : undefined;
  const session = ctx.openRunner(B, { maxLength: T, maxRows });
  const scratch: GPUBuffer[] = [];
  try {
    const rowsMax = session.maxRows;
    // Staging layout per chunk (floats): logits [rows, V1], then each hidden state [rows, E], then nats [rows].
    const hiddenAt = want.logits ? rowsMax * V1 : 0;
    const natsAt = hiddenAt + nHidden * rowsMax * E;
    // Then each layer's attention weights [rows, H, T].
    const attentionAt = natsAt + (want.targets ? rowsMax : 0);
    let attentionOut: GPUBuffer | undefined;
    if (nAttention) {
      attentionOut = ctx.device.createBuffer({ label: 'attention weights', size: rowsMax * attentionRow * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      scratch.push(attentionOut);
    }
    const staged = session.stage(rowsMax * rowBytes);
    let lossOp: Op | null = null;
    let chunkTargets: GPUBuffer | null = null;
    let chunkNats: GPUBuffer | null = null;
    const chunkScratch = new Int32Array(rowsMax);
    if (want.targets) {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      chunkTargets = ctx.device.createBuffer({ label: 'loss targets', size: rowsMax * 4, usage });
      chunkNats = ctx.device.createBuffer({ label: 'loss nats', size: rowsMax * 4, usage });
      scratch.push(chunkTargets, chunkNats);
      lossOp = ctx.kernels.crossEntropy({ step: session.buffers.step, logits: session.buffers.logits, targets: chunkTargets, out: chunkNats, vocab: V1 });
    }
    await session.run(
      inputIds,
      {
      encode: (step) => ({
        head: want.logits || lossOp !== null,
        onHidden: nHidden
          ? (k, buffer, encoder) => staged.copy(encoder, buffer, 0, (hiddenAt + k * rowsMax * E) * 4, step.batch * step.seq * E * 4)
          : undefined,
        extra: lossOp ? [lossOp] : undefined,
        attentionOut,
        onAttention: nAttention
          ? (layer, buffer, encoder) => staged.copy(encoder, buffer, 0, (attentionAt + layer * rowsMax * attentionRow) * 4, step.batch * step.seq * attentionRow * 4)
          : undefined,
      }),
      beforeSubmit: (encoder, step, from) => {
        const rows = step.batch * step.seq;
        if (want.logits) staged.copy(encoder, session.buffers.logits, 0, 0, rows * V1 * 4);
        if (want.targets && chunkTargets && chunkNats) {
          // Written before this chunk's submit (queue order), read by the loss op recorded above.
          for (let b = 0; b < B; b++) for (let i = 0; i < step.seq; i++) chunkScratch[b * step.seq + i] = want.targets[b * T + from + i];
          ctx.device.queue.writeBuffer(chunkTargets, 0, chunkScratch, 0, rows);
          staged.copy(encoder, chunkNats, 0, natsAt * 4, rows * 4);
        }
      },
      afterSubmit: async (step, from) => {
        const data = new Float32Array(await staged.map(rowsMax * rowBytes));
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < step.seq; i++) {
            const r = b * step.seq + i;
            const t = from + i;
            logits?.set(data.subarray(r * V1, (r + 1) * V1), (b * T + t) * V1);
            for (let k = 0; k < nHidden; k++) {
              const o = hiddenAt + k * rowsMax * E;
              hiddenStates![k].set(data.subarray(o + r * E, o + (r + 1) * E), (b * T + t) * E);
            }
            if (nats) nats[b * T + t] = data[natsAt + r];
            for (let k = 0; k < nAttention; k++) {
              for (let h = 0; h < H; h++) {
                const o = attentionAt + k * rowsMax * attentionRow + (r * H + h) * T;
                attentions![k].set(data.subarray(o, o + T), ((b * H + h) * T + t) * T);
              }
            }
          }
        }
      },
      },
      inputs,
    );
  } finally {
    for (const b of scratch) b.destroy();
    session.dispose();
  }
  return { logits, hiddenStates, nats, attentions };
}

/** Mean over the T tokens of each of B sequences: hidden [B, T, E] → [B, E] (the classifier's pooling). */
function meanOverTokens(hidden: Float32Array, B: number, E: number): Float32Array {
  const T = hidden.length / (B * E);
  const pooled = new Float32Array(B * E);
  for (let b = 0; b < B; b++) {
    for (let e = 0; e < E; e++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += hidden[(b * T + t) * E + e];
      pooled[b * E + e] = sum / T;
    }
  }
  return pooled;
}

