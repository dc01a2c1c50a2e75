// The gallery of held-out emoji (demo/public/gallery, made by weights-tools/prepare_data.py):
// thumbnails in a single-select listbox (the Complete and the Features views), or as "add" buttons (the own-classes
// and the style pictures).

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

/** Thumbnails per row as laid out now (those sharing the first one's top edge); at least 1. */
function columnsOf(buttons: HTMLElement[]): number {
  const top = buttons[0]?.offsetTop;
  let n = 0;
  while (n < buttons.length && buttons[n].offsetTop === top) n++;
  return Math.max(n, 1);
}

/** Where a navigation key moves from `index` in a grid of `count` items, `columns` wide; null: not a navigation key. */
export function gridStep(key: string, index: number, count: number, columns: number): number | null {
  const last = count - 1;
  switch (key) {
    case 'ArrowRight':
      return Math.min(index + 1, last);
    case 'ArrowLeft':
      return Math.max(index - 1, 0);
    case 'ArrowDown':
      return index + columns <= last ? index + columns : index;
    case 'ArrowUp':
      return index - columns >= 0 ? index - columns : index;
    case 'Home':
      return 0;
    case 'End':
      return last;
    default:
      return null;
  }
}

/**
 * Fills `container` with one option per item, as a listbox that is a single Tab stop: the arrow keys move
 * (and pick, as selection follows focus), Home/End jump to the ends; a click or Enter picks too. Picking
 * selects only that option and calls onPick. `label` names the listbox for screen readers.
 */
export function buildGalleryGrid(
  container: HTMLElement,
  items: GalleryItem[],
  size: number,
  onPick: (item: GalleryItem, index: number) => void,
  label = 'Gallery images',
): void {
  container.setAttribute('role', 'listbox');
  container.setAttribute('aria-label', label);
  const buttons = items.map((item, index) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'thumb';
    button.title = `${item.name.replaceAll('_', ' ')} (${item.category})`;
    button.setAttribute('role', 'option');
    button.setAttribute('aria-selected', 'false');
    button.tabIndex = index === 0 ? 0 : -1;
    button.append(galleryImage(item, size));
    button.addEventListener('click', () => {
      for (const b of buttons) {
        b.setAttribute('aria-selected', String(b === button));
        b.tabIndex = b === button ? 0 : -1;
      }
      onPick(item, index);
    });
    button.addEventListener('keydown', (e) => {
      const next = gridStep(e.key, index, buttons.length, columnsOf(buttons));
      if (next === null) return;
      e.preventDefault();
      if (next === index) return;
      const target = buttons[next];
      target.focus();
      if (!target.disabled) target.click();
    });
    return button;
  });
  container.replaceChildren(...buttons);
}

/**
 * The gallery as "add" buttons in a group that is one Tab stop: the arrow keys (Home/End) only move, a click or
 * Enter calls onAdd (unlike buildGalleryGrid, where moving picks). `addLabel` says for a screen reader where an emoji
 * of that name goes.
 */
export function galleryAddGrid(
  items: GalleryItem[],
  className: string,
  groupLabel: string,
  addLabel: (name: string) => string,
  onAdd: (item: GalleryItem) => void,
): HTMLElement {
  const grid = document.createElement('div');
  grid.className = className;
  grid.setAttribute('role', 'group');
  grid.setAttribute('aria-label', groupLabel);
  const takeTabStop = (index: number): void => {
    buttons.forEach((b, i) => (b.tabIndex = i === index ? 0 : -1));
  };
  const buttons = items.map((item, index) => {
    const name = item.name.replaceAll('_', ' ');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'thumb';
    button.title = `Add ${name} (${item.category})`;
    button.tabIndex = index === 0 ? 0 : -1;
    button.append(galleryImage(item, 32));
    button.setAttribute('aria-label', addLabel(name));
    // The clicked button becomes the group's Tab stop, so Tab back into the grid lands where the mouse left it.
    button.addEventListener('click', () => {
      takeTabStop(index);
      onAdd(item);
    });
    button.addEventListener('keydown', (e) => {
      const next = gridStep(e.key, index, buttons.length, columnsOf(buttons));
      if (next === null) return;
      e.preventDefault();
      takeTabStop(next);
      buttons[next].focus();
    });
    return button;
  });
  grid.append(...buttons);
  return grid;
}
