// "Teach it a style": the pictures a style is learned from, and where they come from — gallery picks, uploads,
// the Complete view's drawing and its picked image (the same inputs the rest of the page uses).
import { el, thumbnail } from './dom';
import { galleryAddGrid, galleryUrl, type GalleryItem } from './gallery';
import { decodeImage, readCanvas } from './pixels';
import { shrink } from './own-class-editor';
import type { Pixels } from './protocol';
import { state } from './app-state';
import { ui } from './page-elements';
import { MAX_STYLE_IMAGES, MIN_STYLE_IMAGES } from './style-plan';

interface StylePicture {
  pixels: Pixels;
  /** Where it came from, for its label: a gallery emoji's name, a file name, "drawing 2". */
  source: string;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class StylePictures {
  readonly element: HTMLElement;
  readonly pictures: StylePicture[] = [];
  private readonly list = el('ul', { id: 'style-images', className: 'own-images style-images' });
  private readonly count = el('p', { id: 'style-count', className: 'hint' });
  private readonly upload = el('input', { id: 'style-upload', type: 'file', accept: 'image/*', multiple: true });
  private readonly addDrawing = el('button', { type: 'button', id: 'style-add-drawing', className: 'small' }, 'Add the drawing (Complete › Draw)');
  private readonly addPicked = el('button', { type: 'button', id: 'style-add-picked', className: 'small' }, 'Add the picked image (Complete)');
  private readonly clear = el('button', { type: 'button', id: 'style-clear-images', className: 'quiet small' }, 'Remove all');
  private readonly error = el('p', { id: 'style-images-error', className: 'own-error' });
  private drawings = 0;
  private locked = false;

  /** `onChange` runs after the pictures change. */
  constructor(
    private readonly gallery: GalleryItem[],
    private readonly onChange: () => void,
  ) {
    this.error.setAttribute('role', 'alert');
    this.upload.addEventListener('change', () => void this.addFiles());
    this.addDrawing.addEventListener('click', () => this.add(readCanvas(ui.drawCanvas), `drawing ${++this.drawings}`));
    this.addPicked.addEventListener('click', () => {
      if (state.picked) this.add(shrink(state.picked), 'the picked image');
      else this.error.textContent = 'No image is picked in the Complete view.';
    });
    this.clear.addEventListener('click', () => {
      this.pictures.length = 0;
      this.list.replaceChildren();
      this.changed();
    });
    const picks = el(
      'details',
      { className: 'own-gallery-picks style-gallery-picks', open: true },
      el('summary', {}, 'Pick images from the gallery'),
      this.galleryGrid(),
    );
    const tools = el('div', { className: 'own-class-tools' }, el('label', { className: 'own-file small' }, 'Upload… ', this.upload), this.addDrawing, this.addPicked, this.clear);
    this.element = el('div', { className: 'style-pictures' }, tools, this.count, this.list, this.error, picks);
    this.showCount(); // not changed(): the view that owns this is still being made
  }

  /** While a run goes the pictures stay as it read them. */
  setLocked(locked: boolean): void {
    this.locked = locked;
    for (const control of [this.upload, this.addDrawing, this.addPicked, this.clear, ...this.list.querySelectorAll('button')]) control.disabled = locked;
    for (const b of this.element.querySelectorAll<HTMLButtonElement>('.style-gallery button')) b.disabled = locked;
  }

  /** The gallery as "add" buttons, one Tab stop (the arrow keys move, a click or Enter adds). */
  private galleryGrid(): HTMLElement {
    return galleryAddGrid(this.gallery, 'gallery small own-gallery style-gallery', 'Gallery images to add to the style', (name) => `Add ${name} to the style's pictures`, (item) => void this.addGalleryItem(item));
  }

  private add(pixels: Pixels, source: string): void {
    if (this.locked) {
      // An upload or a gallery fetch that finished after the run started: the run's pictures were already read.
      this.error.textContent = `${source} was not added: the pictures are locked while the style is taught. Add it again after the run.`;
      return;
    }
    if (this.pictures.length >= MAX_STYLE_IMAGES) {
      this.error.textContent = `${source} was not added: a style takes at most ${MAX_STYLE_IMAGES} pictures.`;
      return;
    }
    const picture = { pixels, source };
    this.pictures.push(picture);
    const remove = el('button', { type: 'button', className: 'own-remove-image', title: `Remove ${source}` }, '×');
    remove.setAttribute('aria-label', `Remove ${source} from the style's pictures`);
    const item = el('li', {}, thumbnail(pixels, source), remove);
    remove.addEventListener('click', () => {
      this.pictures.splice(this.pictures.indexOf(picture), 1);
      item.remove();
      this.changed();
    });
    this.list.append(item);
    this.error.textContent = '';
    this.changed();
  }

  private async addFiles(): Promise<void> {
    const problems: string[] = [];
    for (const file of Array.from(this.upload.files ?? [])) {
      try {
        this.add(shrink(await decodeImage(file)), file.name);
      } catch (e) {
        problems.push(`${file.name}: ${message(e)}`);
      }
    }
    this.upload.value = '';
    if (problems.length) this.error.textContent = `Not added: ${problems.join('; ')}.`;
  }

  private async addGalleryItem(item: GalleryItem): Promise<void> {
    try {
      const response = await fetch(galleryUrl(item));
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.add(await decodeImage(await response.blob()), item.name.replaceAll('_', ' '));
    } catch (e) {
      this.error.textContent = `The gallery image ${item.file} could not be read: ${message(e)}`;
    }
  }

  private showCount(): void {
    const n = this.pictures.length;
    this.count.textContent = `${n} picture${n === 1 ? '' : 's'}${n < MIN_STYLE_IMAGES ? ` (at least ${MIN_STYLE_IMAGES} needed)` : ''}.`;
    this.clear.disabled = this.locked || n === 0;
  }

  private changed(): void {
    this.showCount();
    this.onChange();
  }
}
