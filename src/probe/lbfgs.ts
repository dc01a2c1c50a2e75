import { ImageGPTError } from '../errors';
// L-BFGS (limited-memory BFGS) in float64 with a strong-Wolfe line search.
// Generic: it knows nothing about logistic regression. Follows Nocedal & Wright,
// "Numerical Optimization", algorithms 7.4/7.5 (two-loop recursion) and 3.5/3.6
// (bracketing line search with zoom), written from the book's description.

/** Writes the gradient at `x` into `gradient` and returns the objective value. */
export type ObjectiveFunction = (x: Float64Array, gradient: Float64Array) => number;

export interface LbfgsIteration {
  /** Iterations done so far (1 after the first accepted step). */
  iteration: number;
  value: number;
  /** Largest absolute gradient component. */
  gradientNorm: number;
}

export interface LbfgsOptions {
  maxIterations: number;
  /** Converged when the largest absolute gradient component is at most this. */
  gradientTolerance: number;
  /** Correction pairs kept (the "m" of L-BFGS). */
  memory?: number;
  /** Objective evaluations one line search may spend. */
  maxLineSearchEvaluations?: number;
  onIteration?: (info: LbfgsIteration) => void;
}

/**
 * Why the run ended: `gradient` (converged), `maxIterations`, or `lineSearch`
 * (no step along the steepest descent lowered the objective: the floating-point limit).
 */
export type LbfgsStopReason = 'gradient' | 'maxIterations' | 'lineSearch';

export interface LbfgsResult {
  value: number;
  gradientNorm: number;
  iterations: number;
  evaluations: number;
  stopReason: LbfgsStopReason;
}

// Sufficient decrease (Armijo) and curvature constants: the usual quasi-Newton choices.
const ARMIJO_C1 = 1e-4;
const CURVATURE_C2 = 0.9;
const MAX_STEP = 1e10;
// Relative change of the objective that counts as rounding noise (see approximateDecrease).
const FLAT_TOLERANCE = 1e-12;
const APPROXIMATE_DELTA = 0.1;

export function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) sum += a[k] * b[k];
  return sum;
}

export function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) {
    const v = Math.abs(a[k]);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

/**
 * Minimizes `objective` starting from `x`; `x` holds the best point found on return.
 * Deterministic: the same inputs give the same iterates bit for bit.
 */
export function minimizeLbfgs(objective: ObjectiveFunction, x: Float64Array, options: LbfgsOptions): LbfgsResult {
  const n = x.length;
  const memory = options.memory ?? 10;
  const maxLineSearchEvaluations = options.maxLineSearchEvaluations ?? 30;

  let gradient = new Float64Array(n);
  let value = objective(x, gradient);
  let evaluations = 1;
  if (!Number.isFinite(value) || !Number.isFinite(maxAbs(gradient))) {
    throw new ImageGPTError('E_BAD_INPUT', `L-BFGS: the objective or its gradient is not finite at the starting point (value ${value})`);
  }

  // Ring buffer of correction pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k.
  const sHistory = Array.from({ length: memory }, () => new Float64Array(n));
  const yHistory = Array.from({ length: memory }, () => new Float64Array(n));
  const rho = new Float64Array(memory);
  const alphas = new Float64Array(memory);
  let stored = 0;
  let newest = -1;

  const direction = new Float64Array(n);
  let trialX = new Float64Array(n);
  let trialGradient = new Float64Array(n);
  let current = x.slice();

  let iterations = 0;
  let stopReason: LbfgsStopReason;
  for (;;) {
    const gradientNorm = maxAbs(gradient);
    if (gradientNorm <= options.gradientTolerance) {
      stopReason = 'gradient';
      break;
    }
    if (iterations >= options.maxIterations) {
      stopReason = 'maxIterations';
      break;
    }

    twoLoopDirection(gradient, sHistory, yHistory, rho, alphas, stored, newest, direction);
    let slope = dot(gradient, direction);
    if (!(slope < 0)) {
      // Not a descent direction (rounding in the memory): forget it and go downhill.
      stored = 0;
      steepestDescent(gradient, direction);
      slope = dot(gradient, direction);
    }
    // Without curvature information, a first step of unit length in x.
    let initialStep = stored === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;

    let search = strongWolfeSearch(
      objective, current, value, slope, direction, initialStep, trialX, trialGradient, maxLineSearchEvaluations,
    );
    evaluations += search.evaluations;
    if (!search.found && stored > 0) {
      // The quasi-Newton direction failed; retry once along the steepest descent.
      stored = 0;
      steepestDescent(gradient, direction);
      slope = dot(gradient, direction);
      initialStep = Math.min(1, 1 / Math.sqrt(-slope));
      search = strongWolfeSearch(
        objective, current, value, slope, direction, initialStep, trialX, trialGradient, maxLineSearchEvaluations,
      );
      evaluations += search.evaluations;
    }
    if (!search.found) {
      stopReason = 'lineSearch';
      break;
    }

    // New correction pair; skipped when curvature is not positive (keeps the inverse Hessian positive definite).
    const slot = (newest + 1) % memory;
    const s = sHistory[slot];
    const y = yHistory[slot];
    for (let k = 0; k < n; k++) {
      s[k] = trialX[k] - current[k];
      y[k] = trialGradient[k] - gradient[k];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * dot(y, y)) {
      rho[slot] = 1 / sy;
      newest = slot;
      stored = Math.min(stored + 1, memory);
    }

    [current, trialX] = [trialX, current];
    [gradient, trialGradient] = [trialGradient, gradient];
    value = search.value;
    iterations++;
    options.onIteration?.({ iteration: iterations, value, gradientNorm: maxAbs(gradient) });
  }

  x.set(current);
  return { value, gradientNorm: maxAbs(gradient), iterations, evaluations, stopReason };
}

function steepestDescent(gradient: Float64Array, direction: Float64Array): void {
  for (let k = 0; k < gradient.length; k++) direction[k] = -gradient[k];
}

// direction = -H·gradient, H the L-BFGS inverse-Hessian estimate scaled by s'y / y'y of the newest pair.
function twoLoopDirection(
  gradient: Float64Array,
  sHistory: Float64Array[],
  yHistory: Float64Array[],
  rho: Float64Array,
  alphas: Float64Array,
  stored: number,
  newest: number,
  direction: Float64Array,
): void {
  const n = gradient.length;
  const memory = sHistory.length;
  for (let k = 0; k < n; k++) direction[k] = -gradient[k];
  if (stored === 0) return;
  for (let j = 0; j < stored; j++) {
    const slot = (newest - j + memory) % memory;
    const a = rho[slot] * dot(sHistory[slot], direction);
    alphas[slot] = a;
    const y = yHistory[slot];
    for (let k = 0; k < n; k++) direction[k] -= a * y[k];
  }
  const yNewest = yHistory[newest];
  const scale = 1 / (rho[newest] * dot(yNewest, yNewest));
  for (let k = 0; k < n; k++) direction[k] *= scale;
  for (let j = stored - 1; j >= 0; j--) {
    const slot = (newest - j + memory) % memory;
    const b = rho[slot] * dot(yHistory[slot], direction);
    const s = sHistory[slot];
    const coefficient = alphas[slot] - b;
    for (let k = 0; k < n; k++) direction[k] += coefficient * s[k];
  }
}

interface LineSearchResult {
  /** True when a step with sufficient decrease was taken; `trialX`/`trialGradient` then hold its point. */
  found: boolean;
  value: number;
  evaluations: number;
}

interface TrialPoint {
  step: number;
  value: number;
  slope: number;
}

/**
 * Finds a step along `direction` satisfying the strong Wolfe conditions (or, where the objective is flat
 * to rounding, their approximate form). On success the accepted point
 * and its gradient are left in `trialX` and `trialGradient`.
 */
function strongWolfeSearch(
  objective: ObjectiveFunction,
  x: Float64Array,
  value0: number,
  slope0: number,
  direction: Float64Array,
  initialStep: number,
  trialX: Float64Array,
  trialGradient: Float64Array,
  maxEvaluations: number,
): LineSearchResult {
  let evaluations = 0;
  const evaluate = (step: number): TrialPoint => {
    for (let k = 0; k < x.length; k++) trialX[k] = x[k] + step * direction[k];
    let value = objective(trialX, trialGradient);
    evaluations++;
    // An overflowing trial counts as "too far": it is never accepted.
    if (Number.isNaN(value)) value = Infinity;
    return { step, value, slope: dot(trialGradient, direction) };
  };
  const sufficientDecrease = (p: TrialPoint): boolean => p.value <= value0 + ARMIJO_C1 * p.step * slope0;
  const curvatureHolds = (p: TrialPoint): boolean => Math.abs(p.slope) <= -CURVATURE_C2 * slope0;
  // Near the optimum the objective changes less than its own rounding and Armijo's test becomes
  // noise. There, as in Hager & Zhang's "approximate Wolfe" conditions, trust the slope instead:
  // for a quadratic, slope(step) <= (2·δ - 1)·slope0 is the same as sufficient decrease with c1 = δ.
  const approximateDecrease = (p: TrialPoint): boolean =>
    p.value <= value0 + FLAT_TOLERANCE * Math.abs(value0) && p.slope <= (2 * APPROXIMATE_DELTA - 1) * slope0;
  const acceptable = (p: TrialPoint): boolean => curvatureHolds(p) && (sufficientDecrease(p) || approximateDecrease(p));
  const accept = (p: TrialPoint): LineSearchResult => ({ found: true, value: p.value, evaluations });

  // Bracketing phase: grow the step until it overshoots the minimum along the line.
  let previous: TrialPoint = { step: 0, value: value0, slope: slope0 };
  let step = initialStep;
  let bracket: { low: TrialPoint; high: TrialPoint } | null = null;
  while (evaluations < maxEvaluations) {
    const p = evaluate(step);
    if (acceptable(p)) return accept(p);
    if (!sufficientDecrease(p) || (evaluations > 1 && p.value >= previous.value)) {
      bracket = { low: previous, high: p };
      break;
    }
    if (p.slope >= 0) {
      bracket = { low: p, high: previous };
      break;
    }
    previous = p;
    step = Math.min(step * 2, MAX_STEP);
  }
  if (!bracket) return finishWithLow(previous);

  // Zoom phase: shrink [low, high] keeping "low" the best point with sufficient decrease.
  let { low, high } = bracket;
  while (evaluations < maxEvaluations) {
    const width = Math.abs(high.step - low.step);
    if (width <= 1e-16 * Math.max(low.step, high.step)) break;
    const p = evaluate(interpolateStep(low, high));
    if (acceptable(p)) return accept(p);
    if (!sufficientDecrease(p) || p.value >= low.value) {
      high = p;
    } else {
      if (p.slope * (high.step - low.step) >= 0) high = low;
      low = p;
    }
  }
  return finishWithLow(low);

  // Out of evaluations or the bracket collapsed: the best point found still lowers the
  // objective (Armijo) when its step is positive; take it so the outer loop can go on.
  function finishWithLow(best: TrialPoint): LineSearchResult {
    if (best.step <= 0) return { found: false, value: value0, evaluations };
    const p = evaluate(best.step);
    return { found: true, value: p.value, evaluations };
  }
}

// Minimizer of the cubic through both ends (values and slopes), kept well inside the
// interval; bisection when the cubic has no usable minimum there.
function interpolateStep(a: TrialPoint, b: TrialPoint): number {
  const lo = Math.min(a.step, b.step);
  const hi = Math.max(a.step, b.step);
  const margin = 0.1 * (hi - lo);
  const midpoint = 0.5 * (lo + hi);
  if (!Number.isFinite(a.value) || !Number.isFinite(b.value)) return midpoint;
  const d1 = a.slope + b.slope - (3 * (a.value - b.value)) / (a.step - b.step);
  const discriminant = d1 * d1 - a.slope * b.slope;
  if (!(discriminant >= 0)) return midpoint;
  const d2 = Math.sign(b.step - a.step) * Math.sqrt(discriminant);
  const step = b.step - ((b.step - a.step) * (b.slope + d2 - d1)) / (b.slope - a.slope + 2 * d2);
  if (!Number.isFinite(step) || step < lo + margin || step > hi - margin) return midpoint;
  return step;
}
