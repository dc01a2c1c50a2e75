// Pure helpers of the Attention view: slicing the worker's row into heads, the per-head map's pixels, the
// top-attended pixels and their text, the keyboard cursor. No DOM here, so the unit tests run without a browser.
//
// The model is fed SOS followed by the image's tokens (as it was trained, and as bitsPerToken scores). The query
// for pixel q is the position that predicts pixel q: its keys are SOS (key 0) and pixels 0..q-1 (key 1 + p), so
// a head's row has q + 1 weights summing to 1.
import { heatColor } from './likelihood';

/** The worker's answer for one query: weights [nLayer, nHead, query + 1], key 0 = SOS, key 1 + p = pixel p. */
export interface AttentionRow {
  weights: Float32Array;
  nLayer: number;
  nHead: number;
  /** The query pixel (reading order). */
  query: number;
}

/** The default layer: the middle one (0-based index; layer 2 of 4, 6 of 12, 12 of 24). */
export function middleLayer(nLayer: number): number {
  if (!Number.isInteger(nLayer) || nLayer < 1) throw new Error(`middleLayer: nLayer must be a positive integer, got ${nLayer}`);
  return Math.floor((nLayer - 1) / 2);
}

/** Head `head` of layer `layer`: its query + 1 weights (a view into the row, not a copy). */
export function headWeights(row: AttentionRow, layer: number, head: number): Float32Array {
  const { weights, nLayer, nHead, query } = row;
  const keys = query + 1;
  if (weights.length !== nLayer * nHead * keys) {
    throw new Error(`headWeights: the row has ${weights.length} weights, expected ${nLayer} layers × ${nHead} heads × ${keys} keys`);
  }
  if (!Number.isInteger(layer) || layer < 0 || layer >= nLayer) throw new Error(`headWeights: layer must be an integer in 0..${nLayer - 1}, got ${layer}`);
  if (!Number.isInteger(head) || head < 0 || head >= nHead) throw new Error(`headWeights: head must be an integer in 0..${nHead - 1}, got ${head}`);
  const start = (layer * nHead + head) * keys;
  return weights.subarray(start, start + keys);
}

/** The top of a head's color scale: its largest weight on a pixel (SOS left out); 0 when it has no pixel keys. */
export function pixelMax(head: Float32Array): number {
  let max = 0;
  for (let k = 1; k < head.length; k++) {
    const w = head[k];
    if (!Number.isFinite(w) || w < 0 || w > 1 + 1e-4) throw new Error(`pixelMax: weight ${k} is ${w}; attention weights lie in [0, 1]`);
    if (w > max) max = w;
  }
  return max;
}

export interface AttendedPixel {
  /** 0-based row and column. */
  row: number;
  column: number;
  weight: number;
}

/** The `k` pixels a head attends to most, largest first (the earlier pixel first on ties). */
export function topPixels(head: Float32Array, k: number, width: number): AttendedPixel[] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`topPixels: k must be a positive integer, got ${k}`);
  if (!Number.isInteger(width) || width < 1) throw new Error(`topPixels: width must be a positive integer, got ${width}`);
  const pixels = Array.from({ length: head.length - 1 }, (_, p) => p);
  pixels.sort((a, b) => head[b + 1] - head[a + 1] || a - b);
  return pixels.slice(0, k).map((p) => ({ row: Math.floor(p / width), column: p % width, weight: head[p + 1] }));
}

/** A head's text alternative: its weight on SOS and its top pixels (1-based rows and columns). */
export function describeHead(head: number, layer: number, weights: Float32Array, width: number): string {
  const top = topPixels(weights, 3, width);
  const pixels = top.length
    ? `most attended pixels: ${top.map((p) => `row ${p.row + 1}, column ${p.column + 1} (${p.weight.toFixed(3)})`).join('; ')}`
    : 'no earlier pixels (the first pixel sees only the start token)';
  return `Head ${head + 1}, layer ${layer + 1}: start token ${weights[0].toFixed(3)}; ${pixels}`;
}

/** Drawn on the query pixel: a red outside the color scale. */
export const QUERY_COLOR = [230, 30, 60] as const;
/** How far the image is faded toward white under the weights. */
const DIM = 0.3;

/**
 * A head's map as RGBA, width×height: each earlier pixel is the image in faded gray under the weight's color
 * (this head's scale 0..max, more opaque for larger weights), the query pixel is QUERY_COLOR, later pixels are
 * transparent (blank: they are not keys).
 */
export function attentionPixels(image: Uint8ClampedArray, width: number, height: number, head: Float32Array, max: number): Uint8ClampedArray {
  const count = width * height;
  if (image.length !== count * 4) throw new Error(`attentionPixels: the image has ${image.length / 4} pixels, expected ${width}×${height}`);
  const query = head.length - 1;
  if (query < 0 || query >= count) throw new Error(`attentionPixels: a head row of ${head.length} keys is no query pixel of a ${width}×${height} image`);
  if (!(max >= 0) || !Number.isFinite(max)) throw new Error(`attentionPixels: the scale's top must be a finite weight ≥ 0, got ${max}`);
  const out = new Uint8ClampedArray(count * 4);
  for (let p = 0; p < query; p++) {
    const i = p * 4;
    const gray = 0.2126 * image[i] + 0.7152 * image[i + 1] + 0.0722 * image[i + 2];
    const faded = 255 - (255 - gray) * DIM;
    const w = head[p + 1];
    if (max > 0 && !(w >= 0 && w <= max)) throw new Error(`attentionPixels: pixel ${p}'s weight ${w} is outside the scale 0..${max}`);
    const t = max > 0 ? w / max : 0;
    const [r, g, b] = heatColor(t);
    const alpha = max > 0 ? 0.15 + 0.85 * t : 0;
    out[i] = faded + (r - faded) * alpha;
    out[i + 1] = faded + (g - faded) * alpha;
    out[i + 2] = faded + (b - faded) * alpha;
    out[i + 3] = 255;
  }
  out.set([...QUERY_COLOR, 255], query * 4);
  return out;
}

/** The cursor after a key press (arrow keys step, Home/End go to the row's ends); null for other keys. */
export function moveCursor(pixel: number, key: string, width: number, height: number): number | null {
  if (!Number.isInteger(pixel) || pixel < 0 || pixel >= width * height) throw new Error(`moveCursor: pixel ${pixel} is not in a ${width}×${height} image`);
  const row = Math.floor(pixel / width);
  const column = pixel % width;
  switch (key) {
    case 'ArrowLeft':
      return row * width + Math.max(column - 1, 0);
    case 'ArrowRight':
      return row * width + Math.min(column + 1, width - 1);
    case 'ArrowUp':
      return Math.max(row - 1, 0) * width + column;
    case 'ArrowDown':
      return Math.min(row + 1, height - 1) * width + column;
    case 'Home':
      return row * width;
    case 'End':
      return row * width + width - 1;
    default:
      return null;
  }
}
