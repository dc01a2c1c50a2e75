// "Teach it your own classes", fine-tuned: the worker's side. A classifier made from the loaded model by the
// library's forImageClassification (an f32 copy of the body and a fresh score head, on the same device) trains on
// the training pictures of the held-out split, then classifies the held-out ones; it is disposed afterwards (the
// page keeps only the predictions). Stop lands between steps; the held-out pictures are still scored.
import { ImageGPT, type ImageGPTImageProcessor } from '../../src/index';
import type { ClassifierTrainResults, Pixels, Progress, StyleSettings } from './protocol';
import { StyleBatches } from './style-batches';
import { argmaxRows } from './held-out';

/** Emoji were composited onto white for training; so are these pictures. */
const WHITE = [255, 255, 255] as const;
/** Held-out pictures per classify call. */
const CLASSIFY_BATCH = 8;

export async function trainClassifier(
  base: { model: ImageGPT; processor: ImageGPTImageProcessor },
  request: { images: Pixels[]; labels: number[]; names: string[]; train: number[]; test: number[]; settings: StyleSettings },
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<ClassifierTrainResults> {
  const started = performance.now();
  const { images, labels, names, train, test, settings } = request;
  if (labels.length !== images.length) throw new Error(`classifier-train: ${labels.length} labels for ${images.length} images`);
  if (train.length === 0 || test.length === 0) throw new Error('classifier-train: the split needs pictures to train on and pictures to hold out');
  const ids = base.processor.encode(images, { background: WHITE }).inputIds;
  const classifier = await ImageGPT.forImageClassification(base.model, {
    numLabels: names.length,
    id2label: Object.fromEntries(names.map((n, i) => [i, n])),
    seed: settings.seed,
  });
  const bits: number[] = [];
  let steps = 0;
  try {
    const trainer = classifier.createTrainer({ batchSize: settings.batchSize, seqLength: base.model.config.n_positions, lr: settings.lr, seed: settings.seed });
    try {
      const batches = new StyleBatches(train.map((i) => ids[i]), settings.batchSize, settings.seed);
      for (let step = 1; step <= settings.steps && !signal.aborted; step++) {
        const picked = batches.nextIndices();
        const { loss } = await trainer.step(picked.map((k) => ids[train[k]]), { labels: picked.map((k) => labels[train[k]]) });
        steps = step;
        bits.push(loss / Math.LN2);
        onProgress({ phase: 'classifier-step', step, steps: settings.steps, bits: loss / Math.LN2 });
      }
    } finally {
      trainer.dispose(); // its activations go before classify makes its own
    }
    const predictions: number[] = [];
    for (let s = 0; s < test.length; s += CLASSIFY_BATCH) {
      const logits = await classifier.classify(test.slice(s, s + CLASSIFY_BATCH).map((i) => ids[i]));
      predictions.push(...argmaxRows(logits, names.length));
    }
    return { predictions, steps, loss: bits, stopped: steps < settings.steps, seconds: (performance.now() - started) / 1000 };
  } finally {
    classifier.dispose();
  }
}
