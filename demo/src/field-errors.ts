// Errors beside the control that caused them: a field's message (upload, seed), the model panel under the
// picker (a failed load in plain words), the hub panel (unreachable, with Retry). Each is scrolled into view.
import type { PlainError } from './errors';
import type { ModelSource } from './protocol';
import { bringIntoView, ui } from './page-elements';

/** Shows `text` in `element`; `context` (the control with its message) is scrolled into view. */
export function showFieldError(element: HTMLElement, text: string, context: HTMLElement = element): void {
  element.textContent = text;
  element.hidden = false;
  bringIntoView(context);
}

/** Hides a field's message (that control has now succeeded). */
export function clearFieldError(element: HTMLElement): void {
  element.hidden = true;
  element.textContent = '';
}

/** A failed load in plain words, in the panel under the picker. */
export function showModelError(e: PlainError): void {
  ui.modelErrorTitle.textContent = e.title;
  ui.modelErrorAdvice.textContent = e.advice;
  ui.modelErrorDetail.textContent = e.detail;
  ui.modelErrorMore.hidden = !e.detail;
  ui.modelError.hidden = false;
  bringIntoView(ui.modelError);
}

/** A model loaded: neither the model panel nor the hub panel applies any more. */
export function clearModelErrors(): void {
  ui.modelError.hidden = true;
  ui.hubError.hidden = true;
}

/** The hub could not be reached: said beside the picker, with Retry; `still` names the model kept. */
export function showHubError(source: Extract<ModelSource, { kind: 'hub' }>, still: string): void {
  ui.hubErrorDetail.textContent =
    `${source.id} could not be downloaded${source.host ? ` from ${source.host}` : ''}${still ? `; ${still}` : ''}. ` +
    'When you are back online, press Retry.';
  ui.hubError.hidden = false;
  bringIntoView(ui.hubError);
}
