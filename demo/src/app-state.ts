// What the page holds between events (the model, the prompt, the run, the load, the views) and what follows
// from it for every control at once: busy (a load or a run), and the prompt locked while a run goes.
import type { ModelClient } from './client';
import type { FeaturesView } from './features-view';
import type { LikelihoodView } from './likelihood-view';
import type { AttentionView } from './attention-view';
import type { StyleView } from './style-view';
import type { ModelInfo, ModelSource, Pixels, Progress } from './protocol';
import { HISTORY_LIMIT, RunHistory, type RunRecord } from './history';
import { ui } from './page-elements';

type LoadProgressMessage = Extract<Progress, { phase: 'download' | 'cached' | 'upload' }>;

/** The image being completed: as picked, its tokens, and its quantized pixels. */
export interface Prompt {
  original: Pixels;
  tokens: Int32Array;
  quantized: Pixels;
}

/** One entry of the picker: what to load and what it costs. */
export interface Choice {
  /** The picker's option value. */
  value: string;
  name: string;
  source: ModelSource;
  /** Bytes a hub model downloads, when known (asked about above CONFIRM_ABOVE_BYTES). */
  downloadBytes?: number;
  /** A shipped model's temperature and top-k, set on the sliders when it is in (other models keep the sliders as they are). */
  sampling?: { temperature: number; topK: number };
}

/** Everything the page's parts share between events. */
export const state = {
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

/** Every run of this tab, newest first (the last HISTORY_LIMIT). */
export const history = new RunHistory(HISTORY_LIMIT);

/** The other views, made once WebGPU is known to work (null until then). */
export const views = {
  features: null as FeaturesView | null,
  likelihood: null as LikelihoodView | null,
  attention: null as AttentionView | null,
  style: null as StyleView | null,
};

export function setBusy(busy: boolean): void {
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
  views.features?.setEnabled(ready);
  views.likelihood?.setEnabled(ready);
  views.attention?.setEnabled(ready);
  views.style?.setEnabled(ready);
}

/** The prompt's controls do nothing while a run goes (its results are labelled with what it started from). */
export function lockPrompt(locked: boolean): void {
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

/** Refused while a run goes: its results must stay tied to the prompt it started from. */
export function refuseWhileRunning(): boolean {
  if (!state.generating) return false;
  ui.lockNote.hidden = false;
  ui.lockNote.classList.add('flash');
  setTimeout(() => ui.lockNote.classList.remove('flash'), 1200);
  return true;
}

/** An error's message, or the thrown value as text. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
