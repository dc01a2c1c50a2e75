// "Teach it your own classes" (inside the Features view): the user makes 2–5 named classes of uploaded, drawn or
// gallery images; the worker extracts one layer's mean-pooled features (with progress); a linear probe (the
// library's LinearProbe) trains in the page; then new drawings and uploads get live predictions with per-class
// confidences. The trained probe saves and loads as JSON (probe-file.ts checks it).
import { LinearProbe } from '../../src/index';
import type { ModelClient } from './client';
import { setupDrawing } from './drawing';
import { galleryImage, galleryUrl, gridStep, type GalleryItem } from './gallery';
import { decodeImage, drawPixels, readCanvas } from './pixels';
import {
  classSetProblem,
  layerName,
  MAX_CLASSES,
  MIN_CLASSES,
  MIN_IMAGES_PER_CLASS,
  probeFile,
  probeMismatch,
  readProbeFile,
  type ProbeModel,
} from './probe-file';
import type { ModelInfo, Pixels } from './protocol';

/** L2 penalty of the own-classes probe: firm, since a few images per class are all it sees (as the gallery probes). */
const OWN_L2 = 1e-2;
const OWN_MAX_ITER = 200;
/** Uploads are shrunk to this longest side in the page: the worker squeezes them to the model's size anyway. */
const MAX_SIDE = 256;
/** Predictions of uploaded images kept on screen (newest first); the drawing has its own, live one. */
const MAX_UPLOAD_PREDICTIONS = 6;
/** Leave-one-out is reported when it costs at most this many small fits. */
const MAX_LEAVE_ONE_OUT = 60;
const DEFAULT_NAMES = ['red', 'blue', 'class 3', 'class 4', 'class 5'];

interface OwnImage {
  pixels: Pixels;
  /** Where it came from, for its label ("drawing 2", a file name, a gallery emoji). */
  source: string;
  /** Pooled features by layer, for the model loaded when they were computed (cleared on a model change). */
  features: Map<number, Float32Array>;
}

interface OwnClass {
  name: HTMLInputElement;
  images: OwnImage[];
  element: HTMLFieldSetElement;
  list: HTMLUListElement;
  count: HTMLSpanElement;
  error: HTMLParagraphElement;
}

/** The trained (or loaded) probe and what it reads. */
interface Trained {
  probe: LinearProbe;
  layer: number;
  model: ProbeModel;
  classes: string[];
  counts: number[];
}

interface Prediction {
  pixels: Pixels;
  label: string;
  element: HTMLElement;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The image scaled down (aspect kept) so its longest side is at most MAX_SIDE. */
function shrink(image: Pixels): Pixels {
  const scale = MAX_SIDE / Math.max(image.width, image.height);
  if (scale >= 1) return image;
  const source = document.createElement('canvas');
  drawPixels(source, image);
  const target = document.createElement('canvas');
  target.width = Math.max(1, Math.round(image.width * scale));
  target.height = Math.max(1, Math.round(image.height * scale));
  const context = target.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, target.width, target.height);
  return readCanvas(target);
}

function thumbnail(image: Pixels, label: string): HTMLCanvasElement {
  const canvas = el('canvas', { className: 'own-thumb' });
  drawPixels(canvas, image);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

function percent(x: number): string {
  return `${Math.round(x * 100)} %`;
}

export class OwnClasses {
  readonly element: HTMLElement;
  private readonly classList = el('div', { className: 'own-class-list' });
  private readonly addClassButton = el('button', { type: 'button', id: 'own-add-class' }, '+ Add a class');
  private readonly pad = el('canvas', { id: 'own-draw-canvas', width: 128, height: 128 });
  private readonly padColor = el('input', { id: 'own-draw-color', type: 'color', value: '#e53935' });
  private readonly padSize = el('input', { id: 'own-draw-size', type: 'range', min: '4', max: '48', value: '20' });
  private readonly padClear = el('button', { type: 'button', id: 'own-draw-clear', className: 'quiet' }, 'Clear');
  private readonly predictDrawing = el('button', { type: 'button', id: 'own-predict-drawing' }, 'Classify the drawing');
  private readonly galleryTarget = el('select', { id: 'own-gallery-target' });
  private readonly layerSelect = el('select', { id: 'own-layer' });
  private readonly trainButton = el('button', { type: 'button', id: 'own-train', className: 'primary' }, 'Train the probe');
  private readonly trainError = el('p', { id: 'own-train-error', className: 'own-error' });
  private readonly progress = el('progress', { id: 'own-progress', max: 1, value: 0 });
  private readonly status = el('span', { id: 'own-status' });
  private readonly uploadInput = el('input', { id: 'own-predict-input', type: 'file', accept: 'image/*', multiple: true });
  private readonly uploadError = el('p', { id: 'own-predict-error', className: 'own-error' });
  private readonly predictions = el('div', { id: 'own-predictions', className: 'own-predictions' });
  private readonly saveButton = el('button', { type: 'button', id: 'own-save' }, 'Save probe (JSON)');
  private readonly loadInput = el('input', { id: 'own-load-input', type: 'file', accept: 'application/json,.json' });
  private readonly loadError = el('p', { id: 'own-load-error', className: 'own-error' });
  private readonly classes: OwnClass[] = [];
  private info: ModelInfo | null = null;
  private ready = false;
  private working = false;
  private trained: Trained | null = null;
  /** The classes or the layer changed after training: predictions still use the old probe, Train makes a new one. */
  private stale = false;
  private layerTouched = false;
  private drawings = 0;
  private drawingPrediction: Prediction | null = null;
  private uploads: Prediction[] = [];
  /** Predictions asked for while the model was busy: run when it is free. */
  private pending = false;

  constructor(
    private readonly client: ModelClient,
    private readonly gallery: GalleryItem[],
    private readonly setBusy: (busy: boolean) => void,
  ) {
    this.element = this.build();
    for (let i = 0; i < MIN_CLASSES; i++) this.addClass();
    this.refresh();
  }

  setEnabled(ready: boolean): void {
    this.ready = ready;
    this.refresh();
    if (ready && this.pending && !this.working) {
      this.pending = false;
      // Not from inside the page's setBusy, which is still enabling the other views.
      setTimeout(() => void this.predictAll(), 0);
    }
  }

  modelChanged(info: ModelInfo): void {
    this.info = info;
    this.trained = null;
    this.stale = false;
    this.layerTouched = false;
    for (const c of this.classes) for (const image of c.images) image.features.clear();
    this.layerSelect.replaceChildren(...Array.from({ length: info.nLayer + 1 }, (_, k) => new Option(layerName(k, info.nLayer), String(k))));
    this.layerSelect.value = String(Math.floor(info.nLayer / 2));
    for (const p of this.allPredictions()) this.showPending(p, 'Train a probe for this model to classify it.');
    this.progress.value = 0;
    this.setStatus(`No probe yet: name your classes, add at least ${MIN_IMAGES_PER_CLASS} images to each, then train.`);
    document.body.dataset.ownProbe = 'none';
    this.refresh();
  }

  /** The gallery probes' best layer: the default here, until the user picks one or a probe exists. */
  suggestLayer(layer: number): void {
    if (this.layerTouched || this.trained) return;
    this.layerSelect.value = String(layer);
  }

  // ---- building the panel ----------------------------------------------------------------------

  private build(): HTMLElement {
    const section = el('section', { className: 'card own-classes', id: 'own-classes' });
    section.setAttribute('aria-labelledby', 'own-title');
    const title = el('h2', { id: 'own-title' }, 'Teach it your own classes');
    const intro = el(
      'p',
      { className: 'hint' },
      `Make ${MIN_CLASSES} to ${MAX_CLASSES} classes, give each a name and at least ${MIN_IMAGES_PER_CLASS} pictures (drawn, uploaded or picked from the gallery). ` +
        'The model turns every picture into features (the numbers of one layer, averaged over the picture); a simple classifier ' +
        'then learns which features go with which class, in this page. After that, every new drawing or upload is classified as you make it.',
    );

    this.addClassButton.addEventListener('click', () => {
      const c = this.addClass();
      c.name.focus();
      c.name.select();
    });

    // The drawing pad, shared by all classes: draw, then "Add the drawing" on a class.
    const padLabel = el('p', { className: 'own-pad-label', id: 'own-pad-label' }, 'Drawing pad');
    this.pad.tabIndex = 0;
    this.pad.setAttribute('role', 'application');
    this.pad.setAttribute('aria-roledescription', 'drawing canvas');
    this.pad.setAttribute('aria-labelledby', 'own-pad-label');
    this.pad.setAttribute('aria-describedby', 'own-pad-help');
    const padHelp = el(
      'p',
      { className: 'hint', id: 'own-pad-help' },
      'Draw here, then press “Add the drawing” on a class (the pad clears for the next one). Once a probe is trained, each stroke is classified live. ' +
        'Keyboard: focus the pad, move with the arrow keys (Shift: bigger steps), Space puts the brush down or lifts it.',
    );
    const cursor = el('div', { className: 'draw-cursor', hidden: true });
    const padStatus = el('p', { className: 'sr-only' });
    padStatus.setAttribute('aria-live', 'polite');
    setupDrawing(this.pad, {
      color: this.padColor,
      size: this.padSize,
      clear: this.padClear,
      use: this.predictDrawing,
      cursor,
      status: padStatus,
      onUse: () => this.drawingChanged(),
    });
    const padTools = el(
      'div',
      { className: 'draw-tools' },
      el('label', {}, 'Color ', this.padColor),
      el('label', {}, 'Brush ', this.padSize),
      this.padClear,
      this.predictDrawing,
    );
    const padBox = el('div', { className: 'own-pad' }, padLabel, el('div', { className: 'draw-frame' }, this.pad, cursor), padTools, padHelp, padStatus);

    // Gallery picks: one grid; a click adds the emoji to the class chosen beside it.
    const pickGrid = this.buildPicks();
    const galleryBox = el(
      'details',
      { className: 'own-gallery-picks' },
      el('summary', {}, 'Pick images from the gallery'),
      el('p', { className: 'hint' }, el('label', { htmlFor: 'own-gallery-target' }, 'Add picks to '), this.galleryTarget),
      pickGrid,
    );

    const sources = el('div', { className: 'own-sources' }, padBox, galleryBox);

    // Training.
    this.layerSelect.addEventListener('change', () => {
      this.layerTouched = true;
      this.classesChanged();
    });
    this.trainButton.addEventListener('click', () => void this.train());
    this.trainError.setAttribute('role', 'alert');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.progress.setAttribute('aria-label', 'Own-classes progress');
    const trainRow = el(
      'div',
      { className: 'own-train' },
      el('label', { htmlFor: 'own-layer' }, 'Layer '),
      this.layerSelect,
      this.trainButton,
    );
    const statusRow = el('div', { className: 'run-status' }, this.progress, this.status);

    // Trying it out.
    this.uploadInput.addEventListener('change', () => void this.classifyUploads());
    this.uploadError.setAttribute('role', 'alert');
    const tryTitle = el('h3', {}, 'Try it');
    const tryHint = el('p', { className: 'hint' }, 'Draw on the pad above, or upload pictures to classify. The bars are the probe’s confidence in each class (they add up to 100 %).');
    const uploadLabel = el('label', { className: 'own-file' }, 'Classify pictures… ', this.uploadInput);

    // Save and load.
    this.saveButton.addEventListener('click', () => this.save());
    this.loadInput.addEventListener('change', () => void this.load());
    this.loadError.setAttribute('role', 'alert');
    const loadLabel = el('label', { className: 'own-file' }, 'Load probe… ', this.loadInput);
    const fileRow = el('div', { className: 'own-files' }, this.saveButton, loadLabel);

    section.append(
      title,
      intro,
      this.classList,
      this.addClassButton,
      sources,
      trainRow,
      this.trainError,
      statusRow,
      tryTitle,
      tryHint,
      uploadLabel,
      this.uploadError,
      this.predictions,
      el('h3', {}, 'Save or load the probe'),
      el('p', { className: 'hint' }, 'A saved probe is a JSON file with the model name, the layer, the class names, the standardization (each feature’s mean and spread) and the weights. It only works with the same model.'),
      fileRow,
      this.loadError,
    );
    return section;
  }

  /**
   * The gallery as "add" buttons, one Tab stop: the arrow keys (Home/End) only move, a click or Enter adds the
   * emoji to the class chosen above (unlike the Complete gallery, where moving picks).
   */
  private buildPicks(): HTMLElement {
    const grid = el('div', { className: 'gallery small own-gallery' });
    grid.setAttribute('role', 'group');
    grid.setAttribute('aria-label', 'Gallery images to add');
    const buttons = this.gallery.map((item, index) => {
      const name = item.name.replaceAll('_', ' ');
      const button = el('button', { type: 'button', className: 'thumb', title: `Add ${name} (${item.category})`, tabIndex: index === 0 ? 0 : -1 }, galleryImage(item, 32));
      button.setAttribute('aria-label', `Add ${name} to the chosen class`);
      button.addEventListener('click', () => void this.addGalleryItem(item));
      button.addEventListener('keydown', (e) => {
        const top = buttons[0].offsetTop;
        const columns = Math.max(1, buttons.findIndex((b) => b.offsetTop !== top) === -1 ? buttons.length : buttons.findIndex((b) => b.offsetTop !== top));
        const next = gridStep(e.key, index, buttons.length, columns);
        if (next === null) return;
        e.preventDefault();
        button.tabIndex = -1;
        buttons[next].tabIndex = 0;
        buttons[next].focus();
      });
      return button;
    });
    grid.append(...buttons);
    return grid;
  }

  private addClass(): OwnClass {
    const index = this.classes.length;
    const id = `own-class-${index}-${Date.now().toString(36)}`;
    const name = el('input', { type: 'text', className: 'own-class-name', id: `${id}-name`, value: DEFAULT_NAMES[index] ?? `class ${index + 1}`, maxLength: 40 });
    name.setAttribute('autocomplete', 'off');
    const legend = el('legend', {}, el('label', { htmlFor: name.id }, 'Class name '), name);
    const count = el('span', { className: 'own-count' });
    const list = el('ul', { className: 'own-images' });
    const addDrawing = el('button', { type: 'button', className: 'own-add-drawing small' }, 'Add the drawing');
    const fileInput = el('input', { type: 'file', accept: 'image/*', multiple: true, className: 'own-class-files' });
    const upload = el('label', { className: 'own-file small' }, 'Upload… ', fileInput);
    const remove = el('button', { type: 'button', className: 'own-remove-class quiet small' }, 'Remove class');
    const error = el('p', { className: 'own-error' });
    error.setAttribute('role', 'alert');
    const element = el('fieldset', { className: 'own-class' }, legend, el('div', { className: 'own-class-tools' }, addDrawing, upload, remove, count), list, error);
    const c: OwnClass = { name, images: [], element, list, count, error };
    name.addEventListener('input', () => this.classesChanged());
    addDrawing.addEventListener('click', () => {
      this.addImage(c, readCanvas(this.pad), `drawing ${++this.drawings}`);
      this.padClear.click();
    });
    fileInput.addEventListener('change', () => void this.addFiles(c, fileInput));
    remove.addEventListener('click', () => {
      const at = this.classes.indexOf(c);
      this.classes.splice(at, 1);
      element.remove();
      this.classesChanged();
      (this.classes[Math.min(at, this.classes.length - 1)]?.name ?? this.addClassButton).focus();
    });
    this.classes.push(c);
    this.classList.append(element);
    this.classesChanged();
    return c;
  }

  private addImage(c: OwnClass, pixels: Pixels, source: string): void {
    const image: OwnImage = { pixels, source, features: new Map() };
    c.images.push(image);
    const label = `${source} in ${c.name.value.trim() || 'this class'}`;
    const remove = el('button', { type: 'button', className: 'own-remove-image', title: `Remove ${source}` }, '×');
    remove.setAttribute('aria-label', `Remove ${label}`);
    const item = el('li', {}, thumbnail(pixels, label), remove);
    remove.addEventListener('click', () => {
      const at = c.images.indexOf(image);
      c.images.splice(at, 1);
      item.remove();
      this.classesChanged();
      const next = c.list.querySelectorAll<HTMLButtonElement>('.own-remove-image')[Math.min(at, c.images.length - 1)];
      (next ?? c.name).focus();
    });
    c.list.append(item);
    c.error.textContent = '';
    this.classesChanged();
  }

  private async addFiles(c: OwnClass, input: HTMLInputElement): Promise<void> {
    const problems: string[] = [];
    for (const file of Array.from(input.files ?? [])) {
      try {
        this.addImage(c, shrink(await decodeImage(file)), file.name);
      } catch (e) {
        problems.push(`${file.name}: ${message(e)}`);
      }
    }
    input.value = '';
    c.error.textContent = problems.length ? `Not added: ${problems.join('; ')}.` : '';
  }

  private async addGalleryItem(item: GalleryItem): Promise<void> {
    const c = this.classes[Number(this.galleryTarget.value)];
    if (!c) return;
    try {
      const blob = await (await fetch(galleryUrl(item))).blob();
      this.addImage(c, await decodeImage(blob), item.name.replaceAll('_', ' '));
    } catch (e) {
      c.error.textContent = `The gallery image ${item.file} could not be read: ${message(e)}`;
    }
  }

  /** Anything that changes what Train would learn: counts, names, the gallery-pick targets, staleness. */
  private classesChanged(): void {
    const target = this.galleryTarget.value;
    this.galleryTarget.replaceChildren(...this.classes.map((c, i) => new Option(c.name.value.trim() || `class ${i + 1}`, String(i))));
    if (Number(target) < this.classes.length) this.galleryTarget.value = target;
    for (const c of this.classes) c.count.textContent = `${c.images.length} image${c.images.length === 1 ? '' : 's'}`;
    this.trainError.textContent = '';
    if (this.trained && !this.stale) {
      this.stale = true;
      this.setStatus('The classes or the layer changed since training: the predictions still use the old probe; press Train to update it.');
    }
    this.refresh();
  }

  private refresh(): void {
    const free = this.ready && !this.working && this.info !== null;
    this.trainButton.disabled = !free;
    this.addClassButton.disabled = this.classes.length >= MAX_CLASSES;
    for (const c of this.classes) c.element.querySelector<HTMLButtonElement>('.own-remove-class')!.disabled = this.classes.length <= MIN_CLASSES;
    this.saveButton.disabled = !this.trained;
    this.predictDrawing.disabled = !this.trained;
    this.loadInput.disabled = this.info === null;
    this.uploadInput.disabled = this.info === null;
  }

  private setStatus(text: string): void {
    this.status.textContent = text;
  }

  // ---- features and training -------------------------------------------------------------------

  private modelId(info: ModelInfo): ProbeModel {
    return { name: info.name, imageSize: info.imageSize, nLayer: info.nLayer, nEmbd: info.nEmbd };
  }

  /** Pooled features of `images` at `layer` from the worker, in one request with progress. */
  private async extract(images: Pixels[], layer: number, what: string): Promise<Float32Array> {
    this.setStatus(`${what}: on the GPU (the first time also prepares its programs, which takes a while)…`);
    this.progress.removeAttribute('value'); // busy until the first batch is in
    try {
      const result = await this.client.request(
        { type: 'image-features', images, layer },
        {
          onProgress: (p) => {
            if (p.phase !== 'features') return;
            this.progress.value = p.done / p.total;
            this.setStatus(`${what}: batch ${p.done} of ${p.total}`);
          },
        },
      );
      this.progress.value = 1;
      return result.features;
    } catch (e) {
      this.progress.value = 0; // never left busy or part-filled by a failure
      throw e;
    }
  }

  /** Runs `job` as the page's one GPU job: the other views' buttons are disabled meanwhile. */
  private async exclusive<T>(job: () => Promise<T>): Promise<T> {
    this.working = true;
    this.setBusy(true);
    try {
      return await job();
    } finally {
      this.working = false;
      this.setBusy(false);
    }
  }

  private async train(): Promise<void> {
    const info = this.info;
    if (!info || this.working) return;
    const problem = classSetProblem(this.classes.map((c) => ({ name: c.name.value, count: c.images.length })));
    if (problem) {
      this.trainError.textContent = problem;
      document.body.dataset.ownProbe = 'invalid';
      return;
    }
    this.trainError.textContent = '';
    const layer = Number(this.layerSelect.value);
    const names = this.classes.map((c) => c.name.value.trim());
    const images = this.classes.flatMap((c) => c.images);
    const labels = this.classes.flatMap((c, k) => c.images.map(() => k));
    const missing = images.filter((image) => !image.features.has(layer));
    document.body.dataset.ownProbe = 'training';
    this.progress.value = 0;
    const started = performance.now();
    try {
      await this.exclusive(async () => {
        if (missing.length) {
          const features = await this.extract(missing.map((m) => m.pixels), layer, `Extracting features of ${missing.length} new image${missing.length === 1 ? '' : 's'}`);
          missing.forEach((m, i) => m.features.set(layer, features.slice(i * info.nEmbd, (i + 1) * info.nEmbd)));
        }
      });
      this.setStatus('Training the probe…');
      const F = info.nEmbd;
      const X = new Float32Array(images.length * F);
      images.forEach((image, i) => X.set(image.features.get(layer)!, i * F));
      const probe = new LinearProbe({ l2: OWN_L2, classes: names });
      probe.fit(X, labels, { maxIter: OWN_MAX_ITER, numFeatures: F });
      const counts = this.classes.map((c) => c.images.length);
      this.trained = { probe, layer, model: this.modelId(info), classes: names, counts };
      this.stale = false;
      this.progress.value = 1;
      const held = images.length <= MAX_LEAVE_ONE_OUT ? leaveOneOut(X, labels, names, F) : null;
      const check = held === null ? '' : ` Tested on each picture with a probe trained on all the others (leave-one-out): ${held} of ${images.length} right.`;
      this.setStatus(`Trained on ${images.length} pictures of ${names.length} classes at ${layerName(layer, info.nLayer)} in ${((performance.now() - started) / 1000).toFixed(1)} s.${check}`);
      document.body.dataset.ownProbe = 'trained';
      this.loadError.textContent = '';
      this.refresh();
      await this.predictAll();
    } catch (e) {
      this.progress.value = 0; // no probe came of it: no part-filled bar
      this.trainError.textContent = `Training failed: ${message(e)}`;
      this.setStatus('');
      document.body.dataset.ownProbe = 'error';
    }
  }

  // ---- predictions -----------------------------------------------------------------------------

  private allPredictions(): Prediction[] {
    return [...(this.drawingPrediction ? [this.drawingPrediction] : []), ...this.uploads];
  }

  private drawingChanged(): void {
    if (!this.trained) return;
    const pixels = readCanvas(this.pad);
    if (!this.drawingPrediction) {
      const element = el('figure', { className: 'own-prediction', id: 'own-drawing-prediction' });
      this.drawingPrediction = { pixels, label: 'the drawing', element };
      this.predictions.prepend(element);
    } else {
      this.drawingPrediction.pixels = pixels;
    }
    void this.predict([this.drawingPrediction]);
  }

  private async classifyUploads(): Promise<void> {
    const files = Array.from(this.uploadInput.files ?? []);
    this.uploadInput.value = '';
    const problems: string[] = [];
    const added: Prediction[] = [];
    for (const file of files) {
      try {
        const pixels = shrink(await decodeImage(file));
        added.push({ pixels, label: file.name, element: el('figure', { className: 'own-prediction' }) });
      } catch (e) {
        problems.push(`${file.name}: ${message(e)}`);
      }
    }
    this.uploadError.textContent = problems.length ? `Not classified: ${problems.join('; ')}.` : '';
    if (!added.length) return;
    this.uploads = [...added.reverse(), ...this.uploads].slice(0, MAX_UPLOAD_PREDICTIONS);
    this.predictions.replaceChildren(...this.allPredictions().map((p) => p.element));
    if (!this.trained) {
      for (const p of added) this.showPending(p, 'Train (or load) a probe to classify it.');
      this.uploadError.textContent ||= 'No probe yet: train one (or load one) first.';
      return;
    }
    await this.predict(added);
  }

  private async predictAll(): Promise<void> {
    const all = this.allPredictions();
    if (all.length) await this.predict(all);
  }

  private async predict(items: Prediction[]): Promise<void> {
    const trained = this.trained;
    if (!trained) return;
    if (!this.ready || this.working) {
      // The model is busy (a completion, or this panel's previous request): run once it is free.
      this.pending = true;
      for (const p of items) this.showPending(p, 'Waiting for the model…');
      document.body.dataset.ownPredict = 'waiting';
      return;
    }
    document.body.dataset.ownPredict = 'running';
    try {
      const features = await this.exclusive(() => this.extract(items.map((p) => p.pixels), trained.layer, 'Classifying'));
      const probabilities = trained.probe.predictProba(features);
      const C = trained.classes.length;
      items.forEach((p, i) => this.showBars(p, trained.classes, probabilities.subarray(i * C, (i + 1) * C)));
      this.setStatus(this.stale ? this.status.textContent ?? '' : `Classified with the probe at ${layerName(trained.layer, trained.model.nLayer)}.`);
      document.body.dataset.ownPredict = 'done';
    } catch (e) {
      this.uploadError.textContent = `Could not classify: ${message(e)}`;
      document.body.dataset.ownPredict = 'error';
    }
    if (this.pending && this.ready) {
      this.pending = false;
      await this.predictAll();
    }
  }

  private showPending(p: Prediction, text: string): void {
    p.element.replaceChildren(thumbnail(p.pixels, p.label), el('figcaption', {}, `${p.label}: ${text}`));
  }

  private showBars(p: Prediction, classes: string[], probabilities: Float32Array): void {
    let best = 0;
    probabilities.forEach((v, k) => {
      if (v > probabilities[best]) best = k;
    });
    const bars = el('ol', { className: 'own-bars' });
    classes.forEach((name, k) => {
      const fill = el('span', { className: 'own-bar-fill' });
      fill.style.width = `${(probabilities[k] * 100).toFixed(1)}%`;
      const row = el('li', { className: k === best ? 'best' : '' }, el('span', { className: 'own-bar-name' }, name), el('span', { className: 'own-bar' }, fill), el('span', { className: 'own-bar-value' }, percent(probabilities[k])));
      row.dataset.class = name;
      row.dataset.probability = String(probabilities[k]);
      bars.append(row);
    });
    const caption = el('figcaption', { className: 'own-verdict' }, `${p.label}: looks like `, el('strong', {}, classes[best]), ` (${percent(probabilities[best])})`);
    p.element.dataset.predicted = classes[best];
    p.element.replaceChildren(thumbnail(p.pixels, p.label), el('div', { className: 'own-prediction-text' }, caption, bars));
  }

  // ---- save and load ---------------------------------------------------------------------------

  private save(): void {
    const t = this.trained;
    if (!t) return;
    const file = probeFile(t.model, t.layer, t.probe, t.counts);
    const blob = new Blob([JSON.stringify(file, null, 1)], { type: 'application/json' });
    const link = el('a', { href: URL.createObjectURL(blob), download: `probe-${t.model.name.replace(/[^\w.-]+/g, '_')}-layer${t.layer}.json` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  private async load(): Promise<void> {
    const file = this.loadInput.files?.[0];
    this.loadInput.value = '';
    const info = this.info;
    if (!file || !info) return;
    try {
      const { file: saved, probe } = readProbeFile(await file.text());
      const mismatch = probeMismatch(saved, this.modelId(info));
      if (mismatch) throw new Error(mismatch);
      this.trained = { probe, layer: saved.layer, model: saved.model, classes: saved.classes, counts: saved.counts };
      this.stale = false;
      // The probe reads its own layer: the select shows it, so training again keeps that layer unless changed.
      this.layerSelect.value = String(saved.layer);
      this.layerTouched = true;
      this.loadError.textContent = '';
      this.setStatus(`Loaded ${file.name}: ${saved.classes.join(', ')} at ${layerName(saved.layer, info.nLayer)} of ${saved.model.name} (trained on ${saved.counts.reduce((a, b) => a + b, 0)} pictures). Your classes above are unchanged; Train replaces this probe.`);
      document.body.dataset.ownProbe = 'loaded';
      this.refresh();
      await this.predictAll();
    } catch (e) {
      // The probe in use (if any) stays.
      this.loadError.textContent = `${file.name} was not loaded: ${message(e)}`;
      document.body.dataset.ownLoad = 'error';
      return;
    }
    document.body.dataset.ownLoad = 'done';
  }
}

/** How many of the images a probe fit on all the others names correctly. */
function leaveOneOut(X: Float32Array, labels: number[], names: string[], F: number): number {
  const N = labels.length;
  let right = 0;
  const train = new Float32Array((N - 1) * F);
  for (let i = 0; i < N; i++) {
    train.set(X.subarray(0, i * F), 0);
    train.set(X.subarray((i + 1) * F), i * F);
    const trainLabels = [...labels.slice(0, i), ...labels.slice(i + 1)];
    // A class left with no images cannot be fit; the rule of ≥ 2 per class prevents it.
    const probe = new LinearProbe({ l2: OWN_L2, classes: names });
    probe.fit(train, trainLabels, { maxIter: OWN_MAX_ITER, numFeatures: F });
    if (probe.predict(X.subarray(i * F, (i + 1) * F))[0] === labels[i]) right++;
  }
  return right;
}
