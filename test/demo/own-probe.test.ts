// The own-classes probe's fit and its leave-one-out count: on two clusters every picture is named right when left
// out; on overlapping classes the count is what probes fit without each picture say about it.
import { describe, expect, it } from 'vitest';
import { fitOwnProbe, leaveOneOut, OWN_L2 } from '../../demo/src/own-probe';

const F = 2;
const NAMES = ['left', 'right'];

/** Five points around (−1, 0) labelled 0 and five around (+1, 0) labelled 1, row-major [10, 2]. */
function clusters(): { X: Float32Array; labels: number[] } {
  const offsets = [0, 0.1, -0.1, 0.05, -0.05];
  const rows = [...offsets.map((d) => [-1 + d, d]), ...offsets.map((d) => [1 + d, -d])];
  return { X: Float32Array.from(rows.flat()), labels: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1] };
}

describe('own-classes probe', () => {
  it('fits with the panel L2 and names both clusters', () => {
    const { X, labels } = clusters();
    const probe = fitOwnProbe(X, labels, NAMES, F);
    expect(probe.classes).toEqual(NAMES);
    expect(Array.from(probe.predict(Float32Array.from([-1.2, 0, 1.2, 0])))).toEqual([0, 1]);
    expect(OWN_L2).toBe(1e-2);
  });

  it('leave-one-out counts every picture right on separate clusters', () => {
    const { X, labels } = clusters();
    expect(leaveOneOut(X, labels, NAMES, F)).toBe(10);
  });

  it('leave-one-out on overlapping classes equals, picture by picture, what a probe fit on the others says', () => {
    // Twelve points on a line, labels alternating in pairs: no probe separates them, so each answer depends on
    // exactly which rows it was fit on (a left-out row leaking into its own fit changes the count).
    const X = Float32Array.from(Array.from({ length: 12 }, (_, i) => [i / 11, ((i * 7) % 5) / 4]).flat());
    const labels = Array.from({ length: 12 }, (_, i) => (Math.floor(i / 2) % 2 === 0 ? 0 : 1));
    let right = 0;
    for (let i = 0; i < labels.length; i++) {
      const others = [...Array(labels.length).keys()].filter((k) => k !== i);
      const probe = fitOwnProbe(Float32Array.from(others.flatMap((k) => [X[k * F], X[k * F + 1]])), others.map((k) => labels[k]), NAMES, F);
      if (probe.predict(X.subarray(i * F, (i + 1) * F))[0] === labels[i]) right++;
    }
    expect(right).toBeLessThan(12);
    expect(leaveOneOut(X, labels, NAMES, F)).toBe(right);
  });
});
