// The demo page: model picker, image sources, completion controls and results. All model work happens
// in the worker (client.ts ⇄ worker.ts); this file only draws and sends requests.
import shippedModels from 'virtual:shipped-models';
import { ModelClient } from './client';
import { FeaturesView } from './features-view';
import { buildGalleryGrid, galleryUrl, type GalleryItem } from './gallery';
import { decodeImage, drawPixels, formatBytes, readCanvas, savePng } from './pixels';
import type { ModelInfo, ModelSource, Pixels, Progress } from './protocol';
import { setupDrawing } from './drawing';
import { setupTabs } from './tabs';
import { checkWebGpu } from './webgpu-check';

const HUB_SMALL = {
  name: 'openai/imagegpt-small',
  // Its safetensors conversion lives in an unmerged PR; the processor config on main.
  base: 'https://huggingface.co/openai/imagegpt-small/resolve/refs%2Fpr%2F2/',
  preprocessorBase: 'https://huggingface.co/openai/imagegpt-small/resolve/main/',
};
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
  noWebGpu: $<HTMLDivElement>('no-webgpu'),
  loadProgress: $<HTMLProgressElement>('load-progress'),
  loadText: $<HTMLSpanElement>('load-text'),
  gallery: $<HTMLDivElement>('gallery'),
  fileInput: $<HTMLInputElement>('file-input'),
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
  complete: $<HTMLButtonElement>('complete'),
  unconditional: $<HTMLButtonElement>('unconditional'),
  stop: $<HTMLButtonElement>('stop'),
  saveAll: $<HTMLButtonElement>('save-all'),
  genProgress: $<HTMLProgressElement>('gen-progress'),
  genText: $<HTMLSpanElement>('gen-text'),
  sampleGrid: $<HTMLDivElement>('samples'),
};

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
  lastSeed: 0,
};

let features: FeaturesView | null = null;

// ---- controls -------------------------------------------------------------------------------

function showValues(): void {
  ui.keepRowsValue.value = `${ui.keepRows.value} of ${ui.keepRows.max}`;
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
  ui.clearCache.disabled = busy;
  ui.saveAll.disabled = busy || state.results.length === 0;
  features?.setEnabled(ready);
}

function seedForRun(): number {
  const seed = Number(ui.seed.value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`the seed must be an integer from 0 to ${0xffffffff}, got "${ui.seed.value}"`);
  }
  state.lastSeed = seed;
  return seed;
}

// ---- model ----------------------------------------------------------------------------------

function absolute(path: string): string {
  return new URL(path, document.baseURI).href;
}

function fillModelSelect(): void {
  for (const m of shippedModels) {
    const option = new Option(`${m.id} · ${m.imageSize}×${m.imageSize}, ${m.nLayer} layers · ${formatBytes(m.weightBytes)}`, `shipped:${m.id}`);
    ui.modelSelect.add(option);
  }
  ui.modelSelect.add(new Option(`${HUB_SMALL.name} · 32×32, 24 layers · 332 MB download`, 'hub:small'));
}

function sourceFor(value: string): { name: string; source: ModelSource } {
  if (value === 'hub:small') {
    return { name: HUB_SMALL.name, source: { kind: 'url', base: HUB_SMALL.base, preprocessorBase: HUB_SMALL.preprocessorBase } };
  }
  const m = shippedModels.find((s) => `shipped:${s.id}` === value);
  if (!m) throw new Error(`unknown model ${value}`);
  const base = absolute(m.path);
  return { name: m.id, source: { kind: 'url', base, preprocessorBase: base, version: m.version } };
}

function showLoadProgress(p: Progress): void {
  if (p.phase !== 'download' && p.phase !== 'upload') return;
  const fraction = p.total ? p.loaded / p.total : 0;
  ui.loadProgress.value = fraction;
  const percent = `${Math.floor(fraction * 100)} %`;
  ui.loadText.textContent =
    p.phase === 'download'
      ? `Downloading weights: ${formatBytes(p.loaded)} of ${formatBytes(p.total)} (${percent})`
      : `Uploading weights to the GPU: ${percent}`;
}

async function loadModel(name: string, source: ModelSource, transfer: Transferable[] = []): Promise<void> {
  const client = state.client;
  if (!client) return;
  setBusy(true);
  ui.loadProgress.hidden = false;
  ui.loadProgress.value = 0;
  ui.loadText.textContent = `Loading ${name}…`;
  document.body.dataset.model = 'loading';
  const previous = state.model;
  const previousOption = ui.modelSelect.dataset.loaded;
  try {
    const info = await client.request({ type: 'load', source }, { onProgress: showLoadProgress, transfer });
    ui.modelSelect.dataset.loaded = ui.modelSelect.value;
    state.model = { ...info, name };
    ui.loadProgress.value = 1;
    ui.loadText.textContent =
      `${name} ready: ${info.imageSize}×${info.imageSize} pixels, ${info.nLayer} layers, ` +
      `${(info.params / 1e6).toFixed(1)} M parameters · ${info.adapter}${info.fromCache ? ' · weights from the browser cache' : ''}`;
    ui.keepRows.max = String(info.imageSize);
    ui.keepRows.value = String(Math.floor(info.imageSize / 2));
    showValues();
    document.body.dataset.model = 'ready';
    features?.modelChanged(info);
    state.results = [];
    ui.sampleGrid.replaceChildren();
    if (state.picked) await usePixels(state.picked);
  } catch (e) {
    // The worker keeps the model it had: so does the page.
    state.model = previous;
    if (previousOption) ui.modelSelect.value = previousOption;
    document.body.dataset.model = 'error';
    ui.loadText.textContent = `Could not load ${name}: ${message(e)}${previous ? ` (still using ${previous.name})` : ''}`;
  } finally {
    setBusy(false);
  }
}

async function loadFolder(files: FileList): Promise<void> {
  document.body.dataset.model = 'loading';
  const byName = new Map([...files].map((f) => [f.name, f]));
  const missing = ['config.json', 'model.safetensors', 'preprocessor_config.json'].filter((n) => !byName.has(n));
  if (missing.length) {
    ui.loadText.textContent = `That folder lacks ${missing.join(', ')}: a model folder holds config.json, model.safetensors and preprocessor_config.json.`;
    document.body.dataset.model = state.model ? 'ready' : 'error';
    return;
  }
  const json = async (n: string): Promise<unknown> => {
    try {
      return JSON.parse(await byName.get(n)!.text());
    } catch (e) {
      throw new Error(`${n} is not valid JSON (${message(e)})`);
    }
  };
  const first = files[0] as File & { webkitRelativePath?: string };
  const name = `local: ${first.webkitRelativePath?.split('/')[0] || 'folder'}`;
  try {
    const weights = await byName.get('model.safetensors')!.arrayBuffer();
    const source: ModelSource = { kind: 'files', config: await json('config.json'), preprocessor: await json('preprocessor_config.json'), weights };
    let option = [...ui.modelSelect.options].find((o) => o.value === 'local');
    if (!option) ui.modelSelect.add((option = new Option(name, 'local')));
    option.text = name;
    ui.modelSelect.value = 'local';
    await loadModel(name, source, [weights]);
  } catch (e) {
    ui.loadText.textContent = `Could not read the folder: ${message(e)}`;
    document.body.dataset.model = 'error';
  }
}

// ---- the image ------------------------------------------------------------------------------

/** Shows the quantized image with the rows that will be generated left see-through. */
function showPrompt(): void {
  const prompt = state.prompt;
  if (!prompt) return;
  const keep = Number(ui.keepRows.value);
  const { width, height } = prompt.quantized;
  const masked = new Uint8ClampedArray(prompt.quantized.data);
  masked.fill(0, keep * width * 4);
  drawPixels(ui.quantized, { data: masked, width, height });
  ui.quantizedCaption.textContent = `Quantized to ${width}×${height}: the top ${keep} rows are kept`;
}

async function usePixels(image: Pixels): Promise<void> {
  state.picked = image;
  drawPixels(ui.original, image);
  const client = state.client;
  if (!client || !state.model) return;
  try {
    const { tokens, quantized } = await client.request({ type: 'encode', image });
    state.prompt = { original: image, tokens, quantized };
    showPrompt();
  } catch (e) {
    state.prompt = null;
    ui.genText.textContent = `That image could not be used: ${message(e)}`;
  }
  setBusy(state.busy);
}

async function useBlob(blob: Blob): Promise<void> {
  try {
    await usePixels(await decodeImage(blob));
  } catch (e) {
    ui.genText.textContent = message(e);
  }
}

function buildGallery(items: GalleryItem[]): void {
  buildGalleryGrid(ui.gallery, items, 48, (item) => {
    void fetch(galleryUrl(item))
      .then((response) => response.blob())
      .then(useBlob);
  });
}

// ---- generation -----------------------------------------------------------------------------

function makeSampleSlots(count: number, size: number): HTMLCanvasElement[] {
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
      const image = state.results[b];
      if (image) void savePng([image], SAVE_SCALE, `imagegpt-${state.model?.name ?? 'model'}-seed${state.lastSeed}-${b + 1}.png`);
    });
    const caption = document.createElement('figcaption');
    caption.append(`#${b + 1}`, save);
    figure.append(canvas, caption);
    canvases.push(canvas);
    return figure;
  });
  ui.sampleGrid.replaceChildren(...figures);
  return canvases;
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
    ui.genText.textContent = message(e);
    return;
  }
  const keepRows = prompt ? Number(ui.keepRows.value) : 0;
  const samples = Number(ui.samples.value);
  const size = model.imageSize;
  const canvases = makeSampleSlots(samples, size);
  state.results = [];
  if (prompt) {
    const kept = new Uint8ClampedArray(prompt.quantized.data);
    kept.fill(0, keepRows * size * 4);
    for (const c of canvases) drawPixels(c, { data: kept, width: size, height: size });
  }
  const toMake = size - keepRows;
  ui.genProgress.value = 0;
  ui.genText.textContent = toMake ? `Generating ${samples} × ${toMake} rows…` : 'Nothing to generate: every row is kept.';
  document.body.dataset.run = 'running';
  const started = performance.now();
  let id = 0;
  try {
    const result = await client.request(
      {
        type: 'generate',
        tokens: prompt ? prompt.tokens : null,
        keepRows,
        samples,
        sampling: { temperature: Number(ui.temperature.value), topK: Number(ui.topK.value), seed },
      },
      {
        onStart: (requestId) => {
          id = requestId;
          state.runningId = requestId;
          setBusy(true);
        },
        onProgress: (p) => {
          if (p.phase !== 'row') return;
          p.images.forEach((image, b) => drawPixels(canvases[b], image));
          const done = p.row + 1 - keepRows;
          ui.genProgress.value = toMake ? done / toMake : 1;
          ui.genText.textContent = `Row ${p.row + 1} of ${p.rows} · ${Math.round(p.tokensPerSecond)} tokens/s`;
        },
      },
    );
    result.images.forEach((image, b) => drawPixels(canvases[b], image));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (result.stopped) {
      ui.genText.textContent = `Stopped after ${seconds} s. Partial samples are kept.`;
      document.body.dataset.run = 'stopped';
    } else {
      state.results = result.images;
      ui.genProgress.value = 1;
      ui.genText.textContent = `Done in ${seconds} s · ${Math.round(result.tokensPerSecond)} tokens/s · seed ${seed}`;
      for (const b of ui.sampleGrid.querySelectorAll<HTMLButtonElement>('button')) b.disabled = false;
      document.body.dataset.run = 'done';
    }
  } catch (e) {
    ui.genText.textContent = `Generation failed: ${message(e)}`;
    document.body.dataset.run = 'error';
  } finally {
    if (state.runningId === id) state.runningId = null;
    setBusy(false);
    if (ui.varySeed.checked) ui.seed.value = String((seed + 1) >>> 0);
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
    if (state.results.length) void savePng(state.results, SAVE_SCALE, `imagegpt-${state.model?.name ?? 'model'}-seed${state.lastSeed}.png`);
  });
  ui.fileInput.addEventListener('change', () => {
    const file = ui.fileInput.files?.[0];
    if (file) void useBlob(file);
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
    const file = e.dataTransfer?.files[0];
    if (file) void useBlob(file);
  });
  ui.modelSelect.addEventListener('change', () => {
    if (ui.modelSelect.value === 'local') return;
    const { name, source } = sourceFor(ui.modelSelect.value);
    void loadModel(name, source);
  });
  ui.openFolder.addEventListener('click', () => ui.folderInput.click());
  ui.folderInput.addEventListener('change', () => {
    if (ui.folderInput.files?.length) void loadFolder(ui.folderInput.files);
  });
  ui.clearCache.addEventListener('click', async () => {
    if (!state.client) return;
    const { deleted } = await state.client.request({ type: 'clear-cache' });
    ui.loadText.textContent = deleted ? 'Cached model files deleted.' : 'No model files were cached.';
  });
  setupTabs(document.querySelector<HTMLElement>('.views')!);
  setupTabs(document.querySelector<HTMLElement>('.sources')!);
  setupDrawing($<HTMLCanvasElement>('draw-canvas'), {
    color: $<HTMLInputElement>('draw-color'),
    size: $<HTMLInputElement>('draw-size'),
    clear: $<HTMLButtonElement>('draw-clear'),
    use: $<HTMLButtonElement>('draw-use'),
    onUse: (canvas) => void usePixels(readCanvas(canvas)),
  });
}

async function start(): Promise<void> {
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
  const first = ui.gallery.querySelector<HTMLButtonElement>('button');
  if (first) first.click();
  if (ui.modelSelect.options.length) {
    const preferred = shippedModels.find((m) => m.id === 'emoji-16') ?? shippedModels[0];
    ui.modelSelect.value = preferred ? `shipped:${preferred.id}` : 'hub:small';
    if (preferred) {
      const { name, source } = sourceFor(ui.modelSelect.value);
      await loadModel(name, source);
    } else {
      ui.loadProgress.hidden = true;
      ui.loadText.textContent = 'No model is shipped with this build: pick openai/imagegpt-small or open a model folder.';
    }
  }
}

void start();
