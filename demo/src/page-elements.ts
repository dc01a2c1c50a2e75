// The page's elements by id (index.html), in one table read at start (a missing id fails then, not on first
// use), and the two small things many parts do to them: scroll one into view, set a progress bar.

/** The element with id `id`; a page without it is an error naming the id. */
export function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Every element of index.html the page's parts use, found once at start. */
export const ui = {
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

/**
 * Scrolls the least that shows `element` whole (nothing when it is in view). A load or an error can start from
 * far down the page (a folder or image dropped anywhere, Retry): its line or message must not stay above the fold.
 */
export function bringIntoView(element: HTMLElement): void {
  element.scrollIntoView({ block: 'nearest' });
}
