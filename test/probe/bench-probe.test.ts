// The pieces of `npm run probe` (bench/probe.ts) that decide what is measured: class choice,
// the stratified subsample, the validation fold by emoji name, L2 selection, baselines, intervals.
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../bench/probe-args';
import { chooseClasses, probePool, stratifiedSubsample, takeRows, validationFold, type EmojiEntry } from '../../bench/probe-data';
import { majorityBaseline, runProbe, wilson95 } from '../../bench/probe-fit';
import { formatMarkdown, mcnemarExact, stringifyReport, type ProbeJson, type ProbeReport } from '../../bench/probe-report';
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

  it("keeps the probe's pool as written: no extra skin-tone variants, no Fluent Emoji, counted by kind", () => {
    const entries: EmojiEntry[] = [
      entry('a', 'Cats', 'train'),
      { ...entry('a', 'Cats', 'train'), variant: '1F3FB', extra_variant: false },
      { ...entry('a', 'Cats', 'train'), variant: '1F3FC', extra_variant: true },
      { ...entry('a', 'Cats', 'train'), variant: '1F3FD', extra_variant: true },
      { ...entry('a', 'Cats', 'train'), vendor: 'fluent' },
      { ...entry('b', 'Cats', 'heldout'), vendor: 'twitter' },
    ];
    const { pool, leftOut } = probePool(entries);
    expect(pool).toEqual([0, 1, 5]);
    expect(leftOut).toEqual({ 'extra skin-tone variants': 2, 'Fluent Emoji images': 1 });
    expect(probePool(entries.slice(0, 2)).leftOut).toEqual({});
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

  it('words PROBE.md from the figures: best layer, paired comparisons, the paper check, per-category accuracy', () => {
    // 20 held-out images, 2 classes (first 10 are class 0). Layer 1 right on 18, layers 0 and 2 on 10, pixels on 14.
    const labels = Array.from({ length: 20 }, (_, i) => (i < 10 ? 0 : 1));
    const probe = (name: string, layer: number | null, wrong: number[], validationLoss: number): ProbeJson => {
      const predictions = labels.map((y, i) => (wrong.includes(i) ? 1 - y : y));
      const confusion = [0, 0, 0, 0];
      predictions.forEach((p, i) => confusion[labels[i] * 2 + p]++);
      const correct = 20 - wrong.length;
      return {
        name, layer, dim: 4, l2: 0.1, fit_iterations: 10, converged: true, train_accuracy: 1, validation_accuracy: 0.5,
        validation_loss: validationLoss, heldout_accuracy: correct / 20, heldout_correct: correct, heldout_ci95: wilson95(correct, 20),
        validation_by_l2: [0.5], validation_loss_by_l2: [validationLoss], heldout_confusion: confusion, heldout_predictions: predictions,
      };
    };
    const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k);
    const report = {
      date: '2026-01-01T00:00:00Z', command: 'npm run probe --',
      model: { dir: 'models/x', n_layer: 2, n_embd: 4, n_positions: 16, parameters: 1000, dtype: 'f16' },
      data: { dir: 'd', image_size: 4, images: 60, prepared_now: false, labels: 'category' },
      features: '', classes: ['A', 'B'], dropped_classes: [],
      counts: { train_split: 40, train_used: 40, train_fraction: 1, train_limit: null, fit: 32, validation: 8, heldout: 20, per_class: {} },
      selection: { l2_grid: [0.1], rule: '', validation: '', seed: 1, max_iter: 10, standardized: true },
      probes: [
        probe('layer 0 (embeddings)', 0, range(0, 10), 0.9),
        probe('layer 1 (block 1 of 2)', 1, [0, 1], 0.5),
        probe('layer 2 (last block, after ln_f)', 2, range(10, 20), 0.7),
        probe('raw pixels (4×4 RGB)', null, range(0, 6), 0.8),
      ],
      majority: { class: 'A', train_rate: 0.5, heldout_accuracy: 0.5 },
      heldout_labels: labels,
      timing: {
        feature_images: 60, feature_seconds: 30, images_per_second: 2, feature_cpu_seconds: 50, images_per_cpu_second: 1.2, batch_size: 8,
        feature_load_average_1min: { start: 1, end: 2 }, features_extracted: '2026-01-01T00:00:00Z', features_from_cache: false,
        encode_seconds: 0, probe_fit_seconds: 1, total_seconds: 40, load_average_1min: { start: 1, end: 2 }, cpus: 2,
      },
      device: { vendor: 'v', architecture: 'a', description: '' }, runtime: '',
    } satisfies ProbeReport;
    const md = formatMarkdown(report);
    expect(md).toContain('Best layer on held-out images: layer 1 (block 1 of 2), 90.0 %. It also has the lowest validation cross-entropy');
    // Layer 1 vs the last layer: right only by layer 1 on images 10–19, only by the last on 0–1: p = 2·(1 + 12 + 66)/2¹².
    expect(md).toContain('Layer 1 (block 1 of 2) is 40.0 points above layer 2 (last block, after ln_f) (50.0 %; 10 images classified right only by the first, 2 only by the second; exact McNemar p = 0.039)');
    // Against pixels: 4 vs 0 discordant, p = 2/2⁴.
    expect(md).toContain('Here the best middle layer, layer 1 (block 1 of 2) at 90.0 %, beats layer 2 (last block, after ln_f) (p < 0.05) and is above raw pixels (4×4 RGB) but within noise (p = 0.13)');
    expect(md).toContain('| A | 10 | 0.0 % | 80.0 % | 100.0 % | 40.0 % |');
    expect(md).not.toContain('Layer 0 is the mean');
    expect(md).not.toContain('layer-normed');
    expect(md).not.toContain('left out');
    const withLeftOut = formatMarkdown({ ...report, data: { ...report.data, pool: 50, left_out: { 'extra skin-tone variants': 1380, 'Fluent Emoji images': 20 } } });
    expect(withLeftOut).toContain('is the cost). The training split counted here leaves out 1,380 extra skin-tone variants and 20 Fluent Emoji images of the data: training rows');

    // With layer-normed probes beside them: the raw rows keep the comparisons, the normed ones are paired with them.
    const normed = (p: ProbeJson): ProbeJson => ({ ...p, name: `${p.name}, layer-normed`, normalized: true });
    const both = {
      ...report,
      probes: [
        ...report.probes.slice(0, 3).map((p) => ({ ...p, normalized: false })),
        normed(probe('layer 0 (embeddings)', 0, [10, 11], 0.6)),
        normed(probe('layer 1 (block 1 of 2)', 1, [0, 1], 0.5)),
        report.probes[3],
      ],
      timing: { ...report.timing, feature_kinds_from_one_pass: 2 },
    } satisfies ProbeReport;
    const md2 = formatMarkdown(both);
    expect(md2).toContain('Best layer on held-out images: layer 1 (block 1 of 2), 90.0 %.');
    // Layer 0 normed wrong on 10, 11, raw on 0–9: 10 vs 2 discordant, p = 2·(1 + 12 + 66)/2¹².
    expect(md2).toContain('Layer-normed vs raw features of the same layer, held-out: layer 0 90.0 % vs 50.0 % (+40.0 points; right only normed 10, only raw 2; p = 0.039); layer 1 90.0 % vs 90.0 % (+0.0 points; right only normed 0, only raw 0; p = 1.000)');
    expect(md2).toContain('The best layer-normed probe is layer 0 (embeddings), layer-normed, 90.0 %.');
    expect(md2).toContain('| category | held-out images | layer 0 | layer 1 | layer 2 | layer 0 normed | layer 1 normed | raw pixels |');
    expect(md2).toContain('(every layer, raw and layer-normed, one pass)');
  });

  it('rejects bad arguments with the reason', () => {
    expect(parseArgs(['--train-limit', 'all', '--model', 'models/emoji-32/']).model).toBe('models/emoji-32');
    expect(parseArgs(['--train-limit', 'all']).trainLimit).toBeNull();
    expect(() => parseArgs(['--train-limit', '0'])).toThrow(/--train-limit .*positive integer/);
    expect(() => parseArgs(['--dtype', 'f8'])).toThrow(/f16 or f32/);
    expect(() => parseArgs(['--seed'])).toThrow(/--seed needs a value/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument "--bogus"/);
    expect(parseArgs([]).features).toBe('both');
    expect(parseArgs(['--features', 'normed']).features).toBe('normed');
    expect(() => parseArgs(['--features', 'ln'])).toThrow(/--features is "ln": expected raw, normed or both/);
  });
});
