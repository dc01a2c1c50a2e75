// Which elements dropout keeps, as a function of a key (shaders/dropout_mask.wgsl computes the same hash on the
// GPU): the seed, the site (one per dropout place and layer), the step and the element's index. The kernels that
// drop values (dropout.wgsl, train_attention.wgsl) read the key from their uniform; this file checks the key and
// names the sites, and the tests rebuild the GPU's masks with dropoutHash.
import type { KernelContext } from '../gpu/context';
import { badInput } from '../errors';

/** One place's dropout: probability `p` (0 ≤ p < 1) under `seed`, at `site`. */
export interface DropoutKey {
  p: number;
  seed: number;
  site: number;
}

/** The mask hash as the kernels compute it (tests; the kernels are the ones that run). */
export function dropoutHash(seed: number, site: number, step: number, i: number): number {
  const mix = (v: number): number => {
    let h = v >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x7feb352d) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0x846ca68b) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };
  return mix((mix((mix((mix(seed) ^ site) >>> 0) ^ step) >>> 0) ^ i) >>> 0);
}

/** The kernels' threshold for probability p: an element is kept when its hash is ≥ this. */
export function dropoutThreshold(p: number): number {
  return Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
}

/**
 * The training step's sites: the embeddings' output is site 0; layer i's attention probabilities, attention c_proj
 * output and MLP c_proj output are 1 + 3i, 2 + 3i, 3 + 3i (Hugging Face's attn_dropout, resid_dropout, mlp.dropout).
 */
export const dropoutSite = {
  embeddings: 0,
  attention: (layer: number): number => 1 + 3 * layer,
  attentionOutput: (layer: number): number => 2 + 3 * layer,
  mlpOutput: (layer: number): number => 3 + 3 * layer,
} as const;

const isWord = (v: number): boolean => Number.isInteger(v) && v >= 0 && v < 2 ** 32;

/** Checks a key; returns the uniform words [seed, site, step (0 until set), threshold, 1/(1 − p) (an f32)]. */
export function dropoutWords(label: string, key: DropoutKey): [number, number, number, number, number] {
  if (typeof key.p !== 'number' || !(key.p >= 0 && key.p < 1)) throw badInput(`${label}: p must be a number in [0, 1), got ${String(key.p)}`);
  for (const k of ['seed', 'site'] as const) {
    if (!isWord(key[k])) throw badInput(`${label}: ${k} must be an integer in [0, 2³²), got ${key[k]}`);
  }
  return [key.seed, key.site, 0, dropoutThreshold(key.p), 1 / (1 - key.p)];
}

/** A setter of the step word at byte `offset` of `uniform`: the forward's and the backward's ops must agree on it. */
export function dropoutStepWriter(ctx: KernelContext, label: string, uniform: GPUBuffer, offset: number): (step: number) => void {
  const word = new Uint32Array(1);
  return (step: number) => {
    if (!isWord(step)) throw badInput(`${label}: step must be an integer in [0, 2³²), got ${step}`);
    word[0] = step;
    ctx.device.queue.writeBuffer(uniform, offset, word);
  };
}
