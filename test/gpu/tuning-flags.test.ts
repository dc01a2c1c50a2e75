// The three flags the old `fuse` switch stood for, each turned off alone on the tiny fixture: PyTorch's logits, the
// default path's numbers step by step (with a mask: the masked-query rule lives in the attention algorithm), the
// dispatches each flag adds back; and the deprecated `fuse` shorthand (expanded over the flags, never kept).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { ImageGPTError } from '../../src/errors';
import { mergeTuning, SWIFTSHADER_TUNING, type KernelTuning } from '../../src/gpu/tuning';
import type { ForwardPlan } from '../../src/model/forward';
import type { StepShape } from '../../src/gpu/types';

const tiny = loadModelFixture('tiny');
const source = { config: tiny.configJson, weights: tiny.weightBytes };

/** The pipeline labels `plan` dispatches for one step with the head, through a stand-in encoder (nothing runs). */
function dispatches(plan: ForwardPlan, step: StepShape): string[] {
  const labels: string[] = [];
  let pipeline = '';
  const pass = {
    setPipeline: (p: GPUComputePipeline) => (pipeline = p.label),
    setBindGroup: () => {},
    dispatchWorkgroups: () => labels.push(pipeline),
    end: () => {},
  };
  plan.encode({ beginComputePass: () => pass } as unknown as GPUCommandEncoder, step, { head: true });
  return labels;
}

// attentionSplitKeys 8: decode steps past 8 positions take the decode algorithm under test.
const BASE: Partial<KernelTuning> = { attentionSplitKeys: 8 };
const FLAGS: [string, Partial<KernelTuning>][] = [
  ['foldNorm false', { foldNorm: false }],
  ['fusedKvAppend false', { fusedKvAppend: false }],
  ["decodeAttention 'splitK'", { decodeAttention: 'splitK' }],
];

describe('tuning flags, each alone', () => {
  let device: GPUDevice;
  let reference: ImageGPT;
  beforeAll(async () => {
    device = await getTestDevice();
    reference = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning: BASE });
  });
  afterAll(() => reference?.dispose());

  it.each(FLAGS)('%s: PyTorch logits, and the default path step by step with a mask', async (_name, flag) => {
    const model = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning: { ...BASE, ...flag } });
    const [a, b] = [model.createSession(2, { maxRows: 14 }), reference.createSession(2, { maxRows: 14 })];
    try {
      expect(model.tuning).toMatchObject(flag);
      const { logits } = await model.forward(tiny.inputIds);
      expect(relError(logits, tiny.expected.get('logits')!)).toBeLessThan(1e-4);
      // Row 0's first 3 tokens masked: its first queries see no key (the fully-masked-query rule).
      const prefix = tiny.inputIds.map((r) => r.slice(0, 12));
      const attentionMask = [Array.from({ length: 12 }, (_, t) => (t < 3 ? 0 : 1)), Array.from({ length: 12 }, () => 1)];
      expect(relError(await a.prefill(prefix, { attentionMask }), await b.prefill(prefix, { attentionMask }))).toBeLessThan(1e-5);
      for (let t = 12; t < 20; t++) {
        const next = [tiny.inputIds[0][t], tiny.inputIds[1][t]];
        expect(relError(await a.step(next), await b.step(next)), `step ${t}`).toBeLessThan(1e-5);
      }
    } finally {
      a.dispose();
      b.dispose();
      model.dispose();
    }
  });

  it('each flag off adds back only its own kernels to a decode step', async () => {
    const L = tiny.config.n_layer;
    const count = async (tuning: Partial<KernelTuning>) => {
      const model = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning: { ...BASE, ...tuning } });
      const session = model.createSession(1, { maxRows: 8 });
      try {
        return dispatches(session.runner.forwardPlan, { batch: 1, seq: 1, past: 20 });
      } finally {
        session.dispose();
        model.dispose();
      }
    };
    const base = await count({});
    const byKind = (labels: string[], re: RegExp) => labels.filter((l) => re.test(l)).length;
    expect(byKind(base, /rms_norm|kv_append/)).toBe(0);
    const noFold = await count({ foldNorm: false });
    expect(byKind(noFold, /rms_norm/)).toBe(2 * L + 1); // ln_1, ln_2 per layer and ln_f
    expect(noFold.length - base.length).toBe(2 * L + 1);
    const noKv = await count({ fusedKvAppend: false });
    expect(byKind(noKv, /kv_append/)).toBe(L);
    expect(noKv.length - base.length).toBe(L);
    const splitK = await count({ decodeAttention: 'splitK' });
    expect(byKind(base, /^attention/)).toBe(L); // one decode attention dispatch per layer
    expect(byKind(splitK, /^attention/)).toBe(2 * L); // split-K's partials and combine
    expect(splitK.length - base.length).toBe(L);
  });

  it('fuse is shorthand for the three flags, applied over them (a spread tuning keeps its old meaning), never kept', async () => {
    const off = mergeTuning(SWIFTSHADER_TUNING, { fuse: false });
    expect(off).toEqual({ ...SWIFTSHADER_TUNING, foldNorm: false, fusedKvAppend: false, decodeAttention: 'splitK' });
    expect('fuse' in off).toBe(false);
    expect(mergeTuning(off, { fuse: true })).toEqual(SWIFTSHADER_TUNING);
    // `{ ...model.tuning, fuse: false }` (a whole tuning, its flags on) means unfused, as before the split.
    expect(mergeTuning(SWIFTSHADER_TUNING, { ...SWIFTSHADER_TUNING, fuse: false })).toEqual(off);
    const model = await ImageGPT.fromPretrained(source, { device, dtype: 'f32', tuning: { ...SWIFTSHADER_TUNING, fuse: false } });
    try {
      expect(model.tuning).toMatchObject({ foldNorm: false, fusedKvAppend: false, decodeAttention: 'splitK' });
      expect('fuse' in model.tuning).toBe(false);
    } finally {
      model.dispose();
    }
    // Types are checked as for every field.
    const refused = await ImageGPT.fromPretrained(source, { device, tuning: { decodeAttention: 'split' as 'splitK' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ImageGPTError);
    expect((refused as ImageGPTError).code).toBe('E_BAD_INPUT');
    expect((refused as ImageGPTError).message).toBe("ImageGPT.fromPretrained: tuning.decodeAttention must be one of 'oneDispatch', 'splitK', got \"split\"");
  });
});
