// The own-classes editor: the 2–5 classes the user makes, each a name and its pictures (drawn on the shared
// pad, uploaded, or picked from the gallery), with the controls to add and remove them.
import { el, thumbnail } from './dom';
import { galleryAddGrid, galleryUrl, type GalleryItem } from './gallery';
import { decodeImage, drawPixels, readCanvas } from './pixels';
import { MAX_CLASSES, MIN_CLASSES } from './probe-file';
import type { Pixels } from './protocol';

/** Uploads are shrunk to this longest side in the page: the worker squeezes them to the model's size anyway. */
const MAX_SIDE = 256;
/** The first classes' names, until the user types others. */
const DEFAULT_NAMES = ['red', 'blue', 'class 3', 'class 4', 'class 5'];

/** A picture of a class. */
export interface OwnImage {
  pixels: Pixels;
  /** Where it came from, for its label ("drawing 2", a file name, a gallery emoji). */
  source: string;
  /** Pooled features by layer, for the model loaded when they were computed (cleared on a model change). */
  features: Map<number, Float32Array>;
}

/** A class: its name field, its pictures and the elements that show them. */
export interface OwnClass {
  name: HTMLInputElement;
  images: OwnImage[];
  element: HTMLFieldSetElement;
  list: HTMLUListElement;
  count: HTMLSpanElement;
  error: HTMLParagraphElement;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The image scaled down (aspect kept) so its longest side is at most MAX_SIDE. */
export function shrink(image: Pixels): Pixels {
  const scale = MAX_SIDE / Math.max(image.width, image.height);
  if (scale >= 1) return image;
  const source = document.createElement('canvas');
  drawPixels(source, image);
  const target = document.createElement('canvas');
  target.width = Math.max(1, Math.round(image.width * scale));
  target.height = Math.max(1, Math.round(image.height * scale));
  const context = target.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, target.width, target.height);
  return readCanvas(target);
}

/** The class list, the Add-a-class button and the gallery picks; it tells the panel when the classes change. */
export class OwnClassEditor {
  readonly classList = el('div', { className: 'own-class-list' });
  readonly addClassButton = el('button', { type: 'button', id: 'own-add-class' }, '+ Add a class');
  private readonly galleryTarget = el('select', { id: 'own-gallery-target' });
  readonly classes: OwnClass[] = [];
  private drawings = 0;

  /**
   * `pad` is the panel's drawing pad ("Add the drawing" takes it, then `padClear` clears it); `onChange` runs after
   * anything that changes what Train would learn.
   */
  constructor(
    private readonly gallery: GalleryItem[],
    private readonly pad: HTMLCanvasElement,
    private readonly padClear: HTMLButtonElement,
    private readonly onChange: () => void,
  ) {
    this.addClassButton.addEventListener('click', () => {
      const c = this.addClass();
      c.name.focus();
      c.name.select();
    });
  }

  /** The gallery picks: one grid; a click adds the emoji to the class chosen beside it. */
  galleryPicks(): HTMLElement {
    const pickGrid = this.buildPicks();
    return el(
      'details',
      { className: 'own-gallery-picks' },
      el('summary', {}, 'Pick images from the gallery'),
      el('p', { className: 'hint' }, el('label', { htmlFor: 'own-gallery-target' }, 'Add picks to '), this.galleryTarget),
      pickGrid,
    );
  }

  /** Anything that changes what Train would learn: counts, names, the gallery-pick targets; then the panel is told. */
  classesChanged(): void {
    const target = this.galleryTarget.value;
    this.galleryTarget.replaceChildren(...this.classes.map((c, i) => new Option(c.name.value.trim() || `class ${i + 1}`, String(i))));
    if (Number(target) < this.classes.length) this.galleryTarget.value = target;
    for (const c of this.classes) c.count.textContent = `${c.images.length} image${c.images.length === 1 ? '' : 's'}`;
    this.onChange();
  }

  /** Add and Remove enabled within the class count rules. */
  refresh(): void {
    this.addClassButton.disabled = this.classes.length >= MAX_CLASSES;
    for (const c of this.classes) c.element.querySelector<HTMLButtonElement>('.own-remove-class')!.disabled = this.classes.length <= MIN_CLASSES;
  }

  /** The features were of another model. */
  forgetFeatures(): void {
    for (const c of this.classes) for (const image of c.images) image.features.clear();
  }

  /** The gallery as "add" buttons to the class chosen above. */
  private buildPicks(): HTMLElement {
    return galleryAddGrid(this.gallery, 'gallery small own-gallery', 'Gallery images to add', (name) => `Add ${name} to the chosen class`, (item) => void this.addGalleryItem(item));
  }

  addClass(): OwnClass {
    const index = this.classes.length;
    const id = `own-class-${index}-${Date.now().toString(36)}`;
    const name = el('input', { type: 'text', className: 'own-class-name', id: `${id}-name`, value: DEFAULT_NAMES[index] ?? `class ${index + 1}`, maxLength: 40 });
    name.setAttribute('autocomplete', 'off');
    const legend = el('legend', {}, el('label', { htmlFor: name.id }, 'Class name '), name);
    const count = el('span', { className: 'own-count' });
    const list = el('ul', { className: 'own-images' });
    const addDrawing = el('button', { type: 'button', className: 'own-add-drawing small' }, 'Add the drawing');
    const fileInput = el('input', { type: 'file', accept: 'image/*', multiple: true, className: 'own-class-files' });
    const upload = el('label', { className: 'own-file small' }, 'Upload… ', fileInput);
    const remove = el('button', { type: 'button', className: 'own-remove-class quiet small' }, 'Remove class');
    const error = el('p', { className: 'own-error' });
    error.setAttribute('role', 'alert');
    const element = el('fieldset', { className: 'own-class' }, legend, el('div', { className: 'own-class-tools' }, addDrawing, upload, remove, count), list, error);
    const c: OwnClass = { name, images: [], element, list, count, error };
    name.addEventListener('input', () => this.classesChanged());
    addDrawing.addEventListener('click', () => {
      this.addImage(c, readCanvas(this.pad), `drawing ${++this.drawings}`);
      this.padClear.click();
    });
    fileInput.addEventListener('change', () => void this.addFiles(c, fileInput));
    remove.addEventListener('click', () => {
      const at = this.classes.indexOf(c);
      this.classes.splice(at, 1);
      element.remove();
      this.classesChanged();
      (this.classes[Math.min(at, this.classes.length - 1)]?.name ?? this.addClassButton).focus();
    });
    this.classes.push(c);
    this.classList.append(element);
    this.classesChanged();
    return c;
  }

  private addImage(c: OwnClass, pixels: Pixels, source: string): void {
    const image: OwnImage = { pixels, source, features: new Map() };
    c.images.push(image);
    const label = `${source} in ${c.name.value.trim() || 'this class'}`;
    const remove = el('button', { type: 'button', className: 'own-remove-image', title: `Remove ${source}` }, '×');
    remove.setAttribute('aria-label', `Remove ${label}`);
    const item = el('li', {}, thumbnail(pixels, label), remove);
    remove.addEventListener('click', () => {
      const at = c.images.indexOf(image);
      c.images.splice(at, 1);
      item.remove();
      this.classesChanged();
      const next = c.list.querySelectorAll<HTMLButtonElement>('.own-remove-image')[Math.min(at, c.images.length - 1)];
      (next ?? c.name).focus();
    });
    c.list.append(item);
    c.error.textContent = '';
    this.classesChanged();
  }

  private async addFiles(c: OwnClass, input: HTMLInputElement): Promise<void> {
    const problems: string[] = [];
    for (const file of Array.from(input.files ?? [])) {
      try {
        this.addImage(c, shrink(await decodeImage(file)), file.name);
      } catch (e) {
        problems.push(`${file.name}: ${message(e)}`);
      }
    }
    input.value = '';
    c.error.textContent = problems.length ? `Not added: ${problems.join('; ')}.` : '';
  }

  private async addGalleryItem(item: GalleryItem): Promise<void> {
    const c = this.classes[Number(this.galleryTarget.value)];
    if (!c) return;
    try {
      const blob = await (await fetch(galleryUrl(item))).blob();
      this.addImage(c, await decodeImage(blob), item.name.replaceAll('_', ' '));
    } catch (e) {
      c.error.textContent = `The gallery image ${item.file} could not be read: ${message(e)}`;
    }
  }
}
