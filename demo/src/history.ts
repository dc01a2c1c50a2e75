// Run history: every completion or sample run (finished or stopped) as a card with what made it, the
// prompt and settings captured when the run started. Kept in memory for this tab only, newest first,
// at most HISTORY_LIMIT runs (older ones are dropped: each holds a few small images).
import { drawPixels } from './pixels';
import type { Pixels } from './protocol';

export const HISTORY_LIMIT = 20;

/** Everything that decides a run's result, read once when it starts. */
export interface RunSettings {
  model: string;
  imageSize: number;
  /** Null: sampled from scratch. */
  prompt: Pixels | null;
  /** Rows kept of sample 1 (0 from scratch). */
  keepRows: number;
  /** Rows kept by each sample (all equal unless varied). */
  keptRows: number[];
  varied: boolean;
  samples: number;
  temperature: number;
  topK: number;
  seed: number;
}

export interface RunRecord {
  /** 1, 2, … in the order the runs started (not reused after Clear all). */
  number: number;
  settings: RunSettings;
  images: Pixels[];
  /** 'stopped': the images hold the rows made before Stop; the rest is see-through. */
  outcome: 'done' | 'stopped';
  seconds: number;
}

/** The newest-first list, bounded. */
export class RunHistory {
  private records: RunRecord[] = [];

  constructor(readonly limit = HISTORY_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`the history limit must be a positive integer, got ${limit}`);
  }

  add(record: RunRecord): void {
    this.records.unshift(record);
    if (this.records.length > this.limit) this.records.length = this.limit;
  }

  clear(): void {
    this.records = [];
  }

  get all(): readonly RunRecord[] {
    return this.records;
  }
}

/** The rows kept in words: "11 of 16", or "14 → 12 of 16" when they vary across samples. */
export function keptLabel(s: RunSettings): string {
  if (!s.prompt) return 'none (from scratch)';
  const first = s.keptRows[0] ?? s.keepRows;
  const last = s.keptRows[s.keptRows.length - 1] ?? s.keepRows;
  return first === last ? `${first} of ${s.imageSize}` : `${first} → ${last} of ${s.imageSize} (varied)`;
}

export function temperatureLabel(t: number): string {
  return `${t.toFixed(2)}${t === 0 ? ' (greedy)' : ''}`;
}

export function topKLabel(k: number): string {
  return k === 0 ? 'off' : String(k);
}

/** The settings as [term, value] pairs, in the order the controls show them. */
export function settingsRows(s: RunSettings): [string, string][] {
  return [
    ['Model', s.model],
    ['Rows kept', keptLabel(s)],
    ['Samples', String(s.samples)],
    ['Temperature', temperatureLabel(s.temperature)],
    ['Top-k', topKLabel(s.topK)],
    ['Seed', String(s.seed)],
  ];
}

/** A file name that says which model, seed and run made the image (and that it is partial, after Stop). */
export function pngName(r: RunRecord, sample?: number): string {
  const safe = r.settings.model.replace(/[^\w.-]+/g, '_');
  const which = sample === undefined ? '' : `-${sample + 1}`;
  return `imagegpt-${safe}-seed${r.settings.seed}-run${r.number}${which}${r.outcome === 'stopped' ? '-partial' : ''}.png`;
}

function canvasOf(image: Pixels, label: string): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.className = 'pixelated checker';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  drawPixels(canvas, image);
  return canvas;
}

/** One history card: the prompt, the settings (also as data-* attributes), the samples, a save button. */
export function historyCard(r: RunRecord, onSave: (r: RunRecord) => void): HTMLLIElement {
  const s = r.settings;
  const item = document.createElement('li');
  item.className = 'run-card';
  Object.assign(item.dataset, {
    run: String(r.number),
    model: s.model,
    keepRows: String(s.prompt ? s.keepRows : 0),
    samples: String(s.samples),
    temperature: String(s.temperature),
    topK: String(s.topK),
    seed: String(s.seed),
    outcome: r.outcome,
  });
  const heading = document.createElement('h3');
  heading.textContent = `Run ${r.number} · ${s.prompt ? 'completion' : 'from scratch'}${r.outcome === 'stopped' ? ' · stopped (partial)' : ''}`;
  const prompt = document.createElement('figure');
  prompt.className = 'run-prompt';
  const caption = document.createElement('figcaption');
  if (s.prompt) {
    prompt.append(canvasOf(s.prompt, `Prompt of run ${r.number}: the kept rows`));
    caption.textContent = 'Prompt';
  } else {
    const blank = document.createElement('div');
    blank.className = 'run-blank checker';
    prompt.append(blank);
    caption.textContent = 'No prompt';
  }
  prompt.append(caption);
  const list = document.createElement('dl');
  for (const [term, value] of settingsRows(s)) {
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dd.dataset.field = term.toLowerCase().replace(/[^a-z]+/g, '-');
    div.append(dt, dd);
    list.append(div);
  }
  const samples = document.createElement('div');
  samples.className = 'run-samples';
  r.images.forEach((image, b) => samples.append(canvasOf(image, `Run ${r.number}, sample ${b + 1}${r.outcome === 'stopped' ? ' (partial)' : ''}`)));
  const save = document.createElement('button');
  save.type = 'button';
  save.className = 'quiet small';
  save.textContent = r.outcome === 'stopped' ? 'Save partial PNG' : 'Save PNG';
  save.setAttribute('aria-label', `Save the samples of run ${r.number} as one PNG`);
  save.addEventListener('click', () => onSave(r));
  const body = document.createElement('div');
  body.className = 'run-body';
  body.append(prompt, list);
  item.append(heading, body, samples, save);
  return item;
}
