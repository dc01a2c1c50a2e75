// The embedding: token rows of wte plus position rows of wpe (shaders/embed.wgsl).
import { badInput } from '../errors';
import type { GpuMatrix, Op } from './types';
import { KernelOp, checkMatrix, checkRows, rowCapacity, run, type KernelContext } from './context';
import embedWgsl from '../../shaders/embed.wgsl?raw';

/** embed's arguments; each optional input is a separate pipeline, so the default reads nothing more. */
export interface EmbedArgs {
  step: GPUBuffer;
  ids: GPUBuffer;
  wte: GpuMatrix;
  wpe: GpuMatrix;
  out: GPUBuffer;
  /** u32 [rows], HF position_ids: the wpe row of each token (default past + i). */
  positions?: GPUBuffer;
  /** i32 [rows], HF token_type_ids: wte[tokenTypes[r]] is added (after the position row, as HF adds it). */
  tokenTypes?: GPUBuffer;
  /** f32 [rows, E], HF inputs_embeds: used instead of wte[ids[r]] (ids are then not read). */
  inputsEmbeds?: GPUBuffer;
}

/**
 * out[r] = wte[ids[r]] + wpe[past + i], with the optional inputs of EmbedArgs. An id, token type or position out of
 * range yields a NaN row (the GPU cannot throw: callers check on the host).
 */
export function embedOp(ctx: KernelContext, o: EmbedArgs): Op {
  const extras = [o.positions && 'position ids', o.tokenTypes && 'token types', o.inputsEmbeds && 'inputs embeds'].filter(Boolean);
  const label = extras.length ? `embed (${extras.join(', ')})` : 'embed';
  const E = o.wte.cols;
  checkMatrix(label, 'wte', o.wte);
  checkMatrix(label, 'wpe', o.wpe);
  if (o.wpe.cols !== E) throw badInput(`${label}: wpe has ${o.wpe.cols} columns, expected n_embd = ${E} like wte`);
  if (o.wpe.dtype !== o.wte.dtype) {
    throw badInput(`${label}: wte is ${o.wte.dtype} but wpe is ${o.wpe.dtype}; expected one weight dtype`);
  }
  let maxRows = Math.min(rowCapacity(label, 'ids', o.ids, 4), rowCapacity(label, 'out', o.out, E * 4));
  if (o.positions) maxRows = Math.min(maxRows, rowCapacity(label, 'positions', o.positions, 4));
  if (o.tokenTypes) maxRows = Math.min(maxRows, rowCapacity(label, 'tokenTypes', o.tokenTypes, 4));
  if (o.inputsEmbeds) maxRows = Math.min(maxRows, rowCapacity(label, 'inputsEmbeds', o.inputsEmbeds, E * 4));
  const pipeline = ctx.pipeline('embed.wgsl', embedWgsl, o.wte.dtype, 'embed', {
    E,
    VOCAB: o.wte.rows,
    POSITIONS: o.wpe.rows,
    HAS_POSITIONS: o.positions ? 1 : 0,
    HAS_TOKEN_TYPES: o.tokenTypes ? 1 : 0,
    HAS_EMBEDS: o.inputsEmbeds ? 1 : 0,
  });
  // The optional bindings are declared either way; one not given gets a placeholder that is never read.
  const dummy = ctx.dummyBuffer();
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.ids, o.wte.buffer, o.wpe.buffer, o.out, o.positions ?? dummy, o.tokenTypes ?? dummy, o.inputsEmbeds ?? dummy]);
  const groupsX = Math.ceil(E / 2 / 64);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    if (!o.positions && step.past + step.seq > o.wpe.rows) {
      throw badInput(`${label}: positions up to ${step.past + step.seq} but wpe has ${o.wpe.rows} rows`);
    }
    run(pass, label, pipeline, bindGroup, groupsX, rows);
  });
}
