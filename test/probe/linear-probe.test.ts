import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LinearProbe } from '../../src/probe';
import type { FitProgress, LinearProbeJSON } from '../../src/probe';
import { naiveObjective } from './naive';
import { gaussianBlobs, splitRows } from './synthetic';

interface ReferenceFixture {
  l2: number;
  numRows: number;
  numFeatures: number;
  numClasses: number;
  features: number[];
  labels: number[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number[];
  loss: number;
  gradientMaxAbs: number;
}

const reference = JSON.parse(
  readFileSync(new URL('../fixtures/probe/reference.json', import.meta.url), 'utf8'),
) as ReferenceFixture;

const maxAbsDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
};

const centred = (v: number[]): number[] => {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return v.map((x) => x - mean);
};

describe('LinearProbe: the reference optimum (weights-tools/probe_reference.py, Newton in numpy)', () => {
  const features = Float32Array.from(reference.features);
  const probe = new LinearProbe({ l2: reference.l2 });
  const result = probe.fit(features, reference.labels, { maxIter: 500, tol: 1e-11 });
  const json = probe.toJSON();

  it('converges', () => {
    expect(result.stopReason).toBe('gradient');
    expect(result.converged).toBe(true);
    expect(result.gradientNorm).toBeLessThanOrEqual(1e-11);
  });

  it('standardizes with the same mean and population std', () => {
    expect(maxAbsDifference(json.mean, reference.mean)).toBeLessThan(1e-12 * Math.max(...reference.mean.map(Math.abs)));
    json.std.forEach((s, f) => expect(Math.abs(s / reference.std[f] - 1)).toBeLessThan(1e-12));
  });

  it('reaches the same loss, weights and (centred) bias', () => {
    expect(Math.abs(result.loss / reference.loss - 1)).toBeLessThan(1e-6);
    // The optimum is unique (l2 > 0) and both fits are converged far past what these bounds need.
    expect(maxAbsDifference(json.weights, reference.weights)).toBeLessThan(1e-7);
    expect(maxAbsDifference(centred(json.bias), centred(reference.bias))).toBeLessThan(1e-7);
  });

  it('has a zero gradient at its optimum, by a separate plain implementation of the objective', () => {
    const naive = naiveObjective(json, features, reference.labels);
    expect(naive.maxAbsGradient).toBeLessThan(1e-10);
    expect(Math.abs(naive.loss / result.loss - 1)).toBeLessThan(1e-12);
    // Not a trivial zero: the same check at a perturbed point sees a gradient.
    const moved = { ...json, weights: json.weights.map((w, k) => (k === 0 ? w + 0.01 : w)) };
    expect(naiveObjective(moved, features, reference.labels).maxAbsGradient).toBeGreaterThan(1e-5);
  });

  it('scores the fit data like the reference weights do', () => {
    const referenceProbe = LinearProbe.fromJSON({
      ...json,
      weights: reference.weights,
      bias: reference.bias,
      mean: reference.mean,
      std: reference.std,
    });
    expect(probe.predict(features)).toEqual(referenceProbe.predict(features));
  });
});

describe('LinearProbe on synthetic data', () => {
  it('recovers separable classes exactly, on the fit data and on fresh draws', () => {
    const train = gaussianBlobs({ rows: 240, cols: 12, classes: 4, separation: 6, seed: 1 });
    const test = gaussianBlobs({ rows: 200, cols: 12, classes: 4, separation: 6, seed: 2 });
    const probe = new LinearProbe();
    probe.fit(train.features, train.labels, { maxIter: 300 });
    expect(probe.score(train.features, train.labels)).toBe(1);
    expect(probe.score(test.features, test.labels)).toBe(1);
    expect(probe.predict(test.features)).toEqual(test.labels);
  });

  it('counts a confusion matrix whose diagonal is the accuracy', () => {
    const train = gaussianBlobs({ rows: 150, cols: 4, classes: 3, separation: 0.8, seed: 12 });
    const test = gaussianBlobs({ rows: 90, cols: 4, classes: 3, separation: 0.8, seed: 13 });
    const probe = new LinearProbe();
    probe.fit(train.features, train.labels);
    const matrix = probe.confusionMatrix(test.features, test.labels);
    const predicted = probe.predict(test.features);
    for (let t = 0; t < 3; t++) {
      for (let p = 0; p < 3; p++) {
        const count = Array.from(test.labels).filter((label, i) => label === t && predicted[i] === p).length;
        expect(matrix[t * 3 + p]).toBe(count);
      }
    }
    const accuracy = probe.score(test.features, test.labels);
    expect(accuracy).toBe((matrix[0] + matrix[4] + matrix[8]) / 90);
    expect(accuracy).toBeGreaterThan(0.4);
    expect(accuracy).toBeLessThan(1);
  });

  it('gives probabilities that sum to 1 and agree with predict', () => {
    const data = gaussianBlobs({ rows: 90, cols: 5, classes: 3, separation: 1, seed: 3 });
    const probe = new LinearProbe({ l2: 1e-2 });
    probe.fit(data.features, data.labels);
    const proba = probe.predictProba(data.features);
    const predicted = probe.predict(data.features);
    expect(proba.length).toBe(90 * 3);
    for (let i = 0; i < 90; i++) {
      const row = Array.from(proba.subarray(i * 3, i * 3 + 3));
      expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
      expect(row.indexOf(Math.max(...row))).toBe(predicted[i]);
    }
  });

  it('handles N ≫ F (5000 × 64, 5 overlapping classes) to a zero gradient', () => {
    const data = gaussianBlobs({ rows: 5000, cols: 64, classes: 5, separation: 0.25, seed: 4 });
    const probe = new LinearProbe();
    const progress: FitProgress[] = [];
    const result = probe.fit(data.features, data.labels, { maxIter: 500, onProgress: (p) => progress.push(p) });
    expect(result.converged).toBe(true);
    expect(progress.length).toBe(result.iterations);
    expect(progress.at(-1)?.loss).toBe(result.loss);
    // The loss never goes up (line search with sufficient decrease).
    for (let k = 1; k < progress.length; k++) expect(progress[k].loss).toBeLessThanOrEqual(progress[k - 1].loss);
    const naive = naiveObjective(probe.toJSON(), data.features, data.labels);
    expect(naive.maxAbsGradient).toBeLessThan(1e-5);
    const accuracy = probe.score(data.features, data.labels);
    expect(accuracy).toBeGreaterThan(0.5);
    expect(accuracy).toBeLessThan(1);
  });

  it('is deterministic and takes rows or a flat matrix alike', () => {
    const data = gaussianBlobs({ rows: 150, cols: 6, classes: 3, separation: 1, seed: 5 });
    const a = new LinearProbe();
    const b = new LinearProbe();
    a.fit(data.features, data.labels);
    b.fit(splitRows(data.features, 6), Array.from(data.labels));
    expect(b.toJSON()).toEqual(a.toJSON());
  });

  it('names classes: string labels, a classes option, predictLabels', () => {
    const data = gaussianBlobs({ rows: 60, cols: 4, classes: 3, separation: 5, seed: 6 });
    const names = ['cat', 'dog', 'ant'];
    const asNames = Array.from(data.labels, (id) => names[id]);

    const sorted = new LinearProbe();
    sorted.fit(data.features, asNames);
    expect(sorted.classes).toEqual(['ant', 'cat', 'dog']);
    expect(sorted.predictLabels(data.features)).toEqual(asNames);
    expect(sorted.score(data.features, asNames)).toBe(1);

    const given = new LinearProbe({ classes: names });
    given.fit(data.features, asNames);
    expect(given.classes).toEqual(names);
    expect(given.predict(data.features)).toEqual(data.labels);
    expect(given.score(data.features, data.labels)).toBe(1);
  });

  it('keeps a constant feature harmless and can work without standardization', () => {
    const data = gaussianBlobs({ rows: 60, cols: 3, classes: 2, separation: 3, seed: 7 });
    for (let i = 0; i < 60; i++) data.features[i * 3 + 1] = 0.1;
    const probe = new LinearProbe();
    probe.fit(data.features, data.labels);
    const json = probe.toJSON();
    expect(json.std[1]).toBe(1);
    expect(json.mean[1]).toBe(Math.fround(0.1));
    expect(json.weights[1]).toBe(0);

    const raw = new LinearProbe({ standardize: false });
    raw.fit(data.features, data.labels);
    expect(raw.toJSON().mean).toEqual([0, 0, 0]);
    expect(raw.toJSON().std).toEqual([1, 1, 1]);
    expect(naiveObjective(raw.toJSON(), data.features, data.labels).maxAbsGradient).toBeLessThan(1e-5);
  });
});

describe('LinearProbe JSON', () => {
  const data = gaussianBlobs({ rows: 120, cols: 7, classes: 4, separation: 1, seed: 8 });
  const probe = new LinearProbe({ l2: 5e-3, classes: ['a', 'b', 'c', 'd'] });
  probe.fit(data.features, data.labels);

  it('round-trips through JSON text with identical predictions and probabilities', () => {
    const restored = LinearProbe.fromJSON(JSON.parse(JSON.stringify(probe)) as LinearProbeJSON);
    expect(restored.predict(data.features)).toEqual(probe.predict(data.features));
    expect(restored.predictProba(data.features)).toEqual(probe.predictProba(data.features));
    expect(restored.classes).toEqual(['a', 'b', 'c', 'd']);
    expect(restored.l2).toBe(5e-3);
    expect(restored.lastFit).toEqual(probe.lastFit);
    expect(restored.toJSON()).toEqual(probe.toJSON());
  });

  it('rejects damaged JSON with the field named', () => {
    const good = probe.toJSON();
    expect(() => LinearProbe.fromJSON({ ...good, format: 'other' } as unknown as LinearProbeJSON)).toThrow(/format/);
    expect(() => LinearProbe.fromJSON({ ...good, weights: good.weights.slice(1) })).toThrow(/weights has 27 values, expected 28/);
    expect(() => LinearProbe.fromJSON({ ...good, std: good.std.map((s, f) => (f === 2 ? 0 : s)) })).toThrow(/std\[2\] is 0/);
    expect(() => LinearProbe.fromJSON({ ...good, bias: [0, 0, null, 0] } as unknown as LinearProbeJSON)).toThrow(
      /bias\[2\] is null/,
    );
    expect(() => LinearProbe.fromJSON({ ...good, classes: ['a', 'b'] })).toThrow(/2 class names for numClasses 4/);
  });
});

describe('LinearProbe: bad input gets a clear error', () => {
  const data = gaussianBlobs({ rows: 30, cols: 4, classes: 3, separation: 2, seed: 9 });
  const fitted = new LinearProbe();
  fitted.fit(data.features, data.labels);

  it('labels length ≠ N', () => {
    expect(() => new LinearProbe().fit(data.features, Array.from(data.labels).slice(0, 29))).toThrow(
      'features has 120 values, which do not split into 29 rows (one per label)',
    );
    // 120 values also split into 60 rows of 2: numFeatures catches that.
    const sixty = Array.from({ length: 60 }, (_, i) => i % 3);
    expect(() => new LinearProbe().fit(data.features, sixty, { numFeatures: 4 })).toThrow(
      'features has 30 rows but labels has 60 entries',
    );
    expect(() => new LinearProbe().fit(splitRows(data.features, 4), Array.from(data.labels).slice(0, 29))).toThrow(
      'features has 30 rows but labels has 29 entries',
    );
    expect(() => fitted.score(data.features, Array.from(data.labels).slice(0, 20))).toThrow(
      'features has 30 rows but labels has 20 entries',
    );
  });

  it('NaN or infinite features', () => {
    const bad = data.features.slice();
    bad[2 * 4 + 3] = NaN;
    expect(() => new LinearProbe().fit(bad, data.labels)).toThrow('features row 2, feature 3 is NaN');
    expect(() => fitted.predict(bad)).toThrow('features row 2, feature 3 is NaN');
    bad[2 * 4 + 3] = -Infinity;
    expect(() => fitted.predictProba(bad)).toThrow('features row 2, feature 3 is -Infinity');
  });

  it('labels out of range or of the wrong kind', () => {
    const labels = Array.from(data.labels);
    expect(() => new LinearProbe().fit(data.features, labels.map((l, i) => (i === 5 ? -1 : l)))).toThrow(
      'labels[5] is -1: expected an integer class id',
    );
    expect(() => new LinearProbe().fit(data.features, labels.map((l, i) => (i === 5 ? 1.5 : l)))).toThrow('labels[5] is 1.5');
    expect(() => fitted.score(data.features, labels.map((l, i) => (i === 7 ? 3 : l)))).toThrow(
      'labels[7] is 3: expected an integer class id in 0..2',
    );
    expect(() => new LinearProbe({ classes: ['x', 'y', 'z'] }).fit(data.features, labels.map((l, i) => (i === 0 ? 'w' : ['x', 'y', 'z'][l])))).toThrow(
      'labels[0] is "w": expected one of ["x", "y", "z"]',
    );
    expect(() => fitted.score(data.features, labels.map(String))).toThrow(/this probe has no class names/);
  });

  it('a class without examples, or a single class', () => {
    const skipOne = Array.from(data.labels, (l) => (l === 1 ? 2 : l));
    expect(() => new LinearProbe().fit(data.features, skipOne)).toThrow(/class 1 has no examples/);
    expect(() => new LinearProbe({ classes: ['a', 'b', 'c', 'd'] }).fit(data.features, data.labels)).toThrow(
      /class 3 \("d"\) has no examples/,
    );
    expect(() => new LinearProbe().fit(data.features, new Int32Array(30))).toThrow(/at least 2 classes/);
  });

  it('F mismatch at predict', () => {
    const wide = gaussianBlobs({ rows: 10, cols: 5, classes: 2, separation: 1, seed: 10 });
    expect(() => fitted.predict(wide.features)).toThrow(
      "features has 50 values, not a whole number of rows of 4 features (the probe's feature count)",
    );
    expect(() => fitted.predict(splitRows(wide.features, 5))).toThrow('features row 0 has 5 values, expected 4');
  });

  it('predict, score or save before fit', () => {
    const probe = new LinearProbe();
    expect(() => probe.predict(data.features)).toThrow('LinearProbe.predict: the probe is not fitted');
    expect(() => probe.predictProba(data.features)).toThrow(/not fitted/);
    expect(() => probe.score(data.features, data.labels)).toThrow(/not fitted/);
    expect(() => probe.toJSON()).toThrow(/not fitted/);
    expect(() => probe.numFeatures).toThrow(/not fitted/);
  });

  it('bad options', () => {
    expect(() => new LinearProbe({ l2: -1 })).toThrow('l2 is -1: expected a finite number ≥ 0');
    expect(() => new LinearProbe({ classes: ['a', 'a'] })).toThrow(/listed twice/);
    expect(() => new LinearProbe().fit(data.features, data.labels, { maxIter: 1.5 })).toThrow(/maxIter is 1.5/);
    expect(() => new LinearProbe().fit(data.features, data.labels, { tol: 0 })).toThrow(/tol is 0/);
    expect(() => new LinearProbe().fit(new Float32Array(0), [])).toThrow(/labels is empty/);
  });

  // Issue 18 item 9: wrong argument types are Errors naming the method and what was expected, not engine
  // TypeErrors; sparse arrays are refused rather than read as zeros.
  it('wrong argument types name the method', () => {
    const Probe = LinearProbe as unknown as new (o?: unknown) => LinearProbe;
    expect(() => new Probe(null)).toThrow(/^new LinearProbe: options must be an object, got null$/);
    expect(() => new Probe({ l2: '1' })).toThrow(/^new LinearProbe: l2 is "1": expected a finite number ≥ 0$/);
    expect(() => new Probe({ L2: 1 })).toThrow(/^new LinearProbe: unknown option "L2"; known options: l2, standardize, classes$/);
    expect(() => new Probe({ classes: new Array(3) })).toThrow(/^new LinearProbe: classes\[0\] is undefined: expected a non-empty string$/);
    const probe = new LinearProbe();
    expect(() => probe.fit(data.features, null as never)).toThrow(/^LinearProbe.fit: labels is null: expected an array of class ids or names/);
    expect(() => probe.fit(null as never, data.labels)).toThrow(/^LinearProbe.fit: features is null: expected a Float32Array \[N, F\]/);
    expect(() => probe.fit(new Array(30) as never, data.labels)).toThrow(/^LinearProbe.fit: features row 0 is undefined, not a Float32Array$/);
    expect(() => probe.fit(data.features, data.labels, null as never)).toThrow(/^LinearProbe.fit: options must be an object, got null$/);
    expect(() => probe.fit(data.features, data.labels, { maxIters: 5 } as never)).toThrow(/^LinearProbe.fit: unknown option "maxIters"/);
    expect(() => probe.fit(data.features, data.labels, { onProgress: 1 } as never)).toThrow(/^LinearProbe.fit: onProgress must be a function, got 1$/);
    expect(() => fitted.predict(undefined as never)).toThrow(/^LinearProbe.predict: features is undefined/);
    expect(() => fitted.predictProba('x' as never)).toThrow(/^LinearProbe.predictProba: features is "x"/);
    expect(() => fitted.score(data.features, undefined as never)).toThrow(/^LinearProbe.score: labels is undefined/);
    expect(() => fitted.confusionMatrix(data.features, new Array(30))).toThrow(/^LinearProbe.confusionMatrix: labels\[0\] is undefined/);
    expect(() => fitted.predictLabels(data.features)).toThrow(/^LinearProbe.predictLabels: this probe was fit on bare class ids/);
    expect(() => LinearProbe.fromJSON({ ...fitted.toJSON(), bias: new Array(fitted.numClasses) })).toThrow(
      /^LinearProbe.fromJSON: bias\[0\] is undefined, expected a finite number$/,
    );
    expect(() => LinearProbe.fromJSON({ ...fitted.toJSON(), l2: -1 })).toThrow(/^LinearProbe.fromJSON: new LinearProbe: l2 is -1/);
  });

  it('a failed fit leaves the earlier fit in place', () => {
    const before = fitted.toJSON();
    expect(() => fitted.fit(data.features, [0, 1, 2, 0, 1, 2, 0])).toThrow(/do not split into 7 rows/);
    expect(fitted.toJSON()).toEqual(before);
  });
});
