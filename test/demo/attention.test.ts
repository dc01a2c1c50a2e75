// The Attention view's helpers: the row sliced into heads, the scale's top, the top pixels and their text,
// the map's pixels (faded image under the weights, query marked, later pixels blank), the keyboard cursor.
import { describe, expect, it } from 'vitest';
import { QUERY_COLOR, attentionPixels, describeHead, headWeights, middleLayer, moveCursor, pixelMax, topPixels, type AttentionRow } from '../../demo/src/attention';
import { heatColor } from '../../demo/src/likelihood';

/** A row of 2 layers × 3 heads for query 4: weight [l, h, k] = (100·l + 10·h + k + 1), normalized per head. */
function makeRow(): AttentionRow {
  const nLayer = 2;
  const nHead = 3;
  const keys = 5;
  const weights = new Float32Array(nLayer * nHead * keys);
  for (let l = 0; l < nLayer; l++) {
    for (let h = 0; h < nHead; h++) {
      let sum = 0;
      for (let k = 0; k < keys; k++) sum += 100 * l + 10 * h + k + 1;
      for (let k = 0; k < keys; k++) weights[(l * nHead + h) * keys + k] = (100 * l + 10 * h + k + 1) / sum;
    }
  }
  return { weights, nLayer, nHead, query: 4 };
}

describe('middleLayer', () => {
  it('picks the middle layer (0-based)', () => {
    expect([1, 2, 4, 12, 24].map(middleLayer)).toEqual([0, 0, 1, 5, 11]);
    expect(() => middleLayer(0)).toThrow(/positive integer/);
  });
});

describe('headWeights', () => {
  it('slices [layer, head] out of [nLayer, nHead, query + 1], each summing to 1', () => {
    const row = makeRow();
    const w = headWeights(row, 1, 2);
    expect(w.length).toBe(5);
    const sum = 100 + 20 + 1 + (100 + 20 + 2) + (100 + 20 + 3) + (100 + 20 + 4) + (100 + 20 + 5);
    expect(w[0]).toBeCloseTo(121 / sum, 6);
    expect(w[4]).toBeCloseTo(125 / sum, 6);
    for (let l = 0; l < 2; l++) for (let h = 0; h < 3; h++) expect(headWeights(row, l, h).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('refuses a row of the wrong length and layers or heads out of range', () => {
    const row = makeRow();
    expect(() => headWeights({ ...row, query: 5 }, 0, 0)).toThrow(/30 weights, expected 2 layers × 3 heads × 6 keys/);
    expect(() => headWeights(row, 2, 0)).toThrow(/layer must be an integer in 0..1/);
    expect(() => headWeights(row, 0, -1)).toThrow(/head must be an integer in 0..2/);
  });
});

describe('pixelMax and topPixels', () => {
  const head = Float32Array.from([0.5, 0.05, 0.2, 0.05, 0.2]); // SOS, then pixels 0..3 of a 2-wide image

  it('leave out the start token (key 0)', () => {
    expect(pixelMax(head)).toBeCloseTo(0.2, 6);
    expect(pixelMax(Float32Array.from([1]))).toBe(0);
    expect(() => pixelMax(Float32Array.from([0.5, Number.NaN]))).toThrow(/weight 1 is NaN/);
  });

  it('rank pixels by weight, the earlier first on ties, with rows and columns', () => {
    expect(topPixels(head, 3, 2)).toEqual([
      { row: 0, column: 1, weight: head[2] },
      { row: 1, column: 1, weight: head[4] },
      { row: 0, column: 0, weight: head[1] },
    ]);
    expect(topPixels(Float32Array.from([1]), 3, 2)).toEqual([]);
    expect(() => topPixels(head, 0, 2)).toThrow(/k must be a positive integer/);
  });

  it('describe a head in words: start token weight, top 3 pixels 1-based', () => {
    expect(describeHead(1, 5, head, 2)).toBe(
      'Head 2, layer 6: start token 0.500; most attended pixels: row 1, column 2 (0.200); row 2, column 2 (0.200); row 1, column 1 (0.050)',
    );
    expect(describeHead(0, 0, Float32Array.from([1]), 2)).toMatch(/start token 1.000; no earlier pixels/);
  });
});

describe('attentionPixels', () => {
  // A 3×2 image: red, green, blue / black, white, gray; query = pixel 3 (row 2, column 1).
  const image = Uint8ClampedArray.from([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255]);
  const head = Float32Array.from([0.4, 0.1, 0.5, 0]);

  it('colors earlier pixels by weight over the faded image, marks the query, leaves later pixels blank', () => {
    const out = attentionPixels(image, 3, 2, head, 0.5);
    // Pixel 1 holds the head's top weight: exactly the scale's top color.
    expect([...out.subarray(4, 8)]).toEqual([...heatColor(1), 255]);
    // Pixels 0 and 2 are earlier: opaque, and different from each other (weights 0.1 and 0).
    expect(out[3]).toBe(255);
    expect(out[11]).toBe(255);
    expect([...out.subarray(0, 3)]).not.toEqual([...out.subarray(8, 11)]);
    expect([...out.subarray(12, 16)]).toEqual([...QUERY_COLOR, 255]);
    expect([...out.subarray(16, 24)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('shows the image itself under a zero weight (faded toward white, in gray)', () => {
    const out = attentionPixels(image, 3, 2, head, 0.5);
    const [r, g, b] = out.subarray(8, 11); // pixel 2 (blue) with weight 0: mostly faded gray
    expect(Math.max(r, g, b) - Math.min(r, g, b)).toBeLessThan(80);
    expect(r + g + b).toBeGreaterThan(3 * 150);
  });

  it('draws only the query for the first pixel (no earlier pixels)', () => {
    const out = attentionPixels(image, 3, 2, Float32Array.from([1]), 0);
    expect([...out.subarray(0, 4)]).toEqual([...QUERY_COLOR, 255]);
    expect(out.subarray(4).every((v) => v === 0)).toBe(true);
  });

  it('refuses mismatched shapes and weights above the scale', () => {
    expect(() => attentionPixels(image, 2, 2, head, 0.5)).toThrow(/6 pixels, expected 2×2/);
    expect(() => attentionPixels(image, 3, 2, new Float32Array(7), 0.5)).toThrow(/7 keys is no query pixel/);
    expect(() => attentionPixels(image, 3, 2, head, 0.2)).toThrow(/weight 0.5 is outside the scale 0..0.2/);
  });
});

describe('moveCursor', () => {
  it('steps with the arrow keys and stops at the edges; Home/End go to the row ends', () => {
    // 4 wide, 3 high; start at row 1, column 1 (pixel 5).
    expect(moveCursor(5, 'ArrowLeft', 4, 3)).toBe(4);
    expect(moveCursor(4, 'ArrowLeft', 4, 3)).toBe(4);
    expect(moveCursor(5, 'ArrowRight', 4, 3)).toBe(6);
    expect(moveCursor(7, 'ArrowRight', 4, 3)).toBe(7);
    expect(moveCursor(5, 'ArrowUp', 4, 3)).toBe(1);
    expect(moveCursor(1, 'ArrowUp', 4, 3)).toBe(1);
    expect(moveCursor(5, 'ArrowDown', 4, 3)).toBe(9);
    expect(moveCursor(9, 'ArrowDown', 4, 3)).toBe(9);
    expect(moveCursor(5, 'Home', 4, 3)).toBe(4);
    expect(moveCursor(5, 'End', 4, 3)).toBe(7);
    expect(moveCursor(5, 'a', 4, 3)).toBeNull();
    expect(() => moveCursor(12, 'ArrowLeft', 4, 3)).toThrow(/not in a 4×3 image/);
  });
});
