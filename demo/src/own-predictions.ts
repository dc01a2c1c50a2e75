// How the own-classes panel shows a classified picture: its thumbnail and a line saying it waits, or the
// verdict with a bar of confidence per class.
import { el, thumbnail } from './dom';
import type { Pixels } from './protocol';

/** A picture to classify (the drawing, or an upload) and the figure it is shown in. */
export interface Prediction {
  pixels: Pixels;
  label: string;
  element: HTMLElement;
}

function percent(x: number): string {
  return `${Math.round(x * 100)} %`;
}

/** The picture with a line instead of a verdict (no probe yet, or the model is busy). */
export function showPending(p: Prediction, text: string): void {
  p.element.replaceChildren(thumbnail(p.pixels, p.label), el('figcaption', {}, `${p.label}: ${text}`));
}

/** The picture, the most likely class and each class's probability as a bar. */
export function showBars(p: Prediction, classes: string[], probabilities: Float32Array): void {
  let best = 0;
  probabilities.forEach((v, k) => {
    if (v > probabilities[best]) best = k;
  });
  const bars = el('ol', { className: 'own-bars' });
  classes.forEach((name, k) => {
    const fill = el('span', { className: 'own-bar-fill' });
    fill.style.width = `${(probabilities[k] * 100).toFixed(1)}%`;
    const row = el('li', { className: k === best ? 'best' : '' }, el('span', { className: 'own-bar-name' }, name), el('span', { className: 'own-bar' }, fill), el('span', { className: 'own-bar-value' }, percent(probabilities[k])));
    row.dataset.class = name;
    row.dataset.probability = String(probabilities[k]);
    bars.append(row);
  });
  const caption = el('figcaption', { className: 'own-verdict' }, `${p.label}: looks like `, el('strong', {}, classes[best]), ` (${percent(probabilities[best])})`);
  p.element.dataset.predicted = classes[best];
  p.element.replaceChildren(thumbnail(p.pixels, p.label), el('div', { className: 'own-prediction-text' }, caption, bars));
}
