// The "Features" view: mean-pooled hidden states of the gallery images (computed in the worker),
// a leave-one-out probe accuracy per layer as a chart (opened on the best layer, with a sentence on how to read it
// and one on what the best layer's number means), the chosen layer's confusion matrix, nearest neighbours by
// cosine similarity, a glossary of the terms, and "teach it your own classes" (own-classes.ts).
import type { ModelClient } from './client';
import { decodeImage } from './pixels';
import type { FeatureResults, ModelInfo, Pixels } from './protocol';
import { buildGalleryGrid, galleryImage, galleryUrl, type GalleryItem } from './gallery';
import { OwnClasses } from './own-classes';
import { layerName } from './probe-file';

const SVG = 'http://www.w3.org/2000/svg';
const NEIGHBOURS = 8;

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (text !== undefined) element.textContent = text;
  return element;
}

function percent(x: number): string {
  return `${Math.round(x * 100)} %`;
}

/** Features centred on their mean and scaled to unit length: dot products are then cosine similarities. */
export function centredUnitRows(features: Float32Array, rows: number): Float32Array {
  const cols = features.length / rows;
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) mean[k] += features[i * cols + k] / rows;
  const out = new Float32Array(features.length);
  for (let i = 0; i < rows; i++) {
    let norm = 0;
    for (let k = 0; k < cols; k++) {
      const v = features[i * cols + k] - mean[k];
      out[i * cols + k] = v;
      norm += v * v;
    }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let k = 0; k < cols; k++) out[i * cols + k] *= scale;
  }
  return out;
}

/** The `count` rows most similar to row `query` (itself excluded), best first. */
export function nearest(unitRows: Float32Array, rows: number, query: number, count: number): { index: number; similarity: number }[] {
  const cols = unitRows.length / rows;
  const scored: { index: number; similarity: number }[] = [];
  for (let i = 0; i < rows; i++) {
    if (i === query) continue;
    let dot = 0;
    for (let k = 0; k < cols; k++) dot += unitRows[query * cols + k] * unitRows[i * cols + k];
    scored.push({ index: i, similarity: dot });
  }
  return scored.sort((a, b) => b.similarity - a.similarity || a.index - b.index).slice(0, count);
}

/** The hidden state with the highest accuracy; the earliest of equals (the cheapest to compute). */
export function bestLayer(accuracy: readonly number[]): number {
  if (accuracy.length === 0) throw new Error('bestLayer: no accuracies were given');
  let best = 0;
  accuracy.forEach((a, k) => {
    if (a > accuracy[best]) best = k;
  });
  return best;
}

/** One plain sentence on how to read the accuracy chart. */
export function chartReading(majorityRate: number): string {
  return (
    'Each point is how often a simple classifier, trained on that layer’s features of the other gallery pictures, ' +
    `names the category of a picture it has not seen: higher is better. Always guessing the most common category scores ${percent(majorityRate)}, ` +
    'so only points above that line mean the layer knows something about the categories.'
  );
}

/** What the best layer's accuracy means beside raw pixels and guessing, from the numbers themselves. */
export function bestLayerVerdict(r: Pick<FeatureResults, 'accuracy' | 'pixelAccuracy' | 'majorityRate'>, nLayer: number): string {
  const best = bestLayer(r.accuracy);
  const a = r.accuracy[best];
  const name = `The best layer, ${layerName(best, nLayer)} (${percent(a)})`;
  if (a <= r.majorityRate) {
    return `${name}, does no better than always guessing the most common category (${percent(r.majorityRate)}): on these pictures the model's features do not tell the categories apart.`;
  }
  if (a < r.pixelAccuracy) {
    return (
      `${name}, is below raw pixels (${percent(r.pixelAccuracy)}): on this small set the same classifier does better with the pictures' plain colors ` +
      'than with this model’s features, so what the model learned says less about these categories than color does. ' +
      'Small models like this one learn weak features; larger ones (the ImageGPT models on the Hugging Face hub) are the ones known to beat pixels.'
    );
  }
  if (a === r.pixelAccuracy) {
    return `${name}, ties with raw pixels (${percent(r.pixelAccuracy)}): the model's features tell these categories apart as well as the plain colors do, not better.`;
  }
  // The difference of the percentages as shown, so that the sentence adds up for the reader.
  const points = Math.round(a * 100) - Math.round(r.pixelAccuracy * 100);
  const by = points < 1 ? 'by less than a point' : `by ${points} point${points === 1 ? '' : 's'}`;
  return `${name}, beats raw pixels (${percent(r.pixelAccuracy)}) ${by}: the model's features tell these categories apart better than the plain colors do.`;
}

/** Plain words for the view's terms: [term, meaning]. */
export const GLOSSARY: readonly (readonly [string, string])[] = [
  ['Layer (hidden state)', 'The model works in steps. Layer 0 is the picture’s colors and positions turned into numbers; each later layer reworks the numbers of the one before.'],
  ['Features', 'The numbers one layer computes for a picture, averaged over all its pixels: one list of numbers per picture.'],
  ['Linear probe', 'The simplest classifier: for each category a weighted sum of the features; the biggest sum wins. If it does well, the layer holds the categories in a plain, readable form.'],
  ['Standardized', 'Each feature shifted and scaled to average 0 with a spread of 1 over the training pictures, so no feature counts more just because its numbers are bigger.'],
  ['L2 penalty', 'A cost on large weights that stops the classifier from memorizing a handful of pictures; the bigger it is, the simpler the classifier stays.'],
  ['Leave-one-out', 'Each picture is classified by a probe trained on all the other pictures, never on itself, so the score is about pictures the probe has not seen.'],
  ['Raw pixels', 'The same classifier on the picture’s colors at the model’s size, with no model at all: the line the model’s features should beat.'],
  ['Most common category', 'What always answering the biggest category scores: the chance level.'],
  ['Confusion matrix', 'Rows are the true categories, columns what the probe answered; the diagonal counts the right answers.'],
];

export class FeaturesView {
  private readonly extractButton = $<HTMLButtonElement>('extract');
  private readonly progress = $<HTMLProgressElement>('features-progress');
  private readonly text = $<HTMLSpanElement>('features-text');
  private readonly chart = document.getElementById('accuracy-chart') as unknown as SVGSVGElement;
  private readonly layerSelect = $<HTMLSelectElement>('layer-select');
  private readonly confusion = $<HTMLDivElement>('confusion');
  private readonly nnGallery = $<HTMLDivElement>('nn-gallery');
  private readonly nnResults = $<HTMLDivElement>('nn-results');
  private readonly classes: string[];
  private readonly labels: number[];
  private results: FeatureResults | null = null;
  private unitRows: Float32Array | null = null;
  private query: number | null = null;
  private info: ModelInfo | null = null;
  private readonly reading = document.createElement('p');
  private readonly verdict = document.createElement('p');
  private readonly own: OwnClasses;

  constructor(
    private readonly client: ModelClient,
    private readonly gallery: GalleryItem[],
    private readonly setBusy: (busy: boolean) => void,
  ) {
    this.classes = [...new Set(gallery.map((g) => g.category))].sort();
    this.labels = gallery.map((g) => this.classes.indexOf(g.category));
    this.extractButton.addEventListener('click', () => void this.extract());
    this.layerSelect.addEventListener('change', () => this.showLayer());
    this.buildNeighbourGallery();
    this.buildExplanations();
    this.own = new OwnClasses(client, gallery, setBusy);
    // After the gallery card, before the nearest neighbours: the own classes build on the same idea.
    const card = $<HTMLElement>('features-title').closest('section');
    if (!card) throw new Error('the Features title is not inside its card');
    card.after(this.own.element);
  }

  /** The sentence on reading the chart, its verdict, and the glossary, above the chart. */
  private buildExplanations(): void {
    const explain = document.createElement('div');
    explain.className = 'features-explain';
    this.reading.id = 'features-reading';
    this.verdict.id = 'features-verdict';
    this.verdict.hidden = true;
    this.reading.textContent = chartReading(this.majorityRate());
    explain.append(this.reading, this.verdict);
    const glossary = document.createElement('details');
    glossary.className = 'features-glossary';
    glossary.id = 'features-glossary';
    const summary = document.createElement('summary');
    summary.textContent = 'Plain words for the terms';
    const list = document.createElement('dl');
    for (const [term, meaning] of GLOSSARY) {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = meaning;
      list.append(dt, dd);
    }
    glossary.append(summary, list);
    const method = $<HTMLParagraphElement>('features-method');
    method.after(glossary);
    const grid = this.chart.closest('.feature-grid') ?? this.chart;
    grid.before(explain);
  }

  /** The gallery's most common category's share (what guessing it scores), before any extraction. */
  private majorityRate(): number {
    if (this.labels.length === 0) return 0;
    const counts = new Array<number>(this.classes.length).fill(0);
    for (const l of this.labels) counts[l]++;
    return Math.max(...counts) / this.labels.length;
  }

  setEnabled(ready: boolean): void {
    this.extractButton.disabled = !ready || this.gallery.length < 3;
    this.own.setEnabled(ready);
  }

  modelChanged(info: ModelInfo): void {
    this.info = info;
    this.own.modelChanged(info);
    this.verdict.hidden = true;
    this.results = null;
    this.unitRows = null;
    this.layerSelect.replaceChildren(
      ...Array.from({ length: info.nLayer + 1 }, (_, k) => new Option(layerName(k, info.nLayer), String(k))),
    );
    this.layerSelect.value = String(Math.floor(info.nLayer / 2));
    this.layerSelect.disabled = true;
    this.chart.replaceChildren();
    this.confusion.replaceChildren();
    this.nnResults.replaceChildren();
    this.progress.value = 0;
    this.text.textContent = `Not extracted yet: ${this.gallery.length} gallery images, ${this.classes.length} categories.`;
  }

  private async extract(): Promise<void> {
    const info = this.info;
    if (!info) return;
    this.setBusy(true);
    document.body.dataset.features = 'running';
    this.text.textContent = 'Reading the gallery…';
    this.progress.removeAttribute('value'); // busy until the first batch is in (reading, preparing the GPU programs)
    try {
      const images: Pixels[] = [];
      for (const item of this.gallery) images.push(await decodeImage(await (await fetch(galleryUrl(item))).blob()));
      const started = performance.now();
      this.results = await this.client.request(
        { type: 'features', images, labels: this.labels, numClasses: this.classes.length },
        {
          onProgress: (p) => {
            if (p.phase !== 'features' && p.phase !== 'probe') return;
            this.progress.value = (p.phase === 'features' ? 0 : 0.5) + (0.5 * p.done) / p.total;
            this.text.textContent =
              p.phase === 'features'
                ? `Extracting features on the GPU: batch ${p.done} of ${p.total}`
                : `Fitting leave-one-out probes: ${p.done} of ${p.total}`;
          },
        },
      );
      this.unitRows = null;
      this.progress.value = 1;
      const best = bestLayer(this.results.accuracy);
      this.text.textContent =
        `Done in ${((performance.now() - started) / 1000).toFixed(1)} s. Best layer: ${layerName(best, info.nLayer)} ` +
        `(${percent(this.results.accuracy[best])}); raw pixels ${percent(this.results.pixelAccuracy)}, ` +
        `always guessing the most common category ${percent(this.results.majorityRate)}.`;
      this.layerSelect.disabled = false;
      // Opens on the best layer; the own-classes panel starts from it too.
      this.layerSelect.value = String(best);
      this.reading.textContent = chartReading(this.results.majorityRate);
      this.verdict.textContent = bestLayerVerdict(this.results, info.nLayer);
      this.verdict.hidden = false;
      this.own.suggestLayer(best);
      this.showLayer();
      document.body.dataset.features = 'done';
    } catch (e) {
      this.progress.value = 0; // nothing was extracted: no part-filled bar
      this.text.textContent = `Feature extraction failed: ${e instanceof Error ? e.message : String(e)}`;
      document.body.dataset.features = 'error';
    } finally {
      this.setBusy(false);
    }
  }

  private get layer(): number {
    return Number(this.layerSelect.value);
  }

  private showLayer(): void {
    if (!this.results) return;
    this.unitRows = centredUnitRows(this.results.layers[this.layer], this.gallery.length);
    this.drawChart();
    this.drawConfusion();
    if (this.query !== null) this.showNeighbours(this.query);
  }

  private drawChart(): void {
    const r = this.results;
    const info = this.info;
    if (!r || !info) return;
    const [W, H] = [480, 260];
    const m = { left: 44, right: 16, top: 16, bottom: 44 };
    const n = r.accuracy.length;
    const x = (k: number) => m.left + ((W - m.left - m.right) * (n === 1 ? 0.5 : k / (n - 1)));
    const y = (a: number) => H - m.bottom - (H - m.top - m.bottom) * a;
    const parts: SVGElement[] = [];
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(svg('line', { x1: m.left, x2: W - m.right, y1: y(t), y2: y(t), class: 'grid' }));
      parts.push(svg('text', { x: m.left - 6, y: y(t) + 4, class: 'tick', 'text-anchor': 'end' }, percent(t)));
    }
    const reference = (value: number, label: string, cls: string) => {
      parts.push(svg('line', { x1: m.left, x2: W - m.right, y1: y(value), y2: y(value), class: cls }));
      parts.push(svg('text', { x: W - m.right, y: y(value) - 4, class: `tick ${cls}-label`, 'text-anchor': 'end' }, `${label} ${percent(value)}`));
    };
    reference(r.pixelAccuracy, 'raw pixels', 'pixels');
    reference(r.majorityRate, 'most common category', 'majority');
    parts.push(svg('polyline', { points: r.accuracy.map((a, k) => `${x(k)},${y(a)}`).join(' '), class: 'series' }));
    r.accuracy.forEach((a, k) => {
      const point = svg('circle', { cx: x(k), cy: y(a), r: k === this.layer ? 7 : 5, class: k === this.layer ? 'point selected' : 'point' });
      point.append(svg('title', {}, `${layerName(k, info.nLayer)}: ${percent(a)}`));
      point.addEventListener('click', () => {
        this.layerSelect.value = String(k);
        this.showLayer();
      });
      parts.push(point);
      parts.push(svg('text', { x: x(k), y: H - m.bottom + 18, class: 'tick', 'text-anchor': 'middle' }, String(k)));
    });
    parts.push(svg('text', { x: (m.left + W - m.right) / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, 'hidden state (layer)'));
    this.chart.replaceChildren(...parts);
  }

  private drawConfusion(): void {
    const r = this.results;
    if (!r) return;
    const C = this.classes.length;
    const counts = new Int32Array(C * C);
    r.predictions[this.layer].forEach((p, i) => counts[this.labels[i] * C + p]++);
    const table = document.createElement('table');
    const caption = table.createCaption();
    caption.textContent = `Confusion matrix, ${layerName(this.layer, r.accuracy.length - 1)}: accuracy ${percent(r.accuracy[this.layer])} (rows: true category, columns: predicted)`;
    const head = table.createTHead().insertRow();
    head.append(document.createElement('th'));
    for (const c of this.classes) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.title = c;
      th.textContent = shortName(c);
      head.append(th);
    }
    const body = table.createTBody();
    this.classes.forEach((name, t) => {
      const row = body.insertRow();
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = name;
      row.append(th);
      let total = 0;
      for (let p = 0; p < C; p++) total += counts[t * C + p];
      for (let p = 0; p < C; p++) {
        const cell = row.insertCell();
        const v = counts[t * C + p];
        cell.textContent = v ? String(v) : '';
        cell.className = p === t ? 'diagonal' : '';
        cell.style.setProperty('--share', String(total ? v / total : 0));
        cell.title = `${name} predicted as ${this.classes[p]}: ${v}`;
      }
    });
    this.confusion.replaceChildren(table);
  }

  private buildNeighbourGallery(): void {
    buildGalleryGrid(this.nnGallery, this.gallery, 40, (_, i) => {
      this.query = i;
      this.showNeighbours(i);
    });
  }

  private showNeighbours(query: number): void {
    if (!this.unitRows) {
      this.nnResults.textContent = 'Extract the features first.';
      return;
    }
    const list = nearest(this.unitRows, this.gallery.length, query, NEIGHBOURS);
    const q = this.gallery[query];
    const heading = document.createElement('p');
    heading.textContent = `Nearest to “${q.name.replaceAll('_', ' ')}” (${q.category}) at ${layerName(this.layer, this.info?.nLayer ?? 0)}:`;
    const row = document.createElement('ol');
    row.className = 'neighbours';
    for (const { index, similarity } of list) {
      const item = this.gallery[index];
      const li = document.createElement('li');
      if (item.category === q.category) li.className = 'same-category';
      const img = galleryImage(item, 48);
      const text = document.createElement('span');
      text.textContent = `${similarity.toFixed(2)} · ${shortName(item.category)}`;
      li.append(img, text);
      row.append(li);
    }
    this.nnResults.replaceChildren(heading, row);
  }
}

function shortName(category: string): string {
  return category.split(' ')[0];
}
