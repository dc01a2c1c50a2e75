// Per-feature standardization z = (x - mean) / std, with statistics from the fit data.
import type { FeatureTable } from './inputs';

export interface ColumnStatistics {
  mean: Float64Array;
  /** Population standard deviation (divides by N); 1 for a constant column, whose z is then 0. */
  std: Float64Array;
}

/** Mean and standard deviation of every column, two passes in float64. */
export function columnStatistics({ data, rows, cols }: FeatureTable): ColumnStatistics {
  const mean = new Float64Array(cols);
  const std = new Float64Array(cols);
  const min = new Float64Array(cols).fill(Infinity);
  const max = new Float64Array(cols).fill(-Infinity);
  for (let i = 0; i < rows; i++) {
    const offset = i * cols;
    for (let f = 0; f < cols; f++) {
      const x = data[offset + f];
      mean[f] += x;
      if (x < min[f]) min[f] = x;
      if (x > max[f]) max[f] = x;
    }
  }
  for (let f = 0; f < cols; f++) mean[f] /= rows;
  for (let i = 0; i < rows; i++) {
    const offset = i * cols;
    for (let f = 0; f < cols; f++) {
      const d = data[offset + f] - mean[f];
      std[f] += d * d;
    }
  }
  for (let f = 0; f < cols; f++) {
    // Tested exactly (min = max) so that rounding in the mean cannot turn a constant into ±1.
    if (min[f] === max[f]) {
      mean[f] = min[f];
      std[f] = 1;
    } else {
      std[f] = Math.sqrt(std[f] / rows);
    }
  }
  return { mean, std };
}

/** Statistics that leave features as they are (standardize: false). */
export function identityStatistics(cols: number): ColumnStatistics {
  return { mean: new Float64Array(cols), std: new Float64Array(cols).fill(1) };
}

/** Standardizes `cols` values of `data` from `offset` into `out` from `outOffset`. */
export function standardizeRow(
  data: Float32Array,
  offset: number,
  { mean, std }: ColumnStatistics,
  out: Float64Array,
  outOffset: number,
): void {
  for (let f = 0; f < mean.length; f++) out[outOffset + f] = (data[offset + f] - mean[f]) / std[f];
}

/** The whole table standardized, row-major float64 [rows, cols]. */
export function standardizeTable(table: FeatureTable, statistics: ColumnStatistics): Float64Array {
  const { data, rows, cols } = table;
  const z = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) standardizeRow(data, i * cols, statistics, z, i * cols);
  return z;
}
