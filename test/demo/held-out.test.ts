// The own-classes held-out split (the probe and the fine-tuned model are scored on it): a third of each class,
// at least one, never all; the count of right predictions; the argmax of logits rows; the classifier defaults.
import { describe, expect, it } from 'vitest';
import { argmaxRows, heldOutCount, heldOutRight, heldOutSplit } from '../../demo/src/held-out';
import { defaultClassifierSettings } from '../../demo/src/classifier-plan';

describe('heldOutSplit', () => {
  it('holds out a third of each class, at least one, leaving at least one to train on', () => {
    expect([2, 3, 5, 6, 9, 10].map(heldOutCount)).toEqual([1, 1, 1, 2, 3, 3]);
  });

  it('holds out the last pictures of each class, whatever order the classes come in', () => {
    // class 0: indices 0, 1, 2, 6, 7, 8 (6 pictures: the last 2 held out); class 1: 3, 4, 5 (the last held out)
    const labels = [0, 0, 0, 1, 1, 1, 0, 0, 0];
    expect(heldOutSplit(labels)).toEqual({ train: [0, 1, 2, 3, 4, 6], test: [5, 7, 8] });
  });

  it('refuses a class of one picture, naming it', () => {
    expect(() => heldOutSplit([0, 0, 1])).toThrow('class 1 has 1 picture; a held-out split needs at least 2 per class');
  });
});

describe('scoring', () => {
  it('counts the held-out pictures predicted right', () => {
    const labels = [0, 0, 1, 1, 2, 2];
    expect(heldOutRight([0, 2, 2], labels, [1, 3, 5])).toBe(2);
    expect(() => heldOutRight([0], labels, [1, 3])).toThrow('1 predictions for 2 held-out pictures');
  });

  it('takes the largest logit of each row, the first of equals', () => {
    expect(argmaxRows(Float32Array.from([0.1, 0.5, -1, 2, 2, 0, -3, -2, -1]), 3)).toEqual([1, 0, 2]);
  });

  it('defaults to a short run on a CPU adapter and 30 steps on a GPU, half the batch for 1024-token images', () => {
    expect(defaultClassifierSettings(true, 256)).toEqual({ steps: 3, batchSize: 2, lr: 5e-4, seed: 1 });
    expect(defaultClassifierSettings(false, 256)).toEqual({ steps: 30, batchSize: 8, lr: 1e-4, seed: 1 });
    expect(defaultClassifierSettings(false, 1024).batchSize).toBe(4);
  });
});
