// The public KV-cache session: B sequences decoded in lockstep, prefill then one step at a time, each call giving
// the logits of the next position. A thin object over the internal Runner (runner.ts), which owns the buffers and
// the chunk loop; users get it from `ImageGPT.createSession` and see only the members below.
import { logitsWidth } from './config';
import { describeValue } from '../json';
import { checkOptionKeys } from '../options';
import { badInput } from '../errors';
import { idsOrPlaceholders } from './hf-inputs';
import { ROW_INPUT_OPTIONS, checkRowInputs, checkTokenRows, type RowInputs, type StepInputs } from './inputs';
import type { Runner } from './runner';

export class ImageGPTSession {
  /** @internal Users get sessions from `ImageGPT.createSession`, which makes the runner. */
  constructor(
    /** @internal */ readonly runner: Runner,
  ) {}

  /** Sequences decoded in lockstep. */
  get batchSize(): number {
    return this.runner.batchSize;
  }

  /** Longest sequence the session holds (its KV cache length). */
  get maxLength(): number {
    return this.runner.maxLength;
  }

  /** Most rows (batch × tokens) one prefill submit computes. */
  get maxRows(): number {
    return this.runner.maxRows;
  }

  /** Tokens already in the KV cache (per sequence). */
  get length(): number {
    return this.runner.length;
  }

  /** Drops the cached tokens (and their mask); the buffers stay for reuse. */
  reset(): void {
    this.runner.reset();
  }

  /** Frees the session's GPU buffers; a prefill or step in flight rejects, and the buffers go once it has settled. */
  dispose(): void {
    this.runner.dispose();
  }

  /**
   * Logits at the last prefix position for each row: Float32Array [B, vocab_size-1]. `attentionMask`,
   * `positionIds` and `tokenTypeIds` are shaped like `prefix` (HF semantics; the mask is kept with the cache for
   * later steps); `headMask` scales this call's heads; with `inputsEmbeds` ([B, T, n_embd]) prefix is null.
   */
  async prefill(prefix: number[][] | null, options: RowInputs = {}): Promise<Float32Array> {
    const runner = this.runner;
    runner.checkUsable();
    checkOptionKeys('prefill', options, ROW_INPUT_OPTIONS);
    // With inputsEmbeds (and no ids) the session runs placeholder ids that the embedding does not read.
    prefix = idsOrPlaceholders('prefill', prefix, options.inputsEmbeds, runner.config);
    checkTokenRows(prefix, runner.config, 'prefill');
    if (prefix.length !== runner.batchSize) throw badInput(`prefill: expected ${runner.batchSize} rows (the session's batch size), got ${prefix.length}`);
    const inputs = checkRowInputs('prefill', options, prefix.length, prefix[0].length, runner.config);
    return runner.serial('prefill', () => readLastLogits(runner, prefix, inputs));
  }

  /**
   * One token per sequence; logits for the next position: Float32Array [B, vocab_size-1]. `attentionMask`,
   * `positionIds` and `tokenTypeIds` hold one value per sequence, like `tokens`; `headMask` is as prefill's.
   */
  async step(tokens: number[], options: StepInputs = {}): Promise<Float32Array> {
    const runner = this.runner;
    const B = runner.batchSize;
    runner.checkUsable();
    checkOptionKeys('step', options, ROW_INPUT_OPTIONS.filter((k) => k !== 'inputsEmbeds'));
    if (!Array.isArray(tokens) || tokens.length !== B) {
      throw badInput(`step: expected ${B} tokens (one per sequence), got ${Array.isArray(tokens) ? tokens.length : typeof tokens}`);
    }
    checkTokenRows(tokens.map((t) => [t]), runner.config, 'step');
    const column = (key: keyof StepInputs): number[][] | undefined => {
      const v: unknown = options[key];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || v.length !== B) {
        throw badInput(`step: ${key} must hold ${B} values (one per sequence, like the tokens), got ${Array.isArray(v) ? `${v.length} values` : describeValue(v)}`);
      }
      return v.map((x: unknown) => [x as number]);
    };
    const stepInputs = { attentionMask: column('attentionMask'), positionIds: column('positionIds'), tokenTypeIds: column('tokenTypeIds'), headMask: options.headMask };
    const inputs = checkRowInputs('step', stepInputs, B, 1, runner.config);
    return runner.serial('step', () => readLastLogits(runner, tokens.map((t) => [t]), inputs));
  }
}

/** Runs `rows` on the runner's cache and reads back each row's logits at its last position: [B, vocab_size-1]. */
async function readLastLogits(runner: Runner, rows: number[][], inputs: RowInputs): Promise<Float32Array> {
  const B = runner.batchSize;
  const rowBytes = logitsWidth(runner.config) * 4;
  const staged = runner.stage(B * rowBytes);
  let result: Float32Array | null = null;
  await runner.run(
    rows,
    {
      encode: (_step, isLast) => ({ head: isLast }),
      beforeSubmit: (encoder, step, _from, isLast) => {
        if (!isLast) return;
        for (let b = 0; b < B; b++) staged.copy(encoder, runner.buffers.logits, (b * step.seq + step.seq - 1) * rowBytes, b * rowBytes, rowBytes);
      },
      afterSubmit: async (_step, _from, isLast) => {
        if (isLast) result = new Float32Array(await staged.map(B * rowBytes));
      },
    },
    inputs,
  );
  return result!;
}
