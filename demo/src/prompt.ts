// The image to complete: picked from the gallery, uploaded, dropped or drawn; encoded by the worker into the
// quantized prompt shown with its kept rows; and the Likelihood and Attention views told what it is.
import type { LikelihoodSubject } from './likelihood-view';
import { buildGalleryGrid, galleryUrl, type GalleryItem } from './gallery';
import { decodeImage, drawPixels } from './pixels';
import type { Pixels } from './protocol';
import { plainImageError } from './errors';
import { state, setBusy, views, refuseWhileRunning, message, type Prompt } from './app-state';
import { $, ui } from './page-elements';
import { clearFieldError, showFieldError } from './field-errors';

/** The quantized image with the rows after the first `keep` left see-through. */
export function maskedPrompt(prompt: Prompt, keep: number): Pixels {
  const { width, height } = prompt.quantized;
  const masked = new Uint8ClampedArray(prompt.quantized.data);
  masked.fill(0, keep * width * 4);
  return { data: masked, width, height };
}

/** Shows the quantized image with the rows that will be generated left see-through. */
export function showPrompt(): void {
  const prompt = state.prompt;
  if (!prompt) return;
  const keep = Number(ui.keepRows.value);
  const { width, height } = prompt.quantized;
  drawPixels(ui.quantized, maskedPrompt(prompt, keep));
  ui.quantizedCaption.textContent = `Quantized to ${width}×${height}: the top ${keep} rows are kept`;
}

/** No image to complete (the last one could not be used): nothing stale is shown as the prompt. */
export function clearPrompt(reason: string): void {
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

/** Counts picks: an encode (or a gallery fetch) that a newer pick overtook while it ran is dropped, so arrowing
 *  through the gallery ends on the image last picked, whatever order the answers come back in. */
let picks = 0;

/** Makes `image` the prompt (refused while a run goes); one that cannot be encoded leaves no prompt, and says why. */
export async function usePixels(image: Pixels, pick = ++picks): Promise<void> {
  if (refuseWhileRunning()) return;
  if (pick !== picks) return; // a newer pick came while this one was fetched
  state.picked = image;
  drawPixels(ui.original, image);
  const client = state.client;
  if (!client || !state.model) return;
  try {
    const { tokens, quantized } = await client.request({ type: 'encode', image });
    if (pick !== picks) return; // overtaken: the newer pick shows its own prompt
    state.prompt = { original: image, tokens, quantized };
    showPrompt();
    clearFieldError(ui.uploadError); // a usable image, from any source, ends the upload's message
  } catch (e) {
    if (pick !== picks) return;
    clearPrompt(`That image could not be used: ${message(e)}`);
  }
  updateLikelihood();
  setBusy(state.busy);
}

/** An uploaded or dropped file: a failure is said beside the upload control, naming the file. */
export async function useFile(file: File): Promise<void> {
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

/** A gallery emoji, fetched and made the prompt; a failure says which and asks for another. */
async function useGalleryItem(item: GalleryItem): Promise<void> {
  const pick = ++picks;
  try {
    const response = await fetch(galleryUrl(item));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await usePixels(await decodeImage(await response.blob()), pick);
  } catch (e) {
    if (pick !== picks) return;
    ui.genText.textContent = `The gallery image ${item.file} could not be read (${message(e)}); pick another.`;
  }
}

/** The Complete view's gallery: moving through it picks (one Tab stop, arrow keys). */
export function buildGallery(items: GalleryItem[]): void {
  buildGalleryGrid(ui.gallery, items, 48, (item) => void useGalleryItem(item), 'Gallery: pick an image');
}

/** The Likelihood view scores the quantized prompt and the finished run's samples (only those made from it, or from scratch). */
export function updateLikelihood(): void {
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
  views.likelihood?.setSubjects(subjects);
  views.attention?.setImage(prompt?.quantized ?? null, prompt?.tokens ?? null);
}

/** The gallery's list (gallery/gallery.json); none, and a line saying so, when it cannot be read. */
export async function loadGallery(): Promise<GalleryItem[]> {
  try {
    const response = await fetch('gallery/gallery.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return (await response.json()) as GalleryItem[];
  } catch (e) {
    ui.genText.textContent = `The gallery could not be loaded (${message(e)}); upload or draw an image instead.`;
    return [];
  }
}
