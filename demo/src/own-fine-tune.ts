// "Teach it your own classes", fine-tuned (beside the linear probe): a copy of the whole model with a new classifier
// head (the library's forImageClassification) trains in the worker on the user's pictures; then both the probe and
// the fine-tuned model are scored on the same held-out pictures (held-out.ts), and both accuracies are shown.
import type { ModelClient } from './client';
import { el, setBar } from './dom';
import type { ModelInfo, Pixels, StyleSettings } from './protocol';
import { defaultClassifierSettings } from './classifier-plan';
import { heldOutRight, heldOutSplit } from './held-out';
import { fitOwnProbe } from './own-probe';
import { formatBits } from './loss-curve';
import { styleSettingProblem } from './style-plan';
import { plainTrainingError } from './training-errors';

/** What the own-classes card gives the fine-tune: its classes, their features at a layer, its one-GPU-job guard. */
export interface FineTuneHost {
  /** The classes as they are now, or what is wrong with them (the probe's own rules). */
  classSet(): { names: string[]; images: Pixels[]; labels: number[]; layer: number } | string;
  /** Pooled features [N × F] of the classes' pictures at `layer` (extracting those not yet computed). */
  featuresAt(layer: number): Promise<Float32Array>;
  exclusive<T>(job: () => Promise<T>): Promise<T>;
}

function percent(right: number, total: number): string {
  return `${right} of ${total} (${Math.round((100 * right) / total)} %)`;
}

export class OwnFineTune {
  readonly element: HTMLElement;
  private readonly steps = el('input', { id: 'own-fine-tune-steps', type: 'number', min: '1', max: '1000', step: '1' });
  private readonly button = el('button', { type: 'button', id: 'own-fine-tune' }, 'Fine-tune the whole model');
  private readonly stopButton = el('button', { type: 'button', id: 'own-fine-tune-stop', className: 'danger small' }, 'Stop');
  private readonly progress = el('progress', { id: 'own-fine-tune-progress', max: 1, value: 0 });
  private readonly status = el('span', { id: 'own-fine-tune-status' }, 'Not fine-tuned yet.');
  private readonly defaults = el('p', { id: 'own-fine-tune-defaults', className: 'hint' });
  private readonly error = el('div', { id: 'own-fine-tune-error', className: 'own-error' });
  private readonly result = el('p', { id: 'own-fine-tune-result', className: 'own-fine-tune-result' });
  private settings: StyleSettings | null = null;
  private runningId: number | null = null;
  private enabled = false;

  constructor(
    private readonly client: ModelClient,
    private readonly host: FineTuneHost,
  ) {
    this.button.addEventListener('click', () => void this.run());
    this.stopButton.addEventListener('click', () => {
      if (this.runningId !== null) void this.client.request({ type: 'stop', target: this.runningId });
    });
    this.progress.setAttribute('aria-label', 'Fine-tuning progress');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.error.setAttribute('role', 'alert');
    this.element = el(
      'div',
      { className: 'own-fine-tune' },
      el('h3', {}, 'Or fine-tune the whole model'),
      el(
        'p',
        { className: 'hint' },
        'The probe learns only a last step on features the model already makes. Fine-tuning trains every weight of a copy of the model, with a new ' +
          'classifier head on its last layer (Hugging Face’s ImageGPTForImageClassification), on your pictures. To compare the two fairly, both are ' +
          'scored on the same held-out pictures — the last third of each class (at least one), which neither trains on — so this probe is fit ' +
          'without them too. The copy is dropped afterwards.',
      ),
      el('div', { className: 'own-train' }, el('label', { htmlFor: 'own-fine-tune-steps' }, 'Steps '), this.steps, this.button, this.stopButton),
      this.defaults,
      el('div', { className: 'run-status' }, this.progress, this.status),
      this.error,
      this.result,
    );
    this.setEnabled(false);
  }

  setEnabled(free: boolean): void {
    this.enabled = free;
    this.refresh();
  }

  private refresh(): void {
    this.button.disabled = !this.enabled || this.settings === null || this.runningId !== null;
    this.steps.disabled = this.runningId !== null;
    this.stopButton.disabled = this.runningId === null;
  }

  modelChanged(info: ModelInfo): void {
    this.settings = defaultClassifierSettings(info.onCpu, info.imageSize * info.imageSize);
    this.steps.value = String(this.settings.steps);
    this.defaults.textContent =
      `Batch ${this.settings.batchSize}, learning rate ${this.settings.lr}` +
      (info.onCpu ? ': WebGPU runs on the CPU here, so a short run that shows the comparison working rather than a trained classifier (on a GPU: 30 steps of 8).' : '.');
    this.result.textContent = '';
    this.error.textContent = '';
    setBar(this.progress, 0);
    this.status.textContent = 'Not fine-tuned yet.';
    delete document.body.dataset.ownFineTune;
    this.refresh();
  }

  private async run(): Promise<void> {
    const defaults = this.settings;
    if (!defaults || this.runningId !== null) return;
    this.error.textContent = '';
    const classes = this.host.classSet();
    const steps = this.steps.value.trim() === '' ? NaN : Number(this.steps.value);
    const problem = typeof classes === 'string' ? classes : styleSettingProblem('steps', steps);
    if (problem || typeof classes === 'string') {
      this.error.textContent = problem ?? '';
      document.body.dataset.ownFineTune = 'invalid';
      return;
    }
    const settings = { ...defaults, steps };
    const { names, images, labels, layer } = classes;
    const split = heldOutSplit(labels);
    this.result.textContent = '';
    document.body.dataset.ownFineTune = 'running';
    setBar(this.progress, null);
    try {
      await this.host.exclusive(async () => {
        // The probe on the same split: fit on the training pictures' features, scored on the held-out ones.
        const X = await this.host.featuresAt(layer);
        const F = X.length / images.length;
        const rows = (indices: number[]) => {
          const out = new Float32Array(indices.length * F);
          indices.forEach((i, k) => out.set(X.subarray(i * F, (i + 1) * F), k * F));
          return out;
        };
        const probe = fitOwnProbe(rows(split.train), split.train.map((i) => labels[i]), names, F);
        const probeRight = heldOutRight(Array.from(probe.predict(rows(split.test))), labels, split.test);
        setBar(this.progress, null);
        this.status.textContent = `Making a trainable copy with a new ${names.length}-class head…`;
        const started = performance.now();
        const result = await this.client.request(
          { type: 'classifier-train', images, labels, names, train: split.train, test: split.test, settings },
          {
            onStart: (id) => {
              this.runningId = id;
              this.refresh();
            },
            onProgress: (p) => {
              if (p.phase !== 'classifier-step') return;
              setBar(this.progress, p.step / p.steps);
              this.status.textContent = `Step ${p.step} of ${p.steps}: loss ${formatBits(p.bits)} bits (${((performance.now() - started) / 1000 / p.step).toFixed(1)} s per step so far)`;
            },
          },
        );
        const fineRight = heldOutRight(result.predictions, labels, split.test);
        setBar(this.progress, 1);
        this.status.textContent = `${result.stopped ? `Stopped after ${result.steps} of ${settings.steps} steps` : `Fine-tuned ${result.steps} steps`} in ${result.seconds.toFixed(1)} s, trained on ${split.train.length} pictures.`;
        this.result.textContent = `On the same ${split.test.length} held-out pictures: the probe names ${percent(probeRight, split.test.length)}, the fine-tuned model ${percent(fineRight, split.test.length)}.`;
        this.result.dataset.probe = String(probeRight);
        this.result.dataset.fineTuned = String(fineRight);
        this.result.dataset.heldOut = String(split.test.length);
        document.body.dataset.ownFineTune = result.stopped ? 'stopped' : 'done';
      });
    } catch (e) {
      setBar(this.progress, 0);
      const plain = plainTrainingError('Fine-tuning the classifier', e instanceof Error ? e : { message: String(e) });
      this.error.replaceChildren(el('strong', {}, plain.title), ` ${plain.advice}`, ...(plain.detail ? [el('details', {}, el('summary', {}, 'Details'), el('code', {}, plain.detail))] : []));
      this.status.textContent = '';
      document.body.dataset.ownFineTune = 'error';
    } finally {
      this.runningId = null;
      this.refresh();
    }
  }
}
