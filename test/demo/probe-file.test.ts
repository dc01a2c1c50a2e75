// The own-classes probe file: a round trip keeps every prediction; each wrong field is named; another model is refused.
import { describe, expect, it } from 'vitest';
import { LinearProbe } from '../../src/index';
import {
  classSetProblem,
  layerName,
  MAX_CLASSES,
  PROBE_FILE_FORMAT,
  probeFile,
  probeMismatch,
  readProbeFile,
  type ProbeModel,
} from '../../demo/src/probe-file';

const MODEL: ProbeModel = { name: 'emoji-16', imageSize: 16, nLayer: 4, nEmbd: 6 };

/** Two separable classes of 6-dimensional features (a deterministic pseudo-random spread around ±1 in feature 0). */
function data(): { X: Float32Array; labels: number[] } {
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const labels = [0, 0, 0, 1, 1, 1];
  const X = new Float32Array(labels.length * MODEL.nEmbd);
  labels.forEach((l, i) => {
    for (let k = 0; k < MODEL.nEmbd; k++) X[i * MODEL.nEmbd + k] = rand() + (k === 0 ? (l ? 1 : -1) : 0);
  });
  return { X, labels };
}

function trained(): { probe: LinearProbe; X: Float32Array } {
  const { X, labels } = data();
  const probe = new LinearProbe({ l2: 1e-2, classes: ['red', 'blue'] });
  probe.fit(X, labels, { numFeatures: MODEL.nEmbd });
  return { probe, X };
}

function savedText(): string {
  return JSON.stringify(probeFile(MODEL, 2, trained().probe, [3, 3]));
}

/** The saved file with one change applied to its parsed JSON. */
function edited(change: (json: Record<string, any>) => void): string {
  const json = JSON.parse(savedText());
  change(json);
  return JSON.stringify(json);
}

describe('probe file', () => {
  it('saves the model, layer, classes, counts, standardization and weights, and loads to the same predictions', () => {
    const { probe, X } = trained();
    const file = probeFile(MODEL, 2, probe, [3, 3]);
    expect(file.format).toBe(PROBE_FILE_FORMAT);
    expect(file.model).toEqual(MODEL);
    expect(file.layer).toBe(2);
    expect(file.classes).toEqual(['red', 'blue']);
    expect(file.probe.mean).toHaveLength(MODEL.nEmbd);
    expect(file.probe.std).toHaveLength(MODEL.nEmbd);
    expect(file.probe.weights).toHaveLength(2 * MODEL.nEmbd);
    const { file: back, probe: loaded } = readProbeFile(JSON.stringify(file));
    expect(back.model).toEqual(MODEL);
    expect(back.layer).toBe(2);
    expect(back.counts).toEqual([3, 3]);
    expect(Array.from(loaded.predictProba(X))).toEqual(Array.from(probe.predictProba(X)));
    // The fit separates the two classes, so the round trip compares real predictions, not a constant.
    expect(Array.from(loaded.predict(X))).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('names the wrong field and what it should be', () => {
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"format": ', /not JSON/],
      ['an array', '[1, 2]', /expected a JSON object/],
      ['format', edited((j) => (j.format = 'something-else')), /"format" is "something-else": expected "imagegpt-webgpu\/demo-own-classes-probe"/],
      ['version', edited((j) => (j.version = 2)), /"version" is 2: expected 1/],
      ['model', edited((j) => delete j.model), /"model" is missing/],
      ['model.name', edited((j) => (j.model.name = '')), /"model.name" is "": expected the model name/],
      ['model.nEmbd', edited((j) => (j.model.nEmbd = 1.5)), /"model.nEmbd" is 1.5: expected an integer ≥ 1/],
      ['layer', edited((j) => (j.layer = 5)), /"layer" is 5: expected an integer from 0 to 4/],
      ['classes', edited((j) => (j.classes = ['only'])), /"classes" is \["only"\]: expected a list of 2 to 5 class names/],
      ['classes[1]', edited((j) => (j.classes[1] = 7)), /"classes\[1\]" is 7: expected a non-empty string/],
      ['duplicate class', edited((j) => (j.classes[1] = 'RED')), /"classes\[1\]" is "RED": expected a name different from classes\[0\]/],
      ['counts', edited((j) => (j.counts = [3])), /"counts" is \[3\]: expected 2 image counts/],
      ['counts[0]', edited((j) => (j.counts[0] = 0)), /"counts\[0\]" is 0: expected an integer ≥ 1/],
      ['probe', edited((j) => (j.probe = 'weights')), /"probe" is "weights": expected the probe object/],
      ['probe.weights', edited((j) => j.probe.weights.pop()), /"probe": weights has 11 values, expected 12 numbers/],
      ['probe.std', edited((j) => (j.probe.std[3] = 0)), /"probe": std\[3\] is 0, expected > 0/],
      ['probe.numFeatures', edited((j) => (j.model.nEmbd = 8)), /"probe.numFeatures" is 6: expected 8 \(model.nEmbd/],
      ['probe.classes', edited((j) => (j.classes = ['blue', 'red'])), /"probe.classes" is \["red","blue"\]: expected the same names as "classes"/],
    ];
    for (const [what, text, expected] of cases) {
      expect(() => readProbeFile(text), what).toThrow(expected);
    }
  });

  it('refuses a probe of another model, or of a model of another shape, saying what to do', () => {
    const { file } = readProbeFile(savedText());
    expect(probeMismatch(file, MODEL)).toBeNull();
    expect(probeMismatch(file, { ...MODEL, name: 'emoji-32' })).toBe(
      'This probe was trained on the emoji-16 model (layer 2), but emoji-32 is loaded: load emoji-16 first, or train a new probe here.',
    );
    expect(probeMismatch(file, { ...MODEL, nLayer: 8 })).toMatch(/trained on emoji-16 with 16×16 pixels, 4 layers, 6 features, but the loaded emoji-16 has 16×16 pixels, 8 layers/);
    expect(probeMismatch({ ...file, layer: 4 }, { ...MODEL })).toBeNull();
  });
});

describe('classSetProblem', () => {
  const ok = [
    { name: 'red', count: 2 },
    { name: 'blue', count: 3 },
  ];
  it('accepts 2 named classes of 2 images each', () => {
    expect(classSetProblem(ok)).toBeNull();
  });
  it('says what is missing, one problem at a time', () => {
    expect(classSetProblem([ok[0]])).toBe('Make at least 2 classes (there is 1).');
    expect(classSetProblem(Array.from({ length: MAX_CLASSES + 1 }, (_, i) => ({ name: `c${i}`, count: 2 })))).toBe('Use at most 5 classes (there are 6).');
    expect(classSetProblem([ok[0], { name: '  ', count: 4 }])).toBe('Class 2 has no name: give it one.');
    expect(classSetProblem([ok[0], { name: ' Red ', count: 4 }])).toBe('Classes 1 and 2 are both called “Red”: give them different names.');
    expect(classSetProblem([ok[0], { name: 'blue', count: 1 }])).toBe('“blue” has only 1 image: add at least 2 per class.');
    expect(classSetProblem([{ name: 'red', count: 0 }, ok[1]])).toBe('“red” has no images: add at least 2 per class.');
  });
});

describe('layerName', () => {
  it('names the embeddings and the final layer norm', () => {
    expect([0, 1, 4].map((k) => layerName(k, 4))).toEqual(['layer 0 (embeddings)', 'layer 1', 'layer 4 (after ln_f)']);
  });
});
