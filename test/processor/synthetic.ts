// The synthetic test images of weights-tools/make_processor_fixtures.py, rebuilt pixel for pixel (integer
// arithmetic only), so the fixtures hold only the small outputs.

import type { PixelImage } from '../../src/processor';

/** lowbias32 (the same wrapping 32-bit hash as the Python script). */
export function hash32(value: number): number {
  let v = value >>> 0;
  v ^= v >>> 16;
  v = Math.imul(v, 0x7feb352d);
  v ^= v >>> 15;
  v = Math.imul(v, 0x846ca68b);
  v ^= v >>> 16;
  return v >>> 0;
}

/** The Python script's channel_hash: hash32(index + seed · 0x9E3779B1 mod 2^32) for value `index`. */
function channelHash(seed: number): (index: number) => number {
  const offset = Math.imul(seed, 0x9e3779b1) >>> 0;
  return (index) => hash32(index + offset);
}

export function makeImage(kind: string, width: number, height: number, channels: number, seed: number): PixelImage {
  const data = new Uint8Array(width * height * channels);
  const noise = channelHash(seed);
  const cell = 16;
  const latticeWidth = Math.floor(width / cell) + 2;
  const lattice = channelHash(seed + 1);
  const cx = Math.floor(width / 2);
  const cy = Math.floor(height / 2);
  const r = Math.floor((Math.min(width, height) * 3) / 8);
  const colors = [
    [250, 200, 40],
    [60, 40, 20],
    [255, 255, 255],
  ];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const i = (y * width + x) * channels + c;
        let v: number;
        if (kind === 'noise') v = noise(i) & 255;
        else if (kind === 'gradient') {
          if (c % 3 === 0) v = Math.floor((x * 255) / Math.max(width - 1, 1));
          else if (c % 3 === 1) v = Math.floor((y * 255) / Math.max(height - 1, 1));
          else v = Math.floor(((x + y) * 255) / Math.max(width + height - 2, 1));
        } else if (kind === 'texture') {
          const at = (lx: number, ly: number) => lattice((ly * latticeWidth + lx) * channels + c) & 255;
          const [li, lj, fx, fy] = [Math.floor(x / cell), Math.floor(y / cell), x % cell, y % cell];
          const top = at(li, lj) * (cell - fx) + at(li + 1, lj) * fx;
          const bottom = at(li, lj + 1) * (cell - fx) + at(li + 1, lj + 1) * fx;
          const smooth = Math.floor((top * (cell - fy) + bottom * fy) / (cell * cell));
          v = Math.min(255, Math.max(0, smooth + (noise(i) & 15) - 8));
        } else if (kind === 'checker') {
          v = c === 1 && channels >= 3 ? (x & 1) * 200 + 20 : ((x + y) & 1) * 255;
        } else if (kind === 'shapes') {
          const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
          const box = Math.abs(x - cx) < Math.floor(r / 2) && Math.abs(y - cy) < Math.floor(r / 3);
          if (c === 3) v = inside ? 255 : 0;
          else v = colors[box ? 1 : inside ? 0 : 2][c];
        } else throw new Error(`unknown kind ${kind}`);
        data[i] = v;
      }
    }
  }
  return { data, width, height, channels };
}
