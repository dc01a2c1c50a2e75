// "Teach it a style", the worker's side: an f32 copy of the loaded model (the loaded one stays as it is, for
// comparison), made on first use from the same files, fine-tuned on the page's pictures with the library's
// trainer, one step at a time so that Stop lands between steps and keeps what was learned.
import { ImageGPT, sosToken, type ImageGPTImageProcessor, type LoadOptions, type ModelSource as LibrarySource, type Trainer } from '../../src/index';
import type { Pixels, Progress, StyleSettings, StyleTrainResults } from './protocol';
import { StyleBatches, styleRows } from './style-batches';
import { learningRate, warmupSteps } from './style-plan';

/** Where the loaded model came from: the same files (through the same cache) make the copy. */
export interface ModelOrigin {
  source: LibrarySource;
  options: Pick<LoadOptions, 'cache' | 'host'>;
}

/** Emoji were composited onto white for training; so are the style's pictures. */
const WHITE = [255, 255, 255] as const;

export class StyleTuning {
  private tuned: ImageGPT | null = null;
  private totalSteps = 0;

  /** The tuned copy; an error when there is none (the page asks only after a run). */
  model(): ImageGPT {
    if (!this.tuned) throw new Error('no style-tuned model: teach it a style first (or it was reset)');
    return this.tuned;
  }

  /**
   * Fine-tunes the copy (made first if there is none) on `images`. An abort while the copy is made leaves none;
   * one between steps ends the run with the steps taken (stopped: true).
   */
  async train(
    base: { model: ImageGPT; processor: ImageGPTImageProcessor; origin: ModelOrigin },
    images: Pixels[],
    settings: StyleSettings,
    signal: AbortSignal,
    onProgress: (p: Progress) => void,
  ): Promise<StyleTrainResults> {
    const started = performance.now();
    const config = base.model.config;
    const tokens = base.processor.encode(images, { background: WHITE }).inputIds;
    const rows = styleRows(tokens, sosToken(config));
    const batches = new StyleBatches(rows, settings.batchSize, settings.seed);
    const stopped = (steps: number, bits: number[]): StyleTrainResults => ({
      steps, totalSteps: this.totalSteps, bitsPerToken: bits, stopped: true, seconds: (performance.now() - started) / 1000,
    });
    if (!this.tuned) {
      try {
        this.tuned = await ImageGPT.fromPretrained(base.origin.source, {
          ...base.origin.options,
          dtype: 'f32', // the trainer updates f32 weights in place
          signal,
          onProgress: (p) => {
            if (p.phase === 'upload') onProgress({ phase: 'style-copy', loaded: p.overall.loaded, total: p.overall.total });
          },
        });
      } catch (e) {
        if (e instanceof Error && e.name === 'AbortError') return stopped(0, []);
        throw e;
      }
      this.totalSteps = 0;
    }
    let trainer: Trainer;
    try {
      trainer = this.tuned.createTrainer({
        batchSize: settings.batchSize,
        seqLength: config.n_positions,
        lr: (step) => learningRate(settings.lr, step, warmupSteps(settings.steps)),
        seed: settings.seed, // dropout (the config's *_pdrop, as HF trains) draws new masks each run
      });
    } catch (e) {
      // Refused (a batch too large for the GPU, say): a copy that never trained is not kept holding its memory.
      if (this.totalSteps === 0) this.reset();
      throw e;
    }
    const bits: number[] = [];
    try {
      for (let step = 1; step <= settings.steps; step++) {
        if (signal.aborted) return stopped(step - 1, bits);
        const { loss, gradNorm } = await trainer.step(batches.next());
        this.totalSteps++;
        bits.push(loss / Math.LN2);
        onProgress({ phase: 'style-step', step, steps: settings.steps, bitsPerToken: loss / Math.LN2, gradNorm });
      }
    } finally {
      // A new run makes a new trainer (its batch may differ); the weights it trained stay in the copy.
      trainer.dispose();
    }
    return { steps: settings.steps, totalSteps: this.totalSteps, bitsPerToken: bits, stopped: false, seconds: (performance.now() - started) / 1000 };
  }

  /** Frees the copy and the device it was made on (the loaded model is untouched). */
  reset(): void {
    const tuned = this.tuned;
    this.tuned = null;
    this.totalSteps = 0;
    tuned?.dispose();
  }
}
