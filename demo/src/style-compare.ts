// "Teach it a style": the tuned copy beside the loaded model — the Complete view's prompt completed (or samples
// drawn from scratch) by both, with the same rows kept, sampling settings and seed, so that only the weights differ.
import type { ModelClient } from './client';
import { el, setBar } from './dom';
import { drawPixels } from './pixels';
import type { Pixels, Request } from './protocol';
import { state } from './app-state';
import { ui } from './page-elements';

type GenerateBody = Omit<Extract<Request, { type: 'generate' }>, 'id' | 'type'>;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class StyleCompare {
  readonly element: HTMLElement;
  readonly completeButton = el('button', { type: 'button', id: 'style-compare-complete', className: 'primary' }, 'Complete the picked image with both');
  readonly scratchButton = el('button', { type: 'button', id: 'style-compare-scratch' }, 'Sample from scratch with both');
  private readonly progress = el('progress', { id: 'style-compare-progress', max: 1, value: 0 });
  private readonly status = el('span', { id: 'style-compare-status' }, 'Teach it a style first, then compare.');
  private readonly grid = el('div', { id: 'style-compare', className: 'style-compare' });

  /** `run(working)` marks the page busy around a comparison; `onStart` hands the running request's id (for Stop). */
  constructor(
    private readonly client: ModelClient,
    private readonly run: <T>(job: () => Promise<T>) => Promise<T>,
    private readonly onStart: (id: number | null) => void,
  ) {
    this.progress.setAttribute('aria-label', 'Comparison progress');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.completeButton.addEventListener('click', () => void this.compare(true));
    this.scratchButton.addEventListener('click', () => void this.compare(false));
    this.element = el(
      'section',
      { className: 'card', id: 'style-compare-card' },
      el('h2', { id: 'style-compare-title' }, 'Compare with the original'),
      el(
        'p',
        { className: 'hint' },
        'Both models get the same prompt and settings: the image picked in Complete, its rows kept, the samples, temperature, top-k and the next seed set there. ' +
          'Only the weights differ, so any difference is what the style taught.',
      ),
      el('div', { className: 'actions' }, this.completeButton, this.scratchButton),
      el('div', { className: 'run-status' }, this.progress, this.status),
      this.grid,
    );
    this.element.setAttribute('aria-labelledby', 'style-compare-title');
  }

  setEnabled(ready: boolean): void {
    this.completeButton.disabled = !ready || !state.prompt;
    this.scratchButton.disabled = !ready;
  }

  /** The tuned copy is gone (Reset, a new model): its samples go too. */
  clear(text: string): void {
    this.grid.replaceChildren();
    this.progress.value = 0;
    this.status.textContent = text;
    delete document.body.dataset.styleCompare;
  }

  /** The Complete view's settings as one generate request's body; an error says which to fix. */
  private settings(conditional: boolean): GenerateBody {
    const seed = ui.seed.value.trim() === '' ? NaN : Number(ui.seed.value);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`the next seed in Complete must be a whole number from 0 to ${0xffffffff}, it is "${ui.seed.value}"`);
    const prompt = state.prompt;
    if (conditional && !prompt) throw new Error('no image is picked in Complete');
    return {
      tokens: conditional && prompt ? prompt.tokens : null,
      keepRows: Number(ui.keepRows.value),
      varyKeptRows: false,
      samples: Number(ui.samples.value),
      sampling: { temperature: Number(ui.temperature.value), topK: Number(ui.topK.value), seed },
    };
  }

  private row(label: string, id: string, count: number, size: number): HTMLCanvasElement[] {
    const canvases = Array.from({ length: count }, (_, i) => {
      const canvas = el('canvas', { className: 'pixelated checker', width: size, height: size });
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', `${label}, sample ${i + 1}`);
      return canvas;
    });
    this.grid.append(el('figure', { className: 'style-compare-row', id }, el('figcaption', {}, label), el('div', { className: 'style-compare-samples' }, ...canvases)));
    return canvases;
  }

  private async compare(conditional: boolean): Promise<void> {
    const model = state.model;
    if (!model) return;
    let body: GenerateBody;
    try {
      body = this.settings(conditional);
    } catch (e) {
      this.status.textContent = `Not compared: ${message(e)}.`;
      document.body.dataset.styleCompare = 'invalid';
      return;
    }
    this.grid.replaceChildren();
    const size = model.imageSize;
    const what = conditional ? `the picked image with ${body.keepRows} rows kept` : 'from scratch';
    const sides: { tuned: boolean; label: string; id: string }[] = [
      { tuned: false, label: `Original: ${model.name}`, id: 'style-compare-original' },
      { tuned: true, label: `Tuned: ${model.name} taught the style`, id: 'style-compare-tuned' },
    ];
    document.body.dataset.styleCompare = 'running';
    const started = performance.now();
    try {
      await this.run(async () => {
        for (const [k, side] of sides.entries()) {
          const canvases = this.row(side.label, side.id, body.samples, size);
          const show = (images: Pixels[]) => images.forEach((image, i) => drawPixels(canvases[i], image));
          setBar(this.progress, null);
          this.status.textContent = `${side.tuned ? 'Tuned' : 'Original'} model: ${what}, seed ${body.sampling.seed}…`;
          const result = await this.client.request(
            { type: 'generate', ...body, tuned: side.tuned },
            {
              onStart: (id) => this.onStart(id),
              onProgress: (p) => {
                if (p.phase !== 'row') return;
                show(p.images);
                setBar(this.progress, (k + (p.row + 1) / p.rows) / sides.length);
              },
            },
          );
          show(result.images);
          if (result.stopped) {
            this.status.textContent = 'Stopped.';
            document.body.dataset.styleCompare = 'stopped';
            return;
          }
        }
        this.progress.value = 1;
        this.status.textContent = `Both models ${conditional ? 'completed' : 'sampled'} ${what} with seed ${body.sampling.seed} in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
        document.body.dataset.styleCompare = 'done';
      });
    } catch (e) {
      this.progress.value = 0;
      this.status.textContent = `Not compared: ${message(e)}.`;
      document.body.dataset.styleCompare = 'error';
    } finally {
      this.onStart(null);
    }
  }
}
