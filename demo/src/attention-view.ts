// The "Attention" view: pick a pixel of the chosen image (the query); one map per head shows that head's
// attention over the earlier pixels at the chosen layer, drawn over the faded image. The worker computes the
// query's row for every layer and head at once, so switching layers redraws without asking it again; the row is
// recomputed only when the image, the query or the model changes, and only while the view is open.
import { attentionPixels, describeHead, headWeights, middleLayer, moveCursor, pixelMax, type AttentionRow } from './attention';
import type { ModelClient } from './client';
import { legendPixels } from './likelihood';
import { drawPixels } from './pixels';
import type { ModelInfo, Pixels } from './protocol';

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

export class AttentionView {
  private readonly panel = $<HTMLElement>('view-attention');
  private readonly text = $<HTMLSpanElement>('attention-text');
  private readonly picker = $<HTMLCanvasElement>('attention-image');
  private readonly cursorMark = $<HTMLDivElement>('attention-cursor');
  private readonly queryMark = $<HTMLDivElement>('attention-query-mark');
  private readonly queryText = $<HTMLElement>('attention-query');
  private readonly layerSelect = $<HTMLSelectElement>('attention-layer');
  private readonly heads = $<HTMLDivElement>('attention-heads');
  private image: Pixels | null = null;
  private tokens: Int32Array | null = null;
  /** Bumped when the image or the model changes. */
  private version = 0;
  private query: number | null = null;
  private cursor = 0;
  /** The row on screen, and the image version and query it was computed for (`shown` also marks a failure). */
  private row: AttentionRow | null = null;
  private shown = '';
  private ready = false;
  private running = false;

  constructor(
    private readonly client: ModelClient,
    private readonly setBusy: (busy: boolean) => void,
  ) {
    drawPixels($<HTMLCanvasElement>('attention-legend'), { data: legendPixels(256), width: 256, height: 1 });
    this.picker.addEventListener('click', (e) => {
      if (!this.image) return;
      const rect = this.picker.getBoundingClientRect();
      const { width, height } = this.image;
      const column = Math.min(Math.floor(((e.clientX - rect.left) / rect.width) * width), width - 1);
      const row = Math.min(Math.floor(((e.clientY - rect.top) / rect.height) * height), height - 1);
      this.pick(Math.max(row, 0) * width + Math.max(column, 0));
    });
    this.picker.addEventListener('keydown', (e) => {
      if (!this.image) return;
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.pick(this.cursor);
        return;
      }
      const next = moveCursor(this.cursor, e.key, this.image.width, this.image.height);
      if (next === null) return;
      e.preventDefault();
      this.cursor = next;
      this.showMarks();
    });
    this.picker.addEventListener('focus', () => this.showMarks());
    this.picker.addEventListener('blur', () => this.showMarks());
    this.layerSelect.addEventListener('change', () => this.draw());
  }

  /** A new model: its layers fill the selector (the middle one chosen); the row is stale. */
  modelChanged(info: ModelInfo): void {
    const layers = Array.from({ length: info.nLayer }, (_, l) => new Option(`Layer ${l + 1} of ${info.nLayer}`, String(l)));
    this.layerSelect.replaceChildren(...layers);
    this.layerSelect.value = String(middleLayer(info.nLayer));
    this.layerSelect.disabled = false;
    this.version++;
    this.refresh();
  }

  /** The image picked in Complete (quantized) and its tokens; null when there is none. */
  setImage(image: Pixels | null, tokens: Int32Array | null): void {
    if (image === this.image && tokens === this.tokens) return; // the same prompt (e.g. after a run): the row stands
    const sameSize = !!image && !!this.image && image.width === this.image.width && image.height === this.image.height;
    if (!sameSize) {
      // A pixel of another size of image means nothing: the query is picked again.
      this.query = null;
      this.cursor = image ? Math.floor(image.height / 2) * image.width + Math.floor(image.width / 2) : 0;
    }
    this.image = image;
    this.tokens = tokens;
    this.version++;
    if (image) drawPixels(this.picker, image);
    this.showMarks();
    this.refresh();
  }

  /** The model is free (or not); a pending computation starts when it is and the view is open. */
  setEnabled(ready: boolean): void {
    this.ready = ready;
    this.refresh();
  }

  private pick(pixel: number): void {
    this.cursor = pixel;
    this.query = pixel;
    this.showMarks();
    this.refresh();
  }

  /** The keyboard cursor (while the image has the focus) and the picked query, as outlines over the image. */
  private showMarks(): void {
    const image = this.image;
    const place = (mark: HTMLElement, pixel: number | null, visible: boolean) => {
      mark.hidden = !image || pixel === null || !visible;
      if (!image || pixel === null) return;
      mark.style.left = `${((pixel % image.width) / image.width) * 100}%`;
      mark.style.top = `${(Math.floor(pixel / image.width) / image.height) * 100}%`;
      mark.style.width = `${100 / image.width}%`;
      mark.style.height = `${100 / image.height}%`;
    };
    place(this.queryMark, this.query, true);
    place(this.cursorMark, this.cursor, document.activeElement === this.picker);
    if (!image) {
      this.queryText.textContent = 'No image yet.';
      return;
    }
    const at = (p: number) => `row ${Math.floor(p / image.width) + 1}, column ${(p % image.width) + 1}`;
    const query = this.query === null ? 'no query pixel picked yet' : `query pixel ${at(this.query)}`;
    this.queryText.textContent =
      document.activeElement === this.picker && this.cursor !== this.query ? `Cursor at ${at(this.cursor)} (Enter picks it); ${query}.` : `${query[0].toUpperCase()}${query.slice(1)}.`;
  }

  private key(): string {
    return `${this.version}:${this.query}`;
  }

  /** Called when the view is opened and whenever what it shows may have changed. */
  refresh(): void {
    if (this.panel.hidden || this.running) return;
    if (!this.image || !this.tokens) {
      this.row = null;
      this.heads.replaceChildren();
      this.text.textContent = 'Load a model and pick an image in Complete: its attention is shown here.';
      document.body.dataset.attention = 'empty';
      return;
    }
    if (this.query === null) {
      this.row = null;
      this.heads.replaceChildren();
      this.text.textContent = 'Click a pixel of the image (or focus it, move with the arrow keys and press Enter) to see where each head looks.';
      document.body.dataset.attention = 'pick';
      return;
    }
    if (this.shown === this.key()) return;
    if (!this.ready) {
      this.text.textContent = 'Waiting for the model (it is busy)…';
      document.body.dataset.attention = 'waiting';
      return;
    }
    void this.compute();
  }

  private async compute(): Promise<void> {
    const key = this.key();
    const tokens = this.tokens!;
    const pixel = this.query!;
    this.running = true;
    this.setBusy(true);
    document.body.dataset.attention = 'running';
    this.text.textContent = 'Computing the attention of every layer and head on the GPU…';
    const started = performance.now();
    try {
      const result = await this.client.request({ type: 'attention', tokens: tokens.slice(), pixel });
      if (key === this.key()) {
        this.row = { weights: result.weights, nLayer: result.nLayer, nHead: result.nHead, query: result.pixel };
        this.draw();
        this.text.textContent = `Computed in ${((performance.now() - started) / 1000).toFixed(1)} s (every layer at once: changing the layer redraws).`;
        document.body.dataset.attention = 'done';
      }
    } catch (e) {
      this.row = null;
      this.heads.replaceChildren();
      this.text.textContent = `The attention could not be computed: ${e instanceof Error ? e.message : String(e)}`;
      document.body.dataset.attention = 'error';
    } finally {
      // A failure is not retried until the image, query or model changes; a stale result is redone (setBusy refreshes).
      this.shown = key;
      this.running = false;
      this.setBusy(false);
    }
  }

  /** One map per head of the chosen layer, each on its own scale. */
  private draw(): void {
    const row = this.row;
    const image = this.image;
    if (!row || !image) return;
    const layer = Number(this.layerSelect.value);
    const { width, height } = image;
    const figures = Array.from({ length: row.nHead }, (_, h) => {
      const weights = headWeights(row, layer, h);
      const max = pixelMax(weights);
      let sum = 0;
      for (const w of weights) sum += w;
      const figure = document.createElement('figure');
      figure.className = 'attention-head';
      figure.dataset.sum = String(sum);
      figure.dataset.sos = String(weights[0]);
      figure.dataset.max = String(max);
      const canvas = document.createElement('canvas');
      canvas.className = 'pixelated';
      canvas.setAttribute('role', 'img');
      canvas.tabIndex = 0; // reachable by keyboard: its text alternative is read when focused
      canvas.setAttribute('aria-label', describeHead(h, layer, weights, width));
      drawPixels(canvas, { data: attentionPixels(image.data, width, height, weights, max), width, height });
      const caption = document.createElement('figcaption');
      const name = document.createElement('strong');
      name.textContent = `Head ${h + 1}`;
      const scale = document.createElement('span');
      scale.textContent = `top ${max.toFixed(3)} · start ${weights[0].toFixed(3)}`;
      caption.append(name, scale);
      figure.append(canvas, caption);
      return figure;
    });
    this.heads.replaceChildren(...figures);
    this.heads.dataset.layer = String(layer);
  }
}
