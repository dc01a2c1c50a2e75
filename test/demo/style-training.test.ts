// "Teach it a style" without a browser: the training rows (SOS, then all tokens but the last), the seeded batch
// order (every row once per pass, the same seed the same order), the adapter's defaults and the settings' checks,
// the warm-up, and the loss curve's scaling.
import { describe, expect, it } from 'vitest';
import { StyleBatches, styleRows } from '../../demo/src/style-batches';
import { defaultStyleSettings, learningRate, styleImagesProblem, styleSettingProblem, warmupSteps } from '../../demo/src/style-plan';
import { curveLayout, curveText } from '../../demo/src/loss-curve';

describe('styleRows', () => {
  it('puts SOS first and drops the last token, so each row is as long as an image', () => {
    const rows = styleRows([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]], 7);
    expect(rows).toEqual([[7, 3, 1, 4, 1], [7, 9, 2, 6, 5]]);
  });
});

describe('StyleBatches', () => {
  const rows = Array.from({ length: 5 }, (_, i) => [i]);

  it('shows every row once per pass, a batch straddling passes taking the next pass first rows', () => {
    const batches = new StyleBatches(rows, 2, 11);
    const drawn = Array.from({ length: 5 }, () => batches.nextIndices()).flat(); // 10 draws = 2 passes of 5
    expect([...drawn.slice(0, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...drawn.slice(5)].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives batches larger than the rows by going round again', () => {
    const batch = new StyleBatches(rows.slice(0, 2), 5, 3).nextIndices();
    expect(batch).toHaveLength(5);
    expect(batch.filter((i) => i === 0)).toHaveLength(batch[4] === 0 ? 3 : 2); // passes of 2: counts 3 and 2
  });

  it('draws the same order from the same seed and another from another seed', () => {
    const a = new StyleBatches(rows, 5, 1);
    const b = new StyleBatches(rows, 5, 1);
    const first = [a.nextIndices(), a.nextIndices()];
    expect([b.nextIndices(), b.nextIndices()]).toEqual(first);
    const seeds = [1, 2, 3, 4, 5, 6].map((s) => new StyleBatches(rows, 5, s).nextIndices().join());
    expect(new Set(seeds).size).toBeGreaterThan(1);
  });

  it('refuses no rows and a batch that is not a positive integer', () => {
    expect(() => new StyleBatches([], 2, 1)).toThrow(/no rows/);
    expect(() => new StyleBatches(rows, 0, 1)).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new StyleBatches(rows, 1.5, 1)).toThrow(/got 1.5/);
  });
});

describe('style settings', () => {

  it('defaults to a short run on a CPU and a longer one on a GPU, half the batch for 1024-token images', () => {
    expect(defaultStyleSettings(true, 256)).toEqual({ steps: 3, batchSize: 2, lr: 3e-4, seed: 1 });
    expect(defaultStyleSettings(false, 256)).toEqual({ steps: 40, batchSize: 8, lr: 1e-4, seed: 1 });
    expect(defaultStyleSettings(false, 1024).batchSize).toBe(4);
  });

  it('warms up over a tenth of the run, at most 5 steps, none for short runs', () => {
    expect([3, 10, 40, 200].map(warmupSteps)).toEqual([0, 1, 4, 5]);
    expect([1, 2, 4, 5].map((s) => learningRate(1e-4, s, 4))).toEqual([2.5e-5, 5e-5, 1e-4, 1e-4]);
    expect(learningRate(3e-4, 1, 0)).toBe(3e-4);
  });

  it('names the setting, its range and the value refused', () => {
    expect(styleSettingProblem('steps', 2)).toBeNull();
    expect(styleSettingProblem('steps', 0)).toBe('Steps must be a whole number from 1 to 1000, got 0.');
    expect(styleSettingProblem('batchSize', 2.5)).toBe('Batch must be a whole number from 1 to 16, got 2.5.');
    expect(styleSettingProblem('lr', NaN)).toBe('Learning rate must be a number from 0.000001 to 0.01, got nothing.');
    expect(styleSettingProblem('lr', 3e-4)).toBeNull();
    expect(styleImagesProblem(7)).toMatch(/at least 8 pictures \(7 so far\)/);
    expect(styleImagesProblem(8)).toBeNull();
  });
});

describe('the loss curve', () => {
  it('spreads the run steps over the width and the values between the smallest and largest', () => {
    const { points, top, bottom } = curveLayout([4, 2, 3], 5, 100, 50);
    expect([top, bottom]).toEqual([4, 2]);
    expect(points).toEqual([[0, 0], [25, 50], [50, 25]]);
  });

  it('puts a single step mid-width and a flat curve mid-height', () => {
    const { points, top, bottom } = curveLayout([2], 1, 100, 50);
    expect(points).toEqual([[50, 25]]);
    expect(top).toBeCloseTo(2.1, 12);
    expect(bottom).toBeCloseTo(1.9, 12);
  });

  it('says the first and the latest step in words', () => {
    expect(curveText([], 3)).toBe('No steps yet.');
    expect(curveText([5.123, 4.5], 3)).toBe('Bits per token, step 1: 5.12; step 2 of 3: 4.50.');
  });
});
