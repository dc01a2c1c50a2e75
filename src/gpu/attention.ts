// Causal attention over the KV cache: the K/V append (shaders/kv_append.wgsl), attention itself (the attention
// family: shaders/attention.wgsl, shared, then its kernels by job: attention-workgroup.wgsl and
// attention-per-thread.wgsl, the per-query layouts; attention-split.wgsl, the split-K decode path;
// attention-masked-rows.wgsl, its pass for fully masked queries), the one-dispatch decode attention
// (attention.wgsl's shared part, attention-decode.wgsl and one of the attention-merge*.wgsl bodies), and the
// attention weights HF output_attentions reads (shaders/attention-weights.wgsl); all share the key mask's rules
// (shaders/attention-mask.wgsl, prepended).
import { badInput, ImageGPTError } from '../errors';
import type { Op, StepShape } from './types';
import { shader, type EntryPoint, type PipelineConstants } from './pipelines';
import type { KernelTuning } from './tuning';
import { KernelOp, checkDistinct, checkPositiveInt, checkRows, checkSize, checkStepPositions, positionsOf, rowCapacity, run, type Dispatch, type KernelContext } from './context';
import kvAppendWgsl from '../../shaders/kv_append.wgsl?raw';
import attentionMaskWgsl from '../../shaders/attention-mask.wgsl?raw';
import attentionWgsl from '../../shaders/attention.wgsl?raw';
import attentionWorkgroupWgsl from '../../shaders/attention-workgroup.wgsl?raw';
import attentionPerThreadWgsl from '../../shaders/attention-per-thread.wgsl?raw';
import attentionSplitWgsl from '../../shaders/attention-split.wgsl?raw';
import attentionMaskedRowsWgsl from '../../shaders/attention-masked-rows.wgsl?raw';
import attentionWeightsWgsl from '../../shaders/attention-weights.wgsl?raw';
import attentionDecodeWgsl from '../../shaders/attention-decode.wgsl?raw';
import attentionMergeWgsl from '../../shaders/attention-merge.wgsl?raw';
import attentionMergeSubgroupsWgsl from '../../shaders/attention-merge-subgroups.wgsl?raw';
import headScaleWgsl from '../../shaders/head_scale.wgsl?raw';

const MASK = shader('attention-mask.wgsl', attentionMaskWgsl);
const ATTENTION_SHARED = shader('attention.wgsl', attentionWgsl);
/** The attention family's module: the key mask, the shared part, then every kernel by job (one compile). */
const ATTENTION_FILES = [
  MASK,
  ATTENTION_SHARED,
  shader('attention-workgroup.wgsl', attentionWorkgroupWgsl),
  shader('attention-per-thread.wgsl', attentionPerThreadWgsl),
  shader('attention-split.wgsl', attentionSplitWgsl),
  shader('attention-masked-rows.wgsl', attentionMaskedRowsWgsl),
];

/** attention-split.wgsl's MAX_SPLIT_D4 and attention-decode.wgsl's MAX_DECODE_D4: the split and decode kernels keep
 *  a head's V sum in registers (head size ≤ 128). */
const SPLIT_MAX_D4 = 32;

/** The workgroup attention's fewest score slots (1 KiB of workgroup memory): shorter caches share them. */
const MIN_SCORES = 256;

/**
 * Bytes of the split-K attention scratch an attention Op makes for buffers of `maxRows` rows, a cache of
 * `batch` sequences × `maxPositions`; 0 where no step would split (then no scratch is made), and 0 for
 * decodeAttention 'oneDispatch' (one dispatch without scratch). Without `decodeAttention`, sized as 'splitK'.
 */
export function splitAttentionScratchBytes(
  t: Pick<KernelTuning, 'attentionSplitKeys' | 'attentionMaxSplits' | 'attentionSplitMaxSeq'> & Partial<Pick<KernelTuning, 'decodeAttention'>>,
  s: { maxRows: number; batch: number; maxPositions: number; nHead: number; headDim: number },
): number {
  if (t.decodeAttention === 'oneDispatch') return 0;
  const maxSplits = Math.min(Math.ceil(s.maxPositions / t.attentionSplitKeys), t.attentionMaxSplits);
  const D4 = s.headDim / 4;
  if (maxSplits < 2 || t.attentionSplitMaxSeq < 1 || D4 > SPLIT_MAX_D4) return 0;
  const rows = Math.min(s.maxRows, s.batch * t.attentionSplitMaxSeq);
  return maxSplits * rows * s.nHead * (D4 + 1) * 16;
}

/** cache[b, h, past + i, :] = k / v of row b * seq + i. Cache layout [batch, H, maxPositions, D]. */
export function kvAppendOp(ctx: KernelContext, o: {
  step: GPUBuffer;
  qkv: GPUBuffer;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
  nHead: number;
  dim: number;
  maxPositions: number;
}): Op {
  const label = `kvAppend[${o.dim}/${o.nHead}]`;
  const a = attentionSetup(label, o);
  const pipeline = ctx.pipeline('kv_append.wgsl', kvAppendWgsl, null, 'kvAppend', a.constants);
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.vCache]);
  const groupsX = Math.ceil(o.dim / 4 / 64);
  return new KernelOp(label, (pass, step) => {
    const rows = a.checkStep(step);
    run(pass, label, pipeline, bindGroup, groupsX, rows);
  });
}

/** What attention and attentionWeights read: this step's q (in qkv), the caches after this step's append, the scale. */
export interface ScoredAttentionArgs {
  step: GPUBuffer;
  /** f32 [rows, 3E]: q | k | v */
  qkv: GPUBuffer;
  /** f32 [batch, nHead, maxPositions, E / nHead] */
  kCache: GPUBuffer;
  out: GPUBuffer;
  nHead: number;
  dim: number;
  maxPositions: number;
  scale: number;
  /**
   * u32 [batch, maxPositions]: key j of sequence b is attended only where keyMask[b, j] ≠ 0 (HF attention_mask,
   * with HF's result for a query whose keys are all masked). Separate pipelines: without it nothing changes.
   */
  keyMask?: GPUBuffer;
}

/**
 * Causal softmax(q kᵀ · scale) v over the cache (after this step's kvAppend), per head. With decodeAttention
 * 'oneDispatch' every step is one dispatch: steps that split-K would split the decode kernel (unless the head is
 * larger than 128), the others the per-query kernel; a key mask's fully masked queries are handled inside them.
 * 'splitK': split-K (two dispatches) and a third for a key mask's fully masked queries.
 */
export function attentionOp(ctx: KernelContext, o: ScoredAttentionArgs & { vCache: GPUBuffer }): Op {
  const label = `attention[${o.dim}/${o.nHead}${o.keyMask ? ' masked' : ''}]`;
  const a = scoredAttentionSetup(ctx, label, o);
  checkDistinct(label, { qkv: o.qkv, out: o.out, kCache: o.kCache, vCache: o.vCache });
  const outRows = rowCapacity(label, 'out', o.out, o.dim * 4);
  const { keyMask, params } = a;
  const oneDispatch = ctx.tuning.decodeAttention === 'oneDispatch';
  // One dispatch: the per-query kernels write HF's result for fully masked queries themselves.
  const constants: PipelineConstants = oneDispatch && o.keyMask ? { ...a.constants, INLINE_MASKED: 1 } : a.constants;
  const D = a.headDim;
  const pipeline =
    ctx.tuning.attention === 'thread'
      ? attentionPipeline(ctx, 'attentionPerThread', {
          ...constants,
          PT_THREADS: ctx.tuning.attentionThreads,
        })
      : attentionWorkgroupPipeline(ctx, label, constants, D, o.maxPositions);
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.vCache, o.out, params, null, keyMask]);
  const split = oneDispatch ? attentionDecode(ctx, label, o, a, params, keyMask) : attentionSplit(ctx, label, o, a, params, keyMask);
  let maskedRows: Dispatch | null = null;
  if (o.keyMask && !oneDispatch) {
    const threads = ctx.tuning.attentionThreads;
    const fixPipeline = attentionPipeline(ctx, 'attentionMaskedRows', { ...constants, PT_THREADS: threads });
    const fixBindGroup = ctx.bindGroup(`${label} masked rows`, fixPipeline, [o.step, null, null, o.vCache, o.out, null, null, o.keyMask]);
    maskedRows = (pass, step) => run(pass, label, fixPipeline, fixBindGroup, Math.ceil((step.batch * step.seq * o.nHead * (D / 4)) / threads), 1);
  }
  const op = new KernelOp(label, (pass, step) => {
    const rows = a.checkStep(step);
    if (rows > outRows) throw badInput(`${label}: ${rows} rows but out holds ${outRows}`);
    if (!split?.encode(pass, step, rows)) {
      if (ctx.tuning.attention === 'thread') {
        run(pass, label, pipeline, bindGroup, Math.ceil((rows * o.nHead) / ctx.tuning.attentionThreads), 1);
      } else {
        run(pass, label, pipeline, bindGroup, o.nHead, rows);
      }
    }
    maskedRows?.(pass, step);
  }, () => {
    if (!split?.scratch) return;
    split.scratch.destroy();
    ctx.scratch.delete(split.scratch);
  });
  if (split?.scratch) ctx.scratch.add(split.scratch);
  return op;
}

/**
 * The attention weights (HF output_attentions) of this step's queries: out[r, h, j] = softmax over the visible
 * keys of q·kᵀ·scale (the same scale as `attention`), 0 for j past query r's last key, j < maxPositions.
 * Reads qkv and the K cache after this step's kvAppend; out is f32 [rows, nHead, maxPositions].
 */
export function attentionWeightsOp(ctx: KernelContext, o: ScoredAttentionArgs): Op {
  const label = `attentionWeights[${o.dim}/${o.nHead}${o.keyMask ? ' masked' : ''}]`;
  const a = scoredAttentionSetup(ctx, label, { ...o, vCache: o.kCache });
  checkDistinct(label, { qkv: o.qkv, out: o.out, kCache: o.kCache });
  const bindingLimit = ctx.device.limits.maxStorageBufferBindingSize;
  if (o.out.size > bindingLimit) throw new ImageGPTError('E_DEVICE_LIMIT', `${label}: out holds ${o.out.size} bytes, the device allows ${bindingLimit} per binding; use fewer rows`);
  const outRows = rowCapacity(label, 'out', o.out, o.nHead * o.maxPositions * 4);
  const threads = ctx.tuning.attentionThreads;
  const pipeline = ctx.composed('attention-weights.wgsl', [MASK, shader('attention-weights.wgsl', attentionWeightsWgsl)], 'attentionWeights', {
    ...a.constants,
    THREADS: threads,
  });
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.out, null, a.params, null, a.keyMask]);
  return new KernelOp(label, (pass, step) => {
    const rows = a.checkStep(step);
    if (rows > outRows) throw badInput(`${label}: ${rows} rows but out holds ${outRows} rows of ${o.nHead} × ${o.maxPositions} weights`);
    run(pass, label, pipeline, bindGroup, Math.ceil((rows * o.nHead) / threads), 1);
  });
}

/**
 * Bytes between two layers' rows of a head-mask table (f32 [n_layer, stride / 4]): each row starts at a multiple
 * of the device's storage offset alignment, so one layer's row is bound by offset.
 */
export function headMaskStride(limits: Pick<GPUSupportedLimits, 'minStorageBufferOffsetAlignment'>, nHead: number): number {
  const align = limits.minStorageBufferOffsetAlignment;
  return Math.ceil((nHead * 4) / align) * align;
}

/**
 * HF head_mask for one layer: x[r, h, w] *= mask[layer, h] for this step's rows, x f32 [rows, nHead, width] (the
 * attention output with width = head size, or the attention weights with width 'positions': the cache length the
 * step buffer was made for, read from it so one pipeline serves every session length). `mask` is a table laid out
 * by headMaskStride. One small dispatch, made only where a head mask is given.
 */
export function headScaleOp(
  ctx: KernelContext,
  o: { step: GPUBuffer; x: GPUBuffer; mask: GPUBuffer; layer: number; nHead: number; width: number | 'positions' },
): Op {
  const label = `headScale[layer ${o.layer}, ${o.nHead}×${o.width}]`;
  const fromStep = o.width === 'positions';
  const width = o.width === 'positions' ? (positionsOf(o.step) ?? 0) : o.width;
  checkPositiveInt(label, 'nHead', o.nHead);
  checkPositiveInt(label, fromStep ? "width 'positions' (the step buffer's)" : 'width', width);
  if (!Number.isInteger(o.layer) || o.layer < 0) throw badInput(`${label}: layer must be an integer ≥ 0, got ${o.layer}`);
  checkDistinct(label, { x: o.x, mask: o.mask });
  const stride = headMaskStride(ctx.device.limits, o.nHead);
  checkSize(label, 'mask', o.mask, o.layer * stride + o.nHead * 4);
  const maxRows = rowCapacity(label, 'x', o.x, o.nHead * width * 4);
  const constants: PipelineConstants = fromStep ? { H: o.nHead, W: 0, W_POSITIONS: 1 } : { H: o.nHead, W: width };
  const pipeline = ctx.pipeline('head_scale.wgsl', headScaleWgsl, null, 'headScale', constants);
  const bindGroup = ctx.bindGroup(label, pipeline, [o.step, o.x, { buffer: o.mask, offset: o.layer * stride, size: o.nHead * 4 }]);
  const groupsX = Math.ceil((o.nHead * width) / 64);
  return new KernelOp(label, (pass, step) => {
    const rows = checkRows(label, step, maxRows);
    run(pass, label, pipeline, bindGroup, groupsX, rows);
  });
}

/** The split-K path's two pipelines and its scratch (sized once for this Op's largest split step),
 *  or null where no step of this Op would split. encode() returns false for steps it leaves to the
 *  per-query kernels (too many new tokens, or one chunk). */
function attentionSplit(ctx: KernelContext, 
  label: string,
  o: { step: GPUBuffer; qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer; nHead: number; maxPositions: number },
  a: { headDim: number; constants: PipelineConstants; maxRows: number; cacheBatch: number },
  params: GPUBuffer,
  keyMask: GPUBuffer,
) {
  const t = ctx.tuning;
  const splitCount = (positions: number) => Math.min(Math.ceil(positions / t.attentionSplitKeys), t.attentionMaxSplits);
  const D4 = a.headDim / 4;
  const bytes = splitAttentionScratchBytes(t, { maxRows: a.maxRows, batch: a.cacheBatch, maxPositions: o.maxPositions, nHead: o.nHead, headDim: a.headDim });
  if (bytes === 0) return null;
  if (bytes > ctx.device.limits.maxStorageBufferBindingSize) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `${label}: split attention needs ${bytes} bytes of scratch, the device allows ${ctx.device.limits.maxStorageBufferBindingSize} per binding`);
  }
  const scratch = ctx.device.createBuffer({ label: `${label} split partials`, size: bytes, usage: GPUBufferUsage.STORAGE });
  const constants = {
    ...a.constants,
    PT_THREADS: t.attentionThreads,
    SPLIT_KEYS: t.attentionSplitKeys,
    MAX_SPLITS: t.attentionMaxSplits,
  };
  const partialPipeline = attentionPipeline(ctx, 'attentionSplit', constants);
  const combinePipeline = attentionPipeline(ctx, 'attentionCombine', constants);
  const partialBindGroup = ctx.bindGroup(`${label} split`, partialPipeline, [o.step, o.qkv, o.kCache, o.vCache, null, params, scratch, keyMask]);
  const combineBindGroup = ctx.bindGroup(`${label} combine`, combinePipeline, [o.step, null, null, null, o.out, null, scratch]);
  return {
    scratch,
    encode(pass: GPUComputePassEncoder, step: StepShape, rows: number): boolean {
      const splits = splitCount(step.past + step.seq);
      if (step.seq > t.attentionSplitMaxSeq || splits < 2) return false;
      const units = rows * o.nHead;
      run(pass, label, partialPipeline, partialBindGroup, Math.ceil(units / t.attentionThreads), splits);
      run(pass, label, combinePipeline, combineBindGroup, Math.ceil((units * D4) / t.attentionThreads), 1);
      return true;
    },
  };
}

/**
 * decodeAttention 'oneDispatch': one dispatch, a workgroup per (head, query row) whose threads split the
 * keys and merge once (attention-decode.wgsl), for steps that split-K would split (more than attentionSplitKeys
 * positions, at most attentionSplitMaxSeq new tokens); null where the per-query kernel serves every step. The merge
 * uses subgroup operations where the device has them and the workgroup fits in one subgroup, else workgroup
 * memory (threads halved until it fits the device). encode() returns false for steps of too many new tokens.
 */
function attentionDecode(ctx: KernelContext,
  label: string,
  o: { step: GPUBuffer; qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer; nHead: number },
  a: { headDim: number; constants: PipelineConstants },
  params: GPUBuffer,
  keyMask: GPUBuffer,
): { scratch: null; encode(pass: GPUComputePassEncoder, step: StepShape, rows: number): boolean } | null {
  const t = ctx.tuning;
  const D4 = a.headDim / 4;
  if (t.attentionSplitMaxSeq < 1 || t.attentionMaxSplits < 2 || D4 > SPLIT_MAX_D4) return null;
  const limits = ctx.device.limits;
  let threads = Math.min(t.attentionDecodeThreads, limits.maxComputeInvocationsPerWorkgroup);
  // The workgroup-memory merge holds D/4 + 1 vec4 per thread; the subgroup merge none.
  while (threads > 1 && threads * (D4 + 1) * 16 > limits.maxComputeWorkgroupStorageSize) threads = Math.ceil(threads / 2);
  const subgroups = ctx.useSubgroups && threads <= (ctx.device.adapterInfo?.subgroupMinSize ?? 0);
  const kernel = subgroups ? 'attention-decode.wgsl/subgroups' : 'attention-decode.wgsl/workgroup';
  const merge = subgroups ? shader('attention-merge-subgroups.wgsl', attentionMergeSubgroupsWgsl) : shader('attention-merge.wgsl', attentionMergeWgsl);
  const pipeline = ctx.composed(kernel, [MASK, ATTENTION_SHARED, shader('attention-decode.wgsl', attentionDecodeWgsl), merge], 'attentionDecode', { ...a.constants, DT: threads }, subgroups ? ['subgroups'] : []);
  const bindGroup = ctx.bindGroup(`${label} decode`, pipeline, [o.step, o.qkv, o.kCache, o.vCache, o.out, params, null, keyMask]);
  return {
    scratch: null,
    encode(pass: GPUComputePassEncoder, step: StepShape, rows: number): boolean {
      // As split-K: up to attentionSplitKeys positions one thread per query is cheapest (fewer workgroups).
      if (step.seq > t.attentionSplitMaxSeq || step.past + step.seq <= t.attentionSplitKeys) return false;
      run(pass, label, pipeline, bindGroup, o.nHead, rows);
      return true;
    },
  };
}

function attentionWorkgroupPipeline(ctx: KernelContext, label: string, constants: PipelineConstants, D: number, maxPositions: number): GPUComputePipeline {
  const maxThreads = ctx.device.limits.maxComputeInvocationsPerWorkgroup;
  const quads = D / 4; // threads per group: each reads four channels
  if (quads > maxThreads) throw new ImageGPTError('E_DEVICE_LIMIT', `${label}: head size ${D} needs ${quads} threads, the device allows ${maxThreads}`);
  const groups = Math.max(1, Math.min(Math.floor(ctx.tuning.attentionThreads / quads), Math.floor(maxThreads / quads)));
  const threads = groups * quads;
  const threadsPow2 = 2 ** Math.ceil(Math.log2(threads));
  const sharedBytes = (scores: number) => 4 * (scores + D + threadsPow2 + 4 * threads);
  const sharedLimit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  if (sharedBytes(maxPositions) > sharedLimit) {
    throw new ImageGPTError('E_DEVICE_LIMIT',
      `${label}: maxPositions ${maxPositions} needs ${sharedBytes(maxPositions)} bytes of workgroup memory, the device allows ${sharedLimit}`,
    );
  }
  // The scores live in workgroup memory, whose size must be a pipeline constant: a few sizes (powers of two from
  // MIN_SCORES, or as many as fit) serve every session length, each compiled once.
  let scores = Math.max(MIN_SCORES, 2 ** Math.ceil(Math.log2(maxPositions)));
  if (sharedBytes(scores) > sharedLimit) scores = sharedLimit / 4 - D - threadsPow2 - 4 * threads;
  return attentionPipeline(ctx, 'attention', { ...constants, SCORES: scores, GROUPS: groups, WG_POW2: threadsPow2 });
}

/** An entry point of the attention family (ATTENTION_FILES), with the key mask's rules (attention-mask.wgsl) before it. */
function attentionPipeline(ctx: KernelContext, entryPoint: EntryPoint<'attention.wgsl'>, constants: PipelineConstants): GPUComputePipeline {
  return ctx.composed('attention.wgsl', ATTENTION_FILES, entryPoint, constants);
}

function attentionSetup(
  label: string,
  o: { step: GPUBuffer; qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; nHead: number; dim: number; maxPositions: number },
) {
  checkPositiveInt(label, 'nHead', o.nHead);
  checkPositiveInt(label, 'dim', o.dim);
  checkPositiveInt(label, 'maxPositions', o.maxPositions);
  checkStepPositions(label, o.step, o.maxPositions);
  if (o.dim % o.nHead !== 0) throw badInput(`${label}: dim ${o.dim} is not a multiple of nHead ${o.nHead}`);
  const headDim = o.dim / o.nHead;
  if (headDim % 4 !== 0) throw badInput(`${label}: head size ${headDim} (dim / nHead) must be a multiple of 4: the kernels read vec4`);
  const qkvRows = rowCapacity(label, 'qkv', o.qkv, 3 * o.dim * 4);
  const sequenceBytes = o.maxPositions * o.dim * 4;
  const cacheBatch = Math.min(rowCapacity(label, 'kCache', o.kCache, sequenceBytes), rowCapacity(label, 'vCache', o.vCache, sequenceBytes));
  const checkStepFits = (step: StepShape): number => {
    const rows = checkRows(label, step, qkvRows);
    if (step.past + step.seq > o.maxPositions) {
      throw badInput(`${label}: positions up to ${step.past + step.seq} exceed the cache's maxPositions ${o.maxPositions}`);
    }
    if (step.batch > cacheBatch) throw badInput(`${label}: batch ${step.batch} but the cache holds ${cacheBatch} sequences`);
    return rows;
  };
  return {
    headDim,
    // Model constants only: the cache's positions come from the step uniform.
    constants: { H: o.nHead, D: headDim } as PipelineConstants,
    checkStep: checkStepFits,
    maxRows: qkvRows,
    cacheBatch,
  };
}

/**
 * attentionSetup plus what attention and attentionWeights share: the scale's uniform and the optional key mask
 * (MASKED in the constants; a placeholder buffer without one, since the binding is declared either way).
 */
function scoredAttentionSetup(ctx: KernelContext, 
  label: string,
  o: { step: GPUBuffer; qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; nHead: number; dim: number; maxPositions: number; scale: number; keyMask?: GPUBuffer },
) {
  const a = attentionSetup(label, o);
  if (!Number.isFinite(o.scale)) throw badInput(`${label}: scale must be finite, got ${o.scale}`);
  if (o.keyMask) checkSize(label, 'keyMask', o.keyMask, a.cacheBatch * o.maxPositions * 4);
  return {
    ...a,
    constants: { ...a.constants, MASKED: o.keyMask ? 1 : 0 } as PipelineConstants,
    params: ctx.attentionParams(o.scale),
    keyMask: o.keyMask ?? ctx.dummyBuffer(),
  };
}
