// Dropout in the training step (Hugging Face's places: wte + wpe, the attention probabilities, both c_proj outputs
// before their residual add): two AdamW steps of the tiny causal model with dropout on the GPU against the float64
// reference given the same masks (rebuilt from the documented hash); p = 0 adds no dispatch; and through the Trainer,
// a run is reproducible from its seed (same seed: the same losses and weights, bit for bit; another seed: others),
// resumes dropping what the uninterrupted run dropped, and `dropout: false` is the plain step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice, trackBuffers } from '../helpers/gpu';
import { loadTrainFixture, type TrainFixture } from '../helpers/train-fixtures';
import { codeOf } from '../helpers/failure';
import { ImageGPT } from '../../src/model/imagegpt';
import { KernelContext } from '../../src/gpu/context';
import { TrainingGraph, type GraphDropout } from '../../src/train/graph';
import type { TrainerOptions } from '../../src/train/trainer';
import { readF32, recordingPass } from '../gpu/harness';
import { lossAndGrads, ReferenceAdamW, stepMasks } from '../reference/train';

/** [rows, cols] → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/** Where Adam's step is rounding noise (|g · clip| below this, as in graph.test.ts), the bound is Adam's, Σ lr. */
const NEAR_ZERO = 1e-5;

describe('dropout in the training step (tiny causal model)', () => {
  let device: GPUDevice;
  let fx: TrainFixture;
  let ctx: KernelContext;
  const models: ImageGPT[] = [];
  const load = async (configJson: Record<string, unknown>, weights: Uint8Array = fx.model.weightBytes): Promise<ImageGPT> => {
    const m = await ImageGPT.fromPretrained({ config: configJson, weights }, { device, dtype: 'f32' });
    models.push(m);
    return m;
  };
  beforeAll(async () => {
    device = await getTestDevice();
    fx = loadTrainFixture('causal');
    ctx = new KernelContext(device);
  });
  afterAll(() => {
    for (const m of models) m.dispose();
    ctx?.destroy();
  });

  it('two AdamW steps with dropout match the float64 reference given the same masks, nothing made per step', async () => {
    const h = fx.hyper;
    const model = await load(fx.model.configJson);
    // Different probabilities per place, so a mask at the wrong place shows.
    const dropout: GraphDropout = { resid: 0.1, embd: 0.2, attn: 0.3, seed: 1234 };
    const graph = new TrainingGraph(ctx, model.config, model.weights, { batchSize: h.batchSize, seqLength: h.seqLength, betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, maxGradNorm: h.maxGradNorm, dropout });
    await ctx.ready();
    const labels = fx.labels as number[][];
    const weights = new Map<string, Float64Array>([...fx.model.weights].map(([name, w]) => [name, Float64Array.from(w)]));
    const reference = new ReferenceAdamW();
    const options = { betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, maxGradNorm: h.maxGradNorm };
    const nearZero = new Map<string, Uint8Array>();
    let lrSoFar = 0;
    for (let k = 0; k < 2; k++) {
      const masks = stepMasks(model.config, h.batchSize, h.seqLength, { ...dropout, step: k + 1 });
      const { loss, grads } = lossAndGrads(model.config, weights, fx.inputIds, { kind: 'causal', labels }, masks);
      const plain = lossAndGrads(model.config, weights, fx.inputIds, { kind: 'causal', labels }).loss;
      expect(Math.abs(loss - plain) / plain, 'dropout changes the loss').toBeGreaterThan(1e-3);
      const norm = reference.update(weights, grads, { ...options, lr: h.lr[k] });
      lrSoFar += h.lr[k];
      const clip = Math.min(1, h.maxGradNorm / (norm + 1e-6));
      let flagged = 0;
      let total = 0;
      for (const [name, g] of grads) {
        const mask = g.map((v) => (v !== 0 && Math.abs(v * clip) < NEAR_ZERO ? 1 : 0));
        const seen = nearZero.get(name);
        nearZero.set(name, seen ? seen.map((v, j) => v | mask[j]) : Uint8Array.from(mask));
        flagged += mask.reduce((a, b) => a + b, 0);
        total += g.length;
      }
      expect(flagged / total, `share of near-zero gradients at step ${k + 1}`).toBeLessThan(0.02);

      const tracker = trackBuffers(device);
      const counted = graph.writeInputs(fx.inputIds, labels);
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      graph.encode(pass, h.lr[k]);
      pass.end();
      device.queue.submit([encoder.finish()]);
      tracker.restore();
      expect(tracker.created(), 'buffers made by a step (the masks are not stored)').toBe(0);
      const gpuLoss = (await readF32(device, graph.lossSum, 1))[0] / counted;
      expect(Math.abs(gpuLoss - loss) / loss, `loss at step ${k + 1}`).toBeLessThan(1e-5);
      const gpuNorm = Math.sqrt((await readF32(device, graph.optimizer.normSquared, 1))[0]);
      expect(Math.abs(gpuNorm - norm) / norm, `gradient norm at step ${k + 1}`).toBeLessThan(1e-4);
      for (const t of graph.trained) {
        let got = await readF32(device, t.param, t.count);
        if (t.transposed) got = transpose(got, t.shape[0], t.shape[1] ?? 1);
        const want = weights.get(t.name)!;
        const near = nearZero.get(t.name)!;
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < want.length; j++) {
          const bound = near[j] ? 2 * lrSoFar : 1e-4 * scale;
          if (!(Math.abs(got[j] - want[j]) <= bound)) expect.fail(`${t.name}[${j}] after step ${k + 1}: ${got[j]}, reference ${want[j]} (bound ${bound})`);
        }
      }
    }
    graph.destroy();
  });

  it('p = 0 adds no dispatch; each place with p > 0 adds its own (attention: none, it drops inside its kernels)', async () => {
    const model = await load(fx.model.configJson);
    const L = model.config.n_layer;
    const record = (dropout?: GraphDropout) => {
      const graph = new TrainingGraph(ctx, model.config, model.weights, { batchSize: 2, seqLength: 8, dropout });
      graph.writeInputs([Array(8).fill(512), Array(8).fill(512)], [Array(8).fill(1), Array(8).fill(1)]);
      const recorded = recordingPass();
      graph.encode(recorded.pass, 0);
      graph.destroy();
      return recorded;
    };
    const plain = record();
    const zero = record({ resid: 0, embd: 0, attn: 0, seed: 3 });
    expect(zero.dispatches).toEqual(plain.dispatches);
    expect(zero.pipelines).toEqual(plain.pipelines); // the same kernels too: attention without its DROPOUT variant
    expect(record({ resid: 0.1, embd: 0, attn: 0, seed: 3 }).dispatches.length).toBe(plain.dispatches.length + 4 * L);
    expect(record({ resid: 0, embd: 0.1, attn: 0, seed: 3 }).dispatches.length).toBe(plain.dispatches.length + 2);
    const attention = record({ resid: 0, embd: 0, attn: 0.1, seed: 3 });
    expect(attention.dispatches.length).toBe(plain.dispatches.length);
    expect(attention.pipelines.filter((p) => p.includes('"DROPOUT":1')).length).toBe(4 * L); // forward + 3 backward per layer
  });

  it('the Trainer: reproducible from its seed, another seed differs, resumes with the same masks, dropout: false is the plain step', async () => {
    const h = fx.hyper;
    const withDropout = { ...fx.model.configJson, resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1 };
    const options = (more: Partial<TrainerOptions> = {}): TrainerOptions => ({
      batchSize: h.batchSize,
      seqLength: h.seqLength,
      lr: (step) => h.lr[step - 1],
      betas: h.betas,
      eps: h.eps,
      weightDecay: h.weightDecay,
      maxGradNorm: h.maxGradNorm,
      ...more,
    });
    const labels = fx.labels as number[][];
    const run = async (more: Partial<TrainerOptions>) => {
      const model = await load(withDropout);
      const trainer = model.createTrainer(options(more));
      const first = (await trainer.step(fx.inputIds, { labels })).loss;
      const weightsAfter1 = await trainer.save();
      const stateAfter1 = await trainer.saveState();
      const second = (await trainer.step(fx.inputIds, { labels })).loss;
      const saved = await trainer.save();
      trainer.dispose();
      return { losses: [first, second], weightsAfter1, stateAfter1, saved };
    };
    const a = await run({ seed: 7 });
    const b = await run({ seed: 7 });
    expect(b.losses).toEqual(a.losses);
    expect(b.saved).toEqual(a.saved);
    // The plain step's loss is torch's (eval-like) one; dropout's differs from it, and another seed's from this seed's.
    expect(Math.abs(a.losses[0] - fx.loss[0]) / fx.loss[0]).toBeGreaterThan(1e-3);
    const other = await run({ seed: 8 });
    expect(Math.abs(other.losses[0] - a.losses[0]) / a.losses[0]).toBeGreaterThan(1e-4);
    expect(other.saved).not.toEqual(a.saved);
    const off = await load(withDropout);
    const plain = off.createTrainer(options({ dropout: false }));
    expect(Math.abs((await plain.step(fx.inputIds, { labels })).loss - fx.loss[0]) / fx.loss[0]).toBeLessThan(1e-5);
    plain.dispose();

    // Resuming after step 1 drops at step 2 what the uninterrupted run dropped: the same loss and weights.
    const resumedModel = await load(withDropout, a.weightsAfter1);
    const resumed = resumedModel.createTrainer(options({ seed: 7 }));
    await resumed.loadState(a.stateAfter1);
    expect((await resumed.step(fx.inputIds, { labels })).loss).toBe(a.losses[1]);
    expect(await resumed.save()).toEqual(a.saved);
    resumed.dispose();
  });

  it('refuses a bad seed and a config probability of 1 (which would drop everything)', async () => {
    const model = await load(fx.model.configJson);
    const base: TrainerOptions = { batchSize: 1, seqLength: 4, lr: 1e-3 };
    expect(await codeOf(() => model.createTrainer({ ...base, seed: -1 }))).toBe('E_BAD_INPUT');
    expect(() => model.createTrainer({ ...base, seed: 1.5 })).toThrow(/seed must be an integer in \[0, 2³²\), got 1\.5/);
    expect(() => model.createTrainer({ ...base, dropout: 'yes' as unknown as boolean })).toThrow(/dropout must be true or false, got "yes"/);
    const all = await load({ ...fx.model.configJson, attn_pdrop: 1 });
    expect(() => all.createTrainer(base)).toThrow(/attn_pdrop is 1, which would drop every value; train with dropout: false/);
    all.createTrainer({ ...base, dropout: false }).dispose();
  });
});
