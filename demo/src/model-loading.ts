// Loading the picked model in the worker: the load line and bar as it downloads and uploads, Cancel, and what
// changes on the page when it is in (sliders, views, the prompt encoded again) or failed (the old model stays).
import { loadView } from './load-progress';
import { NETWORK_ERROR, type ModelSource, type Progress } from './protocol';
import { plainLoadError } from './errors';
import { state, setBusy, views, type Choice } from './app-state';
import { bringIntoView, ui } from './page-elements';
import { setBar } from './dom';
import { clearModelErrors, showHubError, showModelError } from './field-errors';
import { updateLikelihood, usePixels } from './prompt';
import { showValues } from './generation';

/** Bytes arrive and go to the GPU at the same time: one line shows both, the bar their mean (indeterminate while a size is unknown). */
export function showLoadProgress(p: Progress): void {
  if (p.phase !== 'download' && p.phase !== 'cached' && p.phase !== 'upload') return;
  const view = state.loadView;
  if (p.phase === 'upload') view.upload = p;
  else view.fetch = p;
  const phases = new Set((ui.loadStatus.dataset.phases ?? '').split(' ').filter(Boolean));
  phases.add(p.phase);
  ui.loadStatus.dataset.phases = [...phases].sort().join(' ');
  const { fraction, text } = loadView(view.fetch, view.upload, state.loadingLocal);
  setBar(ui.loadProgress, fraction);
  ui.loadText.textContent = text;
}

/** Loads `choice` in the worker; on success the page moves to it, on failure or Cancel the previous model stays. */
export async function loadModel(choice: Choice): Promise<void> {
  const client = state.client;
  if (!client || state.busy) return;
  const { name, source } = choice;
  state.lastChoice = choice;
  clearModelErrors();
  ui.modelSelect.value = choice.value;
  setBusy(true);
  ui.loadProgress.hidden = false;
  ui.loadProgress.value = 0;
  ui.loadText.textContent = `Loading ${name}…`;
  ui.loadStatus.dataset.phases = '';
  state.loadView = {};
  state.loadingLocal = source.kind === 'files';
  ui.cancelLoad.hidden = false;
  bringIntoView(ui.loadStatus);
  document.body.dataset.model = 'loading';
  const previous = state.model;
  const previousOption = ui.modelSelect.dataset.loaded;
  try {
    const info = await client.request(
      { type: 'load', source },
      { onProgress: showLoadProgress, onStart: (id) => (state.loadingId = id) },
    );
    ui.modelSelect.dataset.loaded = choice.value;
    state.model = { ...info, name };
    ui.loadProgress.value = 1;
    ui.loadText.textContent =
      `${name} ready: ${info.imageSize}×${info.imageSize} pixels, ${info.nLayer} layers, ` +
      `${(info.params / 1e6).toFixed(1)} M parameters · ${info.adapter}${info.fromCache ? ' · weights from the browser cache' : ''}`;
    // Keeping every row would leave nothing to complete (the library refuses it).
    ui.keepRows.max = String(info.imageSize - 1);
    ui.keepRows.value = String(Math.floor(info.imageSize / 2));
    if (choice.sampling) {
      // The shipped model's own defaults, measured per model (demo/README.md, "Sampling defaults").
      ui.temperature.value = String(choice.sampling.temperature);
      ui.topK.value = String(choice.sampling.topK);
    }
    showValues();
    showPhotoAdvice(name, choice.source.kind);
    document.body.dataset.model = 'ready';
    views.features?.modelChanged(info);
    views.attention?.modelChanged(info);
    views.style?.modelChanged(info); // the worker dropped the old model's tuned copy
    // The samples on show were made by the other model: they stay in the history, labelled with it.
    state.results = [];
    state.shown = null;
    ui.sampleGrid.replaceChildren();
    ui.runSummary.hidden = true;
    // ...and so does their status line: "Done in …" over an empty grid would describe the other model's run.
    ui.genProgress.value = 0;
    ui.genText.textContent = `Pick an image and press Complete (with ${name}).`;
    ui.genText.parentElement?.removeAttribute('data-state');
    if (state.picked) await usePixels(state.picked);
    else updateLikelihood();
  } catch (e) {
    // The worker keeps the model it had: so does the page. Nothing of the failed load is in: its bar goes.
    setBar(ui.loadProgress, 0);
    ui.loadProgress.hidden = true;
    state.model = previous;
    ui.modelSelect.value = previousOption ?? '';
    const still = previous ? ` (still using ${previous.name})` : '';
    const error = e instanceof Error ? e : new Error(String(e));
    if (error.name === 'AbortError') {
      ui.loadText.textContent = `Loading ${name} was cancelled${still}.`;
      document.body.dataset.model = 'cancelled';
    } else if (error.name === NETWORK_ERROR && source.kind === 'hub') {
      showHubError(source, previous ? `still using ${previous.name}` : '');
      ui.loadText.textContent = `Could not load ${name}: the hub could not be reached${still}.`;
      document.body.dataset.model = 'offline';
    } else {
      showModelError(plainLoadError(name, error, previous?.name ?? ''));
      ui.loadText.textContent = `Could not load ${name}${still}: see the message above.`;
      document.body.dataset.model = 'error';
    }
  } finally {
    state.loadingId = null;
    ui.cancelLoad.hidden = true;
    setBusy(false);
  }
}

/** The Upload tab says whether the model in use suits photos. */
export function showPhotoAdvice(name: string, kind: ModelSource['kind']): void {
  const photo = /imagegpt-(small|medium|large)/.test(name);
  ui.photoModel.textContent = photo
    ? `In use: ${name}, a photo model.`
    : kind === 'url'
      ? `In use: ${name}, an emoji model: pick a hub model above for photos.`
      : `In use: ${name}.`;
}
