// "Teach it a style": the training rows and the order they are drawn in. No DOM, no GPU (tested in test/demo/).

/**
 * One training row per image, as the shipped models were trained (weights-tools/train.py's make_inputs): SOS, then
 * the image's tokens but the last. The trainer's step predicts row[t + 1] from row[..t], so the last pixel is
 * never a target (the model's n_positions leaves no room for it) and the other n − 1 are.
 */
export function styleRows(images: readonly (readonly number[])[], sos: number): number[][] {
  return images.map((tokens) => [sos, ...tokens.slice(0, tokens.length - 1)]);
}

/** A 32-bit xorshift generator: the same seed draws the same batches. */
function xorshift(seed: number): () => number {
  let x = (seed >>> 0) || 0x9e3779b9; // xorshift never leaves 0
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/**
 * Batches of `batchSize` rows, every row once per pass over them in a fresh shuffled order (Fisher–Yates). A batch
 * larger than the rows, or one that straddles two passes, takes the next pass's first rows.
 */
export class StyleBatches {
  private readonly random: () => number;
  private order: number[] = [];
  private at = 0;

  constructor(
    private readonly rows: readonly number[][],
    private readonly batchSize: number,
    seed: number,
  ) {
    if (rows.length === 0) throw new Error('StyleBatches: no rows were given');
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`StyleBatches: batchSize must be a positive integer, got ${batchSize}`);
    this.random = xorshift(seed);
  }

  /** The indices (into the rows) of the next batch. */
  nextIndices(): number[] {
    const picked: number[] = [];
    while (picked.length < this.batchSize) {
      if (this.at === this.order.length) this.shuffle();
      picked.push(this.order[this.at++]);
    }
    return picked;
  }

  next(): number[][] {
    return this.nextIndices().map((i) => this.rows[i]);
  }

  private shuffle(): void {
    this.order = this.rows.map((_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.at = 0;
  }
}
