// The sampling kernel (shaders/sample.wgsl) as an Op: temperature, top-k, top-p, softmax and
// the draw for every sequence of the batch, writing each token where the next step reads it.
import type { Op, StepShape } from './types';
import { PipelineCache } from './pipelines';
import { describeValue } from '../json';
import { ImageGPTError, badInput } from '../errors';
import { isCpuAdapter } from './tuning';
import sampleWgsl from '../../shaders/sample.wgsl?raw';

/**
 * The largest vocabulary accepted (ImageGPT's is 512). The kernel keeps no per-token state in
 * workgroup memory, so this bound could rise (token counts are f32: exact to 2^24).
 */
export const MAX_SAMPLE_VOCAB = 1024;
/** 16 digit bins per thread must fit WebGPU's default 16 KiB of workgroup memory. */
const MAX_WORKGROUP = 128;
const PARAMS_BYTES = 16;
const SHAPE_BYTES = 16;

export interface SamplerOptions {
  /** Threads per sequence, a power of two in [1, 128]; default 64 (see samplerWorkgroupSizeFor). */
  workgroupSize?: number;
}

/**
 * The kernel's parameters, resolved (the model fills in defaults and checks the user's options:
 * resolveSampling in model/sampling.ts). Temperature 0 = greedy, topK 0 = off, topP 1 = off.
 */
export interface SampleParams {
  temperature: number;
  topK: number;
  topP: number;
  /** u32 key of the counter-based RNG. */
  seed: number;
}

/**
 * Threads per sequence for an adapter: a CPU adapter (SwiftShader, lavapipe) runs a workgroup's threads on one
 * core, where 16 measured fastest on SwiftShader (4–16 alike, 64 was 3× slower); real GPUs get 64.
 */
export function samplerWorkgroupSizeFor(info: Partial<GPUAdapterInfo>): number {
  return isCpuAdapter(info) ? 16 : 64;
}

/** An Op that owns a small uniform (its vocab and history length), and a zero promptEnds where none was given: `destroy()` frees them. */
export interface SampleOp extends Op {
  destroy(): void;
}

export interface SampleArgs {
  /** Uniform `Step { batch, seq, past, rows }` (u32 × 4) of this step. */
  step: GPUBuffer;
  /** From `createParamsBuffer`, filled by `writeParams`. */
  params: GPUBuffer;
  /** f32 [rows, vocab], rows = batch * seq; the row b * seq + seq - 1 is sampled for sequence b. */
  logits: GPUBuffer;
  vocab: number;
  /** i32 [batch]: receives the token of each sequence (where the next step's embedding reads). */
  nextIds: GPUBuffer;
  /** i32 [batch, historyLength]: the token of sequence b goes to b * historyLength + past + seq. */
  history: GPUBuffer;
  historyLength: number;
  /**
   * u32 [batch]: sequence b's tokens at history indices below promptEnds[b] are given (its prompt, written into
   * history beforehand): there the kernel keeps history's token instead of sampling one, and feeds it on. Lets
   * prompts of different lengths decode in one batch at their true positions. Default: nothing given.
   */
  promptEnds?: GPUBuffer;
}

function checkCount(name: string, x: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(x) || x < min || x > max) {
    throw badInput(`sampler: ${name} must be an integer in [${min}, ${max}], got ${describeValue(x)}`);
  }
}

function checkSize(what: string, buffer: GPUBuffer, bytes: number, s: StepShape): void {
  if (buffer.size < bytes) {
    throw badInput(`sampler: ${what} holds ${buffer.size} bytes, needs ${bytes} for batch ${s.batch}, seq ${s.seq}`);
  }
}

export class Sampler {
  private readonly workgroupSize: number;
  private readonly pipelines: PipelineCache;
  private readonly paramsData = new DataView(new ArrayBuffer(PARAMS_BYTES));

  constructor(
    private readonly device: GPUDevice,
    options: SamplerOptions = {},
  ) {
    const wg = options.workgroupSize ?? 64;
    if (!Number.isInteger(wg) || wg < 1 || wg > MAX_WORKGROUP || (wg & (wg - 1)) !== 0) {
      throw badInput(`sampler: workgroupSize must be a power of two in [1, ${MAX_WORKGROUP}], got ${describeValue(wg)}`);
    }
    const limit = device.limits.maxComputeInvocationsPerWorkgroup;
    if (wg > limit) throw new ImageGPTError('E_DEVICE_LIMIT', `sampler: workgroupSize ${wg} exceeds the device's maxComputeInvocationsPerWorkgroup ${limit}`);
    this.workgroupSize = wg;
    // The device's one cache: the kernels' pipelines and every Sampler's are made and checked there.
    this.pipelines = PipelineCache.forDevice(device);
  }

  /** Resolves once the kernel is known to compile and its pipeline is valid; rejects naming it otherwise. */
  ready(): Promise<void> {
    return this.pipelines.ready();
  }

  /** A 16-byte uniform buffer for `writeParams`: temperature f32, topK u32, topP f32, seed u32. */
  createParamsBuffer(): GPUBuffer {
    return this.device.createBuffer({
      label: 'sample params',
      size: PARAMS_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** Writes resolved parameters; a value the kernel cannot hold (not a u32 topK or seed, a NaN) is an Error. */
  writeParams(params: GPUBuffer, r: SampleParams): void {
    const u32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
    const checks: [keyof SampleParams, boolean][] = [
      ['temperature', Number.isFinite(r.temperature) && r.temperature >= 0],
      ['topK', u32(r.topK)],
      ['topP', r.topP > 0 && r.topP <= 1],
      ['seed', u32(r.seed)],
    ];
    for (const [name, ok] of checks) {
      if (!ok) throw badInput(`sampler: ${name} ${describeValue(r[name])} is not a resolved value (see resolveSampling)`);
    }
    if (params.size < PARAMS_BYTES) throw badInput(`sampler: params buffer holds ${params.size} bytes, needs ${PARAMS_BYTES}`);
    const v = this.paramsData;
    v.setFloat32(0, r.temperature, true);
    v.setUint32(4, r.topK, true);
    v.setFloat32(8, r.topP, true);
    v.setUint32(12, r.seed, true);
    this.device.queue.writeBuffer(params, 0, v.buffer);
  }

  /**
   * One Op that samples the next token of every sequence; its pipeline, bind group and shape
   * uniform are made here, once (the pipeline is shared by all Ops of the device).
   */
  sample(a: SampleArgs): SampleOp {
    checkCount('vocab', a.vocab, 1, MAX_SAMPLE_VOCAB);
    checkCount('historyLength', a.historyLength, 1, 0xffffffff);
    if (a.params.size < PARAMS_BYTES) throw badInput(`sampler: params buffer holds ${a.params.size} bytes, needs ${PARAMS_BYTES}`);
    if (a.step.size < 16) throw badInput(`sampler: step buffer holds ${a.step.size} bytes, needs 16`);
    const pipeline = this.pipeline();
    const shape = this.device.createBuffer({
      label: 'sample shape',
      size: SHAPE_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(shape, 0, Uint32Array.of(a.vocab, a.historyLength, 0, 0));
    // Without promptEnds, zeros (nothing given) for as many sequences as the history holds.
    const historyRows = Math.max(1, Math.floor(a.history.size / (a.historyLength * 4)));
    const noPrompt = a.promptEnds ? null : this.device.createBuffer({ label: 'sample prompt ends (none)', size: historyRows * 4, usage: GPUBufferUsage.STORAGE });
    const promptEnds = a.promptEnds ?? noPrompt!;
    const bindGroup = this.pipelines.checked('the bind group of sample', () =>
      this.device.createBindGroup({
        label: 'sample',
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: a.step } },
          { binding: 1, resource: { buffer: a.params } },
          { binding: 2, resource: { buffer: shape } },
          { binding: 3, resource: { buffer: a.logits } },
          { binding: 4, resource: { buffer: a.nextIds } },
          { binding: 5, resource: { buffer: a.history } },
          { binding: 6, resource: { buffer: promptEnds } },
        ],
      }),
    );
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    return {
      label: 'sample',
      encode(pass: GPUComputePassEncoder, s: StepShape): void {
        checkCount('batch', s.batch, 1, maxGroups);
        checkCount('seq', s.seq, 1);
        checkCount('past', s.past, 0);
        checkSize('logits [rows, vocab]', a.logits, s.batch * s.seq * a.vocab * 4, s);
        checkSize('nextIds [batch]', a.nextIds, s.batch * 4, s);
        checkSize('history [batch, historyLength]', a.history, s.batch * a.historyLength * 4, s);
        checkSize('promptEnds [batch]', promptEnds, s.batch * 4, s);
        if (s.past + s.seq >= a.historyLength) {
          throw badInput(
            `sampler: the sampled token's position past + seq = ${s.past + s.seq} is outside history (length ${a.historyLength})`,
          );
        }
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(s.batch);
      },
      destroy(): void {
        shape.destroy();
        noPrompt?.destroy();
      },
    };
  }

  private pipeline(): GPUComputePipeline {
    return this.pipelines.get('sample.wgsl', sampleWgsl, 'main', { WG: this.workgroupSize });
  }
}
