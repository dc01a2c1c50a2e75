// Fitting one probe: its L2 chosen on the validation fold, refit on the training images, scored on the
// held-out split; the majority-class baseline and the accuracy's interval beside it.
import { LinearProbe } from '../src/index';
import type { FitResult } from '../src/index';
import { takeRows } from './probe-data';

/** Candidate L2 penalties (standardized features, mean cross-entropy): half-decades from 1e-4 to 1. */
export const L2_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1];
/** Share of the (subsampled) training images, by whole emoji names, held back to choose L2. */
export const VALIDATION_FRACTION = 0.2;
/** Iteration limit of every probe fit. */
export const MAX_ITER = 500;

export interface ProbeRun {
  dim: number;
  l2: number;
  iterations: number;
  converged: boolean;
  trainAccuracy: number;
  validationAccuracy: number;
  /** Mean cross-entropy on the validation fold at the chosen L2 (what chose it). */
  validationLoss: number;
  heldoutAccuracy: number;
  heldoutCorrect: number;
  /** Predicted class id of every held-out image. */
  heldoutPredictions: number[];
  /** Validation accuracy and mean cross-entropy of each grid L2 (fit on the fit part only). */
  validationByL2: number[];
  validationLossByL2: number[];
  confusion: number[];
}

export interface ProbeSplits {
  /** Row-major [rows, dim] features of the training images used; class ids alongside. */
  train: Float32Array;
  trainLabels: Int32Array;
  /** Positions (rows of `train`) of the fit part and the validation fold. */
  fit: number[];
  validation: number[];
  heldout: Float32Array;
  heldoutLabels: Int32Array;
  classes: string[];
}

const pick = (labels: Int32Array, rows: readonly number[]): Int32Array => Int32Array.from(rows, (r) => labels[r]);

/** Mean cross-entropy −log p(label) of a fitted probe on labelled rows. */
export function meanCrossEntropy(probe: LinearProbe, features: Float32Array, labels: Int32Array): number {
  const p = probe.predictProba(features);
  const C = probe.numClasses;
  let sum = 0;
  labels.forEach((y, i) => {
    sum -= Math.log(Math.max(p[i * C + y], Number.MIN_VALUE));
  });
  return sum / labels.length;
}

/**
 * One probe: each L2 of `grid` fit on the fit part and scored on the validation fold; the one with the
 * lowest validation cross-entropy (ties: the larger L2) is refit on every training image and scored on
 * the held-out split. Cross-entropy, not accuracy, picks it: on ~100 validation images accuracy moves in
 * 1 % steps and most L2 values tie or differ by an image or two.
 */
export function runProbe(s: ProbeSplits, dim: number, grid: readonly number[] = L2_GRID, maxIter = MAX_ITER): ProbeRun {
  const fitX = takeRows(s.train, dim, s.fit);
  const fitY = pick(s.trainLabels, s.fit);
  const valX = takeRows(s.train, dim, s.validation);
  const valY = pick(s.trainLabels, s.validation);
  const validation = grid.map((l2) => {
    const probe = new LinearProbe({ l2, classes: s.classes });
    probe.fit(fitX, fitY, { maxIter, numFeatures: dim });
    return { accuracy: probe.score(valX, valY), loss: meanCrossEntropy(probe, valX, valY) };
  });
  let best = 0;
  validation.forEach(({ loss }, k) => {
    if (loss <= validation[best].loss) best = k;
  });
  const l2 = grid[best];
  const probe = new LinearProbe({ l2, classes: s.classes });
  const fit: FitResult = probe.fit(s.train, s.trainLabels, { maxIter, numFeatures: dim });
  const confusion = probe.confusionMatrix(s.heldout, s.heldoutLabels);
  const predictions = Array.from(probe.predict(s.heldout));
  const correct = predictions.reduce((n, p, i) => n + (p === s.heldoutLabels[i] ? 1 : 0), 0);
  return {
    dim,
    l2,
    iterations: fit.iterations,
    converged: fit.converged,
    trainAccuracy: probe.score(s.train, s.trainLabels),
    validationAccuracy: validation[best].accuracy,
    validationLoss: validation[best].loss,
    heldoutAccuracy: correct / s.heldoutLabels.length,
    heldoutCorrect: correct,
    heldoutPredictions: predictions,
    validationByL2: validation.map((v) => v.accuracy),
    validationLossByL2: validation.map((v) => v.loss),
    confusion: Array.from(confusion),
  };
}

/** The most frequent training class (lowest id on a tie) and its rate on the held-out split. */
export function majorityBaseline(trainLabels: Int32Array, heldoutLabels: Int32Array, numClasses: number): { classId: number; trainRate: number; heldoutRate: number } {
  const counts = new Array<number>(numClasses).fill(0);
  for (const y of trainLabels) counts[y]++;
  const classId = counts.indexOf(Math.max(...counts));
  const heldout = heldoutLabels.reduce((n, y) => n + (y === classId ? 1 : 0), 0);
  return { classId, trainRate: counts[classId] / trainLabels.length, heldoutRate: heldout / heldoutLabels.length };
}

/** Wilson score interval (95 %) of a proportion `k / n`. */
export function wilson95(k: number, n: number): [number, number] {
  const z = 1.959964;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
