// The embedding: token rows of wte plus position rows of wpe (shaders/embed.wgsl).
import type { GpuMatrix, Op } from './types';
import { KernelOp, checkMatrix, checkRows, rowCapacity, run, type KernelContext } from './context';
import embedWgsl from '../../shaders/embed.wgsl?raw';

/**
 * out[r] = wte[ids[r]] + wpe[past + i], or wpe[positions[r]] with `positions` (u32 [rows], HF position_ids; a
 * separate pipeline, so the default reads nothing more). An id or position out of range yields a NaN row (the
 * GPU cannot throw: callers check on the host).
 */
export function embedOp(ctx: KernelContext, o: { step: GPUBuffer; ids: GPUBuffer; wte: GpuMatrix; wpe: GpuMatrix; out: GPUBuffer; positions?: GPUBuffer }): Op {
  const label = o.positions ? 'embed (position ids)' : 'embed';
  const E = o.wte.cols;
  checkMatrix(label, 'wte', o.wte);
  checkMatrix(label, 'wpe', o.wpe);
  if (o.wpe.cols !== E) throw new Error(`${label}: wpe has ${o.wpe.cols} columns, expected n_embd = ${E} like wte`);
  if (o.wpe.dtype !== o.wte.dtype) {
    throw new Error(`${label}: wte is ${o.wte.dtype} but wpe is ${o.wpe.dtype}; expected one weight dtype`);
  }
  let maxRows = Math.min(rowCapacity(label, 'ids', o.ids, 4), rowCapacity(label, 'out', o.out, E * 4));
  if (o.positions) maxRows = Math.min(maxRows, rowCapacity(label, 'positions', o.positions, 4));
  const pipeline = ctx.pipeline('embed.wgsl', embedWgsl, o.wte.dtype, 'embed', {
    E,
    VOCAB: o.wte.rows,
    POSITIONS: o.wpe.rows,
    HAS_POSITIONS: o.positions ? 1 : 0,
  });
  // The positions binding is declared either way; without positions it gets a placeholder that is never read.
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.ids, o.wte.buffer, o.wpe.buffer, o.out, o.positions ?? ctx.dummyBuffer()]);
  const groupsX = Math.ceil(E / 2 / 64);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    if (!o.positions && step.past + step.seq > o.wpe.rows) {
      throw new Error(`${label}: positions up to ${step.past + step.seq} but wpe has ${o.wpe.rows} rows`);
    }
    run(pass, label, pipeline, bindGroup, groupsX, rows);
  });
}
