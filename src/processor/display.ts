// Helpers for showing token images: nearest-neighbour upscaling and keeping the top rows of a token grid.

import type { ImageSize, RgbaImage } from './processor';
import { describeValue as describe } from '../json';
import { ImageGPTError } from '../errors';

const MAX_UPSCALE_PIXELS = 16384 * 16384;

/**
 * Enlarges an RGBA image with nearest-neighbour sampling (crisp token pixels on a display canvas).
 * `size` is an integer factor or an exact { width, height }; source pixel = floor(target · source / size).
 */
export function upscaleNearest(image: { data: Uint8ClampedArray | Uint8Array; width: number; height: number }, size: number | { width: number; height: number }): RgbaImage {
  if (!image || typeof image !== 'object') throw new ImageGPTError('E_BAD_INPUT', `upscaleNearest: expected an RGBA image { data, width, height }, got ${describe(image)}`);
  const { data, width, height } = image;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ImageGPTError('E_BAD_INPUT', `upscaleNearest: image.data must be a Uint8Array or Uint8ClampedArray, got ${describe(data)}`);
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageGPTError('E_BAD_INPUT', `upscaleNearest: image size is ${describe(width)}×${describe(height)}; expected positive integers`);
  }
  if (data.length !== width * height * 4) {
    throw new ImageGPTError('E_BAD_INPUT', `RGBA image data has ${data.length} values; expected ${width}×${height}×4`);
  }
  if (typeof size !== 'number' && (!size || typeof size !== 'object')) {
    throw new ImageGPTError('E_BAD_INPUT', `upscaleNearest: size must be an integer factor or { width, height }, got ${describe(size)}`);
  }
  const target = typeof size === 'number' ? { width: width * size, height: height * size } : size;
  if (!Number.isInteger(target.width) || !Number.isInteger(target.height) || target.width < 1 || target.height < 1) {
    throw new ImageGPTError('E_BAD_INPUT', `upscale target is ${describe(target.width)}×${describe(target.height)}: expected positive integers (or an integer factor ≥ 1)`);
  }
  // Checked before allocating: a huge factor is an Error, not an out-of-memory crash.
  if (target.width * target.height > MAX_UPSCALE_PIXELS) {
    throw new ImageGPTError('E_BAD_INPUT', `upscale target ${target.width}×${target.height} has more than ${MAX_UPSCALE_PIXELS} pixels (16384×16384, a canvas's practical limit)`);
  }
  const out = new Uint8ClampedArray(target.width * target.height * 4);
  const aligned = data.byteOffset % 4 === 0 ? data : data.slice();
  const source = new Uint32Array(aligned.buffer, aligned.byteOffset, width * height);
  const dest = new Uint32Array(out.buffer);
  // Whole pixels as 32-bit words: the byte order is the same on both sides, so endianness does not matter.
  const columns = Int32Array.from({ length: target.width }, (_, x) => Math.floor((x * width) / target.width));
  for (let y = 0; y < target.height; y++) {
    const row = Math.floor((y * height) / target.height) * width;
    for (let x = 0; x < target.width; x++) dest[y * target.width + x] = source[row + columns[x]];
  }
  return { data: out, width: target.width, height: target.height };
}

/**
 * The tokens of the top `keepRows` rows of a height×width token grid: the prompt for completing the image,
 * and, decoded with `fill`, the picture of what the model is given.
 */
export function maskRows(tokens: ArrayLike<number>, grid: ImageSize & { keepRows: number }): number[] {
  if (tokens === null || typeof tokens !== 'object' || typeof tokens.length !== 'number') {
    throw new ImageGPTError('E_BAD_INPUT', `maskRows: tokens must be an array of token ids, got ${describe(tokens)}`);
  }
  if (!grid || typeof grid !== 'object') throw new ImageGPTError('E_BAD_INPUT', `maskRows: expected { height, width, keepRows }, got ${describe(grid)}`);
  const { height, width, keepRows } = grid;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new ImageGPTError('E_BAD_INPUT', `maskRows: height and width must be positive integers, got ${describe(height)}×${describe(width)}`);
  }
  if (tokens.length !== height * width) {
    throw new ImageGPTError('E_BAD_INPUT', `maskRows got ${tokens.length} tokens; expected height×width = ${height}×${width} = ${height * width}`);
  }
  if (!Number.isInteger(keepRows) || keepRows < 0 || keepRows > height) {
    throw new ImageGPTError('E_BAD_INPUT', `keepRows is ${describe(keepRows)}: expected an integer 0..${height}`);
  }
  const kept = new Array<number>(keepRows * width);
  for (let i = 0; i < kept.length; i++) {
    const t: unknown = tokens[i];
    // A hole or a non-number would otherwise travel on into the prompt.
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) throw new ImageGPTError('E_BAD_INPUT', `maskRows: tokens[${i}] is ${describe(t)}; expected a token id (an integer ≥ 0)`);
    kept[i] = t;
  }
  return kept;
}
