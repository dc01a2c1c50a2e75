// Helpers for showing token images: nearest-neighbour upscaling and keeping the top rows of a token grid.

import type { ImageSize, RgbaImage } from './processor';

/**
 * Enlarges an RGBA image with nearest-neighbour sampling (crisp token pixels on a display canvas).
 * `size` is an integer factor or an exact { width, height }; source pixel = floor(target · source / size).
 */
export function upscaleNearest(image: RgbaImage, size: number | { width: number; height: number }): RgbaImage {
  const { data, width, height } = image;
  if (data.length !== width * height * 4) {
    throw new Error(`RGBA image data has ${data.length} values; expected ${width}×${height}×4`);
  }
  const target = typeof size === 'number' ? { width: width * size, height: height * size } : size;
  if (!Number.isInteger(target.width) || !Number.isInteger(target.height) || target.width < 1 || target.height < 1) {
    throw new Error(`upscale target is ${target.width}×${target.height}: expected positive integers (or an integer factor ≥ 1)`);
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
  const { height, width, keepRows } = grid;
  if (tokens.length !== height * width) {
    throw new Error(`maskRows got ${tokens.length} tokens; expected height×width = ${height}×${width} = ${height * width}`);
  }
  if (!Number.isInteger(keepRows) || keepRows < 0 || keepRows > height) {
    throw new Error(`keepRows is ${keepRows}: expected an integer 0..${height}`);
  }
  return Array.from({ length: keepRows * width }, (_, i) => tokens[i]);
}
