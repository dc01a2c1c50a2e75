// Seeded synthetic classification data for the probe tests: Gaussian blobs, one per class.
import { random } from '../gpu/harness';

export function seededNormal(seed: number): () => number {
  const uniform = random(seed);
  return () => {
    const u = 1 - uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

export interface Blobs {
  features: Float32Array;
  labels: Int32Array;
  rows: number;
  cols: number;
}

/**
 * `rows` examples of `classes` classes in `cols` dimensions: class c is centred at `centres[c]`
 * (drawn with spread `separation`), plus unit Gaussian noise; labels cycle 0, 1, .., C-1.
 */
export function gaussianBlobs(options: {
  rows: number;
  cols: number;
  classes: number;
  separation: number;
  seed: number;
  centresSeed?: number;
}): Blobs {
  const { rows, cols, classes, separation, seed } = options;
  const centreNormal = seededNormal(options.centresSeed ?? 12345);
  const centres = Array.from({ length: classes }, () => Array.from({ length: cols }, () => separation * centreNormal()));
  const normal = seededNormal(seed);
  const features = new Float32Array(rows * cols);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let f = 0; f < cols; f++) features[i * cols + f] = centres[c][f] + normal();
  }
  return { features, labels, rows, cols };
}

/** Row i of a flat [rows, cols] matrix as its own array. */
export function splitRows(features: Float32Array, cols: number): Float32Array[] {
  return Array.from({ length: features.length / cols }, (_, i) => features.slice(i * cols, (i + 1) * cols));
}
