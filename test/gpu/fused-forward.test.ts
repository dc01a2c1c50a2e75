// The fused forward (the default: ln_1 / ln_2 / ln_f folded into the matmuls, the K/V append in the qkv matmul,
// one-dispatch decode attention) against the separate-kernel forward (tuning.fuse false, the three flags at once),
// on the tiny fixture: the same numbers for every output, and the dispatches it saves.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import type { ForwardPlan, EncodeOptions } from '../../src/model/forward';
import type { StepShape } from '../../src/gpu/types';
import { GPU_TUNING, type KernelTuning } from '../../src/gpu/tuning';

const tiny = loadModelFixture('tiny');

/** The dispatches (by op label) `plan` records for one step, through a stand-in encoder (nothing runs). */
function dispatches(plan: ForwardPlan, step: StepShape, opts: EncodeOptions): string[] {
  const labels: string[] = [];
  let pipeline = '';
  const pass = {
    setPipeline: (p: GPUComputePipeline) => (pipeline = p.label),
    setBindGroup: () => {},
    dispatchWorkgroups: () => labels.push(pipeline),
    end: () => {},
  };
  const encoder = { beginComputePass: () => pass } as unknown as GPUCommandEncoder;
  plan.encode(encoder, step, opts);
  return labels;
}

// This adapter's tuning (SwiftShader: register tiles, matvec) and the one for GPUs (shared-memory tiles, K-split matvec).
const CASES: [string, 'f32' | 'f16', Partial<KernelTuning>][] = [
  ['f32 weights, this adapter', 'f32', {}],
  ['f16 weights, this adapter', 'f16', {}],
  ['f16 weights, the GPU tuning', 'f16', GPU_TUNING],
];

describe.each(CASES)('fused vs separate kernels, %s', (_, dtype, tuning) => {
  // The same weights either way: only f32 rounding differs.
  const tol = dtype === 'f32' ? 1e-5 : 1e-4;
  let fused: ImageGPT;
  let separate: ImageGPT;
  beforeAll(async () => {
    const device = await getTestDevice();
    const source = { config: tiny.configJson, weights: tiny.weightBytes };
    fused = await ImageGPT.fromPretrained(source, { device, dtype, tuning: { ...tuning, fuse: true } });
    separate = await ImageGPT.fromPretrained(source, { device, dtype, tuning: { ...tuning, fuse: false } });
  });
  afterAll(() => {
    fused?.dispose();
    separate?.dispose();
  });

  it('forward: logits, every hidden state and every attention map agree, with a mask and position ids', async () => {
    const T = 24;
    const ids = tiny.inputIds.map((r) => r.slice(0, T));
    const attentionMask = [Array.from({ length: T }, (_, t) => (t < 3 ? 0 : 1)), Array.from({ length: T }, () => 1)];
    const positionIds = [Array.from({ length: T }, (_, t) => Math.max(t - 3, 0)), Array.from({ length: T }, (_, t) => t)];
    const options = { outputHiddenStates: true, outputAttentions: true, attentionMask, positionIds };
    const a = await fused.forward(ids, options);
    const b = await separate.forward(ids, options);
    expect(relError(a.logits, b.logits)).toBeLessThan(tol);
    for (let k = 0; k <= tiny.config.n_layer; k++) expect(relError(a.hiddenStates![k], b.hiddenStates![k]), `hidden ${k}`).toBeLessThan(tol);
    for (let i = 0; i < tiny.config.n_layer; i++) expect(relError(a.attentions![i], b.attentions![i]), `attention ${i}`).toBeLessThan(tol);
    // And against PyTorch, as the model tests check the separate path.
    const plain = await fused.forward(tiny.inputIds);
    expect(relError(plain.logits, tiny.expected.get('logits')!)).toBeLessThan(dtype === 'f32' ? 1e-4 : 2e-2);
  });

  it('prefill then decode steps: the same logits step by step', async () => {
    const [sa, sb] = [fused.createSession(2, { maxRows: 14 }), separate.createSession(2, { maxRows: 14 })];
    try {
      const prefix = tiny.inputIds.map((r) => r.slice(0, 20));
      expect(relError(await sa.prefill(prefix), await sb.prefill(prefix))).toBeLessThan(tol);
      for (let t = 20; t < 30; t++) {
        const next = [tiny.inputIds[0][t], tiny.inputIds[1][t]];
        expect(relError(await sa.step(next), await sb.step(next)), `step ${t}`).toBeLessThan(tol);
      }
    } finally {
      sa.dispose();
      sb.dispose();
    }
  });

  it('records no rmsNorm or kvAppend in a decode step with the head: 4 matmuls per layer plus attention', () => {
    const L = tiny.config.n_layer;
    const session = fused.createSession(1, { maxRows: 8 });
    const old = separate.createSession(1, { maxRows: 8 });
    try {
      const step = { batch: 1, seq: 1, past: 9 };
      const got = dispatches(session.runner.forwardPlan, step, { head: true });
      expect(got.filter((l) => /rms_norm|kv_append/.test(l))).toEqual([]);
      expect(got.filter((l) => l.startsWith('matmul.wgsl')).length).toBe(4 * L + 1);
      const attention = got.filter((l) => l.startsWith('attention')).length;
      expect(got.length).toBe(1 + 4 * L + 1 + attention);
      const before = dispatches(old.runner.forwardPlan, step, { head: true });
      // The separate path: 3 more per layer (ln_1, kv append, ln_2) and ln_f.
      expect(before.length - got.length).toBe(3 * L + 1 + (before.filter((l) => l.startsWith('attention')).length - attention));
      // Hidden state n_layer read back: ln_f runs on its own again, the head reads its output.
      const withHidden = dispatches(session.runner.forwardPlan, step, { head: true, onHidden: () => {} });
      expect(withHidden.filter((l) => l.startsWith('rms_norm')).length).toBe(1);
      expect(session.runner.forwardPlan.allOps().length).toBe(1 + 5 * L + 1);
      expect(old.runner.forwardPlan.allOps().length).toBe(1 + 8 * L + 2);
    } finally {
      session.dispose();
      old.dispose();
    }
  });
});
