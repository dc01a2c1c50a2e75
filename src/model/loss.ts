// Losses with Hugging Face's semantics: the causal LM's labels (checked here, reduced on the GPU by
// shaders/cross-entropy.wgsl) and the classifier's problem types (on the CPU: its logits are [B, num_labels]).
import { badInput } from '../errors';
import { describeValue } from '../json';
import type { ImageGPTConfig, ProblemType } from './config';
import { logitsWidth } from './config';

/** The label HF's CrossEntropyLoss skips (ignore_index). */
export const IGNORE_INDEX = -100;

/**
 * The per-position targets of a causal-LM loss, [B, T] flat: logits at position t predict labels[b][t + 1]
 * (HF shifts inside the model); the last position predicts nothing (-100). Labels must have inputIds' shape,
 * each an integer in 0..vocab_size-2 (the head never predicts SOS) or -100. Column 0 is never a target (the shift
 * drops it), so any integer is allowed there: HF's `labels = input_ids`, SOS first, works.
 */
export function causalTargets(labels: unknown, B: number, T: number, config: ImageGPTConfig): Int32Array {
  const top = logitsWidth(config) - 1;
  if (!Array.isArray(labels) || labels.length !== B) {
    throw badInput(`forward: labels must be an array of ${B} rows like inputIds (number[][]), got ${Array.isArray(labels) ? `${labels.length} rows` : describeValue(labels)}`);
  }
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  labels.forEach((row: unknown, b) => {
    if ((!Array.isArray(row) && !ArrayBuffer.isView(row)) || (row as ArrayLike<number>).length !== T) {
      const got = Array.isArray(row) || ArrayBuffer.isView(row) ? `${(row as ArrayLike<number>).length} labels` : describeValue(row);
      throw badInput(`forward: labels[${b}] must have ${T} labels (the shape of inputIds), got ${got}`);
    }
    const r = row as ArrayLike<number>;
    const first = r[0];
    if (!Number.isInteger(first)) {
      throw badInput(`forward: labels[${b}][0] = ${describeValue(first)}: labels must be integers (column 0 is never a target, so any integer is allowed there)`);
    }
    for (let t = 1; t < T; t++) {
      const v = r[t];
      if (!(Number.isInteger(v) && ((v >= 0 && v <= top) || v === IGNORE_INDEX))) {
        throw badInput(`forward: labels[${b}][${t}] = ${describeValue(v)}: labels must be integers in 0..${top} (image tokens; SOS is never a target) or ${IGNORE_INDEX} (ignored)`);
      }
      targets[b * T + t - 1] = v;
    }
  });
  return targets;
}

/** Mean of `nats` over the positions whose target is not ignored (NaN when every one is, as HF's 0/0). */
export function meanLoss(nats: ArrayLike<number>, targets: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] === IGNORE_INDEX) continue;
    sum += nats[i];
    count++;
  }
  return sum / count;
}

/**
 * HF's choice of classification loss: config.problem_type, else regression for one label, single-label
 * classification for integer class labels (number[]), multi-label for anything else.
 */
export function resolveProblemType(configured: ProblemType | undefined, numLabels: number, labels: unknown): ProblemType {
  if (configured) return configured;
  if (numLabels === 1) return 'regression';
  const integers = Array.isArray(labels) && labels.every((v) => typeof v === 'number' && Number.isInteger(v));
  return integers ? 'single_label_classification' : 'multi_label_classification';
}

/** Checks labels [B] or [B, C] of finite numbers; returns them flat. */
function numbers(labels: unknown, B: number, C: number, what: string): Float64Array {
  if (!Array.isArray(labels) || labels.length !== B) {
    throw badInput(`forward: ${what} labels must be an array of ${B} entries (one per input), got ${Array.isArray(labels) ? labels.length : describeValue(labels)}`);
  }
  const flat = new Float64Array(B * C);
  labels.forEach((row: unknown, b) => {
    const values = C === 1 && typeof row === 'number' ? [row] : row;
    if (!Array.isArray(values) || values.length !== C) {
      throw badInput(`forward: ${what} labels[${b}] must be ${C === 1 ? 'a number' : `an array of ${C} numbers (one per class)`}, got ${describeValue(row)}`);
    }
    values.forEach((v: unknown, c) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw badInput(`forward: ${what} labels[${b}][${c}] = ${describeValue(v)}: expected a finite number`);
      flat[b * C + c] = v;
    });
  });
  return flat;
}

/**
 * The classifier's loss over logits [B, C], as HF: MSE (regression), cross-entropy with -100 ignored
 * (single_label_classification, labels number[] of class indices), BCE with logits
 * (multi_label_classification, labels number[][] of targets in [0, 1] per class).
 */
export function classifierLoss(logits: Float32Array, B: number, C: number, labels: unknown, problemType: ProblemType): number {
  if (problemType === 'regression') {
    const y = numbers(labels, B, C, 'regression');
    let sum = 0;
    for (let i = 0; i < B * C; i++) sum += (logits[i] - y[i]) ** 2;
    return sum / (B * C);
  }
  if (problemType === 'single_label_classification') {
    if (!Array.isArray(labels) || labels.length !== B) {
      throw badInput(`forward: single_label_classification labels must be an array of ${B} class indices, got ${Array.isArray(labels) ? `${labels.length} entries` : describeValue(labels)}`);
    }
    let sum = 0;
    let count = 0;
    labels.forEach((v: unknown, b) => {
      if (v === IGNORE_INDEX) return;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= C) {
        throw badInput(`forward: labels[${b}] = ${describeValue(v)}: class labels must be integers in 0..${C - 1} or ${IGNORE_INDEX} (ignored)`);
      }
      const row = logits.subarray(b * C, (b + 1) * C);
      sum += logSumExp(row) - row[v];
      count++;
    });
    return sum / count;
  }
  const y = numbers(labels, B, C, 'multi_label_classification');
  let sum = 0;
  for (let i = 0; i < B * C; i++) {
    if (y[i] < 0 || y[i] > 1) throw badInput(`forward: multi_label_classification labels[${Math.floor(i / C)}][${i % C}] = ${y[i]}: expected a target in 0..1`);
    // BCE with logits, stable: max(x, 0) - x·y + log(1 + exp(-|x|)).
    const x = logits[i];
    sum += Math.max(x, 0) - x * y[i] + Math.log1p(Math.exp(-Math.abs(x)));
  }
  return sum / (B * C);
}

function logSumExp(row: ArrayLike<number>): number {
  let peak = -Infinity;
  for (let i = 0; i < row.length; i++) peak = Math.max(peak, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - peak);
  return peak + Math.log(sum);
}
