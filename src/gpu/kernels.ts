// The WGSL kernels of the ImageGPT forward, as Ops: pipelines are made once per distinct
// (kernel, weight dtype, static dims) and cached here; each Op makes its bind group once; encode()
// only sets pipeline + bind group and dispatches, sized by the step's rows = batch * seq.
import type { GpuMatrix, Op, StepShape, WeightDType } from './types';
import { PipelineCache, type PipelineConstants } from './pipelines';
import stepWgsl from '../../shaders/step.wgsl?raw';
import weightsF32Wgsl from '../../shaders/weights_f32.wgsl?raw';
import weightsF16Wgsl from '../../shaders/weights_f16.wgsl?raw';
import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import embedWgsl from '../../shaders/embed.wgsl?raw';
import rmsNormWgsl from '../../shaders/rms_norm.wgsl?raw';
import kvAppendWgsl from '../../shaders/kv_append.wgsl?raw';
import attentionWgsl from '../../shaders/attention.wgsl?raw';
import attentionWeightsWgsl from '../../shaders/attention-weights.wgsl?raw';
import meanPoolWgsl from '../../shaders/mean_pool.wgsl?raw';
import crossEntropyWgsl from '../../shaders/cross-entropy.wgsl?raw';

/** Launch shapes per adapter. Defaults come from `Kernels.tuningFor(adapter.info)`. */
export interface KernelTuning {
  /** Prefill matmul: 'registers' (4×4 outputs per thread, no workgroup memory; best on SwiftShader)
   *  or 'shared' (workgroup-memory tiles; best on GPUs). */
  prefill: 'registers' | 'shared';
  /** 'registers': threads per workgroup [x, y]; each thread computes 4 rows × 4 columns. */
  registerThreads: readonly [number, number];
  /** 'shared': threads [x, y] (a tile of 4y rows × 4x columns) and the K depth staged at a time. */
  sharedThreads: readonly [number, number];
  sharedDepth: number;
  /** matmul uses the matrix-vector kernel when rows ≤ this (decode), the tiled one above it. */
  decodeMaxRows: number;
  /** Matrix-vector kernel: threads along the columns (8 columns each) and threads splitting K
   *  (summed in workgroup memory) per workgroup; one row per workgroup. */
  matvecThreads: number;
  matvecSplitK: number;
  /** rmsNorm: 'workgroup' (a workgroup of normThreads per row: GPUs) or 'thread' (a thread per row:
   *  SwiftShader). normThreads: a power of two, threads per workgroup either way. */
  norm: 'workgroup' | 'thread';
  normThreads: number;
  /** attention: 'workgroup' (a workgroup per head and query: GPUs) or 'thread' (a thread per head and
   *  query, online softmax, no workgroup memory: SwiftShader, where workgroup memory is costly). */
  attention: 'workgroup' | 'thread';
  /** attention 'workgroup': about this many threads per workgroup (rounded down to a multiple of D/4);
   *  'thread': threads per workgroup. */
  attentionThreads: number;
  /** Split-K attention for steps of at most attentionSplitMaxSeq new tokens: each query's keys are cut
   *  into chunks of about attentionSplitKeys (at most attentionMaxSplits chunks), each chunk a thread, then
   *  a combine pass. attentionMaxSplits 1 turns it off (the per-query kernel above serves every step). */
  attentionSplitKeys: number;
  attentionMaxSplits: number;
  attentionSplitMaxSeq: number;
}

const SWIFTSHADER_TUNING: KernelTuning = {
  prefill: 'registers',
  registerThreads: [8, 8],
  sharedThreads: [8, 8],
  sharedDepth: 16,
  // Measured here (CPU time, 512→2048): at 1 row the matvec takes half the 4×4 tile's time (which
  // computes 4 rows to keep 1), at 2 rows they tie, at 8 rows the tile is 3× faster.
  decodeMaxRows: 2,
  matvecThreads: 32,
  matvecSplitK: 1,
  norm: 'thread',
  normThreads: 64,
  attention: 'thread',
  attentionThreads: 64,
  // A decode step has only batch × heads queries: one chunk per thread spreads them over both cores.
  attentionSplitKeys: 64,
  attentionMaxSplits: 32,
  attentionSplitMaxSeq: 4,
};

const GPU_TUNING: KernelTuning = {
  prefill: 'shared',
  registerThreads: [16, 16],
  sharedThreads: [16, 16],
  sharedDepth: 16,
  // Not measured yet (no GPU here). Decode is bandwidth-bound: 8 column threads × 32 K slices per
  // workgroup keep 128-byte row segments per warp and still give a 512-column matrix 8 workgroups.
  decodeMaxRows: 16,
  matvecThreads: 8,
  matvecSplitK: 32,
  norm: 'workgroup',
  normThreads: 128,
  attention: 'workgroup',
  attentionThreads: 128,
  // Not measured yet (no GPU here): smaller chunks, more threads for a decode step's few queries.
  attentionSplitKeys: 32,
  attentionMaxSplits: 64,
  attentionSplitMaxSeq: 4,
};

const MAX_WORKGROUPS_PER_DIMENSION = 65535;
/** attention.wgsl's MAX_SPLIT_D4: the split kernel keeps a head's V sum in registers (head size ≤ 128). */
const SPLIT_MAX_D4 = 32;

/**
 * Bytes of the split-K attention scratch an attention Op makes for buffers of `maxRows` rows, a cache of
 * `batch` sequences × `maxPositions`; 0 where no step would split (then no scratch is made).
 */
export function splitAttentionScratchBytes(
  t: Pick<KernelTuning, 'attentionSplitKeys' | 'attentionMaxSplits' | 'attentionSplitMaxSeq'>,
  s: { maxRows: number; batch: number; maxPositions: number; nHead: number; headDim: number },
): number {
  const maxSplits = Math.min(Math.ceil(s.maxPositions / t.attentionSplitKeys), t.attentionMaxSplits);
  const D4 = s.headDim / 4;
  if (maxSplits < 2 || t.attentionSplitMaxSeq < 1 || D4 > SPLIT_MAX_D4) return 0;
  const rows = Math.min(s.maxRows, s.batch * t.attentionSplitMaxSeq);
  return maxSplits * rows * s.nHead * (D4 + 1) * 16;
}

/** The tunings Kernels picks by default (SwiftShader's, then GPUs'), for sizing before a device exists. */
export const DEFAULT_TUNINGS: readonly Readonly<KernelTuning>[] = [{ ...SWIFTSHADER_TUNING }, { ...GPU_TUNING }];

export interface MatmulArgs {
  step: GPUBuffer;
  /** f32 [rows, K] */
  x: GPUBuffer;
  /** [K, N], N even */
  w: GpuMatrix;
  /** f32 [N] */
  bias?: GPUBuffer;
  /** f32 [rows, N] */
  out: GPUBuffer;
  activation?: 'none' | 'quick_gelu';
  /** out += act(x @ w + bias): the fused residual add, in place. */
  accumulate?: boolean;
}

type Dispatch = (pass: GPUComputePassEncoder, step: StepShape) => void;

class KernelOp implements Op {
  constructor(
    readonly label: string,
    private readonly record: Dispatch,
    private readonly release: () => void = () => {},
  ) {}

  encode(pass: GPUComputePassEncoder, step: StepShape): void {
    this.record(pass, step);
  }

  destroy(): void {
    this.release();
  }
}

export class Kernels {
  readonly tuning: KernelTuning;
  private readonly pipelines: PipelineCache;
  private readonly stepScratch = new Uint32Array(4);
  private noBias: GPUBuffer | null = null;
  private readonly scaleBuffers = new Map<number, GPUBuffer>();
  private readonly attentionScratch = new Set<GPUBuffer>(); // of live Ops, for destroy()

  constructor(
    readonly device: GPUDevice,
    tuning?: Partial<KernelTuning>,
  ) {
    this.tuning = { ...Kernels.tuningFor(device.adapterInfo), ...tuning };
    this.pipelines = PipelineCache.forDevice(device);
    checkTuning(this.tuning, device.limits);
  }

  /** SwiftShader (a CPU) wants register blocking and no workgroup memory; GPUs want shared-memory tiles.
   *  Without adapter info (older browsers have no `device.adapterInfo`) the portable choice is SwiftShader's. */
  static tuningFor(info: GPUAdapterInfo | undefined): KernelTuning {
    const swiftShader = info !== undefined && (info.architecture === 'swiftshader' || info.vendor === 'google');
    return { ...(swiftShader || info === undefined ? SWIFTSHADER_TUNING : GPU_TUNING) };
  }

  /** Resolves once every pipeline and bind group made so far is valid; otherwise rejects naming the kernel.
   *  (WebGPU reports these asynchronously: call it once after creating the Ops.) */
  ready(): Promise<void> {
    return this.pipelines.ready();
  }

  /** Frees the few small buffers Kernels owns (Ops made from it must not be used afterwards). */
  destroy(): void {
    this.noBias?.destroy();
    this.noBias = null;
    for (const params of this.scaleBuffers.values()) params.destroy();
    this.scaleBuffers.clear();
    for (const scratch of this.attentionScratch) scratch.destroy();
    this.attentionScratch.clear();
  }

  /** A uniform buffer holding a StepShape; one per session; written before each submit. */
  createStepBuffer(): GPUBuffer {
    return this.device.createBuffer({
      label: 'step',
      size: 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  writeStep(stepBuffer: GPUBuffer, step: StepShape): void {
    checkStep(step);
    const s = this.stepScratch;
    s[0] = step.batch;
    s[1] = step.seq;
    s[2] = step.past;
    s[3] = step.batch * step.seq;
    this.device.queue.writeBuffer(stepBuffer, 0, s);
  }

  /**
   * out[r] = wte[ids[r]] + wpe[past + i], or wpe[positions[r]] with `positions` (u32 [rows], HF position_ids; a
   * separate pipeline, so the default reads nothing more). An id or position out of range yields a NaN row (the
   * GPU cannot throw: callers check on the host).
   */
  embed(o: { step: GPUBuffer; ids: GPUBuffer; wte: GpuMatrix; wpe: GpuMatrix; out: GPUBuffer; positions?: GPUBuffer }): Op {
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
    const pipeline = this.pipeline('embed.wgsl', embedWgsl, o.wte.dtype, 'embed', {
      E,
      VOCAB: o.wte.rows,
      POSITIONS: o.wpe.rows,
      HAS_POSITIONS: o.positions ? 1 : 0,
    });
    // The positions binding is declared either way; without positions it gets a placeholder that is never read.
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.ids, o.wte.buffer, o.wpe.buffer, o.out, o.positions ?? this.dummyBias()]);
    const groupsX = Math.ceil(E / 2 / 64);
    return new KernelOp(label, (pass, step) => {
      const rows = checkRows(label, step, maxRows);
      if (!o.positions && step.past + step.seq > o.wpe.rows) {
        throw new Error(`${label}: positions up to ${step.past + step.seq} but wpe has ${o.wpe.rows} rows`);
      }
      run(pass, label, pipeline, bindGroup, groupsX, rows);
    });
  }

  /** out = x / sqrt(mean(x²) + eps) * weight, per row: no mean-centering, no bias. */
  rmsNorm(o: { step: GPUBuffer; x: GPUBuffer; weight: GPUBuffer; out: GPUBuffer; dim: number; eps: number }): Op {
    const label = `rmsNorm[${o.dim}]`;
    checkPositiveInt(label, 'dim', o.dim);
    if (!(o.eps > 0) || !Number.isFinite(o.eps)) throw new Error(`${label}: eps must be a positive number, got ${o.eps}`);
    checkDistinct(label, { x: o.x, out: o.out });
    checkSize(label, 'weight', o.weight, o.dim * 4);
    const maxRows = Math.min(rowCapacity(label, 'x', o.x, o.dim * 4), rowCapacity(label, 'out', o.out, o.dim * 4));
    const perThread = this.tuning.norm === 'thread';
    const pipeline = this.pipeline('rms_norm.wgsl', rmsNormWgsl, null, perThread ? 'rmsNormPerThread' : 'rmsNorm', {
      DIM: o.dim,
      EPS: o.eps,
      WG: this.tuning.normThreads,
    });
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.x, o.weight, o.out]);
    return new KernelOp(label, (pass, step) => {
      const rows = checkRows(label, step, maxRows);
      run(pass, label, pipeline, bindGroup, perThread ? Math.ceil(rows / this.tuning.normThreads) : rows, 1);
    });
  }

  /** out = act(x @ w + bias) (or out += …), choosing the matrix-vector kernel for few rows. */
  matmul(o: MatmulArgs): Op {
    const m = this.matmulSetup('matmul', o);
    const t = this.tuning;
    const decode = this.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, t.matvecSplitK > 1 ? 'matvecSplitK' : 'matvec', {
      ...m.constants,
      MV_THREADS: t.matvecThreads,
      ...(t.matvecSplitK > 1 ? { MV_SPLIT: t.matvecSplitK } : {}),
    });
    const prefill =
      t.prefill === 'registers'
        ? this.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulRegisters', {
            ...m.constants,
            TILE_X: t.registerThreads[0],
            TILE_Y: t.registerThreads[1],
          })
        : this.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulShared', {
            ...m.constants,
            SH_X: t.sharedThreads[0],
            SH_Y: t.sharedThreads[1],
            SH_K: t.sharedDepth,
          });
    const decodeBindGroup = this.bindGroup(m.label, decode, m.bindings);
    const prefillBindGroup = this.bindGroup(m.label, prefill, m.bindings);
    const pairs = o.w.cols / 2;
    const decodeGroupsX = Math.ceil(pairs / (4 * t.matvecThreads));
    // Either prefill kernel covers 4 rows × 4 columns (2 pairs) per thread.
    const [threadsX, threadsY] = t.prefill === 'registers' ? t.registerThreads : t.sharedThreads;
    const prefillGroupsX = Math.ceil(pairs / (2 * threadsX));
    const prefillRowsPerGroup = 4 * threadsY;
    return new KernelOp(m.label, (pass, step) => {
      const rows = checkRows(m.label, step, m.maxRows);
      if (rows <= t.decodeMaxRows) {
        run(pass, m.label, decode, decodeBindGroup, decodeGroupsX, rows);
      } else {
        run(pass, m.label, prefill, prefillBindGroup, prefillGroupsX, Math.ceil(rows / prefillRowsPerGroup));
      }
    });
  }

  /** The same product with one thread per output and no tiling: the benchmark's baseline. */
  naiveMatmul(o: MatmulArgs): Op {
    const m = this.matmulSetup('naiveMatmul', o);
    const pipeline = this.pipeline('matmul.wgsl', matmulWgsl, o.w.dtype, 'matmulNaive', m.constants);
    const bindGroup = this.bindGroup(m.label, pipeline, m.bindings);
    const groupsX = Math.ceil(o.w.cols / 64);
    return new KernelOp(m.label, (pass, step) => {
      run(pass, m.label, pipeline, bindGroup, groupsX, checkRows(m.label, step, m.maxRows));
    });
  }

  /** cache[b, h, past + i, :] = k / v of row b * seq + i. Cache layout [batch, H, maxPositions, D]. */
  kvAppend(o: {
    step: GPUBuffer;
    qkv: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
    nHead: number;
    dim: number;
    maxPositions: number;
  }): Op {
    const label = `kvAppend[${o.dim}/${o.nHead}]`;
    const a = this.attentionSetup(label, o);
    const pipeline = this.pipeline('kv_append.wgsl', kvAppendWgsl, null, 'kvAppend', a.constants);
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.vCache]);
    const groupsX = Math.ceil(o.dim / 4 / 64);
    return new KernelOp(label, (pass, step) => {
      const rows = a.checkStep(step);
      run(pass, label, pipeline, bindGroup, groupsX, rows);
    });
  }

  /** Causal softmax(q kᵀ · scale) v over the cache (after this step's kvAppend), per head. */
  attention(o: {
    step: GPUBuffer;
    qkv: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
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
  }): Op {
    const label = `attention[${o.dim}/${o.nHead}${o.keyMask ? ' masked' : ''}]`;
    const a = this.scoredAttentionSetup(label, o);
    checkDistinct(label, { qkv: o.qkv, out: o.out, kCache: o.kCache, vCache: o.vCache });
    const outRows = rowCapacity(label, 'out', o.out, o.dim * 4);
    const { constants, keyMask, params } = a;
    const D = a.headDim;
    const pipeline =
      this.tuning.attention === 'thread'
        ? this.pipeline('attention.wgsl', attentionWgsl, null, 'attentionPerThread', {
            ...constants,
            PT_THREADS: this.tuning.attentionThreads,
          })
        : this.attentionWorkgroupPipeline(label, constants, D, o.maxPositions);
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.vCache, o.out, params, null, keyMask]);
    const split = this.attentionSplit(label, o, a, params, keyMask);
    let maskedRows: Dispatch | null = null;
    if (o.keyMask) {
      const threads = this.tuning.attentionThreads;
      const fixPipeline = this.pipeline('attention.wgsl', attentionWgsl, null, 'attentionMaskedRows', { ...constants, PT_THREADS: threads });
      const fixBindGroup = this.bindGroup(`${label} masked rows`, fixPipeline, [o.step, null, null, o.vCache, o.out, null, null, o.keyMask]);
      maskedRows = (pass, step) => run(pass, label, fixPipeline, fixBindGroup, Math.ceil((step.batch * step.seq * o.nHead * (D / 4)) / threads), 1);
    }
    const op = new KernelOp(label, (pass, step) => {
      const rows = a.checkStep(step);
      if (rows > outRows) throw new Error(`${label}: ${rows} rows but out holds ${outRows}`);
      if (!split?.encode(pass, step, rows)) {
        if (this.tuning.attention === 'thread') {
          run(pass, label, pipeline, bindGroup, Math.ceil((rows * o.nHead) / this.tuning.attentionThreads), 1);
        } else {
          run(pass, label, pipeline, bindGroup, o.nHead, rows);
        }
      }
      maskedRows?.(pass, step);
    }, () => {
      if (!split) return;
      split.scratch.destroy();
      this.attentionScratch.delete(split.scratch);
    });
    if (split) this.attentionScratch.add(split.scratch);
    return op;
  }

  /**
   * The attention weights (HF output_attentions) of this step's queries: out[r, h, j] = softmax over the visible
   * keys of q·kᵀ·scale (the same scale as `attention`), 0 for j past query r's last key, j < maxPositions.
   * Reads qkv and the K cache after this step's kvAppend; out is f32 [rows, nHead, maxPositions].
   */
  attentionWeights(o: {
    step: GPUBuffer;
    qkv: GPUBuffer;
    kCache: GPUBuffer;
    out: GPUBuffer;
    nHead: number;
    dim: number;
    maxPositions: number;
    scale: number;
    /** As attention's keyMask (HF attention_mask); a separate pipeline. */
    keyMask?: GPUBuffer;
  }): Op {
    const label = `attentionWeights[${o.dim}/${o.nHead}${o.keyMask ? ' masked' : ''}]`;
    const a = this.scoredAttentionSetup(label, { ...o, vCache: o.kCache });
    checkDistinct(label, { qkv: o.qkv, out: o.out, kCache: o.kCache });
    const bindingLimit = this.device.limits.maxStorageBufferBindingSize;
    if (o.out.size > bindingLimit) throw new Error(`${label}: out holds ${o.out.size} bytes, the device allows ${bindingLimit} per binding; use fewer rows`);
    const outRows = rowCapacity(label, 'out', o.out, o.nHead * o.maxPositions * 4);
    const threads = this.tuning.attentionThreads;
    const pipeline = this.pipeline('attention-weights.wgsl', attentionWeightsWgsl, null, 'attentionWeights', { ...a.constants, THREADS: threads });
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.qkv, o.kCache, o.out, a.params, a.keyMask]);
    return new KernelOp(label, (pass, step) => {
      const rows = a.checkStep(step);
      if (rows > outRows) throw new Error(`${label}: ${rows} rows but out holds ${outRows} rows of ${o.nHead} × ${o.maxPositions} weights`);
      run(pass, label, pipeline, bindGroup, Math.ceil((rows * o.nHead) / threads), 1);
    });
  }

  /** The split-K path's two pipelines and its scratch (sized once for this Op's largest split step),
   *  or null where no step of this Op would split. encode() returns false for steps it leaves to the
   *  per-query kernels (too many new tokens, or one chunk). */
  private attentionSplit(
    label: string,
    o: { step: GPUBuffer; qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer; nHead: number; maxPositions: number },
    a: { headDim: number; constants: PipelineConstants; maxRows: number; cacheBatch: number },
    params: GPUBuffer,
    keyMask: GPUBuffer,
  ) {
    const t = this.tuning;
    const splitCount = (positions: number) => Math.min(Math.ceil(positions / t.attentionSplitKeys), t.attentionMaxSplits);
    const D4 = a.headDim / 4;
    const bytes = splitAttentionScratchBytes(t, { maxRows: a.maxRows, batch: a.cacheBatch, maxPositions: o.maxPositions, nHead: o.nHead, headDim: a.headDim });
    if (bytes === 0) return null;
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new Error(`${label}: split attention needs ${bytes} bytes of scratch, the device allows ${this.device.limits.maxStorageBufferBindingSize} per binding`);
    }
    const scratch = this.device.createBuffer({ label: `${label} split partials`, size: bytes, usage: GPUBufferUsage.STORAGE });
    const constants = {
      ...a.constants,
      PT_THREADS: t.attentionThreads,
      SPLIT_KEYS: t.attentionSplitKeys,
      MAX_SPLITS: t.attentionMaxSplits,
    };
    const partialPipeline = this.pipeline('attention.wgsl', attentionWgsl, null, 'attentionSplit', constants);
    const combinePipeline = this.pipeline('attention.wgsl', attentionWgsl, null, 'attentionCombine', constants);
    const partialBindGroup = this.bindGroup(`${label} split`, partialPipeline, [o.step, o.qkv, o.kCache, o.vCache, null, params, scratch, keyMask]);
    const combineBindGroup = this.bindGroup(`${label} combine`, combinePipeline, [o.step, null, null, null, o.out, null, scratch]);
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

  private attentionWorkgroupPipeline(label: string, constants: PipelineConstants, D: number, maxPositions: number): GPUComputePipeline {
    const maxThreads = this.device.limits.maxComputeInvocationsPerWorkgroup;
    const quads = D / 4; // threads per group: each reads four channels
    if (quads > maxThreads) throw new Error(`${label}: head size ${D} needs ${quads} threads, the device allows ${maxThreads}`);
    const groups = Math.max(1, Math.min(Math.floor(this.tuning.attentionThreads / quads), Math.floor(maxThreads / quads)));
    const threads = groups * quads;
    const threadsPow2 = 2 ** Math.ceil(Math.log2(threads));
    const sharedBytes = 4 * (maxPositions + D + threadsPow2 + 4 * threads);
    const sharedLimit = this.device.limits.maxComputeWorkgroupStorageSize;
    if (sharedBytes > sharedLimit) {
      throw new Error(
        `${label}: maxPositions ${maxPositions} needs ${sharedBytes} bytes of workgroup memory, the device allows ${sharedLimit}`,
      );
    }
    return this.pipeline('attention.wgsl', attentionWgsl, null, 'attention', { ...constants, GROUPS: groups, WG_POW2: threadsPow2 });
  }

  /** out[b] += Σ_i x[b * seq + i] (the caller zeroes out and divides by the token count). */
  meanPoolSum(o: { step: GPUBuffer; x: GPUBuffer; out: GPUBuffer; dim: number }): Op {
    const label = `meanPoolSum[${o.dim}]`;
    checkPositiveInt(label, 'dim', o.dim);
    checkDistinct(label, { x: o.x, out: o.out });
    const maxRows = rowCapacity(label, 'x', o.x, o.dim * 4);
    const maxBatch = rowCapacity(label, 'out', o.out, o.dim * 4);
    const pipeline = this.pipeline('mean_pool.wgsl', meanPoolWgsl, null, 'meanPoolSum', { DIM: o.dim });
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.x, o.out]);
    const groupsX = Math.ceil(o.dim / 64);
    return new KernelOp(label, (pass, step) => {
      checkRows(label, step, maxRows);
      if (step.batch > maxBatch) throw new Error(`${label}: batch ${step.batch} but out holds ${maxBatch} rows`);
      run(pass, label, pipeline, bindGroup, groupsX, step.batch);
    });
  }

  /**
   * out[r] = -log softmax(logits[r])[targets[r]] in nats, per row of `vocab` logits; 0 where targets[r] < 0
   * (ignored). A target ≥ vocab gives NaN: callers check labels on the host first.
   */
  crossEntropy(o: { step: GPUBuffer; logits: GPUBuffer; targets: GPUBuffer; out: GPUBuffer; vocab: number }): Op {
    const label = `crossEntropy[${o.vocab}]`;
    checkPositiveInt(label, 'vocab', o.vocab);
    checkDistinct(label, { logits: o.logits, targets: o.targets, out: o.out });
    const maxRows = Math.min(
      rowCapacity(label, 'logits', o.logits, o.vocab * 4),
      rowCapacity(label, 'targets', o.targets, 4),
      rowCapacity(label, 'out', o.out, 4),
    );
    const threads = 64;
    const pipeline = this.pipeline('cross-entropy.wgsl', crossEntropyWgsl, null, 'crossEntropy', { VOCAB: o.vocab, WG: threads });
    const bindGroup = this.bindGroup(label, pipeline, [o.step, o.logits, o.targets, o.out]);
    return new KernelOp(label, (pass, step) => {
      const rows = checkRows(label, step, maxRows);
      run(pass, label, pipeline, bindGroup, Math.ceil(rows / threads), 1);
    });
  }

  private matmulSetup(kind: string, o: MatmulArgs) {
    const K = o.w.rows;
    const N = o.w.cols;
    const label = `${kind}[${K}x${N} ${o.w.dtype}${o.activation === 'quick_gelu' ? ' gelu' : ''}${o.accumulate ? ' +=' : ''}]`;
    checkMatrix(label, 'w', o.w);
    checkDistinct(label, { x: o.x, out: o.out });
    if (o.bias) checkSize(label, 'bias', o.bias, N * 4);
    if (o.activation !== undefined && o.activation !== 'none' && o.activation !== 'quick_gelu') {
      throw new Error(`${label}: unknown activation '${String(o.activation)}', expected 'none' or 'quick_gelu'`);
    }
    const maxRows = Math.min(rowCapacity(label, 'x', o.x, K * 4), rowCapacity(label, 'out', o.out, N * 4));
    const constants: PipelineConstants = {
      K,
      N,
      HAS_BIAS: o.bias ? 1 : 0,
      ACTIVATION: o.activation === 'quick_gelu' ? 1 : 0,
      ACCUMULATE: o.accumulate ? 1 : 0,
    };
    const bindings = [o.step, o.x, o.w.buffer, o.bias ?? this.dummyBias(), o.out];
    return { label, constants, bindings, maxRows };
  }

  private attentionSetup(
    label: string,
    o: { qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; nHead: number; dim: number; maxPositions: number },
  ) {
    checkPositiveInt(label, 'nHead', o.nHead);
    checkPositiveInt(label, 'dim', o.dim);
    checkPositiveInt(label, 'maxPositions', o.maxPositions);
    if (o.dim % o.nHead !== 0) throw new Error(`${label}: dim ${o.dim} is not a multiple of nHead ${o.nHead}`);
    const headDim = o.dim / o.nHead;
    if (headDim % 4 !== 0) throw new Error(`${label}: head size ${headDim} (dim / nHead) must be a multiple of 4: the kernels read vec4`);
    const qkvRows = rowCapacity(label, 'qkv', o.qkv, 3 * o.dim * 4);
    const sequenceBytes = o.maxPositions * o.dim * 4;
    const cacheBatch = Math.min(rowCapacity(label, 'kCache', o.kCache, sequenceBytes), rowCapacity(label, 'vCache', o.vCache, sequenceBytes));
    const checkStepFits = (step: StepShape): number => {
      const rows = checkRows(label, step, qkvRows);
      if (step.past + step.seq > o.maxPositions) {
        throw new Error(`${label}: positions up to ${step.past + step.seq} exceed the cache's maxPositions ${o.maxPositions}`);
      }
      if (step.batch > cacheBatch) throw new Error(`${label}: batch ${step.batch} but the cache holds ${cacheBatch} sequences`);
      return rows;
    };
    return {
      headDim,
      constants: { H: o.nHead, D: headDim, MAX_POSITIONS: o.maxPositions } as PipelineConstants,
      checkStep: checkStepFits,
      maxRows: qkvRows,
      cacheBatch,
    };
  }

  /**
   * attentionSetup plus what attention and attentionWeights share: the scale's uniform and the optional key mask
   * (MASKED in the constants; a placeholder buffer without one, since the binding is declared either way).
   */
  private scoredAttentionSetup(
    label: string,
    o: { qkv: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; nHead: number; dim: number; maxPositions: number; scale: number; keyMask?: GPUBuffer },
  ) {
    const a = this.attentionSetup(label, o);
    if (!Number.isFinite(o.scale)) throw new Error(`${label}: scale must be finite, got ${o.scale}`);
    if (o.keyMask) checkSize(label, 'keyMask', o.keyMask, a.cacheBatch * o.maxPositions * 4);
    return {
      ...a,
      constants: { ...a.constants, MASKED: o.keyMask ? 1 : 0 } as PipelineConstants,
      params: this.attentionParams(o.scale),
      keyMask: o.keyMask ?? this.dummyBias(),
    };
  }

  private pipeline(
    file: string,
    source: string,
    dtype: WeightDType | null,
    entryPoint: string,
    constants: PipelineConstants,
  ): GPUComputePipeline {
    const kernel = dtype ? `${file}/${dtype}` : file;
    const snippets = dtype === null ? '' : dtype === 'f16' ? weightsF16Wgsl : weightsF32Wgsl;
    return this.pipelines.get(kernel, `${stepWgsl}\n${snippets}\n${source}`, entryPoint, constants);
  }

  /** Buffer i at binding i; null for a binding the entry point does not use. */
  private bindGroup(label: string, pipeline: GPUComputePipeline, buffers: (GPUBuffer | null)[]): GPUBindGroup {
    return this.pipelines.checked(`the bind group of ${label}`, () =>
      this.device.createBindGroup({
        label,
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
      }),
    );
  }

  /** One small uniform per distinct scale (at most one per layer), shared by every session's Ops. */
  private attentionParams(scale: number): GPUBuffer {
    let params = this.scaleBuffers.get(scale);
    if (!params) {
      params = this.device.createBuffer({ label: `attention scale ${scale}`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(params, 0, new Float32Array([scale, 0, 0, 0]));
      this.scaleBuffers.set(scale, params);
    }
    return params;
  }

  /** A small storage buffer bound where a kernel declares a binding this pipeline never reads (no bias, no mask). */
  private dummyBias(): GPUBuffer {
    this.noBias ??= this.device.createBuffer({ label: 'no bias', size: 16, usage: GPUBufferUsage.STORAGE });
    return this.noBias;
  }
}

function run(
  pass: GPUComputePassEncoder,
  label: string,
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  x: number,
  y: number,
): void {
  if (x === 0 || y === 0) return;
  if (x > MAX_WORKGROUPS_PER_DIMENSION || y > MAX_WORKGROUPS_PER_DIMENSION) {
    throw new Error(`${label}: ${x}×${y} workgroups exceed ${MAX_WORKGROUPS_PER_DIMENSION} per dimension`);
  }
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y);
}

function checkStep(step: StepShape): void {
  const ok = (v: number, min: number) => Number.isInteger(v) && v >= min && v < 2 ** 31;
  if (!ok(step.batch, 1) || !ok(step.seq, 1) || !ok(step.past, 0)) {
    throw new Error(
      `step: batch ${step.batch}, seq ${step.seq}, past ${step.past}; expected integers batch ≥ 1, seq ≥ 1, past ≥ 0`,
    );
  }
}

function checkRows(label: string, step: StepShape, maxRows: number): number {
  const rows = step.batch * step.seq;
  if (rows > maxRows) throw new Error(`${label}: step has ${rows} rows (batch ${step.batch} × seq ${step.seq}) but its buffers hold ${maxRows}`);
  return rows;
}

function checkPositiveInt(label: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: ${what} must be a positive integer, got ${v}`);
}

function checkSize(label: string, what: string, buffer: GPUBuffer, bytes: number): void {
  if (buffer.size < bytes) throw new Error(`${label}: ${what} holds ${buffer.size} bytes, expected at least ${bytes}`);
}

/** How many rows of `rowBytes` the buffer holds (at least one, or an Error). */
function rowCapacity(label: string, what: string, buffer: GPUBuffer, rowBytes: number): number {
  checkSize(label, what, buffer, rowBytes);
  return Math.floor(buffer.size / rowBytes);
}

function checkMatrix(label: string, what: string, m: GpuMatrix): void {
  checkPositiveInt(label, `${what}.rows`, m.rows);
  checkPositiveInt(label, `${what}.cols`, m.cols);
  if (m.cols % 2 !== 0) throw new Error(`${label}: ${what} has ${m.cols} columns; kernels read weight columns in pairs, expected an even count`);
  if (m.dtype !== 'f32' && m.dtype !== 'f16') throw new Error(`${label}: ${what} dtype '${String(m.dtype)}', expected 'f32' or 'f16'`);
  checkSize(label, `${what} [${m.rows}, ${m.cols}] ${m.dtype}`, m.buffer, m.rows * m.cols * (m.dtype === 'f16' ? 2 : 4));
}

/** WebGPU forbids binding one buffer both writable and readable in a dispatch. */
function checkDistinct(label: string, buffers: Record<string, GPUBuffer>): void {
  const names = Object.keys(buffers);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      if (buffers[names[i]] === buffers[names[j]]) throw new Error(`${label}: ${names[i]} and ${names[j]} must be different buffers`);
    }
  }
}

function checkTuning(t: KernelTuning, limits: GPUSupportedLimits): void {
  const maxThreads = limits.maxComputeInvocationsPerWorkgroup;
  const threads: [string, number][] = [
    ['registerThreads', t.registerThreads[0] * t.registerThreads[1]],
    ['sharedThreads', t.sharedThreads[0] * t.sharedThreads[1]],
    ['matvecThreads × matvecSplitK', t.matvecThreads * t.matvecSplitK],
    ['normThreads', t.normThreads],
    ['attentionThreads', t.attentionThreads],
  ];
  for (const [what, n] of threads) {
    if (!Number.isInteger(n) || n < 1 || n > maxThreads) throw new Error(`tuning: ${what} = ${n} threads, the device allows 1…${maxThreads}`);
  }
  if (!Number.isInteger(Math.log2(t.normThreads))) throw new Error(`tuning: normThreads ${t.normThreads} must be a power of two`);
  const shared = Math.max(
    4 * t.sharedDepth * (4 * t.sharedThreads[1] + 4 * t.sharedThreads[0]),
    32 * t.matvecThreads * t.matvecSplitK,
  );
  if (shared > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`tuning: needs ${shared} bytes of workgroup memory, the device allows ${limits.maxComputeWorkgroupStorageSize}`);
  }
  for (const [what, n] of [
    ['attentionSplitKeys', t.attentionSplitKeys],
    ['attentionMaxSplits', t.attentionMaxSplits],
  ] as const) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`tuning: ${what} must be a positive integer, got ${n}`);
  }
  if (!Number.isInteger(t.attentionSplitMaxSeq) || t.attentionSplitMaxSeq < 0) {
    throw new Error(`tuning: attentionSplitMaxSeq must be an integer ≥ 0, got ${t.attentionSplitMaxSeq}`);
  }
  if (!(t.decodeMaxRows >= 0)) throw new Error(`tuning: decodeMaxRows must be ≥ 0, got ${t.decodeMaxRows}`);
}
