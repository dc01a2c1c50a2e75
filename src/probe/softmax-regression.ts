// The objective the probe minimizes, in float64:
//   loss(W, b) = mean_i [ logsumexp_c(s_ic) - s_{i,y_i} ] + (l2 / 2) · Σ W²,   s_ic = W_c · z_i + b_c
// W [C, F] acts on standardized features z [N, F]; the bias b [C] is not penalized.
// Parameters are one flat vector: W row-major, then b.

/** Scores s_c = W_c · z + b_c of one row `z[offset .. offset + F)` into `scores` (length C). */
export function rowScores(
  weights: Float64Array,
  bias: Float64Array,
  z: Float64Array,
  offset: number,
  numFeatures: number,
  scores: Float64Array,
): void {
  const F = numFeatures;
  const C = scores.length;
  let c = 0;
  // Four classes per pass over the row: each z value is loaded once for four products
  // (about 1.7× faster in V8 than one class at a time; the sums are the same).
  for (; c + 4 <= C; c += 4) {
    const w0 = c * F;
    const w1 = w0 + F;
    const w2 = w1 + F;
    const w3 = w2 + F;
    let s0 = bias[c];
    let s1 = bias[c + 1];
    let s2 = bias[c + 2];
    let s3 = bias[c + 3];
    for (let f = 0; f < F; f++) {
      const x = z[offset + f];
      s0 += weights[w0 + f] * x;
      s1 += weights[w1 + f] * x;
      s2 += weights[w2 + f] * x;
      s3 += weights[w3 + f] * x;
    }
    scores[c] = s0;
    scores[c + 1] = s1;
    scores[c + 2] = s2;
    scores[c + 3] = s3;
  }
  for (; c < C; c++) {
    const w = c * F;
    let s = bias[c];
    for (let f = 0; f < F; f++) s += weights[w + f] * z[offset + f];
    scores[c] = s;
  }
}

/** gradient[c, :] += residuals[c] · z[offset .. offset + F) for every class c, four classes per pass. */
function addOuterProduct(
  gradient: Float64Array,
  residuals: Float64Array,
  z: Float64Array,
  offset: number,
  numFeatures: number,
): void {
  const F = numFeatures;
  const C = residuals.length;
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const w0 = c * F;
    const w1 = w0 + F;
    const w2 = w1 + F;
    const w3 = w2 + F;
    const r0 = residuals[c];
    const r1 = residuals[c + 1];
    const r2 = residuals[c + 2];
    const r3 = residuals[c + 3];
    for (let f = 0; f < F; f++) {
      const x = z[offset + f];
      gradient[w0 + f] += r0 * x;
      gradient[w1 + f] += r1 * x;
      gradient[w2 + f] += r2 * x;
      gradient[w3 + f] += r3 * x;
    }
  }
  for (; c < C; c++) {
    const w = c * F;
    const r = residuals[c];
    for (let f = 0; f < F; f++) gradient[w + f] += r * z[offset + f];
  }
}

/** log Σ_c exp(scores_c), shifted by the maximum so that it cannot overflow. */
export function logSumExp(scores: Float64Array): number {
  let max = -Infinity;
  for (let c = 0; c < scores.length; c++) if (scores[c] > max) max = scores[c];
  let sum = 0;
  for (let c = 0; c < scores.length; c++) sum += Math.exp(scores[c] - max);
  return max + Math.log(sum);
}

export class SoftmaxRegressionObjective {
  readonly numParameters: number;
  private readonly scores: Float64Array;
  private readonly residuals: Float64Array;

  /**
   * @param z standardized features [rows, numFeatures], row-major
   * @param labels class ids in 0..numClasses-1, one per row
   */
  constructor(
    readonly z: Float64Array,
    readonly labels: Int32Array,
    readonly numFeatures: number,
    readonly numClasses: number,
    readonly l2: number,
  ) {
    this.numParameters = numClasses * (numFeatures + 1);
    this.scores = new Float64Array(numClasses);
    this.residuals = new Float64Array(numClasses);
  }

  /** Loss at `parameters`; writes its gradient into `gradient`. One pass over z. */
  evaluate(parameters: Float64Array, gradient: Float64Array): number {
    const { z, labels, numFeatures: F, numClasses: C, l2, scores, residuals } = this;
    const rows = labels.length;
    const weightCount = C * F;
    const weights = parameters.subarray(0, weightCount);
    const bias = parameters.subarray(weightCount);
    const weightGradient = gradient.subarray(0, weightCount);
    const biasGradient = gradient.subarray(weightCount);
    gradient.fill(0);

    let dataLoss = 0;
    for (let i = 0; i < rows; i++) {
      const offset = i * F;
      rowScores(weights, bias, z, offset, F, scores);
      const lse = logSumExp(scores);
      const label = labels[i];
      dataLoss += lse - scores[label];
      // d loss_i / d s_c = softmax_c - [c = y_i]; the 1/N comes after the loop.
      for (let c = 0; c < C; c++) {
        const residual = Math.exp(scores[c] - lse) - (c === label ? 1 : 0);
        biasGradient[c] += residual;
        residuals[c] = residual;
      }
      addOuterProduct(weightGradient, residuals, z, offset, F);
    }

    const invRows = 1 / rows;
    let squaredWeights = 0;
    for (let k = 0; k < weightCount; k++) {
      const w = weights[k];
      squaredWeights += w * w;
      weightGradient[k] = weightGradient[k] * invRows + l2 * w;
    }
    for (let c = 0; c < C; c++) biasGradient[c] *= invRows;
    return dataLoss * invRows + 0.5 * l2 * squaredWeights;
  }
}
