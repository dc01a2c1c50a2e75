// The Trainer on ImageGPTForImageClassification: three AdamW steps of the tiny classifier as torch takes them (loss,
// gradient norm, every weight), the step's logits, the model's classify seeing the trained weights, save() writing
// score.weight and loading back as a classifier, resuming from saveState(); ImageGPT.forImageClassification from the tiny causal model (shapes,
// seeded head, body copied from f32 and f16); and the labels a classifier step refuses or ignores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadTrainFixture, trainerOptionsOf, type TrainFixture } from '../helpers/train-fixtures';
import { codeOf } from '../helpers/failure';
import { loadModelFixture, type ModelFixture } from '../helpers/fixtures';
import { lossAndGrads, ReferenceAdamW } from '../reference/train';
import { ImageGPT } from '../../src/model/imagegpt';
import { normalDraws } from '../../src/model/classifier';
import type { TrainerOptions } from '../../src/train/trainer';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { errorCode } from '../../src/errors';
import { relativeError } from '../gpu/harness';

/** Mean cross-entropy of logits [B, C] against class labels, -100 ignored (torch's CrossEntropyLoss). */
function crossEntropy(logits: Float32Array, labels: number[], C: number): number {
  let sum = 0;
  let counted = 0;
  labels.forEach((target, b) => {
    if (target === -100) return;
    const row = Array.from(logits.subarray(b * C, (b + 1) * C));
    const max = Math.max(...row);
    sum += Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max - row[target];
    counted++;
  });
  return sum / counted;
}

describe('Trainer (tiny classifier)', () => {
  let device: GPUDevice;
  let fx: TrainFixture;
  const models: ImageGPT[] = [];
  const load = async (config: Record<string, unknown>, weights: Uint8Array): Promise<ImageGPT> => {
    const m = await ImageGPT.fromPretrained({ config, weights }, { device, dtype: 'f32' });
    models.push(m);
    return m;
  };
  const options = (): TrainerOptions => trainerOptionsOf(fx.hyper);
  beforeAll(async () => {
    device = await getTestDevice();
    fx = loadTrainFixture('classifier');
  });
  afterAll(() => {
    for (const m of models) m.dispose();
  });

  it('steps as torch does (loss, gradient norm, every weight), returns the logits, and classify sees the trained weights', async () => {
    const model = await load(fx.model.configJson, fx.model.weightBytes);
    const trainer = model.createTrainer(options());
    const labels = fx.labels as number[];
    const C = model.weights.score!.numLabels;
    for (let k = 0; k < fx.hyper.steps; k++) {
      // The step's logits are the forward before its update: what classify gives now.
      const before = await model.classify(fx.inputIds);
      const { loss, gradNorm, logits } = await trainer.step(fx.inputIds, { labels });
      expect(Math.abs(loss - fx.loss[k]) / fx.loss[k], `loss of step ${k + 1}`).toBeLessThan(1e-5);
      expect(Math.abs(gradNorm - fx.gradNorm[k]) / fx.gradNorm[k]).toBeLessThan(1e-4);
      expect(logits!.length).toBe(fx.hyper.batchSize * C);
      expect(relativeError(logits!, before)).toBeLessThan(1e-5);
      expect(Math.abs(crossEntropy(logits!, labels, C) - loss) / loss).toBeLessThan(1e-5);

      const file = parseSafetensors(await trainer.save());
      expect([...file.tensors.keys()].sort()).toEqual([...fx.afterStep[k].keys()].sort());
      expect(file.tensors.has('lm_head.weight')).toBe(false);
      expect(file.tensors.get('score.weight')!.shape).toEqual([C, model.config.n_embd]);
      for (const [name, t] of file.tensors) {
        const want = fx.afterStep[k].get(name)!;
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        // As in the causal test: a bias's near-zero gradients become Adam steps of rounding noise, up to lr each.
        const lrSoFar = fx.hyper.lr.slice(0, k + 1).reduce((a, b) => a + b, 0);
        expect(relativeError(tensorToFloat32(t), want), `${name} after step ${k + 1}`).toBeLessThan(name.endsWith('.bias') ? Math.max(1e-4, (2 * lrSoFar) / scale) : 1e-4);
      }
      // The model's own score (on the CPU, where classify reads it) is the trained one.
      expect(Array.from(model.weights.score!.weight)).toEqual(Array.from(tensorToFloat32(file.tensors.get('score.weight')!)));
    }
    const trained = await model.classify(fx.inputIds);
    // save() gives a folder (with the same config.json) that loads back as the same classifier.
    const reloaded = await load(fx.model.configJson, await trainer.save());
    expect(reloaded.weights.lmHead).toBeNull();
    expect(await reloaded.classify(fx.inputIds)).toEqual(trained);
    // forward's classifier logits and loss see the trained weights too.
    const forward = await model.forward(fx.inputIds, { labels });
    expect(relativeError(forward.logits!, trained)).toBeLessThan(1e-6);
    trainer.dispose();
  });

  it('ignores rows labelled -100 (the mean over the others), as torch does: loss and every weight; resumes bit-exact', async () => {
    const model = await load(fx.model.configJson, fx.model.weightBytes);
    const trainer = model.createTrainer(options());
    const labels = (fx.labels as number[]).map((l, b) => (b === 1 ? -100 : l));
    const weights = new Map<string, Float64Array>();
    for (const [name, w] of fx.model.weights) weights.set(name, Float64Array.from(w));
    const want = lossAndGrads(fx.model.config, weights, fx.inputIds, { kind: 'classes', labels });
    new ReferenceAdamW().update(weights, want.grads, { lr: fx.hyper.lr[0], betas: fx.hyper.betas, eps: fx.hyper.eps, weightDecay: fx.hyper.weightDecay, maxGradNorm: fx.hyper.maxGradNorm });
    const { loss, logits } = await trainer.step(fx.inputIds, { labels });
    expect(Math.abs(loss - want.loss) / want.loss).toBeLessThan(1e-5);
    expect(Math.abs(crossEntropy(logits!, labels, model.weights.score!.numLabels) - loss) / loss).toBeLessThan(1e-5);
    const file = parseSafetensors(await trainer.save());
    for (const [name, t] of file.tensors) {
      const w = weights.get(name)!;
      const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(relativeError(tensorToFloat32(t), w), name).toBeLessThan(name.endsWith('.bias') ? Math.max(1e-4, (2 * fx.hyper.lr[0]) / scale) : 1e-4);
    }
    // Resuming: the weights and AdamW state (score.weight's moments included) after step 1 continue bit for bit.
    const weightsAfter1 = await trainer.save();
    const stateAfter1 = await trainer.saveState();
    expect([...parseSafetensors(stateAfter1).tensors.keys()]).toContain('score.weight.adam_v');
    const second = await trainer.step(fx.inputIds, { labels: fx.labels as number[] });
    const resumedModel = await load(fx.model.configJson, weightsAfter1);
    const resumed = resumedModel.createTrainer(options());
    await resumed.loadState(stateAfter1);
    const again = await resumed.step(fx.inputIds, { labels: fx.labels as number[] });
    expect(again.loss).toBe(second.loss);
    expect(again.logits).toEqual(second.logits);
    expect(await resumed.save()).toEqual(await trainer.save());
    resumed.dispose();
    // Every row ignored: NaN (torch's mean of nothing) and no gradient at all.
    const none = await trainer.step(fx.inputIds, { labels: labels.map(() => -100) });
    expect(none.loss).toBeNaN();
    expect(none.gradNorm).toBe(0);
    trainer.dispose();
  });

  it('refuses labels that are missing, of the wrong length or shape, or out of range, before any GPU work', async () => {
    const model = await load(fx.model.configJson, fx.model.weightBytes);
    const trainer = model.createTrainer({ ...options(), batchSize: 2, seqLength: 4 });
    const ids = [[512, 1, 2, 3], [512, 4, 5, 6]];
    const refused = async (labels: unknown, message: RegExp) => {
      const step = trainer.step(ids, labels === undefined ? {} : { labels: labels as number[] });
      await expect(step).rejects.toThrow(message);
      expect(errorCode(await step.catch((e: unknown) => e))).toBe('E_BAD_INPUT');
    };
    await refused(undefined, /trainer\.step: a classifier needs labels: 2 class indices \(0\.\.4, or -100 to ignore a row\)/);
    await refused([1], /labels must be 2 class indices \(one per row, batchSize 2\), got an array of 1/);
    await refused([[1], [2]], /labels must be 2 class indices .*got an array of 2 rows/);
    await refused([1, 5], /labels\[1\] is 5; expected a class index in 0\.\.4 \(numLabels 5\) or -100 \(ignored\)/);
    await refused([1.5, 0], /labels\[0\] is 1\.5; expected a class index/);
    await refused([-1, 0], /labels\[0\] is -1; expected a class index/);
    expect(trainer.stepCount).toBe(0);
    trainer.dispose();
  });
});

describe('ImageGPT.forImageClassification (from the tiny causal model)', () => {
  let device: GPUDevice;
  let tiny: ModelFixture;
  const models: ImageGPT[] = [];
  const keep = (m: ImageGPT): ImageGPT => {
    models.push(m);
    return m;
  };
  beforeAll(async () => {
    device = await getTestDevice();
    tiny = loadModelFixture('tiny');
  });
  afterAll(() => {
    // Classifiers first: they share the device with their sources.
    for (const m of models.reverse()) m.dispose();
  });

  it('makes an f32 classifier with a seeded score head and the config of a classification checkpoint', async () => {
    const source = keep(await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' }));
    const a = keep(await ImageGPT.forImageClassification(source, { numLabels: 3, seed: 7 }));
    const b = keep(await ImageGPT.forImageClassification(source, { numLabels: 3, seed: 7 }));
    const c = keep(await ImageGPT.forImageClassification(source, { numLabels: 3, id2label: { 0: 'cat', 1: 'dog', 2: 'fox' }, seed: 8 }));
    const E = source.config.n_embd;
    expect(a.dtype).toBe('f32');
    expect(a.device).toBe(source.device);
    expect(a.weights.lmHead).toBeNull();
    expect(a.weights.score!.numLabels).toBe(3);
    expect(a.weights.score!.weight.length).toBe(3 * E);
    expect(a.config.num_labels).toBe(3);
    expect(a.config.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
    expect(c.config.label2id).toEqual({ cat: 0, dog: 1, fox: 2 });
    // The same seed, the same head; another seed, another; drawn with std initializer_range (0.02 here).
    expect(b.weights.score!.weight).toEqual(a.weights.score!.weight);
    expect(c.weights.score!.weight).not.toEqual(a.weights.score!.weight);
    expect(a.weights.score!.weight).toEqual(normalDraws(3 * E, 0.02, 7));
    const draws = normalDraws(20000, 0.02, 1);
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    const std = Math.sqrt(draws.reduce((s, v) => s + (v - mean) ** 2, 0) / draws.length);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(Math.abs(std - 0.02)).toBeLessThan(0.0005);
    // The body is the source's, exactly: the pooled last layer matches, and classify is score · pooled.
    const ids = [tiny.inputIds[0].slice(0, 16), tiny.inputIds[1].slice(0, 16)];
    const pooled = await source.features(ids, { layer: source.config.n_layer });
    expect(await a.features(ids, { layer: a.config.n_layer })).toEqual(pooled);
    const logits = await a.classify(ids);
    expect(logits.length).toBe(2 * 3);
    const score = a.weights.score!.weight;
    for (let r = 0; r < 2; r++) {
      for (let k = 0; k < 3; k++) {
        let dot = 0;
        for (let e = 0; e < E; e++) dot += pooled[r * E + e] * score[k * E + e];
        expect(logits[r * 3 + k]).toBeCloseTo(dot, 5);
      }
    }
  });

  it('trains without touching its source, classify sees each step, and save() + its config load back as a classifier', async () => {
    const source = keep(await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f16' }));
    const cls = keep(await ImageGPT.forImageClassification(source, { numLabels: 2, id2label: { 0: 'plain', 1: 'busy' } }));
    const ids = tiny.inputIds.slice(0, 2).map((row) => row.slice(0, 8));
    // From f16: every f16 is an f32, so the copy holds the same values (the kernels read them at another width).
    expect(relativeError(await cls.features(ids, { layer: 1 }), await source.features(ids, { layer: 1 }))).toBeLessThan(1e-5);
    const sourceLogits = (await source.forward(ids)).logits!;
    const trainer = cls.createTrainer({ batchSize: 2, seqLength: 8, lr: 1e-2 });
    const first = await trainer.step(ids, { labels: [0, 1] });
    const afterFirst = await cls.classify(ids);
    expect(afterFirst).not.toEqual(first.logits);
    // The next step's logits are the forward of the weights the first step left: what classify gave.
    const second = await trainer.step(ids, { labels: [0, 1] });
    expect(relativeError(second.logits!, afterFirst)).toBeLessThan(1e-5);
    expect(second.loss).toBeLessThan(first.loss);
    expect((await source.forward(ids)).logits).toEqual(sourceLogits);
    const saved = parseSafetensors(await trainer.save());
    expect(saved.tensors.has('lm_head.weight')).toBe(false);
    expect(saved.tensors.get('score.weight')!.shape).toEqual([2, cls.config.n_embd]);
    const folder = { config: JSON.parse(JSON.stringify(cls.config)) as Record<string, unknown>, weights: await trainer.save() };
    const reloaded = keep(await ImageGPT.fromPretrained(folder, { device, dtype: 'f32' }));
    expect(reloaded.config.id2label).toEqual({ 0: 'plain', 1: 'busy' });
    expect(reloaded.config.label2id).toEqual({ plain: 0, busy: 1 });
    expect(await reloaded.classify(ids)).toEqual(await cls.classify(ids));
    trainer.dispose();
  });

  it('refuses bad options, and a problem type the trainer does not train', async () => {
    const source = keep(await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device, dtype: 'f32' }));
    await expect(ImageGPT.forImageClassification(source, { numLabels: 0 })).rejects.toThrow(/numLabels must be an integer in 1\.\.65536, got 0/);
    await expect(ImageGPT.forImageClassification(source, { numLabels: 2, seed: -1 })).rejects.toThrow(/seed must be an integer/);
    await expect(ImageGPT.forImageClassification(source, { numLabels: 2, id2label: { 0: 'a' } })).rejects.toThrow(/id2label\[1\] must be a string/);
    await expect(ImageGPT.forImageClassification(source, { numLabels: 2, id2label: { 0: 'a', 1: 'a' } })).rejects.toThrow(/names "a" twice/);
    await expect(ImageGPT.forImageClassification(source, { numLabels: 2, classes: 2 } as never)).rejects.toThrow(/unknown option "classes"/);
    expect(await codeOf(() => ImageGPT.forImageClassification(source, { numLabels: 0 }))).toBe('E_BAD_INPUT');
    // One label with problem_type unset is regression in Hugging Face: not trained here.
    const regression = keep(await ImageGPT.forImageClassification(source, { numLabels: 1 }));
    expect(() => regression.createTrainer({ batchSize: 1, seqLength: 4, lr: 1e-3 })).toThrow(/problem type is regression .*supports single_label_classification/);
    expect(await codeOf(async () => regression.createTrainer({ batchSize: 1, seqLength: 4, lr: 1e-3 }))).toBe('E_UNSUPPORTED');
  });
});
