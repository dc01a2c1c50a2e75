// The demo page: model picker, image sources, completion controls and results. All model work happens
// in the worker (client.ts ⇄ worker.ts); this file only draws and sends requests.
import shippedModels from 'virtual:shipped-models';
import { ModelClient } from './client';
import { FeaturesView } from './features-view';
import { LikelihoodView, type LikelihoodSubject } from './likelihood-view';
import { AttentionView } from './attention-view';
import { buildGalleryGrid, galleryUrl, type GalleryItem } from './gallery';
import { decodeImage, drawPixels, formatBytes, readCanvas, savePng } from './pixels';
import { loadView } from './load-progress';
import { NETWORK_ERROR, type ModelInfo, type ModelSource, type Pixels, type Progress } from './protocol';
import { CONFIRM_ABOVE_BYTES, HUB_MODELS, formatDownload, hubSettings, type HubModel } from './hub-models';
import { setupDrawing } from './drawing';
import { plainImageError, plainLoadError, type PlainError } from './errors';
import { HISTORY_LIMIT, RunHistory, historyCard, keptLabel, pngName, temperatureLabel, topKLabel, type RunRecord, type RunSettings } from './history';
import { setupTabs } from './tabs';
import { checkWebGpu } from './webgpu-check';

/** Where hub ids resolve (`?hub=<url>` or VITE_HUB_HOST, else huggingface.co) and test-only extra ids. */
const hub = hubSettings(location.search, import.meta.env.VITE_HUB_HOST);
const SAVE_SCALE = 16;

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

const ui = {
  modelSelect: $<HTMLSelectElement>('model-select'),
  openFolder: $<HTMLButtonElement>('open-folder'),
  folderInput: $<HTMLInputElement>('folder-input'),
  clearCache: $<HTMLButtonElement>('clear-cache'),
  downloadConfirm: $<HTMLDivElement>('download-confirm'),
  downloadConfirmText: $<HTMLParagraphElement>('download-confirm-text'),
  downloadYes: $<HTMLButtonElement>('download-yes'),
  downloadNo: $<HTMLButtonElement>('download-no'),
  hubError: $<HTMLDivElement>('hub-error'),
  hubErrorDetail: $<HTMLSpanElement>('hub-error-detail'),
  hubRetry: $<HTMLButtonElement>('hub-retry'),
  modelError: $<HTMLDivElement>('model-error'),
  modelErrorTitle: $<HTMLElement>('model-error-title'),
  modelErrorAdvice: $<HTMLElement>('model-error-advice'),
  modelErrorMore: $<HTMLDetailsElement>('model-error-more'),
  modelErrorDetail: $<HTMLElement>('model-error-detail'),
  noWebGpu: $<HTMLDivElement>('no-webgpu'),
  settingsNotice: $<HTMLDivElement>('settings-notice'),
  loadStatus: $<HTMLDivElement>('load-status'),
  cancelLoad: $<HTMLButtonElement>('cancel-load'),
  loadProgress: $<HTMLProgressElement>('load-progress'),
  loadText: $<HTMLSpanElement>('load-text'),
  gallery: $<HTMLDivElement>('gallery'),
  fileInput: $<HTMLInputElement>('file-input'),
  uploadError: $<HTMLParagraphElement>('upload-error'),
  photoModel: $<HTMLSpanElement>('photo-model'),
  srcTabUpload: $<HTMLButtonElement>('src-tab-upload'),
  drawUse: $<HTMLButtonElement>('draw-use'),
  drawCanvas: $<HTMLCanvasElement>('draw-canvas'),
  original: $<HTMLCanvasElement>('original'),
  quantized: $<HTMLCanvasElement>('quantized'),
  quantizedCaption: $<HTMLElement>('quantized-caption'),
  keepRows: $<HTMLInputElement>('keep-rows'),
  keepRowsValue: $<HTMLOutputElement>('keep-rows-value'),
  samples: $<HTMLInputElement>('samples-count'),
  samplesValue: $<HTMLOutputElement>('samples-value'),
  temperature: $<HTMLInputElement>('temperature'),
  temperatureValue: $<HTMLOutputElement>('temperature-value'),
  topK: $<HTMLInputElement>('top-k'),
  topKValue: $<HTMLOutputElement>('top-k-value'),
  seed: $<HTMLInputElement>('seed'),
  varySeed: $<HTMLInputElement>('vary-seed'),
  lastSeed: $<HTMLOutputElement>('last-seed'),
  seedError: $<HTMLParagraphElement>('seed-error'),
  lockNote: $<HTMLParagraphElement>('lock-note'),
  varyKept: $<HTMLInputElement>('vary-kept'),
  complete: $<HTMLButtonElement>('complete'),
  unconditional: $<HTMLButtonElement>('unconditional'),
  stop: $<HTMLButtonElement>('stop'),
  saveAll: $<HTMLButtonElement>('save-all'),
  genProgress: $<HTMLProgressElement>('gen-progress'),
  genText: $<HTMLSpanElement>('gen-text'),
  sampleGrid: $<HTMLDivElement>('samples'),
  runSummary: $<HTMLParagraphElement>('run-summary'),
  history: $<HTMLOListElement>('history'),
  historyClear: $<HTMLButtonElement>('history-clear'),
  historyNote: $<HTMLParagraphElement>('history-note'),
};

type LoadProgressMessage = Extract<Progress, { phase: 'download' | 'cached' | 'upload' }>;

interface Prompt {
  original: Pixels;
  tokens: Int32Array;
  quantized: Pixels;
}

const state = {
  client: null as ModelClient | null,
  model: null as (ModelInfo & { name: string }) | null,
  /** The image as chosen, before encoding (re-encoded when the model changes). */
  picked: null as Pixels | null,
  prompt: null as Prompt | null,
  busy: false,
  runningId: null as number | null,
  results: [] as Pixels[],
  /** The finished run's tokens [samples × width·height], and the prompt it completed (null: from scratch). */
  resultTokens: new Int32Array(0) as Int32Array,
  resultsFrom: null as Prompt | null,
  /** The run on show in Samples (finished or stopped): what its Save buttons save. */
  shown: null as RunRecord | null,
  /** A generation is going: the prompt and its settings are locked. */
  generating: false,
  runs: 0,
  /** The load in flight (its request id, for Cancel). */
  loadingId: null as number | null,
  loadingLocal: false,
  /** The latest download-or-cache and upload progress of the load in flight. */
  loadView: {} as { fetch?: LoadProgressMessage; upload?: LoadProgressMessage },
  /** The last model asked for: Retry loads it again. */
  lastChoice: null as Choice | null,
  /** The model waiting for the download confirmation. */
  confirming: null as Choice | null,
  /** Hub ids whose large download was confirmed (also in sessionStorage). */
  confirmed: new Set<string>(),
  /** The opened model folder. */
  local: null as Choice | null,
};

const history = new RunHistory(HISTORY_LIMIT);
let features: FeaturesView | null = null;
let likelihood: LikelihoodView | null = null;
let attention: AttentionView | null = null;

// ---- controls -------------------------------------------------------------------------------

function showValues(): void {
  ui.keepRowsValue.value = `${ui.keepRows.value} of ${Number(ui.keepRows.max) + 1}`; // max is the height − 1
  ui.samplesValue.value = ui.samples.value;
  ui.temperatureValue.value = Number(ui.temperature.value).toFixed(2) + (Number(ui.temperature.value) === 0 ? ' (greedy)' : '');
  ui.topKValue.value = ui.topK.value === '0' ? 'off' : ui.topK.value;
}

function setBusy(busy: boolean): void {
  state.busy = busy;
  const ready = !!state.model && !busy;
  ui.complete.disabled = !ready || !state.prompt;
  ui.unconditional.disabled = !ready;
  ui.stop.disabled = state.runningId === null;
  ui.modelSelect.disabled = busy;
  ui.openFolder.disabled = busy;
  ui.hubRetry.disabled = busy;
  ui.downloadYes.disabled = busy;
  ui.clearCache.disabled = busy;
  ui.saveAll.disabled = busy || !state.shown;
  features?.setEnabled(ready);
  likelihood?.setEnabled(ready);
  attention?.setEnabled(ready);
}

function seedForRun(): number {
  const seed = ui.seed.value.trim() === '' ? NaN : Number(ui.seed.value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`The seed must be a whole number from 0 to ${0xffffffff}; it is "${ui.seed.value}". Type one, or tick "new seed each run".`);
  }
  return seed;
}

/** The prompt's controls do nothing while a run goes (its results are labelled with what it started from). */
function lockPrompt(locked: boolean): void {
  state.generating = locked;
  const controls: (HTMLInputElement | HTMLButtonElement)[] = [
    ui.keepRows, ui.samples, ui.varyKept, ui.temperature, ui.topK, ui.seed, ui.varySeed, ui.fileInput, ui.drawUse,
    ...ui.gallery.querySelectorAll<HTMLButtonElement>('button'),
  ];
  for (const c of controls) c.disabled = locked;
  ui.lockNote.hidden = !locked;
  ui.drawCanvas.setAttribute('aria-disabled', String(locked));
  document.body.classList.toggle('locked', locked);
}

// ---- errors beside their controls ------------------------------------------------------------

/**
 * Scrolls the least that shows `element` whole (nothing when it is in view). A load or an error can start from
 * far down the page (a folder or image dropped anywhere, Retry): its line or message must not stay above the fold.
 */
function bringIntoView(element: HTMLElement): void {
  element.scrollIntoView({ block: 'nearest' });
}

/** Shows `text` in `element`; `context` (the control with its message) is scrolled into view. */
function showFieldError(element: HTMLElement, text: string, context: HTMLElement = element): void {
  element.textContent = text;
  element.hidden = false;
  bringIntoView(context);
}

function clearFieldError(element: HTMLElement): void {
  element.hidden = true;
  element.textContent = '';
}

function showModelError(e: PlainError): void {
  ui.modelErrorTitle.textContent = e.title;
  ui.modelErrorAdvice.textContent = e.advice;
  ui.modelErrorDetail.textContent = e.detail;
  ui.modelErrorMore.hidden = !e.detail;
  ui.modelError.hidden = false;
  bringIntoView(ui.modelError);
}

function clearModelErrors(): void {
  ui.modelError.hidden = true;
  ui.hubError.hidden = true;
}

// ---- model ----------------------------------------------------------------------------------

function absolute(path: string): string {
  return new URL(path, document.baseURI).href;
}

/** One entry of the picker: what to load and what it costs. */
interface Choice {
  /** The picker's option value. */
  value: string;
  name: string;
  source: ModelSource;
  /** Bytes a hub model downloads, when known (asked about above CONFIRM_ABOVE_BYTES). */
  downloadBytes?: number;
}

const LOCAL = 'local';
const CONFIRMED_KEY = 'imagegpt-demo-confirmed-downloads';

function hubLabel(m: HubModel): string {
  const shape = m.imageSize ? `${m.imageSize}×${m.imageSize}, ${m.nLayer} layers · ` : '';
  return `${m.id} · ${shape}${m.downloadBytes ? `${formatDownload(m.downloadBytes)} download` : 'download size unknown'}`;
}

function fillModelSelect(): void {
  const group = (label: string): HTMLOptGroupElement => {
    const g = document.createElement('optgroup');
    g.label = label;
    ui.modelSelect.append(g);
    return g;
  };
  if (!shippedModels.length) {
    ui.modelSelect.add(new Option('Choose a model…', '', true, true));
  } else {
    const shipped = group('Shipped with the demo');
    for (const m of shippedModels) {
      shipped.append(new Option(`${m.id} · ${m.imageSize}×${m.imageSize}, ${m.nLayer} layers · ${formatBytes(m.weightBytes)}`, `shipped:${m.id}`));
    }
  }
  const fromHub = group(hub.host ? `Hugging Face hub at ${hub.host}` : 'Hugging Face hub (main branch)');
  for (const m of [...HUB_MODELS, ...hub.extra]) fromHub.append(new Option(hubLabel(m), `hub:${m.id}`));
}

function choiceFor(value: string): Choice {
  if (value === LOCAL) {
    if (!state.local) throw new Error('no model folder was opened');
    return state.local;
  }
  if (value.startsWith('hub:')) {
    const id = value.slice('hub:'.length);
    const m = [...HUB_MODELS, ...hub.extra].find((h) => h.id === id);
    return { value, name: id, source: { kind: 'hub', id, host: hub.host }, downloadBytes: m?.downloadBytes };
  }
  const m = shippedModels.find((s) => `shipped:${s.id}` === value);
  if (!m) throw new Error(`unknown model ${value}`);
  return { value, name: m.id, source: { kind: 'url', base: absolute(m.path), version: m.version } };
}

// Asked once per model in this tab (sessionStorage survives reloads, not a new tab).
function confirmedDownloads(): Set<string> {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(CONFIRMED_KEY) ?? '[]') as string[]);
  } catch {
    return new Set(state.confirmed);
  }
}

function rememberConfirmed(id: string): void {
  state.confirmed.add(id);
  try {
    sessionStorage.setItem(CONFIRMED_KEY, JSON.stringify([...confirmedDownloads(), id]));
  } catch {
    // Storage refused (private mode): this page still remembers it in state.confirmed.
  }
}

function needsConfirmation(choice: Choice): boolean {
  if (choice.source.kind !== 'hub' || (choice.downloadBytes ?? 0) <= CONFIRM_ABOVE_BYTES) return false;
  const id = choice.source.id;
  return !state.confirmed.has(id) && !confirmedDownloads().has(id);
}

/** Loads a picked model, first asking about a large download. */
function pick(choice: Choice): void {
  hideConfirm();
  if (needsConfirmation(choice)) askToDownload(choice);
  else void loadModel(choice);
}

function askToDownload(choice: Choice): void {
  const size = formatDownload(choice.downloadBytes ?? 0);
  state.confirming = choice;
  ui.downloadConfirmText.textContent =
    `${choice.name} is a ${size} download from the Hugging Face hub (its float32 pytorch_model.bin). ` +
    `It is kept in this browser's cache, so it downloads once. Download it now?`;
  ui.downloadYes.textContent = `Download ${size}`;
  ui.downloadConfirm.hidden = false;
  document.body.dataset.model = 'confirm';
  ui.downloadYes.focus();
}

function hideConfirm(): void {
  state.confirming = null;
  ui.downloadConfirm.hidden = true;
}

function cancelConfirm(): void {
  if (!state.confirming) return;
  hideConfirm();
  ui.modelSelect.value = ui.modelSelect.dataset.loaded ?? '';
  document.body.dataset.model = state.model ? 'ready' : 'none';
  ui.modelSelect.focus();
}

function showHubError(source: Extract<ModelSource, { kind: 'hub' }>, still: string): void {
  ui.hubErrorDetail.textContent =
    `${source.id} could not be downloaded${source.host ? ` from ${source.host}` : ''}${still ? `; ${still}` : ''}. ` +
    'When you are back online, press Retry.';
  ui.hubError.hidden = false;
  bringIntoView(ui.hubError);
}

/** Bytes arrive and go to the GPU at the same time: one line shows both, the bar their mean (indeterminate while a size is unknown). */
function showLoadProgress(p: Progress): void {
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

/** A bar's value; null makes it indeterminate (no value attribute: the browser shows it as busy). */
function setBar(bar: HTMLProgressElement, fraction: number | null): void {
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
}

async function loadModel(choice: Choice): Promise<void> {
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
    showValues();
    showPhotoAdvice(name, choice.source.kind);
    document.body.dataset.model = 'ready';
    features?.modelChanged(info);
    attention?.modelChanged(info);
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

/** A model folder goes to the library as it is: it finds the config, the processor and the weights. */
function loadFolder(files: File[], folder: string): void {
  if (state.busy) {
    showModelError({ title: `The folder ${folder} was not opened: the page is busy.`, advice: 'A model is loading or running: wait for it (or stop it), then open the folder again.', detail: '' });
    return;
  }
  if (files.length === 0) {
    showModelError({ title: `The folder ${folder} holds no files.`, advice: 'A model folder has config.json, preprocessor_config.json and the weights (model.safetensors or pytorch_model.bin).', detail: '' });
    return;
  }
  const name = `local: ${folder}`;
  state.local = { value: LOCAL, name, source: { kind: 'files', files } };
  let option = [...ui.modelSelect.options].find((o) => o.value === LOCAL);
  if (!option) ui.modelSelect.add((option = new Option(name, LOCAL)));
  option.text = name;
  pick(state.local);
}

/** The files directly inside a dropped folder (a model folder is flat). */
async function filesOf(dir: FileSystemDirectoryEntry): Promise<File[]> {
  const reader = dir.createReader();
  const entries: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const files = entries.filter((e): e is FileSystemFileEntry => e.isFile);
  return Promise.all(files.map((e) => new Promise<File>((resolve, reject) => e.file(resolve, reject))));
}

/** A dropped folder (or a dropped set of files with a config.json) is a model; anything else an image. */
async function useDrop(entries: FileSystemEntry[], files: File[]): Promise<void> {
  const dir = entries.find((e): e is FileSystemDirectoryEntry => e.isDirectory);
  try {
    if (dir) return loadFolder(await filesOf(dir), dir.name);
  } catch (e) {
    showModelError({ title: `The dropped folder ${dir?.name} could not be read.`, advice: 'Open it with "Open a model folder…" instead.', detail: message(e) });
    return;
  }
  if (files.some((f) => f.name === 'config.json')) return loadFolder(files, 'dropped files');
  if (files[0]) await useFile(files[0]);
}

// ---- the image ------------------------------------------------------------------------------

/** The quantized image with the rows after the first `keep` left see-through. */
function maskedPrompt(prompt: Prompt, keep: number): Pixels {
  const { width, height } = prompt.quantized;
  const masked = new Uint8ClampedArray(prompt.quantized.data);
  masked.fill(0, keep * width * 4);
  return { data: masked, width, height };
}

/** Shows the quantized image with the rows that will be generated left see-through. */
function showPrompt(): void {
  const prompt = state.prompt;
  if (!prompt) return;
  const keep = Number(ui.keepRows.value);
  const { width, height } = prompt.quantized;
  drawPixels(ui.quantized, maskedPrompt(prompt, keep));
  ui.quantizedCaption.textContent = `Quantized to ${width}×${height}: the top ${keep} rows are kept`;
}

/** No image to complete (the last one could not be used): nothing stale is shown as the prompt. */
function clearPrompt(reason: string): void {
  state.picked = null;
  state.prompt = null;
  for (const canvas of [ui.original, ui.quantized]) {
    canvas.width = 1;
    canvas.height = 1;
  }
  ui.quantizedCaption.textContent = reason;
  for (const b of ui.gallery.querySelectorAll('button')) b.setAttribute('aria-selected', 'false');
  updateLikelihood();
  setBusy(state.busy);
}

/** Refused while a run goes: its results must stay tied to the prompt it started from. */
function refuseWhileRunning(): boolean {
  if (!state.generating) return false;
  ui.lockNote.hidden = false;
  ui.lockNote.classList.add('flash');
  setTimeout(() => ui.lockNote.classList.remove('flash'), 1200);
  return true;
}

/** Makes `image` the prompt (refused while a run goes); one that cannot be encoded leaves no prompt, and says why. */
async function usePixels(image: Pixels): Promise<void> {
  if (refuseWhileRunning()) return;
  state.picked = image;
  drawPixels(ui.original, image);
  const client = state.client;
  if (!client || !state.model) return;
  try {
    const { tokens, quantized } = await client.request({ type: 'encode', image });
    state.prompt = { original: image, tokens, quantized };
    showPrompt();
    clearFieldError(ui.uploadError); // a usable image, from any source, ends the upload's message
  } catch (e) {
    clearPrompt(`That image could not be used: ${message(e)}`);
  }
  updateLikelihood();
  setBusy(state.busy);
}

/** An uploaded or dropped file: a failure is said beside the upload control, naming the file. */
async function useFile(file: File): Promise<void> {
  if (refuseWhileRunning()) return;
  let pixels: Pixels;
  try {
    pixels = await decodeImage(file);
  } catch (e) {
    const plain = plainImageError(file.name, file.type, e instanceof Error ? e : { message: message(e) });
    ui.srcTabUpload.click(); // the message sits beside the upload control: show that tab first, then scroll to it
    showFieldError(ui.uploadError, `${plain.title} ${plain.advice}`, $<HTMLElement>('src-upload'));
    clearPrompt(`No image: "${file.name}" could not be read.`);
    return;
  }
  clearFieldError(ui.uploadError);
  for (const b of ui.gallery.querySelectorAll('button')) b.setAttribute('aria-selected', 'false');
  await usePixels(pixels);
}

async function useGalleryItem(item: GalleryItem): Promise<void> {
  try {
    const response = await fetch(galleryUrl(item));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await usePixels(await decodeImage(await response.blob()));
  } catch (e) {
    ui.genText.textContent = `The gallery image ${item.file} could not be read (${message(e)}); pick another.`;
  }
}

function buildGallery(items: GalleryItem[]): void {
  buildGalleryGrid(ui.gallery, items, 48, (item) => void useGalleryItem(item), 'Gallery: pick an image');
}

/** The Upload tab says whether the model in use suits photos. */
function showPhotoAdvice(name: string, kind: ModelSource['kind']): void {
  const photo = /imagegpt-(small|medium|large)/.test(name);
  ui.photoModel.textContent = photo
    ? `In use: ${name}, a photo model.`
    : kind === 'url'
      ? `In use: ${name}, an emoji model: pick a hub model above for photos.`
      : `In use: ${name}.`;
}

/** The Likelihood view scores the quantized prompt and the finished run's samples (only those made from it, or from scratch). */
function updateLikelihood(): void {
  const subjects: LikelihoodSubject[] = [];
  const prompt = state.prompt;
  if (prompt) subjects.push({ label: 'Original (quantized)', image: prompt.quantized, tokens: prompt.tokens });
  const fromScratch = state.resultsFrom === null;
  if (fromScratch || state.resultsFrom === prompt) {
    const n = state.resultTokens.length / Math.max(state.results.length, 1);
    state.results.forEach((image, b) => {
      const label = fromScratch ? `Sample from scratch #${b + 1}` : `Completion #${b + 1}`;
      subjects.push({ label, image, tokens: state.resultTokens.subarray(b * n, (b + 1) * n) });
    });
  }
  likelihood?.setSubjects(subjects);
  attention?.setImage(prompt?.quantized ?? null, prompt?.tokens ?? null);
}

// ---- generation -----------------------------------------------------------------------------

function saveRun(r: RunRecord, sample?: number): void {
  const images = sample === undefined ? r.images : [r.images[sample]];
  if (images.length && images[0]) void savePng(images, SAVE_SCALE, pngName(r, sample));
}

function makeSampleSlots(count: number, size: number, keptRows?: number[]): HTMLCanvasElement[] {
  const canvases: HTMLCanvasElement[] = [];
  const figures = Array.from({ length: count }, (_, b) => {
    const figure = document.createElement('figure');
    figure.className = 'sample';
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    canvas.className = 'pixelated checker';
    canvas.setAttribute('aria-label', `Sample ${b + 1}`);
    const save = document.createElement('button');
    save.type = 'button';
    save.className = 'quiet small';
    save.textContent = 'Save PNG';
    save.disabled = true;
    save.setAttribute('aria-label', `Save sample ${b + 1} as PNG`);
    save.addEventListener('click', () => {
      if (state.shown) saveRun(state.shown, b);
    });
    const caption = document.createElement('figcaption');
    caption.append(keptRows ? `#${b + 1} · ${keptRows[b]} rows kept` : `#${b + 1}`, save);
    figure.append(canvas, caption);
    canvases.push(canvas);
    return figure;
  });
  ui.sampleGrid.replaceChildren(...figures);
  return canvases;
}

/** The run's settings in one line, above its samples. */
function summaryOf(r: RunRecord): string {
  const s = r.settings;
  return `Run ${r.number}: ${s.model} · rows kept ${keptLabel(s)} · ${s.samples} sample${s.samples === 1 ? '' : 's'} · temperature ${temperatureLabel(s.temperature)} · top-k ${topKLabel(s.topK)} · seed ${s.seed}` +
    (r.outcome === 'stopped' ? ' · stopped: partial samples' : '');
}

function renderHistory(): void {
  ui.history.replaceChildren(...history.all.map((r) => historyCard(r, (run) => saveRun(run))));
  ui.historyClear.disabled = history.all.length === 0;
  ui.history.dataset.count = String(history.all.length);
}

/** Reads the prompt and every setting once: the run and its history card use only this. */
function snapshot(conditional: boolean, model: ModelInfo & { name: string }, seed: number): RunSettings | null {
  const prompt = conditional ? state.prompt : null;
  if (conditional && !prompt) return null;
  const keepRows = prompt ? Number(ui.keepRows.value) : 0;
  const samples = Number(ui.samples.value);
  // Varied: sample i keeps max(0, keepRows − i) rows, all completed in one batch.
  const varied = prompt !== null && ui.varyKept.checked;
  return {
    model: model.name,
    imageSize: model.imageSize,
    prompt: prompt ? maskedPrompt(prompt, keepRows) : null,
    keepRows,
    keptRows: Array.from({ length: samples }, (_, i) => (varied ? Math.max(0, keepRows - i) : keepRows)),
    varied,
    samples,
    temperature: Number(ui.temperature.value),
    topK: Number(ui.topK.value),
    seed,
  };
}

async function generate(conditional: boolean): Promise<void> {
  const client = state.client;
  const model = state.model;
  if (!client || !model || state.busy) return;
  const prompt = conditional ? state.prompt : null;
  if (conditional && !prompt) return;
  let seed: number;
  try {
    seed = seedForRun();
  } catch (e) {
    showFieldError(ui.seedError, message(e));
    ui.seed.focus();
    return;
  }
  clearFieldError(ui.seedError);
  const settings = snapshot(conditional, model, seed);
  if (!settings) return;
  const { keepRows, samples, keptRows, varied } = settings;
  const started = conditional ? ui.complete : ui.unconditional;
  const size = model.imageSize;
  const canvases = makeSampleSlots(samples, size, varied ? keptRows : undefined);
  state.results = [];
  state.shown = null;
  const number = ++state.runs;
  if (prompt) {
    canvases.forEach((c, i) => drawPixels(c, maskedPrompt(prompt, keptRows[i])));
  }
  const fewest = keptRows[samples - 1];
  const toMake = size - fewest;
  // Busy (indeterminate) until the first row: preparing the GPU programs and reading the prompt take a while.
  setBar(ui.genProgress, toMake ? null : 0);
  ui.genText.textContent = toMake ? `Generating ${samples} × ${toMake} rows…` : 'Nothing to generate: every row is kept.';
  ui.genText.parentElement?.removeAttribute('data-state');
  const pending: RunRecord = { number, settings, images: [], outcome: 'stopped', seconds: 0 };
  ui.runSummary.textContent = summaryOf({ ...pending, outcome: 'done' }).replace(/^Run (\d+):/, 'Run $1 (running):');
  ui.runSummary.hidden = false;
  document.body.dataset.run = 'running';
  lockPrompt(true);
  const t0 = performance.now();
  let id = 0;
  try {
    const result = await client.request(
      {
        type: 'generate',
        tokens: prompt ? prompt.tokens : null,
        keepRows,
        varyKeptRows: varied,
        samples,
        sampling: { temperature: settings.temperature, topK: settings.topK, seed },
      },
      {
        onStart: (requestId) => {
          id = requestId;
          state.runningId = requestId;
          setBusy(true);
          ui.stop.focus(); // the one thing to do now; Escape stops too
          // Bring the samples into view: in one column (phones) they are far below the run bar; on a desktop
          // (two columns, 1280×900) they start below the fold. There the smallest scroll that shows them whole
          // keeps Stop on screen too; nothing moves when they are in view already.
          const phone = matchMedia('(max-width: 820px)').matches;
          ui.sampleGrid.closest('section')?.scrollIntoView({ block: phone ? 'start' : 'nearest' });
        },
        onProgress: (p) => {
          if (p.phase !== 'row') return;
          p.images.forEach((image, b) => drawPixels(canvases[b], image));
          const done = p.row + 1 - fewest;
          ui.genProgress.value = toMake ? done / toMake : 1;
          ui.genText.textContent = `Row ${p.row + 1} of ${p.rows} · ${Math.round(p.tokensPerSecond)} tokens/s`;
        },
      },
    );
    result.images.forEach((image, b) => drawPixels(canvases[b], image));
    const seconds = (performance.now() - t0) / 1000;
    const record: RunRecord = { number, settings, images: result.images, outcome: result.stopped ? 'stopped' : 'done', seconds };
    if (result.stopped) {
      if (!ui.genProgress.hasAttribute('value')) ui.genProgress.value = 0; // stopped before its first row
      ui.genText.textContent = `Stopped after ${seconds.toFixed(1)} s. The partial samples (the rows made so far) can be saved.`;
      document.body.dataset.run = 'stopped';
    } else {
      state.results = result.images;
      state.resultTokens = result.tokens;
      state.resultsFrom = prompt;
      ui.genProgress.value = 1;
      ui.genText.textContent = `Done in ${seconds.toFixed(1)} s · ${Math.round(result.tokensPerSecond)} tokens/s · seed ${seed}`;
      document.body.dataset.run = 'done';
    }
    state.shown = record;
    for (const b of ui.sampleGrid.querySelectorAll<HTMLButtonElement>('button')) {
      b.disabled = false;
      if (result.stopped) b.textContent = 'Save partial PNG';
    }
    ui.runSummary.textContent = summaryOf(record);
    ui.lastSeed.value = `last run used ${seed}`;
    history.add(record);
    renderHistory();
  } catch (e) {
    // No samples came of it: neither a part-filled bar nor slots holding only the prompt say otherwise.
    ui.genProgress.value = 0;
    ui.sampleGrid.replaceChildren();
    ui.genText.textContent = `Generation failed: ${message(e)}`;
    ui.genText.parentElement?.setAttribute('data-state', 'error');
    ui.runSummary.hidden = true;
    document.body.dataset.run = 'error';
  } finally {
    if (state.runningId === id) state.runningId = null;
    lockPrompt(false);
    updateLikelihood(); // once per run, at its end
    setBusy(false);
    if (ui.varySeed.checked) ui.seed.value = String((seed + 1) >>> 0);
    // Focus was on Stop (now disabled, so on the page body): back to the button that started the run.
    const active = document.activeElement;
    if (!active || active === document.body || active === ui.stop) (started.disabled ? ui.unconditional : started).focus();
  }
}

function stop(): void {
  if (state.client && state.runningId !== null) {
    ui.genText.textContent = 'Stopping…';
    void state.client.request({ type: 'stop', target: state.runningId });
  }
}

// ---- start ----------------------------------------------------------------------------------

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadGallery(): Promise<GalleryItem[]> {
  try {
    const response = await fetch('gallery/gallery.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return (await response.json()) as GalleryItem[];
  } catch (e) {
    ui.genText.textContent = `The gallery could not be loaded (${message(e)}); upload or draw an image instead.`;
    return [];
  }
}

function wireControls(): void {
  for (const input of [ui.keepRows, ui.samples, ui.temperature, ui.topK]) input.addEventListener('input', showValues);
  ui.keepRows.addEventListener('input', showPrompt);
  ui.complete.addEventListener('click', () => void generate(true));
  ui.unconditional.addEventListener('click', () => void generate(false));
  ui.stop.addEventListener('click', stop);
  ui.saveAll.addEventListener('click', () => {
    if (state.shown) saveRun(state.shown);
  });
  ui.fileInput.addEventListener('change', () => {
    const file = ui.fileInput.files?.[0];
    if (file) void useFile(file);
    ui.fileInput.value = ''; // the same file can be chosen again
  });
  ui.seed.addEventListener('input', () => clearFieldError(ui.seedError));
  ui.historyClear.addEventListener('click', () => {
    history.clear();
    renderHistory();
    ui.historyNote.focus();
  });
  // Escape stops a run from anywhere on the page (a dialog-like panel handles its own Escape first).
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.generating && state.runningId !== null && !e.defaultPrevented) {
      e.preventDefault();
      stop();
    }
  });
  // Drop anywhere on the page.
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const transfer = e.dataTransfer;
    if (!transfer) return;
    // Entries must be taken now: the DataTransfer is emptied when this handler returns.
    const entries = [...transfer.items].map((item) => (item.kind === 'file' ? item.webkitGetAsEntry() : null)).filter((x): x is FileSystemEntry => x !== null);
    void useDrop(entries, [...transfer.files]);
  });
  ui.modelSelect.addEventListener('change', () => {
    if (ui.modelSelect.value) pick(choiceFor(ui.modelSelect.value));
  });
  ui.openFolder.addEventListener('click', () => ui.folderInput.click());
  ui.folderInput.addEventListener('change', () => {
    const files = [...(ui.folderInput.files ?? [])];
    const first = files[0] as (File & { webkitRelativePath?: string }) | undefined;
    if (first) loadFolder(files, first.webkitRelativePath?.split('/')[0] || 'folder');
    ui.folderInput.value = ''; // the same folder can be opened again
  });
  ui.downloadYes.addEventListener('click', () => {
    const choice = state.confirming;
    if (!choice || choice.source.kind !== 'hub') return;
    rememberConfirmed(choice.source.id);
    hideConfirm();
    void loadModel(choice);
  });
  ui.downloadNo.addEventListener('click', cancelConfirm);
  ui.downloadConfirm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') cancelConfirm();
  });
  ui.hubRetry.addEventListener('click', () => {
    if (state.lastChoice) void loadModel(state.lastChoice);
  });
  ui.cancelLoad.addEventListener('click', () => {
    if (state.client && state.loadingId !== null) {
      ui.loadText.textContent = 'Cancelling…';
      void state.client.request({ type: 'stop', target: state.loadingId });
    }
  });
  ui.clearCache.addEventListener('click', async () => {
    if (!state.client) return;
    const { deleted } = await state.client.request({ type: 'clear-cache' });
    ui.loadText.textContent = deleted ? 'Cached model files deleted.' : 'No model files were cached.';
  });
  setupTabs(document.querySelector<HTMLElement>('.views')!, (panel) => {
    if (panel === 'view-likelihood') likelihood?.refresh();
    if (panel === 'view-attention') attention?.refresh();
  });
  setupTabs(document.querySelector<HTMLElement>('.sources')!);
  setupDrawing(ui.drawCanvas, {
    color: $<HTMLInputElement>('draw-color'),
    size: $<HTMLInputElement>('draw-size'),
    clear: $<HTMLButtonElement>('draw-clear'),
    use: ui.drawUse,
    cursor: $<HTMLElement>('draw-cursor'),
    status: $<HTMLElement>('draw-status'),
    onUse: (canvas) => {
      for (const b of ui.gallery.querySelectorAll('button')) b.setAttribute('aria-selected', 'false');
      void usePixels(readCanvas(canvas));
    },
  });
}

async function start(): Promise<void> {
  if (hub.problems.length) {
    ui.settingsNotice.textContent = `The page's address asks for something it cannot do: ${hub.problems.join('; ')}.`;
    ui.settingsNotice.hidden = false;
  }
  // A fresh seed per visit (shown, so a result can be made again).
  ui.seed.value = String(crypto.getRandomValues(new Uint32Array(1))[0] % 100_000);
  showValues();
  wireControls();
  fillModelSelect();
  const galleryItems = await loadGallery();
  buildGallery(galleryItems);
  const gpu = await checkWebGpu();
  if (!gpu.ok) {
    ui.noWebGpu.hidden = false;
    const title = document.createElement('strong');
    title.textContent = gpu.title;
    const detail = document.createElement('p');
    detail.textContent = gpu.detail;
    ui.noWebGpu.replaceChildren(title, detail);
    ui.loadProgress.hidden = true;
    ui.loadText.textContent = 'No model can run here without WebGPU.';
    document.body.dataset.model = 'no-webgpu';
    setBusy(true);
    ui.modelSelect.disabled = true;
    return;
  }
  state.client = new ModelClient();
  features = new FeaturesView(state.client, galleryItems, setBusy);
  likelihood = new LikelihoodView(state.client, setBusy);
  attention = new AttentionView(state.client, setBusy);
  const first = ui.gallery.querySelector<HTMLButtonElement>('button');
  if (first) first.click();
  renderHistory();
  const preferred = shippedModels.find((m) => m.id === 'emoji-16') ?? shippedModels[0];
  if (preferred) {
    await loadModel(choiceFor(`shipped:${preferred.id}`));
  } else {
    ui.loadProgress.hidden = true;
    ui.loadText.textContent = 'No model is shipped with this build: pick one from the Hugging Face hub or open a model folder.';
    document.body.dataset.model = 'none';
  }
}

void start();
