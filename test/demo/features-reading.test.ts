// The Features view's plain words: the best layer, how to read the chart, and what the best layer's number means.
import { describe, expect, it } from 'vitest';
import { bestLayer, bestLayerVerdict, chartReading, GLOSSARY } from '../../demo/src/features-view';

describe('bestLayer', () => {
  it('picks the highest accuracy, the earliest of equals', () => {
    expect(bestLayer([0.2, 0.3, 0.25, 0.1, 0.3])).toBe(1);
    expect(bestLayer([0.5])).toBe(0);
    expect(bestLayer([0.1, 0.1, 0.4])).toBe(2);
  });
  it('refuses an empty list', () => {
    expect(() => bestLayer([])).toThrow(/no accuracies/);
  });
});

describe('chartReading', () => {
  it('says what a point is, that higher is better, and where chance lies', () => {
    const text = chartReading(0.25);
    expect(text).toMatch(/Each point is how often a simple classifier/);
    expect(text).toMatch(/higher is better/);
    expect(text).toMatch(/most common category scores 25 %/);
  });
});

describe('bestLayerVerdict', () => {
  const nLayer = 4;
  it('says when the best layer is below raw pixels, from the numbers (the issue\'s 30 % vs 40 %)', () => {
    const text = bestLayerVerdict({ accuracy: [0.2, 0.25, 0.3, 0.275, 0.225], pixelAccuracy: 0.4, majorityRate: 0.1 }, nLayer);
    expect(text).toMatch(/^The best layer, layer 2 \(30 %\), is below raw pixels \(40 %\)/);
    expect(text).toMatch(/larger ones/);
  });
  it('says by how much the best layer beats raw pixels', () => {
    const text = bestLayerVerdict({ accuracy: [0.3, 0.55, 0.6, 0.5, 0.45], pixelAccuracy: 0.4, majorityRate: 0.1 }, nLayer);
    expect(text).toBe("The best layer, layer 2 (60 %), beats raw pixels (40 %) by 20 points: the model's features tell these categories apart better than the plain colors do.");
  });
  it('counts the points between the percentages as shown (7/12 vs 5/12: 58 % and 42 %, 16 points)', () => {
    expect(bestLayerVerdict({ accuracy: [7 / 12, 0.5], pixelAccuracy: 5 / 12, majorityRate: 1 / 3 }, 1)).toMatch(/\(58 %\), beats raw pixels \(42 %\) by 16 points/);
    expect(bestLayerVerdict({ accuracy: [0.4204], pixelAccuracy: 0.4196, majorityRate: 0.1 }, 1)).toMatch(/beats raw pixels \(42 %\) by less than a point/);
  });
  it('says a tie is a tie', () => {
    expect(bestLayerVerdict({ accuracy: [0.4, 0.4], pixelAccuracy: 0.4, majorityRate: 0.1 }, 1)).toMatch(/^The best layer, layer 0 \(embeddings\) \(40 %\), ties with raw pixels/);
  });
  it('says when no layer beats guessing the most common category', () => {
    const text = bestLayerVerdict({ accuracy: [0.1, 0.25, 0.2], pixelAccuracy: 0.5, majorityRate: 0.25 }, 2);
    expect(text).toMatch(/^The best layer, layer 1 \(25 %\), does no better than always guessing the most common category \(25 %\)/);
  });
  it('names the final layer as after ln_f', () => {
    expect(bestLayerVerdict({ accuracy: [0.2, 0.3, 0.9], pixelAccuracy: 0.5, majorityRate: 0.1 }, 2)).toMatch(/layer 2 \(after ln_f\) \(90 %\), beats raw pixels \(50 %\) by 40 points/);
  });
});

describe('GLOSSARY', () => {
  it('explains the jargon the view uses', () => {
    const terms = GLOSSARY.map(([t]) => t.toLowerCase());
    for (const t of ['l2 penalty', 'leave-one-out', 'standardized', 'linear probe']) expect(terms).toContain(t);
    for (const [, meaning] of GLOSSARY) expect(meaning.length).toBeGreaterThan(20);
  });
});
