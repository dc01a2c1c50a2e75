// Building the demo's elements in code: a tag with its properties and children in one call, and an image as
// a small labelled canvas.
import { drawPixels } from './pixels';
import type { Pixels } from './protocol';

/** A `tag` element with `props` assigned and `children` appended. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

/** `image` on a canvas of its own size, announced as an image named `label`. */
export function thumbnail(image: Pixels, label: string): HTMLCanvasElement {
  const canvas = el('canvas', { className: 'own-thumb' });
  drawPixels(canvas, image);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

/** A bar's value; null makes it indeterminate (no value attribute: the browser shows it as busy). */
export function setBar(bar: HTMLProgressElement, fraction: number | null): void {
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
}
