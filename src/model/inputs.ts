// Checks of the token rows and per-row inputs that forward, sessions and the tasks are given, before any GPU work:
// each names the call, the input and what was expected.
import type { ImageGPTConfig } from './config';
import { describeValue } from '../json';
import { badInput } from '../errors';
import { HF_INPUT_OPTIONS, checkHeadMask, checkInputsEmbeds, type HeadMask } from './hf-inputs';

/** prefill / forward inputs beside the ids (HF attention_mask, position_ids), each shaped like the ids [B, T]. */
export interface RowInputs {
  /** 1 = attend, 0 = padding. The session's cache keeps each row's mask: later steps never attend masked keys. */
  attentionMask?: number[][];
  /** The wpe row of each token, 0..n_positions-1; default: the cache length + 0..T-1. */
  positionIds?: number[][];
  /** HF token_type_ids: ids 0..vocab_size-1 embedded through wte and added to the input embeddings. */
  tokenTypeIds?: number[][];
  /** HF head_mask: [n_head] (every layer) or [n_layer][n_head] factors multiplying each head's attention weights. */
  headMask?: HeadMask;
  /** HF inputs_embeds [B, T, n_embd], used instead of wte[ids] (forward and prefill then take null for the ids). */
  inputsEmbeds?: number[][][];
}

/** step's inputs: one value per sequence, like its tokens. */
export interface StepInputs {
  attentionMask?: number[];
  positionIds?: number[];
  tokenTypeIds?: number[];
  /** As prefill's: not per token. */
  headMask?: HeadMask;
}

export const ROW_INPUT_OPTIONS: readonly string[] = ['attentionMask', 'positionIds', ...HF_INPUT_OPTIONS];

/**
 * Checks attentionMask (0/1) and positionIds (integers in 0..n_positions-1) have the ids' shape [B, T]; before any
 * GPU work. Returns them (undefined where not given).
 */
export function checkRowInputs(what: string, o: RowInputs, B: number, T: number, config: ImageGPTConfig): RowInputs {
  const check = (key: 'attentionMask' | 'positionIds' | 'tokenTypeIds', ok: (v: unknown) => boolean, expected: string): number[][] | undefined => {
    const rows: unknown = o[key];
    if (rows === undefined) return undefined;
    const shape = `the shape of the ids [${B}, ${T}]`;
    if (!Array.isArray(rows) || rows.length !== B) {
      throw badInput(`${what}: ${key} must be ${B} rows (${shape}), got ${Array.isArray(rows) ? `${rows.length} rows` : describeValue(rows)}`);
    }
    rows.forEach((row: unknown, b) => {
      if (!Array.isArray(row) || row.length !== T) {
        throw badInput(`${what}: ${key}[${b}] must be ${T} values (${shape}), got ${Array.isArray(row) ? `${row.length} values` : describeValue(row)}`);
      }
      row.forEach((v: unknown, t) => {
        if (!ok(v)) throw badInput(`${what}: ${key}[${b}][${t}] = ${describeValue(v)}; expected ${expected}`);
      });
    });
    return rows as number[][];
  };
  const P = config.n_positions;
  const V = config.vocab_size;
  if (o.headMask !== undefined) checkHeadMask(what, o.headMask, config);
  if (o.inputsEmbeds !== undefined) checkInputsEmbeds(what, o.inputsEmbeds, config, B, T);
  return {
    attentionMask: check('attentionMask', (v) => v === 0 || v === 1, '0 (padding) or 1 (attend)'),
    positionIds: check('positionIds', (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < P, `an integer position in 0..${P - 1} (n_positions - 1)`),
    tokenTypeIds: check('tokenTypeIds', (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < V, `a token id in 0..${V - 1} (embedded through wte)`),
    headMask: o.headMask,
    inputsEmbeds: o.inputsEmbeds,
  };
}

/** Throws unless `v` is a positive integer ("<what>: <name> must be a positive integer, got …"). */
export function checkPositiveInteger(what: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw badInput(`${what}: ${name} must be a positive integer, got ${describeValue(v)}`);
}

/** Checks row b's ids are integers in 0..vocab_size-1, naming the first bad one as what[b][t]. */
export function checkTokenIds(what: string, row: ArrayLike<number>, b: number, config: ImageGPTConfig): void {
  for (let t = 0; t < row.length; t++) {
    const id = row[t];
    if (!Number.isInteger(id) || id < 0 || id >= config.vocab_size) {
      throw badInput(`${what}[${b}][${t}] = ${describeValue(id)}: token ids must be integers in 0..${config.vocab_size - 1}`);
    }
  }
}

/** Validates a batch of token rows: equal lengths, integer ids in range. Before any GPU work. */
export function checkTokenRows(rows: unknown, config: ImageGPTConfig, what = 'inputIds'): number[][] {
  if (!Array.isArray(rows) || rows.length === 0) throw badInput(`${what}: expected a non-empty array of token rows (number[][])`);
  const T = Array.isArray(rows[0]) ? rows[0].length : -1;
  rows.forEach((row, b) => {
    if (!Array.isArray(row) && !ArrayBuffer.isView(row)) throw badInput(`${what}[${b}]: expected an array of token ids`);
    const r = row as ArrayLike<number>;
    if (r.length !== T) throw badInput(`${what}: ragged rows — row 0 has ${T} tokens, row ${b} has ${r.length}; all rows must have the same length`);
    checkTokenIds(what, r, b, config);
  });
  if (T === 0) throw badInput(`${what}: rows are empty; at least one token per row is needed`);
  return rows as number[][];
}

/** Refuses rows longer than n_positions (the model has no position embedding past it). */
export function checkLength(config: ImageGPTConfig, rows: ArrayLike<number>[], what: string): void {
  if (rows[0].length > config.n_positions) {
    throw badInput(`${what}: ${rows[0].length} tokens per row exceeds n_positions (${config.n_positions})`);
  }
}
