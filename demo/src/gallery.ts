// The gallery of held-out emoji (demo/public/gallery, made by weights-tools/prepare_data.py):
// thumbnails as toggle buttons, used by the Complete and the Features views.

/** One entry of gallery.json. */
export interface GalleryItem {
  file: string;
  name: string;
  vendor: string;
  category: string;
}

export function galleryUrl(item: GalleryItem): string {
  return `gallery/${item.file}`;
}

export function galleryImage(item: GalleryItem, size: number): HTMLImageElement {
  const img = document.createElement('img');
  img.src = galleryUrl(item);
  img.alt = item.name.replaceAll('_', ' ');
  img.width = size;
  img.height = size;
  return img;
}

/** Fills `container` with one toggle button per item; a click presses it (only it) and calls onPick. */
export function buildGalleryGrid(container: HTMLElement, items: GalleryItem[], size: number, onPick: (item: GalleryItem, index: number) => void): void {
  const buttons = items.map((item, index) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'thumb';
    button.title = `${item.name.replaceAll('_', ' ')} (${item.category})`;
    button.setAttribute('aria-pressed', 'false');
    button.append(galleryImage(item, size));
    button.addEventListener('click', () => {
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === button));
      onPick(item, index);
    });
    return button;
  });
  container.replaceChildren(...buttons);
}
