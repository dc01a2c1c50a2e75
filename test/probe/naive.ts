// A deliberately plain re-statement of the probe's objective, for checking the optimized code:
// loss = mean_i [logsumexp_c s_ic - s_{i,y_i}] + (l2/2) Σ W²,  s_ic = Σ_f W_cf (x_if - mean_f) / std_f + b_c.
import type { LinearProbeJSON } from '../../src/probe';

export interface NaiveObjective {
  loss: number;
  /** Gradient with respect to W [C][F] and b [C]. */
  weightGradient: number[][];
  biasGradient: number[];
  /** Largest absolute component over W and b. */
  maxAbsGradient: number;
}

export function naiveObjective(probe: LinearProbeJSON, features: ArrayLike<number>, labels: ArrayLike<number>): NaiveObjective {
  const { numFeatures: F, numClasses: C, mean, std, weights, bias, l2 } = probe;
  const N = labels.length;
  const W = Array.from({ length: C }, (_, c) => weights.slice(c * F, (c + 1) * F));
  const weightGradient = Array.from({ length: C }, () => new Array<number>(F).fill(0));
  const biasGradient = new Array<number>(C).fill(0);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const z = Array.from({ length: F }, (_, f) => (features[i * F + f] - mean[f]) / std[f]);
    const s = W.map((w, c) => w.reduce((acc, wf, f) => acc + wf * z[f], bias[c]));
    const max = Math.max(...s);
    const lse = max + Math.log(s.reduce((acc, v) => acc + Math.exp(v - max), 0));
    loss += (lse - s[labels[i]]) / N;
    s.forEach((v, c) => {
      const r = (Math.exp(v - lse) - (c === labels[i] ? 1 : 0)) / N;
      biasGradient[c] += r;
      for (let f = 0; f < F; f++) weightGradient[c][f] += r * z[f];
    });
  }
  W.forEach((w, c) =>
    w.forEach((wf, f) => {
      loss += 0.5 * l2 * wf * wf;
      weightGradient[c][f] += l2 * wf;
    }),
  );
  const maxAbsGradient = Math.max(...weightGradient.flat().map(Math.abs), ...biasGradient.map(Math.abs));
  return { loss, weightGradient, biasGradient, maxAbsGradient };
}
