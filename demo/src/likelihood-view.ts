// The "Likelihood" view: bits per token of the chosen image (quantized) and of each sample of the last run,
// each beside a heat map of its per-pixel surprise on one shared scale. Computed in the worker when the view
// is open and its images changed (a new prompt, a finished run), never while a generation runs.
import type { ModelClient } from './client';
import { describeSurprise, heatPixels, legendPixels, summarize, surpriseRange } from './likelihood';
import { drawPixels } from './pixels';
import type { LikelihoodResults, Pixels } from './protocol';

/** One image to score: its label, its pixels (as shown) and its tokens. */
export interface LikelihoodSubject {
  label: string;
  image: Pixels;
  tokens: Int32Array;
}

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

export class LikelihoodView {
  private readonly panel = $<HTMLElement>('view-likelihood');
  private readonly text = $<HTMLSpanElement>('likelihood-text');
  private readonly progress = $<HTMLProgressElement>('likelihood-progress');
  private readonly list = $<HTMLDivElement>('likelihood-list');
  private readonly legend = $<HTMLCanvasElement>('likelihood-legend');
  private readonly legendMax = $<HTMLSpanElement>('likelihood-legend-max');
  private readonly legendMid = $<HTMLSpanElement>('likelihood-legend-mid');
  private readonly legendTop = $<HTMLSpanElement>('likelihood-legend-top');
  private subjects: LikelihoodSubject[] = [];
  /** Bumped on every change of the subjects; `shown` is the version on screen (or failed). */
  private version = 0;
  private shown = -1;
  private ready = false;
  private running = false;

  constructor(
    private readonly client: ModelClient,
    private readonly setBusy: (busy: boolean) => void,
  ) {
    drawPixels(this.legend, { data: legendPixels(256), width: 256, height: 1 });
  }

  /** The images to score changed: the prompt (first) and the last run's samples. */
  setSubjects(subjects: LikelihoodSubject[]): void {
    this.subjects = subjects;
    this.version++;
    this.refresh();
  }

  /** The model is free (or not); a pending computation starts when it is and the view is open. */
  setEnabled(ready: boolean): void {
    this.ready = ready;
    this.refresh();
  }

  /** Called when the view is opened. */
  refresh(): void {
    if (this.panel.hidden || this.shown === this.version || this.running) return;
    if (this.subjects.length === 0) {
      this.shown = this.version;
      this.list.replaceChildren();
      this.progress.value = 0;
      this.text.textContent = 'Load a model and pick an image in Complete: its likelihood is shown here.';
      document.body.dataset.likelihood = 'empty';
      return;
    }
    if (!this.ready) {
      this.progress.value = 0;
      this.text.textContent = 'Waiting for the model (it is busy)…';
      document.body.dataset.likelihood = 'waiting';
      return;
    }
    void this.compute();
  }

  private async compute(): Promise<void> {
    const version = this.version;
    const subjects = this.subjects;
    this.running = true;
    this.setBusy(true);
    document.body.dataset.likelihood = 'running';
    const scoring = `Scoring ${subjects.length} image${subjects.length > 1 ? 's' : ''} on the GPU`;
    this.text.textContent = `${scoring}…`;
    this.progress.removeAttribute('value'); // busy until the first batch is in (it also prepares the GPU programs)
    const started = performance.now();
    try {
      const result = await this.client.request(
        { type: 'likelihood', images: subjects.map((s) => s.tokens.slice()) },
        {
          // The worker scores a batch at a time and says after each how many are done.
          onProgress: (p) => {
            if (p.phase !== 'likelihood' || version !== this.version || p.done === 0) return;
            this.progress.value = p.done / p.total;
            this.text.textContent = `${scoring}: ${p.done} of ${p.total} done…`;
          },
        },
      );
      if (version === this.version) {
        this.progress.value = 1;
        this.draw(subjects, result);
        this.text.textContent = `Scored in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
        document.body.dataset.likelihood = 'done';
      }
    } catch (e) {
      this.list.replaceChildren();
      this.progress.value = 0; // nothing was scored: no part-filled bar
      this.text.textContent = `Scoring failed: ${e instanceof Error ? e.message : String(e)}`;
      document.body.dataset.likelihood = 'error';
    } finally {
      // A failure is not retried until the images change; a result for older images is dropped and redone.
      this.shown = version;
      this.running = false;
      if (!this.progress.hasAttribute('value')) this.progress.value = 0; // a dropped result leaves no busy bar
      this.setBusy(false);
    }
  }

  private draw(subjects: LikelihoodSubject[], r: LikelihoodResults): void {
    const { width, height } = r;
    const { max } = surpriseRange(r.surprise);
    this.legendMax.textContent = `${max.toFixed(1)} bits`;
    this.legendMid.textContent = (max / 2).toFixed(1);
    this.legendTop.textContent = `${max.toFixed(1)} bits`;
    const entries = subjects.map((subject, i) => {
      const summary = summarize(r.surprise, i, width, height);
      const figure = document.createElement('figure');
      figure.className = 'likelihood-entry';
      figure.dataset.bits = String(r.bitsPerToken[i]);
      const image = document.createElement('canvas');
      image.className = 'pixelated checker';
      image.setAttribute('role', 'img');
      image.setAttribute('aria-label', subject.label);
      drawPixels(image, subject.image);
      const heat = document.createElement('canvas');
      heat.className = 'pixelated heat';
      heat.setAttribute('role', 'img');
      heat.tabIndex = 0; // reachable by keyboard: its text alternative is read when focused
      heat.setAttribute('aria-label', describeSurprise(subject.label, summary));
      heat.title = `Most surprising pixel: row ${summary.row + 1}, column ${summary.column + 1} (${summary.max.toFixed(1)} bits)`;
      drawPixels(heat, { data: heatPixels(r.surprise, i, width, height, max), width, height });
      const pair = document.createElement('div');
      pair.className = 'likelihood-pair';
      pair.append(image, heat);
      const caption = document.createElement('figcaption');
      const name = document.createElement('span');
      name.textContent = subject.label;
      const bits = document.createElement('strong');
      bits.className = 'bits';
      bits.textContent = `${r.bitsPerToken[i].toFixed(2)} bits per token`;
      caption.append(name, bits);
      figure.append(pair, caption);
      return figure;
    });
    this.list.replaceChildren(...entries);
  }
}
