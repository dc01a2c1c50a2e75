// The demo page starts here: the controls wired to what they do, WebGPU checked, the views made, the first
// model loaded. All model work happens in the worker (client.ts ⇄ worker.ts); the page only draws and sends
// requests. Its parts: app-state.ts, page-elements.ts, model-picker.ts, model-loading.ts, prompt.ts,
// generation.ts, field-errors.ts.
import shippedModels from 'virtual:shipped-models';
import { ModelClient } from './client';
import { FeaturesView } from './features-view';
import { LikelihoodView } from './likelihood-view';
import { AttentionView } from './attention-view';
import { StyleView } from './style-view';
import { readCanvas } from './pixels';
import { setupDrawing } from './drawing';
import { setupTabs } from './tabs';
import { checkWebGpu } from './webgpu-check';
import { state, history, setBusy, views } from './app-state';
import { $, ui } from './page-elements';
import { clearFieldError } from './field-errors';
import { cancelConfirm, choiceFor, fillModelSelect, hideConfirm, hub, loadFolder, pick, rememberConfirmed, useDrop } from './model-picker';
import { loadModel } from './model-loading';
import { buildGallery, loadGallery, showPrompt, useFile, usePixels } from './prompt';
import { generate, renderHistory, saveRun, showValues, stop } from './generation';

/** Every control's events, and the page-wide keys and drops. */
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
    if (panel === 'view-likelihood') views.likelihood?.refresh();
    if (panel === 'view-attention') views.attention?.refresh();
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

/** Fills the picker and gallery, checks WebGPU (saying so plainly without it), makes the views, loads the first model. */
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
  views.features = new FeaturesView(state.client, galleryItems, setBusy);
  views.likelihood = new LikelihoodView(state.client, setBusy);
  views.attention = new AttentionView(state.client, setBusy);
  views.style = new StyleView(state.client, galleryItems, setBusy);
  $<HTMLElement>('view-style').append(views.style.element);
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
