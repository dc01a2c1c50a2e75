// Optional device features end to end: a model on a device with `subgroups` (what Dawn's SwiftShader offers) and one
// on a device made without it give the fixture's numbers and each other's; the loader asks for the features the
// tuning allows; model.deviceFeatures says what the kernels use. (SwiftShader offers no shader-f16: its fallback,
// the unpacked-f16 path, is what every f16 test here runs.)
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { requestImageGptDevice } from '../../src/gpu/device';
import { ImageGPT } from '../../src/model/imagegpt';
import type { KernelTuning } from '../../src/gpu/tuning';

const tiny = loadModelFixture('tiny');
const source = { config: tiny.configJson, weights: tiny.weightBytes };
const NEEDS = { maxBufferBytes: 64 << 20, maxBindingBytes: 64 << 20 };
const V1 = 512;

describe('a model with and without the optional features', () => {
  let offered: Set<string>;
  let withFeatures: GPUDevice;
  let without: GPUDevice;
  beforeAll(async () => {
    const adapter = (await testGpu().requestAdapter({ powerPreference: 'high-performance' }))!;
    offered = new Set(adapter.features);
    withFeatures = (await requestImageGptDevice(testGpu(), NEEDS)).device;
    without = (await requestImageGptDevice(testGpu(), NEEDS, { features: { shaderF16: false, subgroups: false } })).device;
  });
  afterAll(async () => {
    for (const d of [withFeatures, without]) {
      await d?.queue.onSubmittedWorkDone();
      d?.destroy();
    }
  });

  it('the devices differ as asked: subgroups where the adapter offers them, none on the forced fallback', () => {
    expect(withFeatures.features.has('subgroups')).toBe(offered.has('subgroups'));
    expect(withFeatures.features.has('shader-f16')).toBe(offered.has('shader-f16'));
    expect(without.features.has('subgroups')).toBe(false);
    expect(without.features.has('shader-f16')).toBe(false);
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`${dtype}: the same logits (full forward, prefill and decode steps) on both devices, and the fixture's`, async () => {
      const tol = dtype === 'f32' ? 1e-4 : 2e-2;
      const a = await ImageGPT.fromPretrained(source, { device: withFeatures, dtype });
      const b = await ImageGPT.fromPretrained(source, { device: without, dtype });
      try {
        expect(a.deviceFeatures).toEqual({ shaderF16: offered.has('shader-f16'), subgroups: offered.has('subgroups') });
        expect(b.deviceFeatures).toEqual({ shaderF16: false, subgroups: false });
        const [fa, fb] = await Promise.all([a.forward(tiny.inputIds), b.forward(tiny.inputIds)]);
        expect(relError(fa.logits, tiny.expected.get('logits')!)).toBeLessThan(tol);
        expect(relError(fb.logits, tiny.expected.get('logits')!)).toBeLessThan(tol);
        expect(relError(fa.logits, fb.logits)).toBeLessThan(1e-5);
        // Decode (batch 2: the matrix-vector and split-attention paths), step by step.
        const sa = a.createSession(2);
        const sb = b.createSession(2);
        try {
          const prefix = tiny.inputIds.map((r) => r.slice(0, 20));
          expect(relError(await sa.prefill(prefix), await sb.prefill(prefix))).toBeLessThan(1e-5);
          for (let t = 20; t < 26; t++) {
            const next = tiny.inputIds.map((r) => r[t]);
            const [la, lb] = [await sa.step(next), await sb.step(next)];
            expect(la.length).toBe(2 * V1);
            expect(relError(la, lb), `step at ${t}`).toBeLessThan(1e-5);
          }
        } finally {
          sa.dispose();
          sb.dispose();
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  }

  it('the tuning can turn a feature the device has off for the kernels (the portable path, same numbers)', async () => {
    const a = await ImageGPT.fromPretrained(source, { device: withFeatures, dtype: 'f32' });
    const off = await ImageGPT.fromPretrained(source, { device: withFeatures, dtype: 'f32', tuning: { subgroups: false, shaderF16: false } });
    try {
      expect(off.deviceFeatures).toEqual({ shaderF16: false, subgroups: false });
      expect(off.tuning.subgroups).toBe(false);
      const [la, lo] = [(await a.forward(tiny.inputIds)).logits, (await off.forward(tiny.inputIds)).logits];
      expect(relError(la, lo)).toBeLessThan(1e-5);
    } finally {
      a.dispose();
      off.dispose();
    }
  });
});

describe('the device fromPretrained requests', () => {
  afterAll(() => vi.unstubAllGlobals());

  it("asks for the adapter's optional features, or not where the tuning turns them off", async () => {
    vi.stubGlobal('navigator', { gpu: testGpu() });
    const adapter = (await testGpu().requestAdapter({ powerPreference: 'high-performance' }))!;
    const tunings: (Partial<KernelTuning> | undefined)[] = [undefined, { subgroups: false }];
    for (const tuning of tunings) {
      const model = await ImageGPT.fromPretrained(source, { dtype: 'f32', tuning });
      try {
        const f = model.device.features;
        expect(f.has('subgroups'), JSON.stringify(tuning)).toBe(adapter.features.has('subgroups') && tuning?.subgroups !== false);
        expect(f.has('shader-f16'), JSON.stringify(tuning)).toBe(adapter.features.has('shader-f16') && tuning?.shaderF16 !== false);
        expect(f.has('timestamp-query')).toBe(false); // only when asked (the GPU benchmark makes its own device)
        expect(model.deviceFeatures.subgroups).toBe(f.has('subgroups'));
      } finally {
        model.dispose();
        await model.device.queue.onSubmittedWorkDone();
        model.device.destroy();
      }
    }
  });
});
