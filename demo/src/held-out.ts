// The own-classes held-out split both classifiers are scored on — the probe and the fine-tuned model — so their
// accuracies compare: of each class, the last third of its pictures (at least one) is held out, the rest trains.
// No DOM (tested in test/demo/).

export interface HeldOutSplit {
  /** Indices (into the pictures, in class order) that train. */
  train: number[];
  /** Indices that are held out and scored. */
  test: number[];
}

/** Pictures held out of a class of `n` (n ≥ 2): a third, at least one, always leaving one to train on. */
export function heldOutCount(n: number): number {
  return Math.min(n - 1, Math.max(1, Math.floor(n / 3)));
}

/** The split of pictures labelled `labels` (class indices): each class's last heldOutCount pictures are held out. */
export function heldOutSplit(labels: readonly number[]): HeldOutSplit {
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => byClass.set(label, [...(byClass.get(label) ?? []), i]));
  const held = new Set<number>();
  for (const [label, indices] of byClass) {
    if (indices.length < 2) throw new Error(`class ${label} has ${indices.length} picture; a held-out split needs at least 2 per class`);
    for (const i of indices.slice(indices.length - heldOutCount(indices.length))) held.add(i);
  }
  return { train: labels.map((_, i) => i).filter((i) => !held.has(i)), test: labels.map((_, i) => i).filter((i) => held.has(i)) };
}

/** How many of the held-out pictures `predictions` (one per test index, in order) name right. */
export function heldOutRight(predictions: readonly number[], labels: readonly number[], test: readonly number[]): number {
  if (predictions.length !== test.length) throw new Error(`${predictions.length} predictions for ${test.length} held-out pictures`);
  return test.filter((i, k) => predictions[k] === labels[i]).length;
}

/** The class with the largest score in each row of `logits` [rows × classes] (the first of equals). */
export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  const rows = logits.length / classes;
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
    return best;
  });
}
