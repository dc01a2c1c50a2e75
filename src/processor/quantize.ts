// Nearest color cluster, with the exact floating-point semantics of Hugging Face's `color_quantize`:
//   x = float32(float64(v) * (1 / 127.5)) - 1         (float32; v the 8-bit value)
//   d = (|x|² - 2·x·C) + |C|²                          (|x|² summed in float32, the rest in float64)
//   token = first index of the smallest d
// Without normalization (a config's do_normalize false) HF quantizes the uint8 pixels themselves:
//   x = v; |x|² = Σ (v² mod 256)  (numpy squares uint8 in uint8, wrapping, then sums as an integer),
// the same constant for every cluster of one pixel, so only its float64 rounding of d is affected; we repeat it.
// Pixels are 8-bit, so x takes 256 values per channel. The search is exact but not exhaustive: the color
// cube is cut into 8×8×8 cells, and each cell lists (on first use) the clusters that can be nearest to some
// color inside it; only those are evaluated, in index order, with the expanded form above.

/** HF's normalization of an 8-bit value, as the float32 numpy produces. */
export const NORMALIZED: Float32Array = Float32Array.from({ length: 256 }, (_, v) =>
  Math.fround(Math.fround(v * (1 / 127.5)) - 1),
);

/** Un-normalized pixel values (do_normalize false): the 8-bit value itself. */
const RAW: Float64Array = Float64Array.from({ length: 256 }, (_, v) => v);

const CELL_BITS = 5; // 32 levels per cell side
const CELLS_PER_AXIS = 256 >> CELL_BITS;
/**
 * For one pixel, the expanded form is the exact squared distance plus the same constant for every cluster
 * (|x|² rounded to float32) plus float64 rounding (≈1e-15 on values ≤ 12). So a cluster whose exact distance
 * exceeds another's by more than twice that rounding can never win; this margin is far above it.
 */
const TIE_MARGIN = 1e-9;

export class ColorQuantizer {
  /** Number of clusters (token ids are 0 .. count-1). */
  readonly count: number;
  private readonly clusters: Float64Array;
  private readonly norms: Float64Array;
  /** Per cell of the color cube, the clusters that can win there (ascending), built on first use. */
  private readonly cells: (Uint16Array | undefined)[];
  private readonly everyCluster: Uint16Array;
  /** x per 8-bit value: HF's normalized float32 value, or the value itself. */
  private readonly levels: Float32Array | Float64Array;
  private readonly normalize: boolean;

  /** `clusters`: count×3 values, row-major, already checked to be finite. `normalize` false: HF's
   * do_normalize false, pixels quantized as 0..255. */
  constructor(clusters: Float64Array, normalize = true) {
    this.normalize = normalize;
    this.levels = normalize ? NORMALIZED : RAW;
    this.count = clusters.length / 3;
    this.clusters = clusters;
    this.norms = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const c0 = clusters[3 * i];
      const c1 = clusters[3 * i + 1];
      const c2 = clusters[3 * i + 2];
      this.norms[i] = c0 * c0 + c1 * c1 + c2 * c2;
    }
    this.everyCluster = Uint16Array.from({ length: this.count }, (_, i) => i);
    this.cells = new Array<Uint16Array | undefined>(CELLS_PER_AXIS ** 3);
  }

  /** Token of one 8-bit RGB color. */
  nearest(r: number, g: number, b: number): number {
    const cell = ((r >> CELL_BITS) * CELLS_PER_AXIS + (g >> CELL_BITS)) * CELLS_PER_AXIS + (b >> CELL_BITS);
    const candidates = this.cells[cell] ?? (this.cells[cell] = this.cellCandidates(cell));
    return this.argminExpanded(r, g, b, candidates);
  }

  /** The same token by evaluating every cluster (the reference the cell search must agree with). */
  nearestExhaustive(r: number, g: number, b: number): number {
    return this.argminExpanded(r, g, b, this.everyCluster);
  }

  /** Tokens of packed RGB pixels, one per pixel, into `out`. */
  quantize(rgb: Uint8Array, out: number[]): void {
    for (let p = 0, o = 0; p < rgb.length; p += 3, o++) out[o] = this.nearest(rgb[p], rgb[p + 1], rgb[p + 2]);
  }

  /** HF's expanded-form argmin over `candidates` (ascending indices, so `<` keeps the first on ties). */
  private argminExpanded(r: number, g: number, b: number, candidates: Uint16Array): number {
    const levels = this.levels;
    const [x0, x1, x2] = [levels[r], levels[g], levels[b]];
    // |x|² as numpy computes it: normalized, in float32 term by term; raw uint8, each square wrapped to 8 bits.
    const xx = this.normalize
      ? Math.fround(Math.fround(Math.fround(x0 * x0) + Math.fround(x1 * x1)) + Math.fround(x2 * x2))
      : ((r * r) & 255) + ((g * g) & 255) + ((b * b) & 255);
    const c = this.clusters;
    const norms = this.norms;
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < candidates.length; j++) {
      const i = candidates[j];
      const dot = x0 * c[3 * i] + x1 * c[3 * i + 1] + x2 * c[3 * i + 2];
      const d = xx - 2 * dot + norms[i];
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Clusters that can be nearest to some color of cell k: those whose distance to the cell's box is within
   * the margin of the smallest farthest-corner distance over all clusters (that cluster bounds the answer). */
  private cellCandidates(k: number): Uint16Array {
    const side = 1 << CELL_BITS;
    const [r, g, b] = [k >> (2 * (8 - CELL_BITS)), (k >> (8 - CELL_BITS)) % CELLS_PER_AXIS, k % CELLS_PER_AXIS];
    const levels = this.levels;
    const lo0 = levels[r * side];
    const hi0 = levels[r * side + side - 1];
    const lo1 = levels[g * side];
    const hi1 = levels[g * side + side - 1];
    const lo2 = levels[b * side];
    const hi2 = levels[b * side + side - 1];
    const c = this.clusters;
    const near = new Float64Array(this.count);
    let bound = Infinity;
    for (let i = 0, p = 0; i < this.count; i++, p += 3) {
      near[i] = gapSquared(c[p], lo0, hi0) + gapSquared(c[p + 1], lo1, hi1) + gapSquared(c[p + 2], lo2, hi2);
      const far = reachSquared(c[p], lo0, hi0) + reachSquared(c[p + 1], lo1, hi1) + reachSquared(c[p + 2], lo2, hi2);
      if (far < bound) bound = far;
    }
    const kept: number[] = [];
    for (let i = 0; i < this.count; i++) if (near[i] <= bound + TIE_MARGIN) kept.push(i);
    return Uint16Array.from(kept);
  }
}

/** Squared distance from v to the nearest point of [lo, hi]. */
function gapSquared(v: number, lo: number, hi: number): number {
  const gap = Math.max(0, lo - v, v - hi);
  return gap * gap;
}

/** Squared distance from v to the farthest point of [lo, hi]. */
function reachSquared(v: number, lo: number, hi: number): number {
  const reach = Math.max(v - lo, hi - v);
  return reach * reach;
}
