import { describe, expect, it } from 'vitest';
import { minimizeLbfgs } from '../../src/probe/lbfgs';
import type { ObjectiveFunction } from '../../src/probe/lbfgs';
import { SoftmaxRegressionObjective } from '../../src/probe/softmax-regression';
import { random } from '../gpu/harness';
import { seededNormal } from './synthetic';

const rosenbrock: ObjectiveFunction = (x, g) => {
  const [a, b] = x;
  g[0] = -400 * a * (b - a * a) - 2 * (1 - a);
  g[1] = 200 * (b - a * a);
  return 100 * (b - a * a) ** 2 + (1 - a) ** 2;
};

describe('L-BFGS', () => {
  it('finds the Rosenbrock minimum from the classic start', () => {
    const x = new Float64Array([-1.2, 1]);
    const result = minimizeLbfgs(rosenbrock, x, { maxIterations: 200, gradientTolerance: 1e-9 });
    expect(result.stopReason).toBe('gradient');
    expect(Math.abs(x[0] - 1)).toBeLessThan(1e-8);
    expect(Math.abs(x[1] - 1)).toBeLessThan(1e-8);
    expect(result.iterations).toBeLessThan(100);
  });

  it('solves an ill-conditioned quadratic (condition 1e4) in far fewer iterations than its size times ten', () => {
    const n = 200;
    const uniform = random(3);
    const curvature = Float64Array.from({ length: n }, (_, k) => 10 ** (4 * (k / (n - 1))) * (0.5 + uniform()));
    const target = Float64Array.from({ length: n }, () => uniform() - 0.5);
    const quadratic: ObjectiveFunction = (x, g) => {
      let value = 0;
      for (let k = 0; k < n; k++) {
        const d = x[k] - target[k];
        g[k] = curvature[k] * d;
        value += 0.5 * curvature[k] * d * d;
      }
      return value;
    };
    const x = new Float64Array(n);
    const result = minimizeLbfgs(quadratic, x, { maxIterations: 2000, gradientTolerance: 1e-8 });
    expect(result.stopReason).toBe('gradient');
    for (let k = 0; k < n; k++) expect(Math.abs(x[k] - target[k])).toBeLessThan(1e-8);
    // Each iteration costs about one evaluation: the line search mostly accepts the unit step.
    expect(result.evaluations).toBeLessThan(1.5 * result.iterations + 10);
  });

  it('stops at maxIterations and reports it', () => {
    const x = new Float64Array([-1.2, 1]);
    const calls: number[] = [];
    const result = minimizeLbfgs(rosenbrock, x, {
      maxIterations: 3,
      gradientTolerance: 1e-12,
      onIteration: ({ iteration }) => calls.push(iteration),
    });
    expect(result.stopReason).toBe('maxIterations');
    expect(result.iterations).toBe(3);
    expect(calls).toEqual([1, 2, 3]);
  });

  it('refuses a start where the objective is not finite', () => {
    const broken: ObjectiveFunction = (_x, g) => {
      g.fill(0);
      return NaN;
    };
    expect(() => minimizeLbfgs(broken, new Float64Array(2), { maxIterations: 5, gradientTolerance: 1e-6 })).toThrow(
      /not finite at the starting point/,
    );
  });
});

describe('softmax regression objective', () => {
  it('has the gradient of its loss (central differences)', () => {
    const rows = 23;
    const F = 4;
    const C = 3;
    const normal = seededNormal(5);
    const z = Float64Array.from({ length: rows * F }, normal);
    const labels = Int32Array.from({ length: rows }, (_, i) => (i * 7) % C);
    const objective = new SoftmaxRegressionObjective(z, labels, F, C, 0.3);
    const x = Float64Array.from({ length: objective.numParameters }, () => 0.7 * normal());
    const gradient = new Float64Array(objective.numParameters);
    objective.evaluate(x, gradient);
    const scratch = new Float64Array(objective.numParameters);
    const h = 1e-6;
    for (let k = 0; k < x.length; k++) {
      const saved = x[k];
      x[k] = saved + h;
      const plus = objective.evaluate(x, scratch);
      x[k] = saved - h;
      const minus = objective.evaluate(x, scratch);
      x[k] = saved;
      expect(Math.abs((plus - minus) / (2 * h) - gradient[k])).toBeLessThan(1e-8);
    }
  });
});
