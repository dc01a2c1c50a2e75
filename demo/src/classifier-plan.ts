// Own classes, fine-tuned: the run's default settings for the adapter. No DOM (tested in test/demo/).
import type { StyleSettings } from './protocol';

/**
 * On a GPU: 30 steps of 8 pictures (4 for 1024-token images) at 1e-4, HF's usual fine-tuning rate; the new head
 * starts at random and Adam moves each weight about lr per step, so 30 steps move its logits by a few tenths per
 * class (an estimate, not measured on a GPU), enough to separate a handful of pictures per class. On a CPU adapter
 * steps cost seconds (2 steps of 2 for emoji-16 on SwiftShader took 37–47 s here, the copy made and its programs
 * compiled included), so 3 steps of 2 at 5e-4: the larger rate lets so few steps move the head at all; it is a
 * demonstration there, not a trained classifier.
 */
export function defaultClassifierSettings(onCpu: boolean, tokensPerImage: number): StyleSettings {
  if (onCpu) return { steps: 3, batchSize: 2, lr: 5e-4, seed: 1 };
  return { steps: 30, batchSize: tokensPerImage > 256 ? 4 : 8, lr: 1e-4, seed: 1 };
}
