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
  for (let c = 0; c < scores.length; c++) {
    const w = c * numFeatures;
    let s = bias[c];
    for (let f = 0; f < numFeatures; f++) s += weights[w + f] * z[offset + f];
    scores[c] = s;
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
  }

  /** Loss at `parameters`; writes its gradient into `gradient`. One pass over z. */
  evaluate(parameters: Float64Array, gradient: Float64Array): number {
    const { z, labels, numFeatures: F, numClasses: C, l2, scores } = this;
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
        const w = c * F;
        for (let f = 0; f < F; f++) weightGradient[w + f] += residual * z[offset + f];
      }
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
