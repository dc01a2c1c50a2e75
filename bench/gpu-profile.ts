// What a step costs on the GPU itself, measured from outside the model: dispatches, compute passes and
// submits (counted by wrapping the encoders), and per-kernel GPU time (timestamp-query, one pass per Op).
// Browser-safe (no Node imports): bench/gpu.ts runs it in Node (Dawn) and in Chromium.
import type { ImageGPT, LoadOptions, ModelSource } from '../src/model/imagegpt';
import type { ImageGPTSession } from '../src/model/session';
import type { ImageGPTConfig } from '../src/model/config';
import type { KernelTuning } from '../src/gpu/tuning';
import type { Op, StepShape } from '../src/gpu/types';

export interface GpuCounts {
  dispatches: number;
  passes: number;
  submits: number;
}

export const zeroCounts = (): GpuCounts => ({ dispatches: 0, passes: 0, submits: 0 });

/**
 * A stand-in for a WebGPU object: every member is the target's (methods bound to it, so Dawn's and the
 * browser's brand checks pass), except `overrides`.
 */
function wrap<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const v: unknown = Reflect.get(t, key, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
    set(t, key, value) {
      return Reflect.set(t, key, value, t);
    },
  });
}

/** A compute pass that counts its dispatches into `counts`. */
export function countingPass(pass: GPUComputePassEncoder, counts: GpuCounts): GPUComputePassEncoder {
  return wrap(pass, {
    dispatchWorkgroups: (x: number, y?: number, z?: number) => {
      counts.dispatches++;
      pass.dispatchWorkgroups(x, y, z);
    },
    dispatchWorkgroupsIndirect: (buffer: GPUBuffer, offset: number) => {
      counts.dispatches++;
      pass.dispatchWorkgroupsIndirect(buffer, offset);
    },
  });
}

/** A command encoder whose compute passes count their dispatches (and themselves) into `counts`. */
export function countingEncoder(encoder: GPUCommandEncoder, counts: GpuCounts): GPUCommandEncoder {
  return wrap(encoder, {
    beginComputePass: (descriptor?: GPUComputePassDescriptor) => {
      counts.passes++;
      return countingPass(encoder.beginComputePass(descriptor), counts);
    },
  });
}

/**
 * Counts everything recorded and submitted on `device` until the returned function is called (which
 * restores the device): for whole calls such as generate(), whose encoders the caller never sees.
 */
export function countDevice(device: GPUDevice, counts: GpuCounts): () => void {
  const create = device.createCommandEncoder;
  const queue = device.queue;
  const submit = queue.submit;
  device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => countingEncoder(create.call(device, descriptor), counts);
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    counts.submits++;
    submit.call(queue, buffers);
  };
  return () => {
    // Own properties shadowing the prototype's methods: deleting them puts the originals back.
    delete (device as Partial<GPUDevice>).createCommandEncoder;
    delete (queue as Partial<GPUQueue>).submit;
    if (device.createCommandEncoder !== create) device.createCommandEncoder = create;
    if (queue.submit !== submit) queue.submit = submit;
  };
}

/** Dispatches and passes that session's forward plan records for one step (recorded, never submitted). */
export function countPlan(device: GPUDevice, session: ImageGPTSession, step: StepShape, opts: { head?: boolean; stopAt?: number }): GpuCounts {
  const counts = zeroCounts();
  const real = device.createCommandEncoder({ label: 'count only' });
  session.runner.forwardPlan.encode(countingEncoder(real, counts), step, opts);
  real.finish(); // never submitted: counting only
  return counts;
}

export interface StepCounts {
  /** One full step (embeddings, every block, final norm, head). */
  step: GpuCounts;
  /** Dispatches per transformer block: (step − outside the blocks) / n_layer, from steps cut after 0 and n_layer − 1 blocks. */
  dispatchesPerLayer: number | null;
  /** Dispatches outside the blocks (embeddings, final norm, head). */
  dispatchesOutsideBlocks: number | null;
  /** Compute passes per step. */
  passes: number;
}

/** Counts one step's dispatches and how many of them each block takes. Needs n_layer ≥ 2 for the split. */
export function stepCounts(model: ImageGPT, session: ImageGPTSession, step: StepShape): StepCounts {
  const { device, config } = model;
  const full = countPlan(device, session, step, { head: true });
  const L = config.n_layer;
  if (L < 2) return { step: full, dispatchesPerLayer: null, dispatchesOutsideBlocks: null, passes: full.passes };
  const none = countPlan(device, session, step, { stopAt: 0 }).dispatches;
  const most = countPlan(device, session, step, { stopAt: L - 1 }).dispatches;
  const perLayer = (most - none) / (L - 1);
  return { step: full, dispatchesPerLayer: perLayer, dispatchesOutsideBlocks: full.dispatches - L * perLayer, passes: full.passes };
}

/**
 * The kind of kernel an Op is, from its label: matmuls by their [K×N] shape (qkv, proj, fc, mlpProj), the
 * others by name (embed, norm, kvAppend, attention), anything else by its label up to '['. The head is told
 * by place (`isHead`: the step's last Op when the model has one), since N = vocab − 1 may equal n_embd.
 */
export function kernelKind(label: string, config: ImageGPTConfig, isHead = false): string {
  if (isHead) return 'head';
  const E = config.n_embd;
  const I = config.n_inner;
  const shape = /(\d+)x(\d+)/.exec(label);
  if (shape) {
    const K = Number(shape[1]);
    const N = Number(shape[2]);
    if (K === E && N === 3 * E) return 'qkv';
    if (K === E && N === E) return 'proj';
    if (K === E && N === I) return 'fc';
    if (K === I && N === E) return 'mlpProj';
  }
  if (/attention/i.test(label)) return 'attention';
  if (/kv/i.test(label)) return 'kvAppend';
  if (/norm/i.test(label)) return 'norm';
  if (/embed/i.test(label)) return 'embed';
  return label.replace(/\[.*$/, '').trim() || label;
}

export interface KernelTimes {
  /** Σ GPU time per kind of kernel, µs per step. */
  perKindUs: Record<string, number>;
  /** Σ over every Op, µs per step. */
  totalUs: number;
  /** Ops (= timed passes) per step. */
  ops: number;
  /** Wall time of these timed steps (one pass per Op: slower than a real step), ms per step. */
  timedStepWallMs: number;
}

/**
 * Per-kernel GPU time of one decode step: each Op of `allOps()` in its own compute pass with timestamps at
 * its beginning and end, `repeats` steps, averaged. Needs a device with 'timestamp-query'.
 */
export async function timeStepKernels(model: ImageGPT, session: ImageGPTSession, step: StepShape, repeats: number): Promise<KernelTimes> {
  const { device, config } = model;
  if (!device.features.has('timestamp-query')) throw new Error("timeStepKernels: the device was made without 'timestamp-query'");
  const ops: Op[] = session.runner.forwardPlan.allOps();
  const count = 2 * ops.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const bytes = count * 8;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const sums = new Float64Array(ops.length);
  try {
    const run = async (): Promise<void> => {
      const encoder = device.createCommandEncoder({ label: 'timed step' });
      ops.forEach((op, i) => {
        const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        op.encode(pass, step);
        pass.end();
      });
      encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      for (let i = 0; i < ops.length; i++) {
        // A pass whose end reads before its beginning (a reset counter) counts as 0, not as 2^64 ns.
        const ns = t[2 * i + 1] >= t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
        sums[i] += ns;
      }
    };
    await run(); // warm-up, not counted
    sums.fill(0);
    const t0 = performance.now();
    for (let r = 0; r < repeats; r++) await run();
    const timedStepWallMs = (performance.now() - t0) / repeats;
    const perKindUs: Record<string, number> = {};
    let totalUs = 0;
    ops.forEach((op, i) => {
      const us = sums[i] / repeats / 1000;
      const kind = kernelKind(op.label, config, session.runner.forwardPlan.hasHead && i === ops.length - 1);
      perKindUs[kind] = (perKindUs[kind] ?? 0) + us;
      totalUs += us;
    });
    return { perKindUs, totalUs, ops: ops.length, timedStepWallMs };
  } finally {
    querySet.destroy();
    resolved.destroy();
    readback.destroy();
  }
}

/**
 * Milliseconds per decode step (one new token per sequence, forward + head), each step its own submit as in
 * generation, the GPU waited on once at the end. The cache's contents do not change the cost, so it starts at
 * `position` without a prefill.
 */
export async function decodeStepWallMs(device: GPUDevice, session: ImageGPTSession, steps: number): Promise<number> {
  const runSteps = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const step = session.runner.writeStepOnly(1);
      const encoder = device.createCommandEncoder();
      session.runner.forwardPlan.encode(encoder, step, { head: true });
      device.queue.submit([encoder.finish()]);
      session.runner.advance(1);
    }
    await device.queue.onSubmittedWorkDone();
  };
  await runSteps(2); // warm-up
  const t0 = performance.now();
  await runSteps(steps);
  return (performance.now() - t0) / steps;
}

export interface DecodeProfile {
  batch: number;
  position: number;
  stepMs: number;
  tokensPerSecond: number;
  counts: StepCounts;
  /** Dispatches per generated token (= per step: one token per sequence per step). */
  dispatchesPerToken: number;
  kernels: KernelTimes | null;
}

/**
 * One decode shape: wall time per step, dispatch and pass counts, and (with timestamp-query) per-kernel GPU
 * times, on a session of `batch` sequences whose cache is at `position`.
 */
export async function profileDecode(
  model: ImageGPT,
  batch: number,
  position: number,
  o: { steps: number; timedSteps: number; timestamps: boolean },
): Promise<DecodeProfile> {
  // The timed steps (and 2 warm-up steps) must fit in the cache: a far position too close to the end moves back.
  const P = model.config.n_positions;
  const start = Math.min(position, P - o.steps - 2);
  if (start < 0) throw new Error(`profileDecode: ${o.steps} steps + 2 warm-up do not fit in ${P} positions`);
  const session = model.createSession(batch, { maxLength: Math.min(P, start + o.steps + 2) });
  try {
    await session.runner.ready();
    session.runner.advance(start);
    // Counts and kernel times at `position` first (neither advances the cache), then the timed steps.
    const shape = session.runner.writeStepOnly(1);
    const counts = stepCounts(model, session, shape);
    const kernels = o.timestamps ? await timeStepKernels(model, session, shape, o.timedSteps) : null;
    const stepMs = await decodeStepWallMs(model.device, session, o.steps);
    return {
      batch,
      position: shape.past,
      stepMs,
      tokensPerSecond: (1000 * batch) / stepMs,
      counts,
      dispatchesPerToken: counts.step.dispatches,
      kernels,
    };
  } finally {
    session.dispose();
  }
}

/** Load options with the kernel tuning (KernelTuning fields over the adapter's defaults). */
export type TunedLoadOptions = LoadOptions & { tuning?: Partial<KernelTuning> };

/**
 * ImageGPT.fromPretrained with `tuning`, checked: the loaded model's `tuning` must show every field asked for,
 * so a comparison (fused vs unfused) never measures one path twice without saying so.
 */
export async function loadWithTuning(
  fromPretrained: (source: ModelSource, options: LoadOptions) => Promise<ImageGPT>,
  source: ModelSource,
  options: TunedLoadOptions,
): Promise<ImageGPT> {
  const model = await fromPretrained(source, options);
  const have = model.tuning as unknown as Record<string, unknown>;
  const differ = Object.entries(options.tuning ?? {}).filter(([k, v]) => JSON.stringify(have[k]) !== JSON.stringify(v));
  if (differ.length > 0) {
    model.dispose();
    const list = differ.map(([k, v]) => `${k}: asked ${JSON.stringify(v)}, got ${JSON.stringify(have[k])}`).join('; ');
    throw new Error(`bench: the model's tuning does not show the tuning load option (${list})`);
  }
  return model;
}
