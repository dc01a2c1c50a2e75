// The CPU training reference (test/reference/train.ts) against torch: three AdamW steps of the tiny models.
// It checks the training semantics themselves (norm backward, attention backward, clipping, AdamW, grouping,
// frozen norm gains) before any GPU kernel is compared with it.
import { describe, expect, it } from 'vitest';
import { lossAndGrads, ReferenceAdamW, type Labels } from '../reference/train';
import { loadTrainFixture } from '../helpers/train-fixtures';
import { relativeError } from '../gpu/harness';


describe.each(['causal', 'classifier'] as const)('CPU training reference vs torch (%s)', (kind) => {
  it('matches torch over three AdamW steps: losses, gradient norms and every weight', () => {
    const fx = loadTrainFixture(kind);
    const h = fx.hyper;
    const weights = new Map<string, Float64Array>();
    for (const [name, w] of fx.model.weights) if (!name.endsWith('.attn.bias') && !name.endsWith('.attn.masked_bias')) weights.set(name, Float64Array.from(w));
    const labels: Labels = kind === 'causal' ? { kind: 'causal', labels: fx.labels as number[][] } : { kind: 'classes', labels: fx.labels as number[] };
    const opt = new ReferenceAdamW();
    const before = new Map([...weights].map(([n, w]) => [n, w.slice()]));
    for (let k = 0; k < h.steps; k++) {
      const { loss, grads } = lossAndGrads(fx.model.config, weights, fx.inputIds, labels);
      expect(Math.abs(loss - fx.loss[k]) / fx.loss[k]).toBeLessThan(1e-6);
      // Norm gains get no gradient (Hugging Face multiplies by weight.data): the fixture froze them too.
      expect([...grads.keys()].filter((n) => n.includes('ln_'))).toEqual([]);
      const norm = opt.update(weights, grads, { lr: h.lr[k], betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, maxGradNorm: h.maxGradNorm });
      expect(norm).toBeGreaterThan(h.maxGradNorm); // clipping was active
      expect(Math.abs(norm - fx.gradNorm[k]) / fx.gradNorm[k]).toBeLessThan(1e-6);
      const expected = fx.afterStep[k];
      expect([...expected.keys()].sort()).toEqual([...weights.keys()].sort());
      for (const [name, w] of weights) expect(relativeError(w, expected.get(name)!), `${name} after step ${k + 1}`).toBeLessThan(1e-6);
    }
    // Training moved every trained weight and left the gains alone.
    for (const [name, w] of weights) {
      const moved = relativeError(w, before.get(name)!) > 0;
      expect(moved, name).toBe(!name.includes('ln_'));
    }
  });
});
