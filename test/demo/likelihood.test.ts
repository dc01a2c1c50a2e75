// The Likelihood view's helpers: the perceptual color scale, the shared range, heat map pixels, the summary.
import { describe, expect, it } from 'vitest';
import { describeSurprise, heatColor, heatPixels, legendPixels, summarize, surpriseRange } from '../../demo/src/likelihood';

/** Relative luminance of 8-bit sRGB (WCAG's definition). */
function luminance([r, g, b]: number[]): number {
  const lin = (c: number) => {
    const x = c / 255;
    return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

describe('heatColor', () => {
  it('runs from a dark violet to a pale yellow, getting lighter at every step', () => {
    const [r0, g0, b0] = heatColor(0);
    expect(b0).toBeGreaterThan(r0);
    expect(b0).toBeGreaterThan(g0);
    expect(luminance([r0, g0, b0])).toBeLessThan(0.06);
    const [r1, g1, b1] = heatColor(1);
    expect(r1).toBeGreaterThan(b1);
    expect(g1).toBeGreaterThan(b1);
    expect(luminance([r1, g1, b1])).toBeGreaterThan(0.7);
    let previous = -1;
    for (let i = 0; i <= 64; i++) {
      const c = heatColor(i / 64);
      for (const v of c) expect(Number.isInteger(v) && v >= 0 && v <= 255).toBe(true);
      const y = luminance(c);
      expect(y).toBeGreaterThan(previous);
      previous = y;
    }
  });

  it('refuses t outside [0, 1] instead of clamping it', () => {
    for (const t of [-0.01, 1.01, Number.NaN, Infinity]) expect(() => heatColor(t)).toThrow(/heatColor: t must be a number in \[0, 1\]/);
  });
});

describe('surpriseRange', () => {
  it('is 0 to the largest value over all images', () => {
    expect(surpriseRange(Float32Array.from([0.5, 3, 1, 7.25, 0]))).toEqual({ min: 0, max: 7.25 });
  });
  it('keeps a positive top for an all-zero map, and refuses negative or non-finite bits', () => {
    expect(surpriseRange(new Float32Array(4)).max).toBeGreaterThan(0);
    expect(() => surpriseRange(Float32Array.from([1, -0.5]))).toThrow(/surprise\[1\] is -0.5/);
    expect(() => surpriseRange(Float32Array.from([Number.NaN]))).toThrow(/surprise\[0\] is NaN/);
  });
});

describe('heatPixels', () => {
  // Two 3×2 images.
  const surprise = Float32Array.from([0, 1, 2, 3, 4, 8, 8, 0, 0, 0, 0, 4]);
  it('colors image `index` on the shared scale, opaque', () => {
    const second = heatPixels(surprise, 1, 3, 2, 8);
    expect(second.length).toBe(3 * 2 * 4);
    expect([...second.subarray(0, 3)]).toEqual(heatColor(1));
    expect([...second.subarray(4, 7)]).toEqual(heatColor(0));
    expect([...second.subarray(20, 23)]).toEqual(heatColor(128 / 255));
    for (let p = 0; p < 6; p++) expect(second[p * 4 + 3]).toBe(255);
    // The same value gets the same color in both images.
    const first = heatPixels(surprise, 0, 3, 2, 8);
    expect([...first.subarray(20, 23)]).toEqual([...second.subarray(0, 3)]);
  });
  it('refuses a value above the scale or an image that is not there', () => {
    expect(() => heatPixels(surprise, 0, 3, 2, 4)).toThrow(/pixel 5 of image 0 is 8 bits, outside the scale 0..4/);
    expect(() => heatPixels(surprise, 2, 3, 2, 8)).toThrow(/image 2 is not in a surprise array of 2 images of 3×2/);
  });
});

describe('legendPixels', () => {
  it('spans the scale from its bottom to its top', () => {
    const strip = legendPixels(16);
    expect([...strip.subarray(0, 3)]).toEqual(heatColor(0));
    expect([...strip.subarray(15 * 4, 15 * 4 + 3)]).toEqual(heatColor(1));
    expect(() => legendPixels(1)).toThrow(/width must be an integer ≥ 2/);
  });
});

describe('summarize', () => {
  it('gives the mean and the first most surprising pixel with its row and column', () => {
    const surprise = Float32Array.from([9, 9, 9, 9, 9, 9, 1, 5, 2, 0.5, 5, 3]);
    const s = summarize(surprise, 1, 3, 2);
    expect(s.mean).toBeCloseTo((1 + 5 + 2 + 0.5 + 5 + 3) / 6, 6);
    expect(s).toMatchObject({ max: 5, row: 0, column: 1 });
    expect(describeSurprise('Completion #1', s)).toBe(
      'Surprise map of Completion #1: mean 2.75 bits per pixel; most surprising pixel at row 1, column 2 (5.0 bits)',
    );
    expect(() => summarize(surprise, 2, 3, 2)).toThrow(/image 2 is not in/);
  });
});
