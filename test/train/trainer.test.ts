// The Trainer's API on the tiny causal model: losses as torch's, weights updated in place (the model's forward sees
// them), save() as an HF-named model.safetensors that loads back to the same logits, resuming from saveState()
// bit-exact, and clear refusals of bad options and inputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadTrainFixture, trainerOptionsOf, type TrainFixture } from '../helpers/train-fixtures';
import { codeOf } from '../helpers/failure';
import { ImageGPT } from '../../src/model/imagegpt';
import type { TrainerOptions } from '../../src/train/trainer';
import { parseSafetensors, tensorToFloat32 } from '../../src/safetensors';
import { relativeError } from '../gpu/harness';

describe('Trainer (tiny causal model)', () => {
  let device: GPUDevice;
  let fx: TrainFixture;
  const models: ImageGPT[] = [];
  const load = async (weights: Uint8Array): Promise<ImageGPT> => {
    const m = await ImageGPT.fromPretrained({ config: fx.model.configJson, weights }, { device, dtype: 'f32' });
    models.push(m);
    return m;
  };
  const options = (): TrainerOptions => trainerOptionsOf(fx.hyper);
  beforeAll(async () => {
    device = await getTestDevice();
    fx = loadTrainFixture('causal');
  });
  afterAll(() => {
    for (const m of models) m.dispose();
  });

  it('steps as torch does, trains the model in place, saves HF weights that load back, and resumes bit-exact', async () => {
    const model = await load(fx.model.weightBytes);
    const before = (await model.forward(fx.inputIds)).logits;
    const trainer = model.createTrainer(options());
    const labels = fx.labels as number[][];
    const first = await trainer.step(fx.inputIds, { labels });
    expect(Math.abs(first.loss - fx.loss[0]) / fx.loss[0]).toBeLessThan(1e-5);
    expect(Math.abs(first.gradNorm - fx.gradNorm[0]) / fx.gradNorm[0]).toBeLessThan(1e-4);
    const weightsAfter1 = await trainer.save();
    const stateAfter1 = await trainer.saveState();
    const second = await trainer.step(fx.inputIds, { labels });
    expect(Math.abs(second.loss - fx.loss[1]) / fx.loss[1]).toBeLessThan(1e-5);
    expect(trainer.stepCount).toBe(2);

    // In place: the model's own forward now gives the trained logits; save() holds exactly those weights.
    const trained = (await model.forward(fx.inputIds)).logits;
    expect(trained).not.toEqual(before);
    const saved = await trainer.save();
    const file = parseSafetensors(saved);
    expect([...file.tensors.keys()].sort()).toEqual([...fx.afterStep[1].keys()].sort());
    expect(file.tensors.get('lm_head.weight')!.shape).toEqual([512, model.config.n_embd]);
    for (const [name, t] of file.tensors) {
      const want = fx.afterStep[1].get(name)!;
      const got = tensorToFloat32(t);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // Biases hold near-zero gradients (the key bias's is exactly 0), where Adam's steps are rounding noise up to lr.
      expect(relativeError(got, want), name).toBeLessThan(name.endsWith('.bias') ? (2 * (fx.hyper.lr[0] + fx.hyper.lr[1])) / scale : 1e-4);
    }
    const reloaded = await load(saved);
    expect((await reloaded.forward(fx.inputIds)).logits).toEqual(trained);

    // Resume: the weights and AdamW state after step 1, then step 2 again: the same loss and weights, bit for bit.
    const resumedModel = await load(weightsAfter1);
    const resumed = resumedModel.createTrainer(options());
    await resumed.loadState(stateAfter1);
    expect(resumed.stepCount).toBe(1);
    const again = await resumed.step(fx.inputIds, { labels });
    expect(again.loss).toBe(second.loss);
    expect(await resumed.save()).toEqual(saved);
    resumed.dispose();
    trainer.dispose();
    await expect(trainer.step(fx.inputIds)).rejects.toThrow(/disposed/);
  });

  it('refuses bad options and inputs with codes, before any GPU work', async () => {
    const model = await load(fx.model.weightBytes);
    expect(await codeOf(() => model.createTrainer({ ...options(), seqLength: 65 }))).toBe('E_BAD_INPUT');
    expect(() => model.createTrainer({ ...options(), seqLength: 65 })).toThrow(/seqLength 65 is longer than n_positions \(64\)/);
    expect(() => model.createTrainer({ ...options(), batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(() => model.createTrainer({ ...options(), lr: -1 })).toThrow(/lr must be a finite number/);
    expect(() => model.createTrainer({ ...options(), betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(await codeOf(() => model.createTrainer({ ...options(), seed: -1 }))).toBe('E_BAD_INPUT');
    expect(() => model.createTrainer({ ...options(), learningRate: 1 } as TrainerOptions)).toThrow(/unknown option "learningRate"/);
    const trainer = model.createTrainer({ ...options(), batchSize: 1, seqLength: 4 });
    await expect(trainer.step([[512, 1, 2]])).rejects.toThrow(/inputIds\[0\] must hold 4 tokens/);
    await expect(trainer.step([[512, 1, 2, 513]])).rejects.toThrow(/inputIds\[0\]\[3\] is 513; expected a token id in 0\.\.512/);
    await expect(trainer.step([[512, 1, 2, 3]], { labels: [[512, 1, 2, 512]] })).rejects.toThrow(/labels\[0\]\[3\] is 512; expected -100 \(ignored\) or a token the head predicts, 0\.\.511/);
    const allIgnored = await trainer.step([[512, 1, 2, 3]], { labels: [[-100, -100, -100, -100]] });
    expect(allIgnored.loss).toBeNaN();
    // The model disposes its trainers (they write its weights).
    model.dispose();
    await expect(trainer.step([[512, 1, 2, 3]])).rejects.toThrow(/trainer\.step: the trainer was disposed/);
    expect(() => model.createTrainer(options())).toThrow(/used after dispose/);
  });
});
