import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getTestDevice } from '../helpers/gpu';
import { loadModelFixture, relError } from '../helpers/fixtures';
import { ImageGPT } from '../../src/model/imagegpt';

const tiny = loadModelFixture('tiny');
const classifier = loadModelFixture('classifier');

describe('features for many inputs and classify', () => {
  let model: ImageGPT;
  beforeAll(async () => {
    model = await ImageGPT.fromPretrained({ config: tiny.configJson, weights: tiny.weightBytes }, { device: await getTestDevice(), dtype: 'f32' });
  });
  afterAll(() => model?.dispose());

  it('several layers in batches equal features computed one by one', async () => {
    // 5 inputs of 20 tokens in batches of 2 (the last one padded).
    const ids = Array.from({ length: 5 }, (_, i) => tiny.inputIds[i % 2].slice(i, i + 20));
    const progress: number[] = [];
    const all = await model.features(ids, { layers: [0, 1, 2], batchSize: 2, onProgress: ({ done }) => progress.push(done) });
    expect([...all.keys()]).toEqual([0, 1, 2]);
    expect(progress).toEqual([2, 4, 5]);
    for (let i = 0; i < 5; i++) {
      for (const layer of [0, 1, 2]) {
        const one = await model.features([ids[i]], { layer });
        expect(relError(all.get(layer)!.subarray(i * 64, (i + 1) * 64), one)).toBeLessThan(1e-5);
      }
    }
  });

  it('rejects bad layers and options', async () => {
    await expect(model.features(tiny.inputIds, { layers: [3] })).rejects.toThrow(/layer must be an integer in 0\.\.2/);
    await expect(model.features(tiny.inputIds, { layers: [] })).rejects.toThrow(/non-empty/);
    await expect(model.features(tiny.inputIds, { layers: [1], batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(model.classify(tiny.inputIds)).rejects.toThrow(/no score\.weight/);
  });

  it('classify matches the PyTorch ImageGPTForImageClassification fixture', async () => {
    const device = await getTestDevice();
    const cls = await ImageGPT.fromPretrained({ config: classifier.configJson, weights: classifier.weightBytes }, { device, dtype: 'f32' });
    try {
      expect(cls.config.id2label?.[4]).toBe('flags');
      const logits = await cls.classify(classifier.inputIds);
      expect(logits.length).toBe(2 * 5);
      expect(relError(logits, classifier.expected.get('logits')!)).toBeLessThan(1e-4);
      expect(relError((await cls.forward(classifier.inputIds)).logits, classifier.expected.get('logits')!)).toBeLessThan(1e-4);
    } finally {
      cls.dispose();
    }
  });
});
