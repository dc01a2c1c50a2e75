// The Features view's nearest neighbours: cosine similarity of features centred on their mean.
import { describe, expect, it } from 'vitest';
import { centredUnitRows, nearest } from '../../demo/src/features-view';

function randomRows(rows: number, cols: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: rows * cols }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5 + 3; // an offset shared by all rows, which centring removes
  });
}

/** Cosine similarity of centred rows a and b, straight from the definition in float64. */
function cosine(x: Float32Array, rows: number, a: number, b: number): number {
  const cols = x.length / rows;
  const mean = Array.from({ length: cols }, (_, k) => {
    let m = 0;
    for (let i = 0; i < rows; i++) m += x[i * cols + k];
    return m / rows;
  });
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let k = 0; k < cols; k++) {
    const u = x[a * cols + k] - mean[k];
    const v = x[b * cols + k] - mean[k];
    dot += u * v;
    na += u * u;
    nb += v * v;
  }
  return dot / Math.sqrt(na * nb);
}

describe('nearest neighbours by cosine similarity', () => {
  it('matches the definition and sorts best first, without the query itself', () => {
    const rows = 13;
    const x = randomRows(rows, 24, 7);
    const unit = centredUnitRows(x, rows);
    const found = nearest(unit, rows, 4, 8);
    expect(found).toHaveLength(8);
    expect(found.map((f) => f.index)).not.toContain(4);
    const expected = Array.from({ length: rows }, (_, i) => i)
      .filter((i) => i !== 4)
      .map((i) => ({ index: i, similarity: cosine(x, rows, 4, i) }))
      .sort((p, q) => q.similarity - p.similarity)
      .slice(0, 8);
    expect(found.map((f) => f.index)).toEqual(expected.map((e) => e.index));
    found.forEach((f, i) => expect(f.similarity).toBeCloseTo(expected[i].similarity, 5));
  });

  it('gives a row identical to the query (up to scale) similarity 1, and a constant row 0', () => {
    const cols = 6;
    const x = randomRows(5, cols, 3);
    for (let k = 0; k < cols; k++) x[4 * cols + k] = x[1 * cols + k];
    const unit = centredUnitRows(x, 5);
    const [best] = nearest(unit, 5, 1, 1);
    expect(best.index).toBe(4);
    expect(best.similarity).toBeCloseTo(1, 6);
    const flat = new Float32Array(3 * cols).fill(2);
    expect(nearest(centredUnitRows(flat, 3), 3, 0, 2).every((f) => f.similarity === 0)).toBe(true);
  });
});
