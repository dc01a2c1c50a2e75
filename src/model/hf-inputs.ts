// HF ImageGPTModel's optional inputs beside the ids: head_mask, token_type_ids and inputs_embeds. Their checks
// (before any GPU work) and the GPU buffers a session writes them to, chunk by chunk. Without them nothing here
// runs and the forward's kernels are the plain ones.
import { badInput } from '../errors';
import type { ImageGPTConfig } from './config';
import type { EncodeOptions } from './forward';
import { headMaskStride } from '../gpu/attention';
import { describeValue } from '../json';

/** HF head_mask: one factor per head, for every layer ([n_head]) or per layer ([n_layer][n_head]). */
export type HeadMask = number[] | number[][];

/** The optional inputs as forward and prefill take them (checked, shaped like the ids [B, T]). */
export interface HfInputs {
  tokenTypeIds?: number[][];
  headMask?: HeadMask;
  inputsEmbeds?: number[][][];
}

export const HF_INPUT_OPTIONS: readonly string[] = ['tokenTypeIds', 'headMask', 'inputsEmbeds'];

/**
 * headMask as a flat [n_layer * n_head] table: a [n_head] mask is broadcast to every layer (as HF's
 * get_head_mask); every factor must be a finite number.
 */
export function checkHeadMask(what: string, mask: unknown, config: ImageGPTConfig): Float32Array {
  const { n_layer: L, n_head: H } = config;
  const expected = `[${H}] (n_head, the same for every layer) or [${L}][${H}] (n_layer × n_head) finite numbers`;
  if (!Array.isArray(mask)) throw badInput(`${what}: headMask must be ${expected}, got ${describeValue(mask)}`);
  const perLayer = mask.length > 0 && Array.isArray(mask[0]);
  const rows: unknown[] = perLayer ? mask : [mask];
  if (perLayer && rows.length !== L) throw badInput(`${what}: headMask has ${rows.length} rows; expected ${expected}`);
  const out = new Float32Array(L * H);
  rows.forEach((row, l) => {
    const where = perLayer ? `headMask[${l}]` : 'headMask';
    if (!Array.isArray(row) || row.length !== H) {
      throw badInput(`${what}: ${where} must hold ${H} values (one per head), got ${Array.isArray(row) ? `${row.length} values` : describeValue(row)}; expected ${expected}`);
    }
    row.forEach((v: unknown, h) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw badInput(`${what}: ${where}[${h}] = ${describeValue(v)}; expected a finite number`);
    });
    for (let layer = perLayer ? l : 0; layer < (perLayer ? l + 1 : L); layer++) out.set(row as number[], layer * H);
  });
  return out;
}

/**
 * Checks inputsEmbeds is [B, T, n_embd] of finite numbers with the given B and T (or any, when undefined); returns
 * its B and T.
 */
export function checkInputsEmbeds(what: string, embeds: unknown, config: ImageGPTConfig, B?: number, T?: number): { B: number; T: number } {
  const E = config.n_embd;
  const shape = `[B, T, ${E}] (batch, tokens, n_embd) finite numbers`;
  if (!Array.isArray(embeds) || embeds.length === 0) throw badInput(`${what}: inputsEmbeds must be a non-empty ${shape}, got ${describeValue(embeds)}`);
  const rows = B ?? embeds.length;
  if (embeds.length !== rows) throw badInput(`${what}: inputsEmbeds has ${embeds.length} rows, expected ${rows} (the batch)`);
  const first: unknown = embeds[0];
  const tokens = T ?? (Array.isArray(first) ? first.length : -1);
  if (tokens < 1) throw badInput(`${what}: inputsEmbeds[0] must be a non-empty array of tokens; expected ${shape}`);
  if (tokens > config.n_positions) throw badInput(`${what}: inputsEmbeds has ${tokens} tokens per row, more than n_positions (${config.n_positions})`);
  embeds.forEach((row: unknown, b) => {
    if (!Array.isArray(row) || row.length !== tokens) {
      throw badInput(`${what}: inputsEmbeds[${b}] must hold ${tokens} tokens (every row alike; ${shape}), got ${Array.isArray(row) ? `${row.length}` : describeValue(row)}`);
    }
    row.forEach((vec: unknown, t) => {
      if (!Array.isArray(vec) || vec.length !== E) {
        throw badInput(`${what}: inputsEmbeds[${b}][${t}] must hold ${E} values (n_embd), got ${Array.isArray(vec) ? `${vec.length} values` : describeValue(vec)}`);
      }
      for (let e = 0; e < E; e++) {
        const v: unknown = vec[e];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw badInput(`${what}: inputsEmbeds[${b}][${t}][${e}] = ${describeValue(v)}; expected a finite number`);
      }
    });
  });
  return { B: rows, T: tokens };
}

/**
 * HF's rule: exactly one of inputIds and inputsEmbeds. Returns the ids the session runs: inputIds, or for
 * inputsEmbeds rows of 0 of its shape (placeholders: the embedding then reads inputsEmbeds, not ids).
 */
export function idsOrPlaceholders(what: string, inputIds: unknown, inputsEmbeds: unknown, config: ImageGPTConfig): number[][] {
  const hasIds = inputIds !== undefined && inputIds !== null;
  if (inputsEmbeds === undefined) {
    if (!hasIds) throw badInput(`${what}: give inputIds (number[][]) or options.inputsEmbeds ([B, T, n_embd]); got neither`);
    return inputIds as number[][];
  }
  if (hasIds) throw badInput(`${what}: give inputIds or options.inputsEmbeds, not both (pass null for inputIds with inputsEmbeds)`);
  const { B, T } = checkInputsEmbeds(what, inputsEmbeds, config);
  return Array.from({ length: B }, () => new Array<number>(T).fill(0));
}

/** The GPU side of HfInputs in a session: buffers made on first use, written per chunk, handed to encode. */
export class HfInputBuffers {
  private tokenTypes: GPUBuffer | null = null;
  private tokenTypesScratch: Int32Array<ArrayBuffer> | null = null;
  private embeds: GPUBuffer | null = null;
  private embedsScratch: Float32Array<ArrayBuffer> | null = null;
  private headMask: GPUBuffer | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly config: ImageGPTConfig,
    private readonly batchSize: number,
    private readonly maxRows: number,
    private readonly makeBuffer: (label: string, bytes: number) => GPUBuffer,
  ) {}

  /**
   * Writes the chunk's rows (row b*seq + i = token from + i of sequence b) of the inputs given, and the head mask;
   * returns what ForwardPlan.encode reads (nothing for inputs not given).
   */
  writeChunk(inputs: HfInputs, from: number, seq: number): Pick<EncodeOptions, 'tokenTypes' | 'inputsEmbeds' | 'headMask'> {
    const B = this.batchSize;
    const E = this.config.n_embd;
    const out: Pick<EncodeOptions, 'tokenTypes' | 'inputsEmbeds' | 'headMask'> = {};
    if (inputs.tokenTypeIds) {
      this.tokenTypes ??= this.makeBuffer('tokenTypeIds', this.maxRows * 4);
      this.tokenTypesScratch ??= new Int32Array(this.maxRows);
      for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.tokenTypesScratch[b * seq + i] = inputs.tokenTypeIds[b][from + i];
      this.device.queue.writeBuffer(this.tokenTypes, 0, this.tokenTypesScratch, 0, B * seq);
      out.tokenTypes = this.tokenTypes;
    }
    if (inputs.inputsEmbeds) {
      this.embeds ??= this.makeBuffer('inputsEmbeds', this.maxRows * E * 4);
      this.embedsScratch ??= new Float32Array(this.maxRows * E);
      for (let b = 0; b < B; b++) for (let i = 0; i < seq; i++) this.embedsScratch.set(inputs.inputsEmbeds[b][from + i], (b * seq + i) * E);
      this.device.queue.writeBuffer(this.embeds, 0, this.embedsScratch, 0, B * seq * E);
      out.inputsEmbeds = this.embeds;
    }
    if (inputs.headMask) {
      const { n_layer: L, n_head: H } = this.config;
      const stride = headMaskStride(this.device.limits, H);
      this.headMask ??= this.makeBuffer('headMask', L * stride);
      const table = new Float32Array((L * stride) / 4);
      const mask = checkHeadMask('session', inputs.headMask, this.config);
      for (let l = 0; l < L; l++) table.set(mask.subarray(l * H, (l + 1) * H), (l * stride) / 4);
      this.device.queue.writeBuffer(this.headMask, 0, table);
      out.headMask = this.headMask;
    }
    return out;
  }
}
