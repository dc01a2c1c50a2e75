// What `npm run train` feeds each step: the learning rate (train.py's schedule) and which images form the batch
// (a seeded shuffle per epoch, so a resumed run draws exactly the batches the uninterrupted one would have).
import { seededRandom } from '../scripts/random';

/**
 * The learning rate of step `step` (1 for the first) of `totalSteps`: linear warmup over `warmup` steps, then a
 * cosine from `lr` down to 10 % of it at the last step; weights-tools/train.py's schedule.
 */
export function learningRate(step: number, options: { lr: number; warmup: number; totalSteps: number }): number {
  const { lr, warmup, totalSteps } = options;
  const warm = warmup > 0 ? Math.min(1, step / warmup) : 1;
  const progress = totalSteps > 1 ? Math.min(1, (step - 1) / (totalSteps - 1)) : 1;
  return lr * warm * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Where the data order stands: `position` images into epoch `epoch`'s shuffle. */
export interface DataCursor {
  epoch: number;
  position: number;
}

/** Epoch after epoch, each a seeded shuffle of every image; batches run across epoch ends. */
export class DataOrder {
  private order: number[];
  private cursor: DataCursor;

  constructor(
    private readonly count: number,
    private readonly seed: number,
    start: DataCursor = { epoch: 0, position: 0 },
  ) {
    this.cursor = { ...start };
    this.order = this.shuffle(start.epoch);
  }

  get position(): DataCursor {
    return { ...this.cursor };
  }

  /** The next `size` image indices. */
  next(size: number): number[] {
    const batch: number[] = [];
    while (batch.length < size) {
      if (this.cursor.position === this.count) {
        this.cursor = { epoch: this.cursor.epoch + 1, position: 0 };
        this.order = this.shuffle(this.cursor.epoch);
      }
      batch.push(this.order[this.cursor.position++]);
    }
    return batch;
  }

  /** Fisher–Yates with a generator seeded by (seed, epoch). */
  private shuffle(epoch: number): number[] {
    const random = seededRandom((Math.imul(this.seed, 0x9e3779b1) + epoch) >>> 0);
    const order = Array.from({ length: this.count }, (_, i) => i);
    for (let i = this.count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}
