// The pipelines a loaded model's common calls need, compiled at load with createComputePipelineAsync (all at
// once, off the calling thread where the WebGPU implementation can), so that the first generate, complete,
// features or bitsPerToken compiles nothing synchronously: a synchronous compile stalls the page's main thread
// or worker, on real GPUs for hundreds of ms per pipeline.
// Which pipelines: those the code that makes them asks for, found by a dry run of that code (PipelineCache.collect):
// a session's forward with every op generate, complete and features record (the head, the sampler after it, the
// pooled sums, the normed pools), and bitsPerToken's cross-entropy, over stand-in buffers and a pass that records
// nothing. A list kept by hand here would drift from the ops.
// Left to first use (made synchronously then, once per device): the attention view (attentionRow, forward's
// outputAttentions), HF's optional inputs (attention_mask, position_ids, token_type_ids, inputs_embeds, head_mask),
// the benchmark's naive matmul, the training kernels, and a classifier forImageClassification makes (to fine-tune).
// Each is a path few calls take; compiling them at every load would make everyone's load slower for them.
import type { Kernels } from '../gpu/kernels';
import { PipelineCache, type PipelineRequest } from '../gpu/pipelines';
import type { Sampler } from '../gpu/sampler';
import type { Op, StepShape } from '../gpu/types';
import { logitsWidth, type ImageGPTConfig } from './config';
import { ForwardPlan, type ActivationBuffers } from './forward';
import { sessionSizes } from './limits';
import type { ModelWeights } from './weights';

/** What the dry run builds ops from: the model's parts. */
export interface ModelParts {
  config: ImageGPTConfig;
  kernels: Kernels;
  weights: ModelWeights;
  sampler: Sampler;
}

/**
 * Session lengths whose pipelines differ. Only the workgroup attention's score slots depend on the length, in
 * powers of two (src/gpu/attention.ts); a length per power of two up to n_positions, and n_positions, meet each.
 */
export function distinctSessionLengths(nPositions: number): number[] {
  const lengths = [nPositions];
  for (let p = 1; p < nPositions; p *= 2) lengths.push(p);
  return lengths;
}

/** A buffer of `size` bytes for the dry run: ops check sizes and tell buffers apart; nothing reaches the GPU. */
function standInBuffer(label: string, size: number): GPUBuffer {
  return { label: `${label} (dry run)`, size, usage: GPUBufferUsage.STORAGE, destroy() {} } as unknown as GPUBuffer;
}

/** A command encoder whose passes record nothing (the dry run's ops are encoded to make the ones made on first use). */
const silentEncoder = {
  beginComputePass: () => ({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups() {}, end() {} }),
} as unknown as GPUCommandEncoder;

/** Builds, encodes and frees every op of a batch-1 session of `maxLength` that generate, complete, features and bitsPerToken use. */
function dryRunSession(m: ModelParts, maxLength: number, step: GPUBuffer): void {
  const { config, kernels, weights } = m;
  const sizes = sessionSizes(config, { batchSize: 1, maxLength, dtype: weights.dtype, tuning: kernels.tuning });
  const L = config.n_layer;
  const buf: ActivationBuffers = {
    step,
    ids: standInBuffer('ids', sizes.ids),
    hidden: standInBuffer('hidden', sizes.hidden),
    normed: standInBuffer('normed', sizes.hidden),
    qkv: standInBuffer('qkv', sizes.qkv),
    attnOut: standInBuffer('attnOut', sizes.hidden),
    mlp: standInBuffer('mlp', sizes.mlp),
    logits: standInBuffer('logits', sizes.logits),
    pooled: Array.from({ length: L + 1 }, (_, k) => standInBuffer(`pooled.${k}`, sizes.pooled)),
    kCache: Array.from({ length: L }, (_, i) => standInBuffer(`kCache.${i}`, sizes.kv)),
    vCache: Array.from({ length: L }, (_, i) => standInBuffer(`vCache.${i}`, sizes.kv)),
  };
  const plan = new ForwardPlan(kernels, config, weights, buf, maxLength);
  const extra: Op[] = [];
  try {
    const shape: StepShape = { batch: 1, seq: 1, past: 0 };
    const everyHiddenState = Array.from({ length: L + 1 }, (_, k) => k);
    if (plan.hasHead) {
      const V1 = logitsWidth(config);
      const history = standInBuffer('history', (maxLength + 1) * 4);
      const sample = m.sampler.sample({ step, params: standInBuffer('params', 16), logits: buf.logits, vocab: V1, nextIds: buf.ids, history, historyLength: maxLength + 1, promptEnds: standInBuffer('promptEnds', 16) });
      const crossEntropy = kernels.crossEntropy({ step, logits: buf.logits, targets: standInBuffer('targets', sizes.ids), out: standInBuffer('nats', sizes.ids), vocab: V1 });
      extra.push(sample, crossEntropy);
      plan.encode(silentEncoder, shape, { head: true, extra }); // generate, complete, bitsPerToken
    }
    plan.encode(silentEncoder, shape, { poolHidden: everyHiddenState }); // features
    plan.encode(silentEncoder, shape, { poolHidden: everyHiddenState, poolNormed: true }); // features, normalize
  } finally {
    for (const op of extra) op.destroy?.();
    plan.destroy();
  }
}

/**
 * Compiles, asynchronously and in parallel, every pipeline the model's generate, complete, features and
 * bitsPerToken will ask for, at every session length; those already on the device are skipped. Rejects with
 * ImageGPTError 'E_INTERNAL' naming each kernel that does not compile (file, line, column, the line, a caret).
 */
export async function precompilePipelines(device: GPUDevice, m: ModelParts): Promise<void> {
  const cache = PipelineCache.forDevice(device);
  const steps: GPUBuffer[] = [];
  let requests: PipelineRequest[];
  try {
    requests = cache.collect(() => {
      for (const length of distinctSessionLengths(m.config.n_positions)) {
        const step = m.kernels.createStepBuffer(length); // real: ops read the cache length it was made for
        steps.push(step);
        dryRunSession(m, length, step);
      }
    });
  } finally {
    for (const step of steps) step.destroy();
  }
  await cache.compile(requests);
}
