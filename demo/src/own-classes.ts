// "Teach it your own classes" (inside the Features view): the user makes 2–5 named classes of uploaded, drawn or
// gallery images; the worker extracts one layer's mean-pooled features (with progress); a linear probe (the
// library's LinearProbe) trains in the page; then new drawings and uploads get live predictions with per-class
// confidences. The trained probe saves and loads as JSON (probe-file.ts checks it).
// Its parts: own-class-editor.ts (the classes and their pictures), own-probe.ts (the fit, no DOM),
// own-predictions.ts (a classified picture), probe-file.ts (the saved file).
import type { LinearProbe } from '../../src/index';
import type { ModelClient } from './client';
import { el } from './dom';
import { setupDrawing } from './drawing';
import type { GalleryItem } from './gallery';
import { decodeImage, readCanvas } from './pixels';
import { classSetProblem, layerName, MAX_CLASSES, MIN_CLASSES, MIN_IMAGES_PER_CLASS, probeFile, probeMismatch, readProbeFile, type ProbeModel } from './probe-file';
import type { ModelInfo, Pixels } from './protocol';
import { OwnClassEditor, shrink } from './own-class-editor';
import { MAX_LEAVE_ONE_OUT, fitOwnProbe, leaveOneOut } from './own-probe';
import { showBars, showPending, type Prediction } from './own-predictions';
import { OwnFineTune } from './own-fine-tune';

/** Predictions of uploaded images kept on screen (newest first); the drawing has its own, live one. */
const MAX_UPLOAD_PREDICTIONS = 6;

/** The trained (or loaded) probe and what it reads. */
interface Trained {
  probe: LinearProbe;
  layer: number;
  model: ProbeModel;
  classes: string[];
  counts: number[];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class OwnClasses {
  readonly element: HTMLElement;
  private readonly pad = el('canvas', { id: 'own-draw-canvas', width: 128, height: 128 });
  private readonly padColor = el('input', { id: 'own-draw-color', type: 'color', value: '#e53935' });
  private readonly padSize = el('input', { id: 'own-draw-size', type: 'range', min: '4', max: '48', value: '20' });
  private readonly padClear = el('button', { type: 'button', id: 'own-draw-clear', className: 'quiet' }, 'Clear');
  private readonly predictDrawing = el('button', { type: 'button', id: 'own-predict-drawing' }, 'Classify the drawing');
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
  private info: ModelInfo | null = null;
  private ready = false;
  private working = false;
  private trained: Trained | null = null;
  /** The classes or the layer changed after training: predictions still use the old probe, Train makes a new one. */
  private stale = false;
  private layerTouched = false;
  private drawingPrediction: Prediction | null = null;
  private uploads: Prediction[] = [];
  /** Predictions asked for while the model was busy: run when it is free. */
  private pending = false;
  private readonly editor: OwnClassEditor;
  /** Fine-tuning the whole model beside the probe, both scored on one held-out split. */
  private readonly fineTune: OwnFineTune;

  constructor(
    private readonly client: ModelClient,
    gallery: GalleryItem[],
    private readonly setBusy: (busy: boolean) => void,
  ) {
    this.editor = new OwnClassEditor(gallery, this.pad, this.padClear, () => this.classesChanged());
    this.fineTune = new OwnFineTune(client, {
      classSet: () => this.classSet(),
      featuresAt: (layer) => this.featuresAt(layer),
      exclusive: (job) => this.exclusive(job),
    });
    this.element = this.build();
    for (let i = 0; i < MIN_CLASSES; i++) this.editor.addClass();
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
    this.editor.forgetFeatures();
    this.layerSelect.replaceChildren(...Array.from({ length: info.nLayer + 1 }, (_, k) => new Option(layerName(k, info.nLayer), String(k))));
    this.layerSelect.value = String(Math.floor(info.nLayer / 2));
    this.fineTune.modelChanged(info);
    for (const p of this.allPredictions()) showPending(p, 'Train a probe for this model to classify it.');
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
    const galleryBox = this.editor.galleryPicks();

    const sources = el('div', { className: 'own-sources' }, padBox, galleryBox);

    // Training.
    this.layerSelect.addEventListener('change', () => {
      this.layerTouched = true;
      this.editor.classesChanged();
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
      this.editor.classList,
      this.editor.addClassButton,
      sources,
      trainRow,
      this.trainError,
      statusRow,
      this.fineTune.element,
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

  /** After the classes or the layer changed: a trained probe no longer matches them (Train makes a new one). */
  private classesChanged(): void {
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
    this.fineTune.setEnabled(free);
    this.editor.refresh();
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

  /** The classes, their pictures and labels and the chosen layer; or what is missing (the probe's rules). */
  private classSet(): { names: string[]; images: Pixels[]; labels: number[]; layer: number } | string {
    const problem = classSetProblem(this.editor.classes.map((c) => ({ name: c.name.value, count: c.images.length })));
    if (problem) return problem;
    return {
      names: this.editor.classes.map((c) => c.name.value.trim()),
      images: this.editor.classes.flatMap((c) => c.images.map((image) => image.pixels)),
      labels: this.editor.classes.flatMap((c, k) => c.images.map(() => k)),
      layer: Number(this.layerSelect.value),
    };
  }

  /** Pooled features [N × n_embd] of every class picture at `layer`, in class order; those not yet computed are extracted. */
  private async featuresAt(layer: number): Promise<Float32Array> {
    if (!this.info) throw new Error('no model is loaded');
    const F = this.info.nEmbd;
    const images = this.editor.classes.flatMap((c) => c.images);
    const missing = images.filter((image) => !image.features.has(layer));
    if (missing.length) {
      const said = this.status.textContent ?? ''; // the probe's line: the extraction borrows it for a moment
      const features = await this.extract(missing.map((m) => m.pixels), layer, `Extracting features of ${missing.length} new image${missing.length === 1 ? '' : 's'}`);
      missing.forEach((m, i) => m.features.set(layer, features.slice(i * F, (i + 1) * F)));
      this.setStatus(said);
    }
    const X = new Float32Array(images.length * F);
    images.forEach((image, i) => X.set(image.features.get(layer)!, i * F));
    return X;
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
    const problem = classSetProblem(this.editor.classes.map((c) => ({ name: c.name.value, count: c.images.length })));
    if (problem) {
      this.trainError.textContent = problem;
      document.body.dataset.ownProbe = 'invalid';
      return;
    }
    this.trainError.textContent = '';
    const layer = Number(this.layerSelect.value);
    const names = this.editor.classes.map((c) => c.name.value.trim());
    const images = this.editor.classes.flatMap((c) => c.images);
    const labels = this.editor.classes.flatMap((c, k) => c.images.map(() => k));
    document.body.dataset.ownProbe = 'training';
    this.progress.value = 0;
    const started = performance.now();
    try {
      const X = await this.exclusive(() => this.featuresAt(layer));
      this.setStatus('Training the probe…');
      const F = info.nEmbd;
      const probe = fitOwnProbe(X, labels, names, F);
      const counts = this.editor.classes.map((c) => c.images.length);
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
      for (const p of added) showPending(p, 'Train (or load) a probe to classify it.');
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
      for (const p of items) showPending(p, 'Waiting for the model…');
      document.body.dataset.ownPredict = 'waiting';
      return;
    }
    document.body.dataset.ownPredict = 'running';
    try {
      const features = await this.exclusive(() => this.extract(items.map((p) => p.pixels), trained.layer, 'Classifying'));
      const probabilities = trained.probe.predictProba(features);
      const C = trained.classes.length;
      items.forEach((p, i) => showBars(p, trained.classes, probabilities.subarray(i * C, (i + 1) * C)));
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
  }}
