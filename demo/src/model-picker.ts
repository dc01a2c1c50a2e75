// The model picker: its entries (shipped, hub, a local folder), what each loads, the question before a large
// download (remembered per tab), and a model folder opened or dropped on the page.
import shippedModels from 'virtual:shipped-models';
import { formatBytes } from './pixels';
import { CONFIRM_ABOVE_BYTES, HUB_MODELS, formatDownload, hubSettings, type HubModel } from './hub-models';
import { state, message, type Choice } from './app-state';
import { ui } from './page-elements';
import { showModelError } from './field-errors';
import { loadModel } from './model-loading';
import { useFile } from './prompt';

/** Where hub ids resolve (`?hub=<url>` or VITE_HUB_HOST, else huggingface.co) and test-only extra ids. */
export const hub = hubSettings(location.search, import.meta.env.VITE_HUB_HOST);

/** A path relative to the page as an absolute URL, as the worker is given it. */
function absolute(path: string): string {
  return new URL(path, document.baseURI).href;
}

const LOCAL = 'local';
const CONFIRMED_KEY = 'imagegpt-demo-confirmed-downloads';

/** A hub model's picker entry: id, shape when known, download size. */
function hubLabel(m: HubModel): string {
  const shape = m.imageSize ? `${m.imageSize}×${m.imageSize}, ${m.nLayer} layers · ` : '';
  return `${m.id} · ${shape}${m.downloadBytes ? `${formatDownload(m.downloadBytes)} download` : 'download size unknown'}`;
}

/** The picker's entries: the shipped models, then the hub's. */
export function fillModelSelect(): void {
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

/** What the picker's option `value` loads. */
export function choiceFor(value: string): Choice {
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
  return { value, name: m.id, source: { kind: 'url', base: absolute(m.path), version: m.version }, sampling: m.sampling };
}

// Asked once per model in this tab (sessionStorage survives reloads, not a new tab).
function confirmedDownloads(): Set<string> {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(CONFIRMED_KEY) ?? '[]') as string[]);
  } catch {
    return new Set(state.confirmed);
  }
}

export function rememberConfirmed(id: string): void {
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
export function pick(choice: Choice): void {
  hideConfirm();
  if (needsConfirmation(choice)) askToDownload(choice);
  else void loadModel(choice);
}

/** The question before a large download, beside the picker, with Download focused. */
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

export function hideConfirm(): void {
  state.confirming = null;
  ui.downloadConfirm.hidden = true;
}

/** Escape or Cancel on the question: the picker shows the model in use again. */
export function cancelConfirm(): void {
  if (!state.confirming) return;
  hideConfirm();
  ui.modelSelect.value = ui.modelSelect.dataset.loaded ?? '';
  document.body.dataset.model = state.model ? 'ready' : 'none';
  ui.modelSelect.focus();
}

/** A model folder goes to the library as it is: it finds the config, the processor and the weights. */
export function loadFolder(files: File[], folder: string): void {
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
export async function useDrop(entries: FileSystemEntry[], files: File[]): Promise<void> {
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
