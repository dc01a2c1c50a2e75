// Canvas helpers for the page: reading images as RGBA pixels, drawing token images, saving PNGs.
import { ImageGPTError } from '../../src/index';
import type { Pixels } from './protocol';

/** A canvas sized to the image with its pixels drawn 1:1 (CSS scales it, pixelated). */
export function drawPixels(canvas: HTMLCanvasElement, image: Pixels): void {
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  context.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
}

export function readCanvas(canvas: HTMLCanvasElement): Pixels {
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2D canvas context');
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  return { data, width: canvas.width, height: canvas.height };
}

/** Decodes an image file or URL's bytes into RGBA pixels at its own size. */
export async function decodeImage(blob: Blob): Promise<Pixels> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    // A file the browser cannot decode is a bad file: the page's error advice switches on this code.
    throw new ImageGPTError('E_BAD_FILE', `this file (${blob.type || 'unknown type'}) is not an image the browser can read`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2D canvas context');
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  return { data, width: canvas.width, height: canvas.height };
}

/** Several images side by side, each enlarged `scale`× with nearest-neighbour sampling, as a PNG. */
export async function savePng(images: Pixels[], scale: number, filename: string): Promise<void> {
  const gap = images.length > 1 ? scale : 0;
  const w = images[0].width * scale;
  const h = images[0].height * scale;
  const canvas = document.createElement('canvas');
  canvas.width = images.length * w + (images.length - 1) * gap;
  canvas.height = h;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  context.imageSmoothingEnabled = false;
  const tile = document.createElement('canvas');
  images.forEach((image, i) => {
    drawPixels(tile, image);
    context.drawImage(tile, i * (w + gap), 0, w, h);
  });
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the browser could not encode the PNG');
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** Decimal units (1 MB = 10⁶ bytes), as the Hugging Face hub lists file sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
