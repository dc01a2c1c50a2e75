// Pure helpers of the Likelihood view: the heat map's color scale, the shared range, the per-image summary.
// No DOM here, so the unit tests run without a browser.

/**
 * sRGB of t in [0, 1] on a perceptual scale: OKLCH lightness rises evenly from dark violet (t = 0,
 * expected) through blue and teal to pale yellow (t = 1, surprising), so equal steps look equally
 * different and the order survives grayscale and color-blindness.
 */
export function heatColor(t: number): [number, number, number] {
  if (!Number.isFinite(t) || t < 0 || t > 1) throw new Error(`heatColor: t must be a number in [0, 1], got ${t}`);
  const L = 0.27 + 0.68 * t;
  const hue = ((290 - 190 * t) * Math.PI) / 180;
  // Largest chroma (up to the scale's 0.15) that stays inside sRGB at this lightness and hue.
  for (let C = 0.15; ; C -= 0.005) {
    const rgb = oklabToSrgb(L, Math.max(C, 0) * Math.cos(hue), Math.max(C, 0) * Math.sin(hue));
    if (rgb || C <= 0) return rgb ?? [0, 0, 0];
  }
}

/** OKLab to 8-bit sRGB, or null when the color is outside the sRGB gamut. */
function oklabToSrgb(L: number, a: number, b: number): [number, number, number] | null {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  const linear = [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
  if (linear.some((v) => v < -1e-4 || v > 1 + 1e-4)) return null;
  const [r, g, bl] = linear.map((v) => {
    const x = Math.min(Math.max(v, 0), 1); // only float noise at the gamut's edge is trimmed here
    return Math.round(255 * (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055));
  });
  return [r, g, bl];
}

/** The scale's 256 colors, computed once. */
let table: Uint8ClampedArray | null = null;
function colorTable(): Uint8ClampedArray {
  if (!table) {
    table = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) table.set(heatColor(i / 255), i * 3);
  }
  return table;
}

/** The shared top of the scale in bits: the largest surprise of all shown images (at least a tiny positive number). */
export function surpriseRange(surprise: Float32Array): { min: number; max: number } {
  let max = 0;
  for (let i = 0; i < surprise.length; i++) {
    const v = surprise[i];
    if (!Number.isFinite(v) || v < 0) throw new Error(`surprise[${i}] is ${v}: bits of surprise are finite and ≥ 0`);
    if (v > max) max = v;
  }
  return { min: 0, max: max > 0 ? max : 1e-6 };
}

/** Image `index` of surprise [N, height, width] as opaque RGBA on the scale 0..max bits. */
export function heatPixels(surprise: Float32Array, index: number, width: number, height: number, max: number): Uint8ClampedArray {
  const count = width * height;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * count > surprise.length) {
    throw new Error(`heatPixels: image ${index} is not in a surprise array of ${surprise.length / count} images of ${width}×${height}`);
  }
  if (!(max > 0)) throw new Error(`heatPixels: the scale's top must be > 0 bits, got ${max}`);
  const colors = colorTable();
  const out = new Uint8ClampedArray(count * 4);
  for (let p = 0; p < count; p++) {
    const v = surprise[index * count + p];
    if (!(v >= 0 && v <= max)) throw new Error(`heatPixels: pixel ${p} of image ${index} is ${v} bits, outside the scale 0..${max}`);
    const k = Math.round((v / max) * 255) * 3;
    out.set(colors.subarray(k, k + 3), p * 4);
    out[p * 4 + 3] = 255;
  }
  return out;
}

/** A left-to-right strip of the scale (RGBA, `width`×1): the legend. */
export function legendPixels(width: number): Uint8ClampedArray {
  if (!Number.isInteger(width) || width < 2) throw new Error(`legendPixels: width must be an integer ≥ 2, got ${width}`);
  const out = new Uint8ClampedArray(width * 4);
  for (let x = 0; x < width; x++) {
    out.set(heatColor(x / (width - 1)), x * 4);
    out[x * 4 + 3] = 255;
  }
  return out;
}

export interface SurpriseSummary {
  /** Mean bits over the image's pixels (= its bits per token). */
  mean: number;
  /** The most surprising pixel: its bits and its position (0-based row and column). */
  max: number;
  row: number;
  column: number;
}

/** Mean and most surprising pixel of image `index` (the first one on ties, in reading order). */
export function summarize(surprise: Float32Array, index: number, width: number, height: number): SurpriseSummary {
  const count = width * height;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * count > surprise.length) {
    throw new Error(`summarize: image ${index} is not in a surprise array of ${surprise.length / count} images of ${width}×${height}`);
  }
  let sum = 0;
  let best = 0;
  for (let p = 0; p < count; p++) {
    const v = surprise[index * count + p];
    sum += v;
    if (v > surprise[index * count + best]) best = p;
  }
  return { mean: sum / count, max: surprise[index * count + best], row: Math.floor(best / width), column: best % width };
}

/** The heat map's text alternative. */
export function describeSurprise(label: string, s: SurpriseSummary): string {
  return (
    `Surprise map of ${label}: mean ${s.mean.toFixed(2)} bits per pixel; most surprising pixel at row ${s.row + 1}, ` +
    `column ${s.column + 1} (${s.max.toFixed(1)} bits)`
  );
}
