// Resizes that give the same bytes as Pillow's `Image.resize((w, h), filter)` on 8-bit RGB images, which is
// what Hugging Face's ImageGPTImageProcessor calls (BILINEAR in every ImageGPT config). Like Pillow's Resample.c: the filter
// support grows with the shrink ratio (antialiasing), weights are computed in float64, normalized, turned
// into 22-bit fixed point, and applied in two separable passes (horizontal, then vertical) with an 8-bit
// image in between; each pass rounds by adding half and shifting, then clips to 0..255. NEAREST is Pillow's
// affine scale instead.

/** Fixed-point fraction bits of Pillow's 8-bit resampler: 32 bits minus 8 for the value, minus 2 spare. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output position: the first input index and the tap count, then `ksize` fixed-point weights
 * (integers, held as float64: sums stay exact far beyond 32 bits, and V8 multiplies them faster). */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  ksize: number;
}

/** RGBA pixels can be read as one 32-bit word each; R is the low byte on little-endian machines. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Pillow's resampling filters by name, with their numbers in `Image.Resampling` (and preprocessor configs). */
export const RESAMPLE_FILTERS = { nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const;
export type ResampleFilter = keyof typeof RESAMPLE_FILTERS;

/** A convolution filter: its kernel and its support (half-width in input pixels at scale 1), as in Resample.c. */
interface Filter {
  kernel: (x: number) => number;
  support: number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

// Pillow's kernels, expression for expression (the same float64 operations in the same order).
const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  box: { support: 0.5, kernel: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    kernel: (x) => {
      const a = x < 0 ? -x : x;
      return a < 1 ? 1 - a : 0;
    },
  },
  hamming: {
    support: 1,
    kernel: (x) => {
      let a = x < 0 ? -x : x;
      if (a === 0) return 1;
      if (a >= 1) return 0;
      a = a * Math.PI;
      return (Math.sin(a) / a) * (0.54 + 0.46 * Math.cos(a));
    },
  },
  bicubic: {
    support: 2,
    kernel: (x) => {
      const A = -0.5;
      const a = x < 0 ? -x : x;
      if (a < 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
      if (a < 2) return (((a - 5) * a + 8) * a - 4) * A;
      return 0;
    },
  },
  lanczos: { support: 3, kernel: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc over the whole input (box 0..inSize). */
function precomputeTaps(inSize: number, outSize: number, filter: Filter): Taps {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale; // widened when shrinking (antialiasing)
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamps then keep the window inside the image.
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const w = filter.kernel((i + lo - center + 0.5) * invScale);
      k[i] = w;
      sum += w;
    }
    for (let i = 0; i < n; i++) {
      // Division (not a reciprocal multiply) and truncation toward zero after adding ±0.5, as Pillow does.
      const w = sum !== 0 ? k[i] / sum : k[i];
      weights[out * ksize + i] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[out] = lo;
    count[out] = n;
  }
  return { first, count, weights, ksize };
}

function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** The 3 color channels of an 8-bit image whose pixels are `stride` bytes apart (3 for RGB, 4 to skip alpha). */
export interface RgbSource {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  stride: number;
}

/**
 * Horizontal pass over source rows `rowFirst .. rowFirst + rows - 1`; writes packed RGB rows of `outWidth`.
 */
function resizeRows(src: RgbSource, taps: Taps, outWidth: number, rowFirst: number, rows: number): Uint8Array<ArrayBuffer> {
  const { data, width, stride } = src;
  const { first, count, weights, ksize } = taps;
  // 4-byte pixels (RGBA, the usual browser input): one 32-bit load per pixel instead of three byte loads.
  const words =
    stride === 4 && LITTLE_ENDIAN && data.byteOffset % 4 === 0
      ? new Uint32Array(data.buffer, data.byteOffset, data.length / 4)
      : undefined;
  const out = new Uint8Array(outWidth * rows * 3);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowPixel = (rowFirst + y) * width;
    for (let x = 0; x < outWidth; x++) {
      const n = count[x];
      const kStart = x * ksize;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      if (words) {
        for (let i = 0, p = rowPixel + first[x]; i < n; i++, p++) {
          const w = weights[kStart + i];
          const v = words[p];
          r += (v & 255) * w;
          g += ((v >>> 8) & 255) * w;
          b += ((v >>> 16) & 255) * w;
        }
      } else {
        for (let i = 0, p = (rowPixel + first[x]) * stride; i < n; i++, p += stride) {
          const w = weights[kStart + i];
          r += data[p] * w;
          g += data[p + 1] * w;
          b += data[p + 2] * w;
        }
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/** Vertical pass: every output row is a weighted sum of source rows; each of the 3 channels independently. */
function resizeColumns(src: RgbSource, taps: Taps, outHeight: number): Uint8Array<ArrayBuffer> {
  const { data, width, stride } = src;
  const { first, count, weights, ksize } = taps;
  const rowBytes = width * stride;
  const out = new Uint8Array(width * outHeight * 3);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const n = count[y];
    const kStart = y * ksize;
    const top = first[y] * rowBytes;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let p = top + x * stride + c;
        let sum = HALF;
        for (let i = 0; i < n; i++, p += rowBytes) sum += data[p] * weights[kStart + i];
        out[o++] = clip8(sum);
      }
    }
  }
  return out;
}

/** The RGB channels of `src`, packed (what a resize to the same size gives: Pillow copies). */
export function packRgb(src: RgbSource): Uint8Array<ArrayBuffer> {
  const { data, width, height, stride } = src;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, p = 0, o = 0; i < width * height; i++, p += stride) {
    out[o++] = data[p];
    out[o++] = data[p + 1];
    out[o++] = data[p + 2];
  }
  return out;
}

/**
 * Pillow's NEAREST resize (an affine scale, ImagingScaleAffine): the source coordinate of output pixel x is
 * (int)(s/2 + x·s) with s = in/out, accumulated by repeated addition exactly as Pillow's loop does.
 */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const index = new Int32Array(outSize);
  let at = step * 0.5;
  for (let i = 0; i < outSize; i++) {
    // Never outside for a whole-image box; clamped only so that a rounding surprise cannot read out of bounds.
    index[i] = Math.min(inSize - 1, Math.trunc(at));
    at += step;
  }
  return index;
}

function resizeNearest(src: RgbSource, outWidth: number, outHeight: number): Uint8Array<ArrayBuffer> {
  const { data, width, stride } = src;
  const columns = nearestIndices(width, outWidth);
  const rows = nearestIndices(src.height, outHeight);
  const out = new Uint8Array(outWidth * outHeight * 3);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const row = rows[y] * width;
    for (let x = 0; x < outWidth; x++) {
      const p = (row + columns[x]) * stride;
      out[o++] = data[p];
      out[o++] = data[p + 1];
      out[o++] = data[p + 2];
    }
  }
  return out;
}

/**
 * Resizes the RGB channels of `src` to `outWidth × outHeight` exactly as Pillow's `Image.resize` with that
 * filter (default BILINEAR) does; returns packed RGB (HWC) bytes. Sizes must be positive integers (checked by
 * the caller).
 */
export function resizeRgb(src: RgbSource, outWidth: number, outHeight: number, resample: ResampleFilter = 'bilinear'): Uint8Array<ArrayBuffer> {
  const needHorizontal = outWidth !== src.width;
  const needVertical = outHeight !== src.height;
  if (!needHorizontal && !needVertical) return packRgb(src);
  if (resample === 'nearest') return resizeNearest(src, outWidth, outHeight);
  const filter = FILTERS[resample];
  const vertical = precomputeTaps(src.height, outHeight, filter);
  if (!needHorizontal) return resizeColumns(src, vertical, outHeight);
  // Only the source rows the vertical pass reads are resized horizontally (Pillow does the same).
  const rowFirst = vertical.first[0];
  const rowEnd = vertical.first[outHeight - 1] + vertical.count[outHeight - 1];
  const rows = resizeRows(src, precomputeTaps(src.width, outWidth, filter), outWidth, rowFirst, rowEnd - rowFirst);
  if (!needVertical) return rows;
  for (let i = 0; i < outHeight; i++) vertical.first[i] -= rowFirst;
  return resizeColumns({ data: rows, width: outWidth, height: rowEnd - rowFirst, stride: 3 }, vertical, outHeight);
}
