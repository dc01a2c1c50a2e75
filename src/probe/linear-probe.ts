// A linear probe: multinomial logistic regression on frozen features, fit with L-BFGS in float64.
import { encodeFitLabels, encodeLabels, checkClassNames, readFeatures } from './inputs';
import type { ClassLabels, FeatureMatrix } from './inputs';
import { minimizeLbfgs } from './lbfgs';
import type { LbfgsStopReason } from './lbfgs';
import { logSumExp, rowScores, SoftmaxRegressionObjective } from './softmax-regression';
import { columnStatistics, identityStatistics, standardizeRow, standardizeTable } from './standardization';
import type { ColumnStatistics } from './standardization';
import { describeValue } from '../json';
import { named } from '../processor/processor';
import { ImageGPTError } from '../errors';

const PROBE_OPTIONS = ['l2', 'standardize', 'classes'];
const FIT_OPTIONS = ['maxIter', 'tol', 'onProgress', 'numFeatures'];

/** Options must be undefined or a plain object of known keys (a misspelt key would be silently ignored). */
function checkOptions(options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ImageGPTError('E_BAD_INPUT', `options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ImageGPTError('E_BAD_INPUT', `unknown option ${describeValue(key)}; known options: ${known.join(', ')}`);
  }
}

export interface LinearProbeOptions {
  /** L2 penalty (l2 / 2) · Σ W² on the weights, not the bias; default 1e-3. */
  l2?: number;
  /** Standardize features with the fit data's per-feature mean and std; default true. */
  standardize?: boolean;
  /** Class names, index = class id. Labels may then be these names or ids; default: ids only, or the sorted distinct names. */
  classes?: readonly string[];
}

export interface FitProgress {
  iteration: number;
  maxIter: number;
  loss: number;
  /** Largest absolute component of the loss gradient. */
  gradientNorm: number;
}

export interface FitOptions {
  /** Most L-BFGS iterations; default 500. */
  maxIter?: number;
  /** Stop when every gradient component is at most this in absolute value; default 1e-6. */
  tol?: number;
  /** Called after every iteration. */
  onProgress?: (progress: FitProgress) => void;
  /** Checked against the data when given; otherwise a flat array is split into one row per label. */
  numFeatures?: number;
}

export interface FitResult {
  /** Objective at the solution: mean cross-entropy + (l2 / 2) · Σ W². */
  loss: number;
  gradientNorm: number;
  iterations: number;
  /** Objective evaluations (each one pass over the data). */
  evaluations: number;
  /** The gradient reached `tol`. */
  converged: boolean;
  stopReason: LbfgsStopReason;
}

/** The saved probe. Weights act on standardized features: z = (x - mean) / std. */
export interface LinearProbeJSON {
  format: typeof JSON_FORMAT;
  version: typeof JSON_VERSION;
  l2: number;
  standardize: boolean;
  numFeatures: number;
  numClasses: number;
  classes: string[] | null;
  mean: number[];
  std: number[];
  /** [numClasses, numFeatures], row-major. */
  weights: number[];
  bias: number[];
  fit: FitResult | null;
}

const JSON_FORMAT = 'imagegpt-webgpu/linear-probe';
const JSON_VERSION = 1;

interface FittedProbe {
  numFeatures: number;
  numClasses: number;
  classes: string[] | null;
  statistics: ColumnStatistics;
  weights: Float64Array;
  bias: Float64Array;
  fit: FitResult | null;
}

export class LinearProbe {
  readonly l2: number;
  readonly standardize: boolean;
  private readonly classOption: readonly string[] | null;
  private fitted: FittedProbe | null = null;

  constructor(options: LinearProbeOptions = {}) {
    named('new LinearProbe', () => checkOptions(options, PROBE_OPTIONS));
    const { l2, standardize, classes } = named('new LinearProbe', () => LinearProbe.checkSettings(options));
    this.l2 = l2;
    this.standardize = standardize;
    this.classOption = classes;
  }

  private static checkSettings(options: LinearProbeOptions): { l2: number; standardize: boolean; classes: string[] | null } {
    const l2 = options.l2 ?? 1e-3;
    if (typeof l2 !== 'number' || !Number.isFinite(l2) || l2 < 0) {
      throw new ImageGPTError('E_BAD_INPUT', `l2 is ${describeValue(l2)}: expected a finite number ≥ 0`);
    }
    const standardize = options.standardize ?? true;
    if (typeof standardize !== 'boolean') throw new ImageGPTError('E_BAD_INPUT', `standardize is ${describeValue(standardize)}: expected a boolean`);
    if (options.classes !== undefined) checkClassNames(options.classes);
    return { l2, standardize, classes: options.classes ? [...options.classes] : null };
  }

  get isFitted(): boolean {
    return this.fitted !== null;
  }

  get numFeatures(): number {
    return this.requireFitted('numFeatures').numFeatures;
  }

  get numClasses(): number {
    return this.requireFitted('numClasses').numClasses;
  }

  /** Class names by id, or null when the probe was fit on bare ids. */
  get classes(): readonly string[] | null {
    return this.fitted ? this.fitted.classes : this.classOption;
  }

  /** How the last fit ended (null for a probe loaded from JSON without it). */
  get lastFit(): FitResult | null {
    return this.fitted?.fit ?? null;
  }

  /**
   * Fits on `features` [N, F] and `labels` (N class ids or names). Deterministic: starts from zero
   * weights. Replaces an earlier fit only when this one succeeds.
   */
  fit(features: FeatureMatrix, labels: ClassLabels, options: FitOptions = {}): FitResult {
    return named('LinearProbe.fit', () => this.runFit(features, labels, options));
  }

  private runFit(features: FeatureMatrix, labels: ClassLabels, options: FitOptions): FitResult {
    checkOptions(options, FIT_OPTIONS);
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new ImageGPTError('E_BAD_INPUT', `onProgress must be a function, got ${describeValue(options.onProgress)}`);
    }
    const maxIter = options.maxIter ?? 500;
    const tol = options.tol ?? 1e-6;
    if (!Number.isInteger(maxIter) || maxIter < 0) throw new ImageGPTError('E_BAD_INPUT', `maxIter is ${describeValue(maxIter)}: expected an integer ≥ 0`);
    if (typeof tol !== 'number' || !(tol > 0) || !Number.isFinite(tol)) throw new ImageGPTError('E_BAD_INPUT', `tol is ${describeValue(tol)}: expected a finite number > 0`);

    const encoded = encodeFitLabels(labels, this.classOption);
    const numFeatures = options.numFeatures;
    if (numFeatures !== undefined && (!Number.isInteger(numFeatures) || numFeatures < 1)) {
      throw new ImageGPTError('E_BAD_INPUT', `numFeatures is ${describeValue(numFeatures)}: expected an integer ≥ 1`);
    }
    const table = readFeatures(features, { rows: encoded.ids.length, cols: numFeatures });
    const statistics = this.standardize ? columnStatistics(table) : identityStatistics(table.cols);
    const z = standardizeTable(table, statistics);
    const objective = new SoftmaxRegressionObjective(z, encoded.ids, table.cols, encoded.numClasses, this.l2);

    const parameters = new Float64Array(objective.numParameters);
    const onProgress = options.onProgress;
    const run = minimizeLbfgs((x, gradient) => objective.evaluate(x, gradient), parameters, {
      maxIterations: maxIter,
      gradientTolerance: tol,
      onIteration: onProgress
        ? ({ iteration, value, gradientNorm }) => onProgress({ iteration, maxIter, loss: value, gradientNorm })
        : undefined,
    });
    const result: FitResult = {
      loss: run.value,
      gradientNorm: run.gradientNorm,
      iterations: run.iterations,
      evaluations: run.evaluations,
      converged: run.stopReason === 'gradient',
      stopReason: run.stopReason,
    };
    const weightCount = encoded.numClasses * table.cols;
    this.fitted = {
      numFeatures: table.cols,
      numClasses: encoded.numClasses,
      classes: encoded.classes,
      statistics,
      weights: parameters.slice(0, weightCount),
      bias: parameters.slice(weightCount),
      fit: result,
    };
    return result;
  }

  /** Class probabilities, Float32Array [N, C] row-major. */
  predictProba(features: FeatureMatrix): Float32Array {
    const { scores, numClasses } = named('LinearProbe.predictProba', () => this.scores(features, 'predictProba'));
    const probabilities = new Float32Array(scores.length);
    const row = new Float64Array(numClasses);
    for (let offset = 0; offset < scores.length; offset += numClasses) {
      for (let c = 0; c < numClasses; c++) row[c] = scores[offset + c];
      const lse = logSumExp(row);
      for (let c = 0; c < numClasses; c++) probabilities[offset + c] = Math.exp(row[c] - lse);
    }
    return probabilities;
  }

  /** The most probable class id of every row (the lowest id on a tie). */
  predict(features: FeatureMatrix): Int32Array {
    const { scores, numClasses } = named('LinearProbe.predict', () => this.scores(features, 'predict'));
    return argmaxRows(scores, numClasses);
  }

  /** The most probable class name of every row; needs a probe with class names. */
  predictLabels(features: FeatureMatrix): string[] {
    return named('LinearProbe.predictLabels', () => {
      const names = this.requireFitted('predictLabels').classes;
      if (!names) throw new ImageGPTError('E_BAD_INPUT', 'this probe was fit on bare class ids and has no names; use predict()');
      const { scores, numClasses } = this.scores(features, 'predictLabels');
      return Array.from(argmaxRows(scores, numClasses), (id) => names[id]);
    });
  }

  /** Accuracy: the fraction of rows whose predicted class is the label. */
  score(features: FeatureMatrix, labels: ClassLabels): number {
    return named('LinearProbe.score', () => {
      const matrix = this.countConfusion(features, labels, 'score');
      const C = this.numClasses;
      let correct = 0;
      for (let c = 0; c < C; c++) correct += matrix[c * C + c];
      return correct / labels.length;
    });
  }

  /** Counts [C, C] row-major: entry (true class, predicted class). */
  confusionMatrix(features: FeatureMatrix, labels: ClassLabels): Int32Array {
    return named('LinearProbe.confusionMatrix', () => this.countConfusion(features, labels, 'confusionMatrix'));
  }

  private countConfusion(features: FeatureMatrix, labels: ClassLabels, what: string): Int32Array {
    const state = this.requireFitted(what);
    const C = state.numClasses;
    const ids = encodeLabels(labels, state.classes, C);
    const { scores } = this.scores(features, what, ids.length);
    const predicted = argmaxRows(scores, C);
    const matrix = new Int32Array(C * C);
    for (let i = 0; i < ids.length; i++) matrix[ids[i] * C + predicted[i]]++;
    return matrix;
  }

  toJSON(): LinearProbeJSON {
    const state = this.requireFitted('toJSON');
    return {
      format: JSON_FORMAT,
      version: JSON_VERSION,
      l2: this.l2,
      standardize: this.standardize,
      numFeatures: state.numFeatures,
      numClasses: state.numClasses,
      classes: state.classes ? [...state.classes] : null,
      mean: Array.from(state.statistics.mean),
      std: Array.from(state.statistics.std),
      weights: Array.from(state.weights),
      bias: Array.from(state.bias),
      fit: state.fit ? { ...state.fit } : null,
    };
  }

  /** A probe from `toJSON()` output (or its JSON.parse); checks every field. */
  static fromJSON(json: LinearProbeJSON): LinearProbe {
    return named('LinearProbe.fromJSON', () => LinearProbe.readJSON(json));
  }

  private static readJSON(json: LinearProbeJSON): LinearProbe {
    if (typeof json !== 'object' || json === null) throw new ImageGPTError('E_BAD_FILE', 'LinearProbe.fromJSON: expected an object');
    if (json.format !== JSON_FORMAT || json.version !== JSON_VERSION) {
      throw new ImageGPTError('E_BAD_FILE', 
        `LinearProbe.fromJSON: format ${describeValue(json.format)} version ${describeValue(json.version)}, ` +
          `expected "${JSON_FORMAT}" version ${JSON_VERSION}`,
      );
    }
    const { numFeatures, numClasses } = json;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: numFeatures is ${describeValue(numFeatures)}, expected an integer ≥ 1`);
    }
    if (!Number.isInteger(numClasses) || numClasses < 2) {
      throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: numClasses is ${describeValue(numClasses)}, expected an integer ≥ 2`);
    }
    if (json.classes !== null) {
      checkClassNames(json.classes);
      if (json.classes.length !== numClasses) {
        throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: ${json.classes.length} class names for numClasses ${numClasses}`);
      }
    }
    const probe = new LinearProbe({ l2: json.l2, standardize: json.standardize, classes: json.classes ?? undefined });
    if (json.fit !== null && json.fit !== undefined && typeof json.fit !== 'object') {
      throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: fit is ${typeof json.fit}, expected an object or null`);
    }
    const std = finiteVector(json.std, numFeatures, 'std');
    const zeroStd = std.findIndex((s) => !(s > 0));
    if (zeroStd >= 0) throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: std[${zeroStd}] is ${std[zeroStd]}, expected > 0`);
    probe.fitted = {
      numFeatures,
      numClasses,
      classes: json.classes ? [...json.classes] : null,
      statistics: { mean: finiteVector(json.mean, numFeatures, 'mean'), std },
      weights: finiteVector(json.weights, numClasses * numFeatures, 'weights'),
      bias: finiteVector(json.bias, numClasses, 'bias'),
      fit: json.fit ? { ...json.fit } : null,
    };
    return probe;
  }

  private requireFitted(what: string): FittedProbe {
    if (!this.fitted) throw new ImageGPTError('E_BAD_INPUT', `LinearProbe.${what}: the probe is not fitted; call fit() or LinearProbe.fromJSON() first`);
    return this.fitted;
  }

  // Scores W·z + b of every row, float64 [N, C].
  private scores(features: FeatureMatrix, what: string, rows?: number): { scores: Float64Array; numClasses: number } {
    const state = this.requireFitted(what);
    const { numFeatures, numClasses, statistics, weights, bias } = state;
    const table = readFeatures(features, { rows, cols: numFeatures });
    const scores = new Float64Array(table.rows * numClasses);
    const z = new Float64Array(numFeatures);
    const rowOut = new Float64Array(numClasses);
    for (let i = 0; i < table.rows; i++) {
      standardizeRow(table.data, i * numFeatures, statistics, z, 0);
      rowScores(weights, bias, z, 0, numFeatures, rowOut);
      scores.set(rowOut, i * numClasses);
    }
    return { scores, numClasses };
  }
}

function argmaxRows(scores: Float64Array, numClasses: number): Int32Array {
  const rows = scores.length / numClasses;
  const ids = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const offset = i * numClasses;
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[offset + c] > scores[offset + best]) best = c;
    ids[i] = best;
  }
  return ids;
}

function finiteVector(values: unknown, length: number, name: string): Float64Array {
  if (!Array.isArray(values) || values.length !== length) {
    const got = Array.isArray(values) ? `${values.length} values` : typeof values;
    throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: ${name} has ${got}, expected ${length} numbers`);
  }
  const out = new Float64Array(length);
  for (let k = 0; k < length; k++) {
    const v: unknown = values[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ImageGPTError('E_BAD_FILE', `LinearProbe.fromJSON: ${name}[${k}] is ${describeValue(v)}, expected a finite number`);
    }
    out[k] = v;
  }
  return out;
}
