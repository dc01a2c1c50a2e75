// Launch shapes per adapter: the one table of tuning choices. The kernels read it; they never pick it.
// Defaults come from `tuningFor(adapter info)`; callers override fields through the `tuning` load option.
import { describeValue } from '../json';
import { badInput, ImageGPTError } from '../errors';

export interface KernelTuning {
  /** Prefill matmul: 'registers' (4×4 outputs per thread, no workgroup memory; best on SwiftShader)
   *  or 'shared' (workgroup-memory tiles; best on GPUs). The trainer follows it too: 'registers' picks the training
   *  matmul's register-blocked kernel and the blocked training attention, 'shared' their portable/tiled kernels. */
  prefill: 'registers' | 'shared';
  /** 'registers': threads per workgroup [x, y]; each thread computes 4 rows × 4 columns. */
  registerThreads: readonly [number, number];
  /** 'shared': threads [x, y] (a tile of 4y rows × 4x columns) and the K depth staged at a time. */
  sharedThreads: readonly [number, number];
  sharedDepth: number;
  /** matmul uses the matrix-vector kernel when rows ≤ this (decode), the tiled one above it. */
  decodeMaxRows: number;
  /** Matrix-vector kernel: threads along the columns (4 columns each from one vec4 of weights where N % 4 = 0,
   *  else 8 from four pairs) and threads splitting K (summed in workgroup memory) per workgroup; one row per workgroup. */
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
  /** Decode attention for steps of at most attentionSplitMaxSeq new tokens over more than attentionSplitKeys
   *  positions: see decodeAttention. 'splitK' cuts each query's keys into chunks of about attentionSplitKeys (at
   *  most attentionMaxSplits chunks), each chunk a thread, then a combine pass. attentionMaxSplits 1 turns both
   *  algorithms off (the per-query kernel above serves every step). */
  attentionSplitKeys: number;
  attentionMaxSplits: number;
  attentionSplitMaxSeq: number;
  /** decodeAttention 'oneDispatch': threads of its kernel (steps of ≤ attentionSplitMaxSeq new tokens): a workgroup
   *  per query and head whose threads split the keys, then merge once. SwiftShader: one subgroup (4), no barrier. */
  attentionDecodeThreads: number;
  /** true (default): ln_1, ln_2 and ln_f are folded into the prologue of the matmul that reads them (each row's
   *  inverse RMS summed in the matmul's K loop). false: each norm is a kernel of its own writing `normed`. */
  foldNorm: boolean;
  /** true (default): the qkv matmul's epilogue appends this step's K and V to the cache. false: a kvAppend kernel
   *  of its own after the qkv matmul. Independent of foldNorm. */
  fusedKvAppend: boolean;
  /** The decode attention algorithm. 'oneDispatch' (default): one dispatch per step, fully masked queries (an
   *  attention mask) given the reference's result inside the per-query kernels. 'splitK': the split-K partials and
   *  their combine pass, with scratch memory, and one more pass for fully masked queries. Same numbers either way. */
  decodeAttention: 'oneDispatch' | 'splitK';
  /** @deprecated Shorthand kept for existing callers: `fuse: b` sets foldNorm = fusedKvAppend = b and decodeAttention
   *  'oneDispatch' (true) or 'splitK' (false), over any of those three given beside it (so `{ ...model.tuning, fuse:
   *  false }` keeps meaning what it did). A resolved tuning (model.tuning) never holds it. */
  fuse?: boolean;
  /** Read f16 weights as native f16 (`shader-f16`) where the device has the feature; false: unpack2x16float. */
  shaderF16: boolean;
  /** Use subgroup operations (`subgroups`) where the device has the feature: the norm's workgroup sum and the
   *  decode attention's merge (when its workgroup is one subgroup); the matmuls never use them. */
  subgroups: boolean;
}

export const SWIFTSHADER_TUNING: KernelTuning = {
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
  attentionDecodeThreads: 4,
  foldNorm: true,
  fusedKvAppend: true,
  decodeAttention: 'oneDispatch',
  shaderF16: true,
  subgroups: true,
};

export const GPU_TUNING: KernelTuning = {
  prefill: 'shared',
  registerThreads: [16, 16],
  sharedThreads: [16, 16],
  sharedDepth: 16,
  // Not measured yet (no GPU here). Decode is bandwidth-bound: 8 column threads × 32 K slices per
  // workgroup keep 128-byte row segments (f32 vec4s) per warp and give a 512-column matrix 16 workgroups.
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
  // Not measured yet (no GPU here): one subgroup of most GPUs per query and head (merged without barriers).
  attentionDecodeThreads: 32,
  foldNorm: true,
  fusedKvAppend: true,
  decodeAttention: 'oneDispatch',
  shaderF16: true,
  subgroups: true,
};

/** The tunings picked by default (SwiftShader's, then GPUs'), for sizing before a device exists. */
export const DEFAULT_TUNINGS: readonly Readonly<KernelTuning>[] = [{ ...SWIFTSHADER_TUNING }, { ...GPU_TUNING }];

/** Names of CPU implementations of Vulkan in an adapter's architecture, device or description. */
const CPU_DRIVER_NAMES = /swiftshader|llvmpipe|lavapipe/i;

/**
 * Whether an adapter runs on the CPU: a software Vulkan such as SwiftShader or Mesa's lavapipe. WebGPU says so in
 * `isFallbackAdapter`; Dawn sets it for both (what they report, in Dawn/Node and Chromium: SwiftShader vendor
 * 'google', architecture 'swiftshader', description 'SwiftShader driver 5.0.0'; lavapipe vendor 'mesa', architecture
 * 'software', device and description 'llvmpipe…'; subgroups 4 and 8 wide). Implementations that predate the
 * attribute leave it undefined: then the name of a known CPU driver in architecture, device or description decides.
 */
export function isCpuAdapter(info: Partial<GPUAdapterInfo>): boolean {
  if (info.isFallbackAdapter === true) return true;
  return [info.architecture, info.device, info.description].some((s) => typeof s === 'string' && CPU_DRIVER_NAMES.test(s));
}

/** A CPU (SwiftShader, lavapipe) wants register blocking and no workgroup memory: SWIFTSHADER_TUNING, measured
 *  there; GPUs want shared-memory tiles. Without adapter info (older browsers have no `device.adapterInfo`) the
 *  portable choice is the CPU's. */
export function tuningFor(info: GPUAdapterInfo | undefined): KernelTuning {
  return { ...(info === undefined || isCpuAdapter(info) ? SWIFTSHADER_TUNING : GPU_TUNING) };
}

/** Throws naming the field where a tuning cannot run on a device with these limits. */
export function checkTuning(t: KernelTuning, limits: GPUSupportedLimits): void {
  const maxThreads = limits.maxComputeInvocationsPerWorkgroup;
  const threads: [string, number][] = [
    ['registerThreads', t.registerThreads[0] * t.registerThreads[1]],
    ['sharedThreads', t.sharedThreads[0] * t.sharedThreads[1]],
    ['matvecThreads × matvecSplitK', t.matvecThreads * t.matvecSplitK],
    ['normThreads', t.normThreads],
    ['attentionThreads', t.attentionThreads],
    ['attentionDecodeThreads', t.attentionDecodeThreads],
  ];
  for (const [what, n] of threads) {
    if (!Number.isInteger(n) || n < 1 || n > maxThreads) throw new ImageGPTError('E_DEVICE_LIMIT', `tuning: ${what} = ${n} threads, the device allows 1…${maxThreads}`);
  }
  if (!Number.isInteger(Math.log2(t.normThreads))) throw badInput(`tuning: normThreads ${t.normThreads} must be a power of two`);
  const shared = Math.max(
    4 * t.sharedDepth * (4 * t.sharedThreads[1] + 4 * t.sharedThreads[0]),
    // The pair matvec's two vec4s per thread, and each K slice's sum of squares (the fused norm).
    32 * t.matvecThreads * t.matvecSplitK + 4 * t.matvecSplitK,
  );
  if (shared > limits.maxComputeWorkgroupStorageSize) {
    throw new ImageGPTError('E_DEVICE_LIMIT', `tuning: needs ${shared} bytes of workgroup memory, the device allows ${limits.maxComputeWorkgroupStorageSize}`);
  }
  for (const [what, n] of [
    ['attentionSplitKeys', t.attentionSplitKeys],
    ['attentionMaxSplits', t.attentionMaxSplits],
  ] as const) {
    if (!Number.isInteger(n) || n < 1) throw badInput(`tuning: ${what} must be a positive integer, got ${n}`);
  }
  if (!Number.isInteger(t.attentionSplitMaxSeq) || t.attentionSplitMaxSeq < 0) {
    throw badInput(`tuning: attentionSplitMaxSeq must be an integer ≥ 0, got ${t.attentionSplitMaxSeq}`);
  }
  if (!(t.decodeMaxRows >= 0)) throw badInput(`tuning: decodeMaxRows must be ≥ 0, got ${t.decodeMaxRows}`);
}

/** Says what a tuning field holds when `v` is wrong, or null when it is right. */
type FieldCheck = (v: unknown) => string | null;
const isInt = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
const integer = (min: number): FieldCheck => (v) => (isInt(v, min) ? null : `an integer ≥ ${min}`);
const oneOf = (...values: string[]): FieldCheck => (v) => (values.includes(v as string) ? null : `one of ${values.map((x) => `'${x}'`).join(', ')}`);
const threads: FieldCheck = (v) => (Array.isArray(v) && v.length === 2 && v.every((x) => isInt(x, 1)) ? null : 'a pair [x, y] of positive integers');
const flag: FieldCheck = (v) => (typeof v === 'boolean' ? null : 'true or false');

/** The type of each KernelTuning field (the mapped type keeps it complete); the device's limits are checkTuning's. */
const TUNING_FIELDS: { [K in keyof KernelTuning]-?: FieldCheck } = {
  prefill: oneOf('registers', 'shared'),
  registerThreads: threads,
  sharedThreads: threads,
  sharedDepth: integer(1),
  decodeMaxRows: integer(0),
  matvecThreads: integer(1),
  matvecSplitK: integer(1),
  norm: oneOf('workgroup', 'thread'),
  normThreads: integer(1),
  attention: oneOf('workgroup', 'thread'),
  attentionThreads: integer(1),
  attentionSplitKeys: integer(1),
  attentionMaxSplits: integer(1),
  attentionSplitMaxSeq: integer(0),
  attentionDecodeThreads: integer(1),
  foldNorm: flag,
  fusedKvAppend: flag,
  decodeAttention: oneOf('oneDispatch', 'splitK'),
  fuse: flag,
  shaderF16: flag,
  subgroups: flag,
};

/** Checks the `tuning` option's field names and types (not yet the device's limits); returns it. */
export function checkTuningOption(what: string, tuning: unknown): Partial<KernelTuning> | undefined {
  if (tuning === undefined) return undefined;
  if (typeof tuning !== 'object' || tuning === null || Array.isArray(tuning)) {
    throw badInput(`${what}: tuning must be an object of KernelTuning fields, got ${describeValue(tuning)}`);
  }
  const known = Object.keys(TUNING_FIELDS).filter((k) => k !== 'fuse'); // the deprecated shorthand is not advertised
  for (const [key, value] of Object.entries(tuning)) {
    const check = (TUNING_FIELDS as Record<string, FieldCheck>)[key];
    if (!check) throw badInput(`${what}: tuning: unknown field ${describeValue(key)}; known fields: ${known.join(', ')}`);
    if (value === undefined) continue;
    const expected = check(value);
    if (expected) throw badInput(`${what}: tuning.${key} must be ${expected}, got ${describeValue(value)}`);
  }
  return tuning as Partial<KernelTuning>;
}

/**
 * `base` with the defined fields of `over` on top; the deprecated `fuse` is expanded into the flags it stands for,
 * over any of them in `over` (callers spread a whole tuning and set fuse, as before the split), and never kept.
 */
export function mergeTuning(base: KernelTuning, over: Partial<KernelTuning> | undefined): KernelTuning {
  const merged: KernelTuning = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) if (value !== undefined) Object.assign(merged, { [key]: value });
  delete merged.fuse;
  const fuse = over?.fuse;
  if (fuse === undefined) return merged;
  merged.foldNorm = fuse;
  merged.fusedKvAppend = fuse;
  merged.decodeAttention = fuse ? 'oneDispatch' : 'splitK';
  return merged;
}
