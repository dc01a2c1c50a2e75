// The pieces of `npm run probe` (bench/probe.ts) that decide what is measured: class choice,
// the stratified subsample, the validation fold by emoji name, L2 selection, baselines, intervals.
import { describe, expect, it } from 'vitest';
import {
  chooseClasses,
  majorityBaseline,
  mcnemarExact,
  parseArgs,
  runProbe,
  stratifiedSubsample,
  stringifyReport,
  takeRows,
  validationFold,
  wilson95,
  type EmojiEntry,
} from '../../bench/probe';
import { gaussianBlobs } from './synthetic';

function entry(name: string, category: string, split: 'train' | 'heldout'): EmojiEntry {
  return { name, category, split, vendor: 'google', variant: '' };
}

describe('bench/probe pieces', () => {
  it('keeps classes with ≥ 2 training and ≥ 1 held-out images, and says why the others go', () => {
    const entries = [
      entry('a', 'Cats', 'train'), entry('b', 'Cats', 'train'), entry('c', 'Cats', 'heldout'),
      entry('d', 'Component', 'train'), entry('e', 'Component', 'train'),
      entry('f', 'Lonely', 'train'), entry('g', 'Lonely', 'heldout'),
      entry('h', 'Dogs', 'heldout'), entry('i', 'Dogs', 'train'), entry('j', 'Dogs', 'train'), entry('k', 'Dogs', 'train'),
    ];
    const { kept, dropped } = chooseClasses(entries);
    expect(kept.map((c) => c.name)).toEqual(['Cats', 'Dogs']);
    expect(kept[1]).toEqual({ name: 'Dogs', train: 3, heldout: 1 });
    expect(dropped.map((d) => d.name)).toEqual(['Component', 'Lonely']);
    expect(dropped[0].reason).toMatch(/no held-out/);
    expect(dropped[1].reason).toMatch(/fewer than 2/);
  });

  it('subsamples each class in proportion, at least 2 each, the same for the same seed', () => {
    // Class sizes 600, 300, 90, 10 (interleaved indices).
    const sizes = [600, 300, 90, 10];
    const classOfIndex: number[] = [];
    sizes.forEach((n, c) => {
      for (let k = 0; k < n; k++) classOfIndex.push(c);
    });
    const indices = classOfIndex.map((_, i) => i);
    const classOf = (i: number): number => classOfIndex[i];
    const a = stratifiedSubsample(indices, classOf, 100, 7);
    const perClass = sizes.map((_, c) => a.filter((i) => classOf(i) === c).length);
    expect(perClass).toEqual([60, 30, 9, 1 + 1]); // 1 by share, raised to 2
    expect(new Set(a).size).toBe(a.length);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
    expect(stratifiedSubsample(indices, classOf, 100, 7)).toEqual(a);
    expect(stratifiedSubsample(indices, classOf, 100, 8)).not.toEqual(a);
    expect(stratifiedSubsample(indices, classOf, 5000, 7)).toEqual(indices);
  });

  it('carves the validation fold by whole groups, about the fraction per class, every class kept for fitting', () => {
    const classOfIndex: number[] = [];
    const groupOfIndex: string[] = [];
    for (let c = 0; c < 3; c++) {
      for (let g = 0; g < 20; g++) {
        const copies = 1 + ((g + c) % 3); // groups of 1–3 images (vendors, variants)
        for (let k = 0; k < copies; k++) {
          classOfIndex.push(c);
          groupOfIndex.push(`${c}-${g}`);
        }
      }
    }
    // A class with one group only: split by image.
    classOfIndex.push(3, 3, 3);
    groupOfIndex.push('solo', 'solo', 'solo');
    const indices = classOfIndex.map((_, i) => i);
    const { fit, validation } = validationFold(indices, (i) => classOfIndex[i], (i) => groupOfIndex[i], 0.2, 3);
    expect([...fit, ...validation].sort((a, b) => a - b)).toEqual(indices);
    const fitGroups = new Set(fit.map((i) => groupOfIndex[i]));
    const split = validation.filter((i) => groupOfIndex[i] !== 'solo' && fitGroups.has(groupOfIndex[i]));
    expect(split).toEqual([]);
    for (let c = 0; c < 4; c++) {
      const n = indices.filter((i) => classOfIndex[i] === c).length;
      const v = validation.filter((i) => classOfIndex[i] === c).length;
      expect(fit.some((i) => classOfIndex[i] === c)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(1);
      expect(v).toBeLessThanOrEqual(Math.round(0.2 * n) + 2);
    }
  });

  it('picks L2 on the validation fold and scores separable held-out data near perfectly; noise near chance', () => {
    const cols = 6;
    const classes = ['a', 'b', 'c'];
    const make = (separation: number, seed: number) => gaussianBlobs({ rows: 150, cols, classes: 3, separation, seed, centresSeed: 99 });
    for (const [separation, low, high] of [[4, 0.95, 1], [0, 0, 0.6]] as const) {
      const train = make(separation, 1);
      const heldout = make(separation, 2);
      const rows = Array.from({ length: 150 }, (_, i) => i);
      const run = runProbe(
        { train: train.features, trainLabels: train.labels, fit: rows.slice(0, 120), validation: rows.slice(120), heldout: heldout.features, heldoutLabels: heldout.labels, classes },
        cols,
        [1e-3, 1e-1, 10],
      );
      expect(run.validationByL2).toHaveLength(3);
      expect(run.validationLoss).toBe(Math.min(...run.validationLossByL2));
      // Ties go to the larger L2: the chosen one is the last of the best.
      const chosen = run.validationLossByL2.lastIndexOf(run.validationLoss);
      expect(run.l2).toBe([1e-3, 1e-1, 10][chosen]);
      expect(run.validationAccuracy).toBe(run.validationByL2[chosen]);
      // Pure noise: the strongest penalty predicts best (near log 3 per image); separable: a weak one.
      expect(chosen).toBe(separation === 0 ? 2 : 0);
      expect(run.heldoutAccuracy).toBeGreaterThanOrEqual(low);
      expect(run.heldoutAccuracy).toBeLessThanOrEqual(high);
      expect(run.heldoutCorrect).toBe(Math.round(run.heldoutAccuracy * 150));
      expect(run.confusion.reduce((a, b) => a + b, 0)).toBe(150);
    }
  });

  it('takes rows, the majority baseline and Wilson intervals', () => {
    expect(Array.from(takeRows(Float32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 0]))).toEqual([4, 5, 0, 1]);
    const m = majorityBaseline(Int32Array.from([1, 1, 2, 0, 2]), Int32Array.from([1, 0, 0, 1]), 3);
    expect(m.classId).toBe(1); // tie between 1 and 2: the lower id
    expect(m.trainRate).toBeCloseTo(0.4);
    expect(m.heldoutRate).toBeCloseTo(0.5);
    const [lo, hi] = wilson95(40, 100); // textbook value: 0.3094 – 0.4980
    expect(lo).toBeCloseTo(0.3094, 3);
    expect(hi).toBeCloseTo(0.498, 3);
    expect(wilson95(0, 10)[0]).toBe(0);
  });

  it('McNemar exact p-values and the one-line number arrays of the report', () => {
    expect(mcnemarExact(0, 5)).toBeCloseTo(2 / 32, 12);
    expect(mcnemarExact(9, 1)).toBeCloseTo((2 * 11) / 1024, 12);
    expect(mcnemarExact(3, 3)).toBe(1);
    expect(mcnemarExact(0, 0)).toBe(1);
    const report = { a: [1, 2.5, -3e-7], b: { c: [0.0001] }, d: ['x', 'y'], e: [] };
    const text = stringifyReport(report);
    expect(text).toContain('"a": [1, 2.5, -3e-7]');
    expect(text).toContain('"c": [0.0001]');
    expect(JSON.parse(text)).toEqual(report);
  });

  it('rejects bad arguments with the reason', () => {
    expect(parseArgs(['--train-limit', 'all', '--model', 'models/emoji-32/']).model).toBe('models/emoji-32');
    expect(parseArgs(['--train-limit', 'all']).trainLimit).toBeNull();
    expect(() => parseArgs(['--train-limit', '0'])).toThrow(/--train-limit .*positive integer/);
    expect(() => parseArgs(['--dtype', 'f8'])).toThrow(/f16 or f32/);
    expect(() => parseArgs(['--seed'])).toThrow(/--seed needs a value/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument "--bogus"/);
  });
});
