// Checking and reshaping what callers pass to the probe: feature matrices and class labels.
// Every problem is an Error naming the argument, the place and what was expected.

import { describeValue } from '../json';
import { ImageGPTError } from '../errors';

/** Features of N examples: one flat row-major Float32Array [N, F], or N rows of F values. */
export type FeatureMatrix = Float32Array | readonly Float32Array[];

/** Class ids (integers 0..C-1) or class names. */
export type ClassLabels = ArrayLike<number> | readonly string[];

export interface FeatureTable {
  /** Row-major [rows, cols]; the caller's array itself when it was already flat. */
  data: Float32Array;
  rows: number;
  cols: number;
}

/**
 * A flat view of `features` after checking its shape against what is known (`rows` from the
 * labels, `cols` from the fitted probe) and that every value is finite.
 */
export function readFeatures(features: FeatureMatrix, known: { rows?: number; cols?: number }): FeatureTable {
  if (!Array.isArray(features) && !(features instanceof Float32Array)) {
    throw new ImageGPTError('E_BAD_INPUT', `features is ${describeValue(features)}: expected a Float32Array [N, F] (row-major) or an array of Float32Array rows`);
  }
  const table = Array.isArray(features) ? stackRows(features, known.cols) : flatTable(features as Float32Array, known);
  if (known.rows !== undefined && table.rows !== known.rows) {
    throw new ImageGPTError('E_BAD_INPUT', `features has ${table.rows} rows but labels has ${known.rows} entries: expected one label per row`);
  }
  const { data, cols } = table;
  for (let k = 0; k < data.length; k++) {
    if (!Number.isFinite(data[k])) {
      const row = Math.floor(k / cols);
      throw new ImageGPTError('E_BAD_INPUT', `features row ${row}, feature ${k - row * cols} is ${data[k]}: features must be finite numbers`);
    }
  }
  return table;
}

function flatTable(features: Float32Array, known: { rows?: number; cols?: number }): FeatureTable {
  if (!(features instanceof Float32Array)) {
    throw new ImageGPTError('E_BAD_INPUT', 'features must be a Float32Array [N, F] (row-major) or an array of Float32Array rows');
  }
  const length = features.length;
  if (length === 0) throw new ImageGPTError('E_BAD_INPUT', 'features is empty: expected at least one row');
  if (known.cols !== undefined) {
    if (length % known.cols !== 0) {
      throw new ImageGPTError('E_MISMATCH', 
        `features has ${length} values, not a whole number of rows of ${known.cols} features (the probe's feature count)`,
      );
    }
    return { data: features, rows: length / known.cols, cols: known.cols };
  }
  if (known.rows !== undefined) {
    if (known.rows === 0 || length % known.rows !== 0) {
      throw new ImageGPTError('E_BAD_INPUT', 
        `features has ${length} values, which do not split into ${known.rows} rows (one per label): expected N × F values`,
      );
    }
    return { data: features, rows: known.rows, cols: length / known.rows };
  }
  throw new ImageGPTError('E_BAD_INPUT', 'a flat features array needs the row count (labels) or the feature count (a fitted probe)');
}

function stackRows(rows: readonly Float32Array[], expectedCols: number | undefined): FeatureTable {
  if (rows.length === 0) throw new ImageGPTError('E_BAD_INPUT', 'features is empty: expected at least one row');
  const cols = expectedCols ?? rows[0]?.length;
  // Indexed loops: forEach would skip the holes of a sparse array.
  for (let i = 0; i < rows.length; i++) {
    const row: unknown = rows[i];
    if (!(row instanceof Float32Array)) throw new ImageGPTError('E_BAD_INPUT', `features row ${i} is ${describeValue(row)}, not a Float32Array`);
    if (row.length !== cols) {
      throw new ImageGPTError('E_BAD_INPUT', `features row ${i} has ${row.length} values, expected ${cols}`);
    }
  }
  if (cols === 0) throw new ImageGPTError('E_BAD_INPUT', 'features rows are empty: expected at least one feature');
  const data = new Float32Array(rows.length * cols);
  for (let i = 0; i < rows.length; i++) data.set(rows[i], i * cols);
  return { data, rows: rows.length, cols };
}

export interface EncodedLabels {
  ids: Int32Array;
  numClasses: number;
  /** Class names, index = class id; null when the probe works with bare ids. */
  classes: string[] | null;
}

/**
 * Labels for fitting. Names are looked up in `classes` when given, otherwise the classes are the
 * distinct names in sorted order. Bare ids need `classes` only to be named; without it C = max id + 1.
 * Every class must have at least one example: an absent class has no finite optimum.
 */
export function encodeFitLabels(labels: ClassLabels, classes: readonly string[] | null): EncodedLabels {
  checkLabelList(labels);
  if (labels.length === 0) throw new ImageGPTError('E_BAD_INPUT', 'labels is empty: expected one class label per feature row');
  let names = classes ? [...classes] : null;
  if (names === null && isStringLabels(labels)) {
    const firstId = Array.prototype.findIndex.call(labels, (label: unknown) => typeof label !== 'string');
    if (firstId >= 0) {
      throw new ImageGPTError('E_BAD_INPUT', `labels[${firstId}] is ${describeValue(labels[firstId])} among class names: use names or ids, not both`);
    }
    names = [...new Set(labels)].sort();
  }
  let numClasses = names?.length;
  if (numClasses === undefined) {
    numClasses = 0;
    for (let i = 0; i < labels.length; i++) {
      const id = labels[i];
      if (typeof id === 'number' && Number.isInteger(id) && id >= numClasses) numClasses = id + 1;
    }
  }
  const ids = encodeLabels(labels, names, numClasses);
  if (numClasses < 2) {
    throw new ImageGPTError('E_BAD_INPUT', `labels has ${numClasses} class: a probe needs at least 2 classes`);
  }
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  const empty = counts.findIndex((count) => count === 0);
  if (empty >= 0) {
    const name = names ? ` (${describeValue(names[empty])})` : '';
    throw new ImageGPTError('E_BAD_INPUT', 
      `class ${empty}${name} has no examples in the fit data: its bias would have no finite optimum; ` +
        'drop the class or add examples of it',
    );
  }
  return { ids, numClasses, classes: names };
}

/** Labels checked against a known class list (or count) and turned into ids. */
export function encodeLabels(labels: ClassLabels, classes: readonly string[] | null, numClasses: number): Int32Array {
  checkLabelList(labels);
  const ids = new Int32Array(labels.length);
  const index = classes ? new Map(classes.map((name, id) => [name, id])) : null;
  for (let i = 0; i < labels.length; i++) {
    const label: unknown = labels[i];
    if (typeof label === 'string') {
      const id = index?.get(label);
      if (id === undefined) {
        const known = classes ? `one of ${describeValue(classes)}` : 'a class id (this probe has no class names)';
        throw new ImageGPTError('E_BAD_INPUT', `labels[${i}] is ${describeValue(label)}: expected ${known}`);
      }
      ids[i] = id;
    } else if (typeof label === 'number' && Number.isInteger(label) && label >= 0 && label < numClasses) {
      ids[i] = label;
    } else {
      throw new ImageGPTError('E_BAD_INPUT', `labels[${i}] is ${describeValue(label)}: expected an integer class id in 0..${numClasses - 1}`);
    }
  }
  return ids;
}

/** Labels are an array or a typed array (not null, a string or a Set): anything else has no numbered entries. */
function checkLabelList(labels: unknown): void {
  const isList = Array.isArray(labels) || (ArrayBuffer.isView(labels) && !(labels instanceof DataView));
  if (!isList) throw new ImageGPTError('E_BAD_INPUT', `labels is ${describeValue(labels)}: expected an array of class ids or names (or a typed array of ids)`);
}

function isStringLabels(labels: ClassLabels): labels is readonly string[] {
  return typeof labels[0] === 'string';
}

/** Class names given as an option: at least two, distinct, non-empty. */
export function checkClassNames(classes: readonly string[]): void {
  if (!Array.isArray(classes) || classes.length < 2) {
    throw new ImageGPTError('E_BAD_INPUT', `classes must list at least 2 class names, got ${describeValue(classes)}`);
  }
  const seen = new Set<string>();
  for (let i = 0; i < classes.length; i++) {
    const name: unknown = classes[i];
    if (typeof name !== 'string' || name.length === 0) {
      throw new ImageGPTError('E_BAD_INPUT', `classes[${i}] is ${describeValue(name)}: expected a non-empty string`);
    }
    if (seen.has(name)) throw new ImageGPTError('E_BAD_INPUT', `classes[${i}] ${describeValue(name)} is listed twice: class names must be distinct`);
    seen.add(name);
  }
}
