// The own-classes probe: the library's LinearProbe fit on the pooled features of a few pictures per class, and
// the leave-one-out check reported beside it. No DOM.
import { LinearProbe } from '../../src/index';

/** L2 penalty of the own-classes probe: firm, since a few images per class are all it sees (as the gallery probes). */
export const OWN_L2 = 1e-2;
/** Iteration limit of each fit. */
export const OWN_MAX_ITER = 200;
/** Leave-one-out is reported when it costs at most this many small fits. */
export const MAX_LEAVE_ONE_OUT = 60;

/** A probe fit on the [N, F] row-major features `X` with class ids `labels` naming `names`. */
export function fitOwnProbe(X: Float32Array, labels: number[], names: string[], F: number): LinearProbe {
  const probe = new LinearProbe({ l2: OWN_L2, classes: names });
  probe.fit(X, labels, { maxIter: OWN_MAX_ITER, numFeatures: F });
  return probe;
}

/** How many of the images a probe fit on all the others names correctly. */
export function leaveOneOut(X: Float32Array, labels: number[], names: string[], F: number): number {
  const N = labels.length;
  let right = 0;
  const train = new Float32Array((N - 1) * F);
  for (let i = 0; i < N; i++) {
    train.set(X.subarray(0, i * F), 0);
    train.set(X.subarray((i + 1) * F), i * F);
    const trainLabels = [...labels.slice(0, i), ...labels.slice(i + 1)];
    // A class left with no images cannot be fit; the rule of ≥ 2 per class prevents it.
    const probe = fitOwnProbe(train, trainLabels, names, F);
    if (probe.predict(X.subarray(i * F, (i + 1) * F))[0] === labels[i]) right++;
  }
  return right;
}
