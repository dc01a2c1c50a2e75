// The whole training step on the GPU against torch: three AdamW steps of the tiny causal model (batch 4 × 64,
// labels = ids with some -100, weight decay on, clipping active, an lr per step). Losses within 1e-5 relative,
// every trained weight after each step within 1e-4 of its tensor's scale; norm gains untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice, trackBuffers } from '../helpers/gpu';
import { loadTrainFixture, type TrainFixture } from '../helpers/train-fixtures';
import { ImageGPT } from '../../src/model/imagegpt';
import { KernelContext } from '../../src/gpu/context';
import { TrainingGraph } from '../../src/train/graph';
import { readF32 } from '../gpu/harness';
import { lossAndGrads } from '../reference/train';


/** [rows, cols] → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/**
 * Adam divides by √v + eps, so where the true gradient is near 0 (the key bias's is exactly 0: softmax ignores a
 * constant added to a row's scores) the step is rounding noise amplified up to ±lr, on any f32 implementation. Those
 * elements, found from the float64 reference's gradient at torch's weights before the step or an earlier one (0 < |g · clip| < 1e-5:
 * f32 gradients are good to ~1e-8 absolute here, so their relative error reaches 0.1 %, which Adam's moments carry
 * into later steps), are held to Adam's bound, |Δ| ≤ Σ lr; every other element to 1e-4 of its tensor's scale. They must stay few.
 */
const NEAR_ZERO = 1e-5;

describe('training step on the GPU vs torch (tiny causal model)', () => {
  let device: GPUDevice;
  let fx: TrainFixture;
  let model: ImageGPT;
  let ctx: KernelContext;
  beforeAll(async () => {
    device = await getTestDevice();
    fx = loadTrainFixture('causal');
    model = await ImageGPT.fromPretrained({ config: fx.model.configJson, weights: fx.model.weightBytes }, { device, dtype: 'f32' });
    ctx = new KernelContext(device);
  });
  afterAll(() => {
    model?.dispose();
    ctx?.destroy();
  });

  it('three AdamW steps: losses and every weight as torch computes them, one pass per step, nothing made per step', async () => {
    const h = fx.hyper;
    const graph = new TrainingGraph(ctx, model.config, model.weights, {
      batchSize: h.batchSize,
      seqLength: h.seqLength,
      betas: h.betas,
      eps: h.eps,
      weightDecay: h.weightDecay,
      maxGradNorm: h.maxGradNorm,
    });
    await ctx.ready();
    const nearZeroGradients = (k: number): Map<string, Uint8Array> => {
      const weights = new Map<string, Float32Array>(k === 0 ? fx.model.weights : fx.afterStep[k - 1]);
      const { grads } = lossAndGrads(model.config, weights, fx.inputIds, { kind: 'causal', labels: fx.labels as number[][] });
      let ss = 0;
      for (const g of grads.values()) for (const v of g) ss += v * v;
      const clip = Math.min(1, h.maxGradNorm / (Math.sqrt(ss) + 1e-6));
      const out = new Map<string, Uint8Array>();
      let flagged = 0;
      let total = 0;
      for (const [name, g] of grads) {
        const mask = g.map((v) => (v !== 0 && Math.abs(v * clip) < NEAR_ZERO ? 1 : 0)); // exact zeros (unused wte rows) are exact on both sides
        out.set(name, Uint8Array.from(mask));
        flagged += mask.reduce((a, b) => a + b, 0);
        total += g.length;
      }
      expect(flagged / total, 'share of near-zero gradients').toBeLessThan(0.02);
      return out;
    };
    const gainsBefore = await readF32(device, model.weights.layers[0].ln1, model.config.n_embd);
    const tiny = new Map<string, Uint8Array>();
    const tracker = trackBuffers(device);
    try {
      for (let k = 0; k < h.steps; k++) {
        const made = tracker.created();
        const counted = graph.writeInputs(fx.inputIds, fx.labels as number[][]);
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        graph.encode(pass, h.lr[k]);
        pass.end();
        device.queue.submit([encoder.finish()]);
        expect(tracker.created() - made, 'buffers made by a step').toBe(0);
        const loss = (await readF32(device, graph.lossSum, 1))[0] / counted;
        expect(Math.abs(loss - fx.loss[k]) / fx.loss[k], `loss at step ${k + 1}`).toBeLessThan(1e-5);
        const normSquared = (await readF32(device, graph.optimizer.normSquared, 1))[0];
        const lrSoFar = h.lr.slice(0, k + 1).reduce((a, b) => a + b, 0);
        for (const [name, mask] of nearZeroGradients(k)) {
          const seen = tiny.get(name);
          tiny.set(name, seen ? seen.map((v, j) => v | mask[j]) : mask);
        }
        expect(Math.abs(Math.sqrt(normSquared) - fx.gradNorm[k]) / fx.gradNorm[k], `gradient norm at step ${k + 1}`).toBeLessThan(1e-4);
        for (const t of graph.trained) {
          let got = await readF32(device, t.param, t.count);
          if (t.transposed) got = transpose(got, t.shape[0], t.shape[1] ?? 1);
          const want = fx.afterStep[k].get(t.name);
          expect(want, t.name).toBeDefined();
          const g = tiny.get(t.name)!;
          const scale = want!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          for (let j = 0; j < want!.length; j++) {
            const bound = g[j] ? 2 * lrSoFar : 1e-4 * scale;
            if (!(Math.abs(got[j] - want![j]) <= bound)) {
              expect.fail(`${t.name}[${j}] after step ${k + 1}: ${got[j]}, torch ${want![j]} (bound ${bound}${g[j] ? ', a near-zero gradient' : ''})`);
            }
          }
        }
      }
    } finally {
      tracker.restore();
    }
    expect(await readF32(device, model.weights.layers[0].ln1, model.config.n_embd)).toEqual(gainsBefore);
    const counts = graph.dispatchCounts;
    expect(counts.forward).toBe(1 + 8 * model.config.n_layer + 4);
    graph.destroy();
  });
});
