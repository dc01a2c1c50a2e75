// "Teach it a style" (its own tab): pictures in (style-pictures.ts), a fine-tuning run of an f32 copy of the loaded
// model in the worker (style-tuning.ts) with a progress bar and a live loss curve (loss-curve.ts), Stop between
// steps, Reset; then the tuned copy beside the original (style-compare.ts).
import type { ModelClient } from './client';
import { el, setBar } from './dom';
import type { GalleryItem } from './gallery';
import type { ModelInfo, StyleSettings } from './protocol';
import { curveText, drawLossCurve, formatBits } from './loss-curve';
import { StylePictures } from './style-pictures';
import { StyleCompare } from './style-compare';
import { defaultStyleSettings, MIN_STYLE_IMAGES, STYLE_LIMITS, styleImagesProblem, styleSettingProblem } from './style-plan';
import { plainTrainingError } from './training-errors';

function numberInput(id: string, key: keyof typeof STYLE_LIMITS, step: string): HTMLInputElement {
  const { min, max } = STYLE_LIMITS[key];
  return el('input', { id, type: 'number', min: String(min), max: String(max), step });
}

export class StyleView {
  readonly element: HTMLElement;
  private readonly pictures: StylePictures;
  private readonly compare: StyleCompare;
  private readonly steps = numberInput('style-steps', 'steps', '1');
  private readonly batch = numberInput('style-batch', 'batchSize', '1');
  private readonly lr = numberInput('style-lr', 'lr', 'any');
  private readonly defaultsNote = el('p', { id: 'style-defaults', className: 'hint' });
  private readonly trainButton = el('button', { type: 'button', id: 'style-train', className: 'primary' }, 'Teach the style');
  private readonly stopButton = el('button', { type: 'button', id: 'style-stop', className: 'danger' }, 'Stop');
  private readonly resetButton = el('button', { type: 'button', id: 'style-reset' }, 'Reset');
  private readonly progress = el('progress', { id: 'style-progress', max: 1, value: 0 });
  private readonly status = el('span', { id: 'style-status' });
  private readonly error = el('div', { id: 'style-error', className: 'own-error' });
  private readonly curve = el('canvas', { id: 'style-curve', className: 'loss-curve', width: 360, height: 140 });
  private readonly curveLabel = el('p', { id: 'style-curve-text', className: 'hint' }, 'No steps yet.');
  private info: ModelInfo | null = null;
  private ready = false;
  private working = false;
  /** The running request (a run or a comparison): Stop stops it. */
  private runningId: number | null = null;
  /** Steps the worker's tuned copy has had (0: none, or only just made). */
  private tunedSteps = 0;
  private losses: number[] = [];
  private runSteps = 0;

  constructor(
    private readonly client: ModelClient,
    gallery: GalleryItem[],
    private readonly setBusy: (busy: boolean) => void,
  ) {
    this.pictures = new StylePictures(gallery, () => this.refresh());
    this.compare = new StyleCompare(client, (job) => this.exclusive(job), (id) => {
      this.runningId = id;
      this.refresh();
    });
    this.element = this.build();
    document.body.dataset.style = 'none';
    this.refresh();
  }

  private build(): HTMLElement {
    this.trainButton.addEventListener('click', () => void this.train());
    this.stopButton.addEventListener('click', () => this.stop());
    this.resetButton.addEventListener('click', () => void this.reset());
    this.progress.setAttribute('aria-label', 'Style training progress');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.error.setAttribute('role', 'alert');
    this.curve.setAttribute('role', 'img');
    this.curve.setAttribute('aria-describedby', 'style-curve-text');
    this.curve.setAttribute('aria-label', 'Loss curve: bits per token at each step');
    const field = (label: string, input: HTMLInputElement) => el('label', { className: 'style-field' }, `${label} `, input);
    const card = el(
      'section',
      { className: 'card style-card', id: 'style-card' },
      el('h2', { id: 'style-title' }, 'Teach it a style'),
      el(
        'p',
        { className: 'hint' },
        `Give it at least ${MIN_STYLE_IMAGES} pictures in one style and it fine-tunes a copy of the model on them, in this page, on your GPU: every weight moves a little ` +
          'towards predicting these pictures’ pixels. The loaded model stays as it is, so you can compare the two below. The curve is the loss of each step: ' +
          'how surprised the copy is by the pictures it is shown, in bits per pixel; it falls as it learns them.',
      ),
      this.pictures.element,
      el('div', { className: 'style-settings' }, field('Steps', this.steps), field('Batch', this.batch), field('Learning rate', this.lr)),
      this.defaultsNote,
      el('div', { className: 'actions' }, this.trainButton, this.stopButton, this.resetButton),
      el('div', { className: 'run-status' }, this.progress, this.status),
      this.error,
      el('figure', { className: 'style-curve' }, this.curve, el('figcaption', {}, this.curveLabel)),
    );
    card.setAttribute('aria-labelledby', 'style-title');
    drawLossCurve(this.curve, [], 1);
    return el('div', { className: 'style-view' }, card, this.compare.element);
  }

  setEnabled(ready: boolean): void {
    this.ready = ready;
    this.refresh();
  }

  /** A new model: the worker dropped the tuned copy of the old one; defaults follow the new adapter and size. */
  modelChanged(info: ModelInfo): void {
    this.info = info;
    this.tunedSteps = 0;
    const d = defaultStyleSettings(info.onCpu, info.imageSize * info.imageSize);
    this.steps.value = String(d.steps);
    this.batch.value = String(d.batchSize);
    this.lr.value = String(d.lr);
    this.defaultsNote.textContent = info.onCpu
      ? `WebGPU runs on the CPU here (${info.adapter}): a step takes many seconds, so the defaults are a short run (${d.steps} steps of ${d.batchSize}) that shows the loss falling rather than a learned style. On a GPU the defaults are 40 steps of 8.`
      : `Defaults for a GPU: ${d.steps} steps of ${d.batchSize} pictures at learning rate ${d.lr}.`;
    this.clearRun(`No style taught to ${info.name} yet.`);
    document.body.dataset.style = 'none';
    this.refresh();
  }

  private refresh(): void {
    const free = this.ready && !this.working && this.info !== null;
    this.trainButton.disabled = !free;
    this.resetButton.disabled = !free || this.tunedSteps === 0;
    this.stopButton.disabled = this.runningId === null;
    for (const input of [this.steps, this.batch, this.lr]) input.disabled = this.working;
    this.pictures.setLocked(this.working);
    this.compare.setEnabled(free && this.tunedSteps > 0);
  }

  private clearRun(text: string): void {
    this.losses = [];
    this.runSteps = 0;
    this.progress.value = 0;
    this.status.textContent = text;
    this.error.textContent = '';
    this.curveLabel.textContent = 'No steps yet.';
    drawLossCurve(this.curve, [], 1);
    this.compare.clear('Teach it a style first, then compare.');
  }

  /** Runs `job` as the page's one GPU job: the other views' buttons are disabled meanwhile. */
  private async exclusive<T>(job: () => Promise<T>): Promise<T> {
    this.working = true;
    this.setBusy(true);
    this.refresh();
    try {
      return await job();
    } finally {
      this.working = false;
      this.setBusy(false);
      this.refresh();
    }
  }

  /** The settings as typed; the first problem is shown and null returned. */
  private readSettings(): StyleSettings | null {
    const inputs = { steps: this.steps, batchSize: this.batch, lr: this.lr };
    const read = (input: HTMLInputElement) => (input.value.trim() === '' ? NaN : Number(input.value));
    const values = { steps: read(this.steps), batchSize: read(this.batch), lr: read(this.lr) };
    for (const key of ['steps', 'batchSize', 'lr'] as const) {
      const problem = styleSettingProblem(key, values[key]);
      if (problem) {
        this.error.textContent = problem;
        inputs[key].focus();
        return null;
      }
    }
    return { ...values, seed: this.tunedSteps + 1 }; // each run draws its batches in a new order
  }

  private stop(): void {
    if (this.runningId === null) return;
    this.status.textContent = 'Stopping… (a run stops after the step in flight)';
    void this.client.request({ type: 'stop', target: this.runningId });
  }

  private async train(): Promise<void> {
    const info = this.info;
    if (!info || this.working) return;
    this.error.textContent = '';
    const problem = styleImagesProblem(this.pictures.pictures.length);
    if (problem) {
      this.error.textContent = problem;
      document.body.dataset.style = 'invalid';
      return;
    }
    const settings = this.readSettings();
    if (!settings) {
      document.body.dataset.style = 'invalid';
      return;
    }
    const images = this.pictures.pictures.map((p) => p.pixels);
    this.losses = [];
    this.runSteps = settings.steps;
    drawLossCurve(this.curve, [], settings.steps);
    this.curveLabel.textContent = 'No steps yet.';
    setBar(this.progress, null); // busy until the first step (or the copy's upload) reports
    const fresh = this.tunedSteps === 0;
    this.status.textContent = fresh
      ? `Making a trainable (f32) copy of ${info.name} from its files…`
      : `Preparing ${settings.steps} more steps (the copy keeps its ${this.tunedSteps} steps so far)…`;
    document.body.dataset.style = 'training';
    const started = performance.now();
    try {
      const result = await this.exclusive(() =>
        this.client.request(
          { type: 'style-train', images, settings },
          {
            onStart: (id) => {
              this.runningId = id;
              this.refresh();
            },
            onProgress: (p) => {
              if (p.phase === 'style-copy') {
                setBar(this.progress, p.total ? p.loaded / p.total : null);
                this.status.textContent = `Making a trainable (f32) copy of ${info.name}: ${p.total ? Math.round((100 * p.loaded) / p.total) : '?'} % on the GPU`;
              } else if (p.phase === 'style-step') {
                this.losses.push(p.bitsPerToken);
                setBar(this.progress, p.step / p.steps);
                const perStep = (performance.now() - started) / 1000 / p.step;
                this.status.textContent = `Step ${p.step} of ${p.steps}: ${formatBits(p.bitsPerToken)} bits per token (${perStep.toFixed(1)} s per step so far)`;
                this.showCurve();
              }
            },
          },
        ),
      );
      this.tunedSteps = result.totalSteps;
      const range = result.bitsPerToken.length ? ` Bits per token ${formatBits(result.bitsPerToken[0])} → ${formatBits(result.bitsPerToken[result.bitsPerToken.length - 1])}.` : '';
      const total = ` The tuned copy has had ${result.totalSteps} step${result.totalSteps === 1 ? '' : 's'} in all; Teach again continues from it, Reset drops it.`;
      if (result.stopped) {
        this.status.textContent = `Stopped after ${result.steps} of ${settings.steps} steps (${result.seconds.toFixed(1)} s); what it learned is kept.${range}${total}`;
        document.body.dataset.style = 'stopped';
      } else {
        setBar(this.progress, 1);
        this.status.textContent = `Done: ${result.steps} steps in ${result.seconds.toFixed(1)} s.${range}${total}`;
        document.body.dataset.style = 'trained';
      }
      if (result.totalSteps > 0) this.compare.clear('Compare the tuned copy with the original.');
    } catch (e) {
      setBar(this.progress, 0);
      const plain = plainTrainingError('Teaching the style', e instanceof Error ? e : { message: String(e) });
      this.error.replaceChildren(
        el('strong', {}, plain.title),
        ` ${plain.advice}`,
        ...(plain.detail ? [el('details', {}, el('summary', {}, 'Details'), el('code', {}, plain.detail))] : []),
      );
      this.status.textContent = '';
      document.body.dataset.style = 'error';
    } finally {
      this.runningId = null;
      this.refresh();
    }
  }

  private showCurve(): void {
    drawLossCurve(this.curve, this.losses, this.runSteps);
    this.curveLabel.textContent = curveText(this.losses, this.runSteps);
    this.curve.dataset.points = String(this.losses.length);
  }

  private async reset(): Promise<void> {
    if (this.working) return;
    try {
      await this.exclusive(() => this.client.request({ type: 'style-reset' }));
    } catch (e) {
      this.error.textContent = `Reset failed: ${e instanceof Error ? e.message : String(e)}`;
      return;
    }
    this.tunedSteps = 0;
    this.clearRun('Reset: the tuned copy is gone; the loaded model is as it was.');
    document.body.dataset.style = 'reset';
    this.refresh();
  }
}
