// Reading the images the processor accepts and turning them into the 3 color channels it resizes.
// Node and browsers: `{ data, width, height, channels? }` or ImageData. Browsers only: canvases, ImageBitmap,
// HTMLImageElement, drawn onto a canvas to read their pixels (feature-detected, so Node never needs the DOM).

import type { RgbSource } from './resize';
import { describeValue } from '../json';
import { ImageGPTError } from '../errors';

/** 8-bit pixels, row-major, `channels` values per pixel: 1 (grey), 3 (RGB) or 4 (RGBA, not premultiplied). */
export interface PixelImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Inferred from `data.length / (width * height)` when omitted (ImageData: 4). */
  channels?: number;
}

/** Browser image sources, read through a 2D canvas. */
export type BrowserImageSource = HTMLCanvasElement | OffscreenCanvas | ImageBitmap | HTMLImageElement;

/** Anything `encode` and `resize` accept as one image. */
export type ImageInput = PixelImage | ImageData | BrowserImageSource;

/** An 8-bit color: [red, green, blue], each an integer 0..255. */
export type Rgb = readonly [number, number, number];

/** An 8-bit image with its channel count settled and checked. */
interface CheckedImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

function isPixelImage(input: ImageInput): input is PixelImage | ImageData {
  return typeof input === 'object' && input !== null && 'data' in input;
}

/** Checks a size given by the caller (image or target): positive integers. */
export function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageGPTError('E_BAD_INPUT', `${what} is ${describeValue(width)}×${describeValue(height)}: width and height must be integers of at least 1`);
  }
}

function checkPixels(image: PixelImage): CheckedImage {
  const { data, width, height } = image;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ImageGPTError('E_BAD_INPUT', 'image data must be a Uint8Array or Uint8ClampedArray of 8-bit values');
  }
  checkSize(width, height, 'image');
  const pixels = width * height;
  const channels = image.channels ?? data.length / pixels;
  if (channels === 2) {
    throw new ImageGPTError('E_UNSUPPORTED', '2-channel images (grey + alpha) are not supported: give 1 (grey), 3 (RGB) or 4 (RGBA) channels');
  }
  if (image.channels !== undefined && channels !== 1 && channels !== 3 && channels !== 4) {
    throw new ImageGPTError('E_BAD_INPUT', `image has channels = ${describeValue(channels)}: expected 1 (grey), 3 (RGB) or 4 (RGBA)`);
  }
  if ((channels !== 1 && channels !== 3 && channels !== 4) || data.length !== pixels * channels) {
    const expected = image.channels === undefined ? `${width}×${height}×(1, 3 or 4)` : `${width}×${height}×${channels}`;
    throw new ImageGPTError('E_BAD_INPUT', `image data has ${data.length} values; expected width×height×channels = ${expected}`);
  }
  return { data, width, height, channels };
}

function sourceSize(source: BrowserImageSource): { width: number; height: number } {
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    if (!source.complete || source.naturalWidth === 0) {
      throw new ImageGPTError('E_BAD_INPUT', 'HTMLImageElement is not loaded (or is broken): await image.decode() before encoding it');
    }
    return { width: source.naturalWidth, height: source.naturalHeight };
  }
  return { width: source.width, height: source.height };
}

/** Draws a browser image source onto a fresh 2D canvas and reads back its RGBA pixels. */
function readBrowserSource(source: BrowserImageSource): CheckedImage {
  const { width, height } = sourceSize(source);
  checkSize(width, height, 'image');
  let context: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null = null;
  if (typeof OffscreenCanvas !== 'undefined') {
    context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  } else if (typeof document !== 'undefined') {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    context = canvas.getContext('2d', { willReadFrequently: true });
  } else {
    throw new ImageGPTError('E_UNSUPPORTED', 
      'this image is neither { data, width, height } nor ImageData, and there is no OffscreenCanvas or document ' +
        'to read it with (canvases, ImageBitmap and HTMLImageElement are read in browsers only)',
    );
  }
  if (!context) throw new ImageGPTError('E_UNSUPPORTED', 'could not get a 2D canvas context to read the image');
  context.drawImage(source, 0, 0);
  return { data: context.getImageData(0, 0, width, height).data, width, height, channels: 4 };
}

/** Reads any accepted input as checked 8-bit pixels (no copy for pixel objects). */
export function readImage(input: ImageInput, what = 'the image'): CheckedImage {
  if (isPixelImage(input)) return checkPixels(input);
  if (typeof input !== 'object' || input === null || !('width' in input)) {
    throw new ImageGPTError('E_BAD_INPUT', 
      `${what} is ${describeValue(input)}: expected an image: { data, width, height, channels? }, ImageData, a canvas, ImageBitmap or HTMLImageElement`,
    );
  }
  return readBrowserSource(input);
}

/** An array of `length` integers 0..255. Indexed, not every(): every() skips the holes of a sparse array. */
export function isByteList(value: unknown, length: number): boolean {
  if (!Array.isArray(value) || value.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) return false;
  }
  return true;
}

/** Checks a background color given by the caller. */
export function checkBackground(background: unknown): asserts background is Rgb {
  if (!isByteList(background, 3)) {
    throw new ImageGPTError('E_BAD_INPUT', `background must be [r, g, b] with integers 0..255, got ${describeValue(background)}`);
  }
}

/**
 * The color channels to resize. RGB is used as is; RGBA drops alpha (as Hugging Face does, which never
 * looks at it) unless `background` is given, then it is composited: round((c·a + bg·(255 − a)) / 255);
 * grey is repeated into R, G and B.
 */
export function colorChannels(image: CheckedImage, background?: Rgb): RgbSource {
  const { data, width, height, channels } = image;
  if (channels === 3) return { data, width, height, stride: 3 };
  if (channels === 4 && !background) return { data, width, height, stride: 4 };
  const rgb = new Uint8Array(width * height * 3);
  if (channels === 1) {
    for (let i = 0, o = 0; i < data.length; i++) {
      rgb[o++] = data[i];
      rgb[o++] = data[i];
      rgb[o++] = data[i];
    }
  } else if (background) {
    for (let p = 0, o = 0; p < data.length; p += 4) {
      const alpha = data[p + 3];
      for (let c = 0; c < 3; c++) {
        // 255 is odd, so the exact quotient is never halfway: adding 127 then flooring rounds to nearest.
        rgb[o++] = Math.floor((data[p + c] * alpha + background[c] * (255 - alpha) + 127) / 255);
      }
    }
  }
  return { data: rgb, width, height, stride: 3 };
}
