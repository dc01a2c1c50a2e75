// The training step's kernels (forward keeping what the backward needs, and the backward), one family per .wgsl
// file: matrix products with optional transposes, bias and residual (train_matmul.wgsl), bias gradients
// (column_sum.wgsl), the norm (train_norm.wgsl), quick-GELU (train_quick_gelu.wgsl), cross-entropy with its gradient
// (train_cross_entropy.wgsl), the embeddings (train_embedding.wgsl) and causal attention (train_attention.wgsl; on a
// CPU adapter train_attention_blocked.wgsl). Each op owns a small uniform of its sizes, written once: a trainer's shapes are fixed
// (batchSize × seqLength), so a step only dispatches. All f32.
import type { KernelContext } from '../gpu/context';
import { checkDistinct, checkSize, run } from '../gpu/context';
import { badInput } from '../errors';
import trainMatmulWgsl from '../../shaders/train_matmul.wgsl?raw';
import trainMatmulRegistersWgsl from '../../shaders/train_matmul_registers.wgsl?raw';
import trainMatmulSharedWgsl from '../../shaders/train_matmul_shared.wgsl?raw';
import columnSumWgsl from '../../shaders/column_sum.wgsl?raw';
import trainNormWgsl from '../../shaders/train_norm.wgsl?raw';
import trainQuickGeluWgsl from '../../shaders/train_quick_gelu.wgsl?raw';
import trainCrossEntropyWgsl from '../../shaders/train_cross_entropy.wgsl?raw';
import trainCrossEntropyThreadWgsl from '../../shaders/train_cross_entropy_thread.wgsl?raw';
import trainCrossEntropyWorkgroupWgsl from '../../shaders/train_cross_entropy_workgroup.wgsl?raw';
import trainEmbeddingWgsl from '../../shaders/train_embedding.wgsl?raw';
import trainAttentionWgsl from '../../shaders/train_attention.wgsl?raw';
import trainAttentionBlockedWgsl from '../../shaders/train_attention_blocked.wgsl?raw';
import trainAttentionCommonWgsl from '../../shaders/train_attention_common.wgsl?raw';
import dropoutMaskWgsl from '../../shaders/dropout_mask.wgsl?raw';
import { shader } from '../gpu/pipelines';
import { dropoutStepWriter, dropoutWords, type DropoutKey } from './dropout-mask';
import type { DropoutOp } from './dropout';

/** One recorded piece of a training step: a fixed dispatch (or a few) into the step's compute pass. */
export interface TrainOp {
  readonly label: string;
  encode(pass: GPUComputePassEncoder): void;
  /** Frees the op's own uniform (not the buffers it was given). */
  destroy(): void;
}

function positive(label: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw badInput(`${label}: ${what} must be a positive integer, got ${v}`);
}

/** A uniform of 4 or 8 words (u32, or f32 where `floats` marks them), written once. */
export function sizesUniform(ctx: KernelContext, label: string, words: number[], floats: number[] = []): GPUBuffer {
  const size = words.length * 4;
  const buffer = ctx.device.createBuffer({ label: `${label} sizes`, size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const data = new ArrayBuffer(size);
  const u = new Uint32Array(data);
  const f = new Float32Array(data);
  words.forEach((w, i) => (floats.includes(i) ? (f[i] = w) : (u[i] = w)));
  ctx.device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

function op(label: string, uniform: GPUBuffer, encode: (pass: GPUComputePassEncoder) => void): TrainOp {
  return { label, encode, destroy: () => uniform.destroy() };
}

const TRAIN_MATMUL = shader('train_matmul.wgsl', trainMatmulWgsl);
const TRAIN_MATMUL_REGISTERS = shader('train_matmul_registers.wgsl', trainMatmulRegistersWgsl);
const TRAIN_MATMUL_SHARED = shader('train_matmul_shared.wgsl', trainMatmulSharedWgsl);
const TRAIN_CROSS_ENTROPY = shader('train_cross_entropy.wgsl', trainCrossEntropyWgsl);
const TRAIN_CROSS_ENTROPY_THREAD = shader('train_cross_entropy_thread.wgsl', trainCrossEntropyThreadWgsl);
const TRAIN_CROSS_ENTROPY_WORKGROUP = shader('train_cross_entropy_workgroup.wgsl', trainCrossEntropyWorkgroupWgsl);

/**
 * c [m, n] = op(a) · op(b) (+ bias [n]) (+ residual [m, n]): a is [m, k] (or [k, m] with transA), b is [k, n] (or
 * [n, k] with transB).
 */
export function trainMatmulOp(
  ctx: KernelContext,
  o: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer; m: number; n: number; k: number; transA?: boolean; transB?: boolean; bias?: GPUBuffer; residual?: GPUBuffer },
): TrainOp {
  const label = `trainMatmul[${o.m}×${o.k}${o.transA ? 'ᵀ' : ''} · ${o.k}×${o.n}${o.transB ? 'ᵀ' : ''}]`;
  for (const d of ['m', 'n', 'k'] as const) positive(label, d, o[d]);
  checkDistinct(label, { a: o.a, c: o.c });
  checkDistinct(label, { b: o.b, c: o.c });
  checkSize(label, 'a', o.a, o.m * o.k * 4);
  checkSize(label, 'b', o.b, o.k * o.n * 4);
  checkSize(label, 'c', o.c, o.m * o.n * 4);
  if (o.bias) checkSize(label, 'bias', o.bias, o.n * 4);
  if (o.residual) {
    checkSize(label, 'residual', o.residual, o.m * o.n * 4);
    checkDistinct(label, { residual: o.residual, c: o.c });
  }
  const constants = { M: o.m, N: o.n, K: o.k, TRANS_A: o.transA ? 1 : 0, TRANS_B: o.transB ? 1 : 0, HAS_BIAS: o.bias ? 1 : 0, HAS_RESIDUAL: o.residual ? 1 : 0 };
  // The kernel the adapter wants, as the inference matmul chooses (src/gpu/tuning.ts): 4×4 register tiles from
  // storage on a CPU adapter, workgroup-memory tiles on a GPU. Each thread computes 4 rows × 4 columns either way.
  const registers = ctx.tuning.prefill === 'registers';
  const [threadsX, threadsY] = registers ? ctx.tuning.registerThreads : ctx.tuning.sharedThreads;
  const pipeline = registers
    ? ctx.composed('train_matmul.wgsl/registers', [TRAIN_MATMUL, TRAIN_MATMUL_REGISTERS], 'trainMatmul', { ...constants, THREADS_X: threadsX, THREADS_Y: threadsY })
    : ctx.composed('train_matmul.wgsl/shared', [TRAIN_MATMUL, TRAIN_MATMUL_SHARED], 'trainMatmul', { ...constants, THREADS_X: threadsX, THREADS_Y: threadsY, DEPTH: ctx.tuning.sharedDepth });
  // The kernel names bias and residual whatever the overrides say: a placeholder stands in for an absent one.
  const group = ctx.bindGroup(label, pipeline, [null, null, o.a, o.b, o.c, o.bias ?? ctx.dummyBuffer(), o.residual ?? ctx.dummyBuffer()]);
  const groupsX = Math.ceil(o.n / (4 * threadsX));
  const groupsY = Math.ceil(o.m / (4 * threadsY));
  return { label, encode: (pass) => run(pass, label, pipeline, group, groupsX, groupsY), destroy: () => {} };
}

/** out [cols] = Σ over the rows of x [rows, cols]: a bias's gradient. */
export function columnSumOp(ctx: KernelContext, o: { x: GPUBuffer; out: GPUBuffer; rows: number; cols: number }): TrainOp {
  const label = `columnSum[${o.rows}×${o.cols}]`;
  positive(label, 'rows', o.rows);
  positive(label, 'cols', o.cols);
  checkDistinct(label, { x: o.x, out: o.out });
  checkSize(label, 'x', o.x, o.rows * o.cols * 4);
  checkSize(label, 'out', o.out, o.cols * 4);
  const pipeline = ctx.composed('column_sum.wgsl', [columnSumWgsl], 'columnSum', {});
  const uniform = sizesUniform(ctx, label, [o.rows, o.cols, 0, 0]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.out]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.ceil(o.cols / 64), 1));
}

/** The norm ops' shared checks: sizes, eps, x [rows, dim] and gain [dim], and an output [rows, dim] written apart from every input. */
function checkNormArgs(
  label: string,
  o: { x: GPUBuffer; gain: GPUBuffer; rows: number; dim: number; eps: number },
  output: [name: string, buffer: GPUBuffer],
  inputs: Record<string, GPUBuffer>,
): void {
  const [outName, out] = output;
  positive(label, 'rows', o.rows);
  positive(label, 'dim', o.dim);
  if (!(o.eps > 0)) throw badInput(`${label}: eps must be a positive number, got ${o.eps}`);
  for (const [name, b] of Object.entries(inputs)) checkDistinct(label, { [name]: b, [outName]: out });
  checkSize(label, 'x', o.x, o.rows * o.dim * 4);
  checkSize(label, outName, out, o.rows * o.dim * 4);
  checkSize(label, 'gain', o.gain, o.dim * 4);
}

/** dx [rows, dim] = the norm's backward for its input x, given dy and the gain; added to dx with `accumulate`. */
export function normBackwardOp(
  ctx: KernelContext,
  o: { x: GPUBuffer; gain: GPUBuffer; dy: GPUBuffer; dx: GPUBuffer; rows: number; dim: number; eps: number; accumulate: boolean },
): TrainOp {
  const label = `normBackward[${o.rows}×${o.dim}]`;
  checkNormArgs(label, o, ['dx', o.dx], { x: o.x, dy: o.dy, gain: o.gain });
  checkSize(label, 'dy', o.dy, o.rows * o.dim * 4);
  const pipeline = ctx.composed('train_norm.wgsl', [trainNormWgsl], 'normBackward', { ACCUMULATE: o.accumulate ? 1 : 0 });
  const uniform = sizesUniform(ctx, label, [o.rows, o.dim, o.eps, 0], [2]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.gain, o.dy, o.dx]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.ceil(o.rows / 64), 1));
}

/** grad ← grad · quickGelu'(x), in place, over `count` elements. */
export function quickGeluBackwardOp(ctx: KernelContext, o: { x: GPUBuffer; grad: GPUBuffer; count: number }): TrainOp {
  const label = `quickGeluBackward[${o.count}]`;
  positive(label, 'count', o.count);
  checkDistinct(label, { x: o.x, grad: o.grad });
  checkSize(label, 'x', o.x, o.count * 4);
  checkSize(label, 'grad', o.grad, o.count * 4);
  const pipeline = ctx.composed('train_quick_gelu.wgsl', [trainQuickGeluWgsl], 'quickGeluBackward', {});
  const uniform = sizesUniform(ctx, label, [o.count, 0, 0, 0]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.grad]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.min(Math.ceil(o.count / 256), 4096), 1));
}

/** Cross-entropy and its gradient, in place on `logits` [rows, vocab]; loss [rows] unscaled, 0 for targets < 0. */
export interface CrossEntropyBackwardOp extends TrainOp {
  /** Sets the mean's divisor: the number of counted targets of the next step (written to the uniform). */
  setCounted(counted: number): void;
}

export function crossEntropyBackwardOp(
  ctx: KernelContext,
  o: { logits: GPUBuffer; targets: GPUBuffer; loss: GPUBuffer; rows: number; vocab: number },
): CrossEntropyBackwardOp {
  const label = `crossEntropyBackward[${o.rows}×${o.vocab}]`;
  positive(label, 'rows', o.rows);
  positive(label, 'vocab', o.vocab);
  checkDistinct(label, { logits: o.logits, targets: o.targets, loss: o.loss });
  checkSize(label, 'logits', o.logits, o.rows * o.vocab * 4);
  checkSize(label, 'targets', o.targets, o.rows * 4);
  checkSize(label, 'loss', o.loss, o.rows * 4);
  // A thread per row where the tuning runs the norm a thread per row (CPU adapters: no barriers), else a workgroup.
  const perThread = ctx.tuning.norm === 'thread';
  const pipeline = perThread
    ? ctx.composed('train_cross_entropy.wgsl/thread', [TRAIN_CROSS_ENTROPY, TRAIN_CROSS_ENTROPY_THREAD], 'crossEntropyBackward', {})
    : ctx.composed('train_cross_entropy.wgsl/workgroup', [TRAIN_CROSS_ENTROPY, TRAIN_CROSS_ENTROPY_WORKGROUP], 'crossEntropyBackward', {});
  const uniform = sizesUniform(ctx, label, [o.rows, o.vocab, 0, 0], [2]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.logits, o.targets, o.loss]);
  const scale = new Float32Array(1);
  const groups = perThread ? Math.ceil(o.rows / 64) : o.rows;
  return {
    ...op(label, uniform, (pass) => run(pass, label, pipeline, group, groups, 1)),
    setCounted(counted: number) {
      if (!Number.isInteger(counted) || counted < 0) throw badInput(`${label}: counted targets must be an integer ≥ 0, got ${counted}`);
      // No counted target: every gradient 0 (the loss is then reported as NaN by the caller, as torch's mean of nothing).
      scale[0] = counted === 0 ? 0 : 1 / counted;
      ctx.device.queue.writeBuffer(uniform, 8, scale);
    },
  };
}

/** Where each token id occurs in a step's batch: rows of token v are rowsOf[starts[v] .. starts[v + 1]). */
export function tokenRows(
  ids: readonly (readonly number[])[],
  vocab: number,
  into?: { starts: Uint32Array<ArrayBuffer>; rowsOf: Uint32Array<ArrayBuffer> },
): { starts: Uint32Array<ArrayBuffer>; rowsOf: Uint32Array<ArrayBuffer> } {
  const T = ids[0]?.length ?? 0;
  const starts = into?.starts ?? new Uint32Array(vocab + 1);
  const rowsOf = into?.rowsOf ?? new Uint32Array(ids.length * T);
  starts.fill(0);
  for (const row of ids) {
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw badInput(`token id ${id} is outside 0..${vocab - 1}`);
      starts[id + 1]++;
    }
  }
  for (let v = 0; v < vocab; v++) starts[v + 1] += starts[v];
  const next = starts.slice(0, vocab);
  ids.forEach((row, b) => row.forEach((id, t) => (rowsOf[next[id]++] = b * T + t)));
  return { starts, rowsOf };
}

/** dwte [vocab, dim] and dwpe [positions ≥ seq, dim] from the embedding output's gradient [batch · seq, dim]. */
export function embeddingBackwardOp(
  ctx: KernelContext,
  o: { grad: GPUBuffer; starts: GPUBuffer; rowsOf: GPUBuffer; dwte: GPUBuffer; dwpe: GPUBuffer; batch: number; seq: number; dim: number; vocab: number },
): TrainOp {
  const label = `embeddingBackward[${o.batch}×${o.seq}×${o.dim}]`;
  for (const d of ['batch', 'seq', 'dim', 'vocab'] as const) positive(label, d, o[d]);
  checkDistinct(label, { grad: o.grad, dwte: o.dwte, dwpe: o.dwpe });
  checkSize(label, 'grad', o.grad, o.batch * o.seq * o.dim * 4);
  checkSize(label, 'starts', o.starts, (o.vocab + 1) * 4);
  checkSize(label, 'rowsOf', o.rowsOf, o.batch * o.seq * 4);
  checkSize(label, 'dwte', o.dwte, o.vocab * o.dim * 4);
  checkSize(label, 'dwpe', o.dwpe, o.seq * o.dim * 4);
  const tokens = ctx.composed('train_embedding.wgsl', [trainEmbeddingWgsl], 'tokenGrad', {});
  const positions = ctx.composed('train_embedding.wgsl', [trainEmbeddingWgsl], 'positionGrad', {});
  const uniform = sizesUniform(ctx, label, [o.batch, o.seq, o.dim, o.vocab]);
  const tokenGroup = ctx.bindGroup(`${label} wte`, tokens, [null, uniform, o.grad, o.starts, o.rowsOf, o.dwte]);
  const positionGroup = ctx.bindGroup(`${label} wpe`, positions, [null, uniform, o.grad, null, null, o.dwpe]);
  const columns = Math.ceil(o.dim / 64);
  return op(label, uniform, (pass) => {
    run(pass, `${label} wte`, tokens, tokenGroup, columns, o.vocab);
    run(pass, `${label} wpe`, positions, positionGroup, columns, o.seq);
  });
}

/** The largest head size the training attention kernels keep in registers. */
export const MAX_BACKWARD_HEAD_DIM = 128;

/**
 * Causal attention's backward over [batch · seq] rows: dqkv [rows, 3E] from the forward's qkv [rows, 3E], its merged
 * output O [rows, E] and dO [rows, E]. `stats` [rows, heads, 2] is scratch (the probabilities are recomputed, not
 * stored). `scale` is the forward's score scale (1/√D, and 1/(layer + 1) where the config asks). With `dropout`, the
 * forward's mask is recomputed: give both ops the same key and step.
 */
export function attentionBackwardOp(
  ctx: KernelContext,
  o: { qkv: GPUBuffer; outputs: GPUBuffer; dOut: GPUBuffer; stats: GPUBuffer; dqkv: GPUBuffer; dropout?: DropoutKey } & AttentionSizes,
): DropoutOp {
  const label = `attentionBackward[${o.batch}×${o.seq}, ${o.heads}×${o.headDim}]`;
  for (const d of ['batch', 'seq', 'heads', 'headDim'] as const) positive(label, d, o[d]);
  if (o.headDim > MAX_BACKWARD_HEAD_DIM) throw badInput(`${label}: head size ${o.headDim} is over the ${MAX_BACKWARD_HEAD_DIM} the attention backward supports`);
  if (!(o.scale > 0) || !Number.isFinite(o.scale)) throw badInput(`${label}: scale must be a positive number, got ${o.scale}`);
  checkDistinct(label, { qkv: o.qkv, outputs: o.outputs, dOut: o.dOut, stats: o.stats, dqkv: o.dqkv });
  const rows = o.batch * o.seq;
  const E = o.heads * o.headDim;
  checkSize(label, 'qkv', o.qkv, rows * 3 * E * 4);
  checkSize(label, 'dqkv', o.dqkv, rows * 3 * E * 4);
  checkSize(label, 'outputs', o.outputs, rows * E * 4);
  checkSize(label, 'dOut', o.dOut, rows * E * 4);
  checkSize(label, 'stats', o.stats, rows * o.heads * 2 * 4);
  const { uniform, constants } = attentionUniform(ctx, label, o);
  const kernel = attentionKernel(ctx, o, constants);
  const passes = (['rowStats', 'queryGrad', 'keyValueGrad'] as const).map((name) => {
    const pipeline = kernel.pipeline(name);
    // Each entry point reads only some bindings; the others are left out of its layout.
    const used = { rowStats: [1, 2, 3, 4, 5], queryGrad: [1, 2, 4, 5, 6], keyValueGrad: [1, 2, 4, 5, 6] }[name];
    const all = [null, uniform, o.qkv, o.outputs, o.dOut, o.stats, o.dqkv];
    const group = ctx.bindGroup(`${label} ${name}`, pipeline, all.map((b, i) => (used.includes(i) ? b : null)));
    return (pass: GPUComputePassEncoder) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(kernel.groupsX, o.heads, o.batch);
    };
  });
  if (o.heads > 65535 || o.batch > 65535) throw badInput(`${label}: heads and batch must each be at most 65535 (workgroups per dimension)`);
  return attentionOp(ctx, label, uniform, (pass) => passes.forEach((p) => p(pass)));
}

/** The training attention's shapes; `scale` is the score scale (1/√D, and 1/(layer + 1) where the config asks). */
interface AttentionSizes {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  scale: number;
}

const DROPOUT_MASK = shader('dropout_mask.wgsl', dropoutMaskWgsl);
const ATTENTION_COMMON = shader('train_attention_common.wgsl', trainAttentionCommonWgsl);
const ATTENTION_PARTS = [DROPOUT_MASK, ATTENTION_COMMON, shader('train_attention.wgsl', trainAttentionWgsl)];
const ATTENTION_BLOCKED_PARTS = [DROPOUT_MASK, ATTENTION_COMMON, shader('train_attention_blocked.wgsl', trainAttentionBlockedWgsl)];

type AttentionEntry = 'attentionForward' | 'rowStats' | 'queryGrad' | 'keyValueGrad';

/**
 * The attention kernel the adapter wants, by the tuning's choice for the matmul (src/gpu/tuning.ts): on a CPU adapter
 * (register tiles) train_attention_blocked.wgsl, 4 rows a thread (64 threads a workgroup) meeting the others in 4 × 4
 * tiles of scores, its sizes pipeline constants; on a GPU the portable train_attention.wgsl, a thread per row. Same
 * entry points, bindings and results.
 */
function attentionKernel(
  ctx: KernelContext,
  o: AttentionSizes,
  constants: { DROPOUT: number },
): { pipeline: (name: AttentionEntry) => GPUComputePipeline; groupsX: number } {
  if (ctx.tuning.prefill !== 'registers') {
    return { pipeline: (name) => ctx.composed('train_attention.wgsl', ATTENTION_PARTS, name, constants), groupsX: Math.ceil(o.seq / 64) };
  }
  const sized = { ...constants, HEAD_DIM: o.headDim, HEADS: o.heads, SEQ: o.seq };
  return { pipeline: (name) => ctx.composed('train_attention.wgsl/blocked', ATTENTION_BLOCKED_PARTS, name, sized), groupsX: Math.ceil(o.seq / (64 * 4)) };
}

/**
 * The attention ops' uniform [batch, seq, heads, headDim, scale, seed, site, step, threshold, 1/(1 − p), 0, 0] and
 * their DROPOUT constant: on only for p > 0, so without dropout the kernels are exactly the plain ones.
 */
function attentionUniform(ctx: KernelContext, label: string, o: AttentionSizes & { dropout?: DropoutKey }): { uniform: GPUBuffer; constants: { DROPOUT: number } } {
  const key = o.dropout ?? { p: 0, seed: 0, site: 0 };
  const words = dropoutWords(`${label} dropout`, key);
  // The mask indexes the [B, H, T, T] probabilities with one u32.
  if (key.p > 0 && o.batch * o.heads * o.seq * o.seq > 2 ** 32) {
    throw badInput(`${label}: attention dropout indexes batch × heads × seq² = ${o.batch * o.heads * o.seq * o.seq} probabilities; at most 2³² are supported (use a smaller batch)`);
  }
  const uniform = sizesUniform(ctx, label, [o.batch, o.seq, o.heads, o.headDim, o.scale, ...words, 0, 0], [4, 9]);
  return { uniform, constants: { DROPOUT: key.p > 0 ? 1 : 0 } };
}

/** An attention op whose mask step is set per step (word 7 of its uniform). */
function attentionOp(ctx: KernelContext, label: string, uniform: GPUBuffer, encode: (pass: GPUComputePassEncoder) => void): DropoutOp {
  return { label, encode, setStep: dropoutStepWriter(ctx, label, uniform, 28), destroy: () => uniform.destroy() };
}

/** y [rows, dim] = ImageGPT's norm of x with `gain` (the forward; the backward recomputes r from x). */
export function normForwardOp(ctx: KernelContext, o: { x: GPUBuffer; gain: GPUBuffer; y: GPUBuffer; rows: number; dim: number; eps: number }): TrainOp {
  const label = `normForward[${o.rows}×${o.dim}]`;
  checkNormArgs(label, o, ['y', o.y], { x: o.x, gain: o.gain });
  const pipeline = ctx.composed('train_norm.wgsl', [trainNormWgsl], 'normForward', { ACCUMULATE: 0 });
  const uniform = sizesUniform(ctx, label, [o.rows, o.dim, o.eps, 0], [2]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, o.gain, null, null, o.y]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.ceil(o.rows / 64), 1));
}

/** y = quickGelu(x) over `count` elements, out of place (the backward reads x). */
export function quickGeluForwardOp(ctx: KernelContext, o: { x: GPUBuffer; y: GPUBuffer; count: number }): TrainOp {
  const label = `quickGeluForward[${o.count}]`;
  positive(label, 'count', o.count);
  checkDistinct(label, { x: o.x, y: o.y });
  checkSize(label, 'x', o.x, o.count * 4);
  checkSize(label, 'y', o.y, o.count * 4);
  const pipeline = ctx.composed('train_quick_gelu.wgsl', [trainQuickGeluWgsl], 'quickGeluForward', {});
  const uniform = sizesUniform(ctx, label, [o.count, 0, 0, 0]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.x, null, o.y]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.min(Math.ceil(o.count / 256), 4096), 1));
}

/** hidden [batch · seq, dim] = wte[ids] + wpe[t] (ids u32, one per row, checked on the host). */
export function embeddingForwardOp(
  ctx: KernelContext,
  o: { ids: GPUBuffer; wte: GPUBuffer; wpe: GPUBuffer; hidden: GPUBuffer; batch: number; seq: number; dim: number; vocab: number },
): TrainOp {
  const label = `embeddingForward[${o.batch}×${o.seq}×${o.dim}]`;
  for (const d of ['batch', 'seq', 'dim', 'vocab'] as const) positive(label, d, o[d]);
  checkSize(label, 'ids', o.ids, o.batch * o.seq * 4);
  checkSize(label, 'wte', o.wte, o.vocab * o.dim * 4);
  checkSize(label, 'wpe', o.wpe, o.seq * o.dim * 4);
  checkSize(label, 'hidden', o.hidden, o.batch * o.seq * o.dim * 4);
  const pipeline = ctx.composed('train_embedding.wgsl', [trainEmbeddingWgsl], 'embeddingForward', {});
  const uniform = sizesUniform(ctx, label, [o.batch, o.seq, o.dim, o.vocab]);
  const group = ctx.bindGroup(label, pipeline, [null, uniform, null, null, null, null, o.ids, o.wte, o.wpe, o.hidden]);
  return op(label, uniform, (pass) => run(pass, label, pipeline, group, Math.ceil(o.dim / 64), o.batch * o.seq));
}

/**
 * O [rows, E] = causal softmax(q kᵀ · scale) v from qkv [rows, 3E], per sequence of `seq` rows; with `dropout`
 * (p > 0) the probabilities are dropped before · v, under the key and the step set by setStep.
 */
export function attentionForwardOp(
  ctx: KernelContext,
  o: { qkv: GPUBuffer; outputs: GPUBuffer; dropout?: DropoutKey } & AttentionSizes,
): DropoutOp {
  const label = `attentionForward[${o.batch}×${o.seq}, ${o.heads}×${o.headDim}]`;
  for (const d of ['batch', 'seq', 'heads', 'headDim'] as const) positive(label, d, o[d]);
  if (o.headDim > MAX_BACKWARD_HEAD_DIM) throw badInput(`${label}: head size ${o.headDim} is over the ${MAX_BACKWARD_HEAD_DIM} the training attention supports`);
  checkDistinct(label, { qkv: o.qkv, outputs: o.outputs });
  const rows = o.batch * o.seq;
  checkSize(label, 'qkv', o.qkv, rows * 3 * o.heads * o.headDim * 4);
  checkSize(label, 'outputs', o.outputs, rows * o.heads * o.headDim * 4);
  const { uniform, constants } = attentionUniform(ctx, label, o);
  const kernel = attentionKernel(ctx, o, constants);
  const pipeline = kernel.pipeline('attentionForward');
  const group = ctx.bindGroup(label, pipeline, [null, uniform, o.qkv, o.outputs]);
  return attentionOp(ctx, label, uniform, (pass) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(kernel.groupsX, o.heads, o.batch);
  });
}
