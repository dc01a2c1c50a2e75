// "Teach it a style": the run's default settings for the adapter, and the checks on settings the page reads from
// its inputs. No DOM (tested in test/demo/).
import type { StyleSettings } from './protocol';

/** The fewest pictures a style is learned from: fewer teaches the pictures themselves, not a style. */
export const MIN_STYLE_IMAGES = 8;
/** The most pictures kept (uploads and picks beyond it are refused, said beside the inputs). */
export const MAX_STYLE_IMAGES = 64;
/** The bounds of each setting's input. */
export const STYLE_LIMITS = {
  steps: { min: 1, max: 1000 },
  batchSize: { min: 1, max: 16 },
  lr: { min: 1e-6, max: 1e-2 },
} as const;

/**
 * The defaults. On a GPU: 40 steps of 8 images (4 for 1024-token images, whose activations are 4× larger) at
 * 1e-4 — with 8–16 pictures that is 20–40 passes over them, enough for samples to take on their colors and shapes
 * in well under a minute. On a CPU adapter a step of emoji-16 at batch 8 takes 20 s or more (SwiftShader, quiet
 * machine), so 3 steps of 2 images at a larger rate (3e-4): a visible change in the loss within a minute, not a
 * learned style.
 */
export function defaultStyleSettings(onCpu: boolean, tokensPerImage: number): StyleSettings {
  if (onCpu) return { steps: 3, batchSize: 2, lr: 3e-4, seed: 1 };
  return { steps: 40, batchSize: tokensPerImage > 256 ? 4 : 8, lr: 1e-4, seed: 1 };
}

/** Warm-up steps for a run of `steps`: a tenth of it, at most 5 (none for very short runs). */
export function warmupSteps(steps: number): number {
  return Math.min(5, Math.floor(steps / 10));
}

/** The learning rate of step `step` (1 for the first): rising linearly over the warm-up, then `lr`. */
export function learningRate(lr: number, step: number, warmup: number): number {
  return warmup > 0 ? lr * Math.min(1, step / warmup) : lr;
}

/** What is wrong with `value` as setting `key` (a message naming the setting and its range), or null. */
export function styleSettingProblem(key: keyof typeof STYLE_LIMITS, value: number): string | null {
  const { min, max } = STYLE_LIMITS[key];
  const names = { steps: 'Steps', batchSize: 'Batch', lr: 'Learning rate' };
  const integer = key !== 'lr';
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    return `${names[key]} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${Number.isFinite(value) ? value : 'nothing'}.`;
  }
  return null;
}

/** What is missing before a style can be learned from `count` pictures, or null. */
export function styleImagesProblem(count: number): string | null {
  if (count < MIN_STYLE_IMAGES) return `Add at least ${MIN_STYLE_IMAGES} pictures (${count} so far): fewer teaches the pictures themselves rather than a style.`;
  return null;
}
