// A run (Complete or Sample from scratch): its settings read once, the sample slots filled row by row as the
// worker sends them, Stop, the finished run's summary, Save PNG, and its card in the run history.
import { drawPixels, savePng } from './pixels';
import type { ModelInfo } from './protocol';
import { historyCard, keptLabel, pngName, temperatureLabel, topKLabel, type RunRecord, type RunSettings } from './history';
import { state, history, setBusy, lockPrompt, message } from './app-state';
import { ui } from './page-elements';
import { setBar } from './dom';
import { clearFieldError, showFieldError } from './field-errors';
import { maskedPrompt, updateLikelihood } from './prompt';

/** Saved PNGs are the samples enlarged this many times (nearest neighbour). */
const SAVE_SCALE = 16;

/** The sliders' values beside them, in words. */
export function showValues(): void {
  ui.keepRowsValue.value = `${ui.keepRows.value} of ${Number(ui.keepRows.max) + 1}`; // max is the height − 1
  ui.samplesValue.value = ui.samples.value;
  ui.temperatureValue.value = Number(ui.temperature.value).toFixed(2) + (Number(ui.temperature.value) === 0 ? ' (greedy)' : '');
  ui.topKValue.value = ui.topK.value === '0' ? 'off' : ui.topK.value;
}

/** The seed field as a 32-bit seed; anything else is an error saying what to type. */
function seedForRun(): number {
  const seed = ui.seed.value.trim() === '' ? NaN : Number(ui.seed.value);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`The seed must be a whole number from 0 to ${0xffffffff}; it is "${ui.seed.value}". Type one, or tick "new seed each run".`);
  }
  return seed;
}

/** Saves a run's samples (or one of them) as an enlarged PNG. */
export function saveRun(r: RunRecord, sample?: number): void {
  const images = sample === undefined ? r.images : [r.images[sample]];
  if (images.length && images[0]) void savePng(images, SAVE_SCALE, pngName(r, sample));
}

/** One figure per sample (canvas, caption with its kept rows when they vary, Save PNG), replacing the last run's. */
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

/** The history list drawn again from the run history. */
export function renderHistory(): void {
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

/** Runs Complete (`conditional`) or Sample from scratch in the worker, drawing rows as they come. */
export async function generate(conditional: boolean): Promise<void> {
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

/** Asks the worker to stop the run in flight (it ends with the rows made so far). */
export function stop(): void {
  if (state.client && state.runningId !== null) {
    ui.genText.textContent = 'Stopping…';
    void state.client.request({ type: 'stop', target: state.runningId });
  }
}
